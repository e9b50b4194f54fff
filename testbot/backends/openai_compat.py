"""A model behind an OpenAI-compatible HTTP server: vLLM, Ollama, TGI, llama.cpp's or llama-cpp-python's server.

Standard library only (urllib), so that a CI job pointed at a shared server needs nothing compiled.
``--model http://host:port/v1`` selects it; the served model is ``--served-model`` or the first id of
``GET /models``. The API key, if any, comes from ``TESTBOT_OPENAI_API_KEY`` or ``OPENAI_API_KEY`` and
goes only into the Authorization header: it is never logged, never put in a message, and candidate
test runs never see it (the sandbox drops both variables).

The prefill. Our prompt ends with the start of the answer (a code fence and the import of the code
under test), and the answer must continue it, as the llama_cpp backend does. Two ways to ask for it:

- ``chat``: ``/chat/completions`` with the prefill as a final assistant message. vLLM continues it when
  asked (``continue_final_message``), llama.cpp's server and Ollama continue a final assistant message
  on their own. Others (llama-cpp-python's server) close that turn and start a new answer, and the
  answer's text does not say which happened. So the first use probes it (:meth:`_probe`): one-token
  requests with and without the prefill, compared by the prompt tokens the server reports.
- ``completions``: ``/completions`` with the chat rendered here in ChatML (the template of the
  embedded Qwen model and of SmolLM2) followed by the prefill: exact, but only right for ChatML models.

Chat is tried first because it is the one that uses the model's own template; ``completions`` is used
when the server ignores the prefill or rejects the chat request. The ``openai_mode`` setting (``--openai-mode
chat|completions``, ``TESTBOT_OPENAI_MODE``) skips the probe. Either way the Completion's text is the prefill
followed by what the model wrote.
"""

from __future__ import annotations

import json
import os
import random
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import PurePosixPath
from typing import Any

from testbot.errors import EnvironmentProblem, FatalError, PromptTooLong
from testbot.generate import Completion
from testbot.prompt import Prompt, estimate_tokens

API_KEY_VARS = ("TESTBOT_OPENAI_API_KEY", "OPENAI_API_KEY")
MODES = ("chat", "completions")
RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}
# Sampler settings that match the llama_cpp backend (no top-k, no min-p, no repeat penalty). Not part of
# OpenAI's own API: a server that rejects them is asked again without them.
SAMPLER_EXTRAS = {"top_k": 0, "min_p": 0.0, "repeat_penalty": 1.0}
PROBE_TOKENS = 16


def chatml(system: str, user: str) -> str:
    return f"<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n"


def api_key(environ: dict[str, str] | None = None) -> str:
    env = os.environ if environ is None else environ
    for var in API_KEY_VARS:
        if env.get(var):
            return env[var]
    return ""


class _Refused(Exception):
    """The server refused the request (a 4xx, or a 5xx about logprobs): the caller may change the request."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class OpenAICompatBackend:
    def __init__(
        self,
        model: str,
        *,
        served_model: str = "",
        context_tokens: int = 4096,
        timeout: float = 600.0,
        retries: int = 4,
        backoff: float = 0.5,
        openai_mode: str = "",
        **_: object,
    ) -> None:
        if not model.startswith(("http://", "https://")):
            raise FatalError(f"the openai backend needs a server URL such as http://127.0.0.1:8000/v1, not {model!r}")
        self.url = model.rstrip("/")
        self.root = self.url[: -len("/v1")] if self.url.endswith("/v1") else self.url
        self.context_tokens = context_tokens
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self._key = api_key()
        if openai_mode and openai_mode not in MODES:
            raise FatalError(f"openai_mode must be one of {', '.join(MODES)}, not {openai_mode!r}")
        self.mode = openai_mode or None  # None: decided by the first request
        self.logprobs = True  # cleared when the server cannot return them
        self.extras = True  # cleared when the server rejects SAMPLER_EXTRAS
        self.served_model = served_model or self._first_model()
        stem = PurePosixPath(self.served_model)
        # llama-cpp-python names a model by its file path unless given an alias: keep provenance short.
        self.name = stem.stem if stem.suffix == ".gguf" else self.served_model
        self._tokenizer: str | None = None  # which tokenize endpoint answers; "" when none does
        self._counts: dict[str, int] = {}

    # -- HTTP

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._key:
            headers["Authorization"] = f"Bearer {self._key}"
        return headers

    def _call(self, url: str, payload: dict[str, Any] | None = None, *, retries: int | None = None) -> Any:
        """One JSON request with retries (429, 5xx, connection errors) and exponential backoff with jitter."""
        data = json.dumps(payload).encode("utf-8") if payload is not None else None
        attempts = 1 + (self.retries if retries is None else retries)
        for attempt in range(attempts):
            last = attempt == attempts - 1
            request = urllib.request.Request(
                url, data=data, headers=self._headers(), method="POST" if data is not None else "GET"
            )
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    body = response.read()
                try:
                    return json.loads(body)
                except ValueError:
                    raise FatalError(
                        f"{url} did not answer with JSON (is it an OpenAI-compatible API? "
                        f"the URL usually ends in /v1): {body[:200]!r}"
                    ) from None
            except urllib.error.HTTPError as exc:
                message = _error_message(exc)
                if exc.code in (401, 403) and "rate limit" not in message.lower():
                    raise EnvironmentProblem(
                        f"{url} refused the request ({exc.code}: {message}); set the server's "
                        f"API key in TESTBOT_OPENAI_API_KEY or OPENAI_API_KEY"
                    ) from None
                rate_limited = exc.code == 403 and "rate limit" in message.lower()
                # llama-cpp-python answers 500 to a logprobs request on a model loaded without logits_all
                if (exc.code not in RETRY_STATUS and not rate_limited) or "logprob" in message.lower():
                    raise _Refused(exc.code, message) from None
                if last:
                    raise EnvironmentProblem(
                        f"{url} kept failing ({exc.code}: {message}) after {attempts} "
                        f"tries; is the server overloaded or out of memory?"
                    ) from None
                delay = _retry_after(exc) or self.backoff * 2**attempt * (0.5 + random.random() / 2)
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError) as exc:
                reason = getattr(exc, "reason", exc)
                if last:
                    raise EnvironmentProblem(
                        f"cannot reach {url}: {reason}; is the server running? (tried "
                        f"{attempts} time{'s' if attempts != 1 else ''})"
                    ) from None
                delay = self.backoff * 2**attempt * (0.5 + random.random() / 2)
            time.sleep(min(delay, 30.0))
        raise AssertionError("unreachable")

    def _first_model(self) -> str:
        try:
            data = self._call(self.url + "/models")
        except _Refused as exc:
            raise EnvironmentProblem(
                f"{self.url}/models answered {exc.status} ({exc.message}); is {self.url} an "
                f"OpenAI-compatible API? Or name the model with --served-model"
            ) from None
        models = data.get("data") if isinstance(data, dict) else None
        ids = [m.get("id") for m in models or [] if isinstance(m, dict) and m.get("id")]
        if not ids:
            raise EnvironmentProblem(f"{self.url}/models lists no model; name one with --served-model")
        return str(ids[0])

    # -- tokens

    def count_tokens(self, text: str) -> int:
        """The server's tokenizer where it has one, else the prompt builder's estimate (~3.5 characters a token)."""
        if text in self._counts:
            return self._counts[text]
        n = self._server_count(text)
        if n is None:
            n = estimate_tokens(text)
        if len(self._counts) < 4096:
            self._counts[text] = n
        return n

    def _server_count(self, text: str) -> int | None:
        # llama-cpp-python: /extras/tokenize/count; llama.cpp's server: /tokenize {content}; vLLM: /tokenize {prompt}.
        ways = (
            ("extras", "/extras/tokenize/count", {"input": text, "model": self.served_model}),
            ("llama.cpp", "/tokenize", {"content": text}),
            ("vllm", "/tokenize", {"model": self.served_model, "prompt": text}),
        )
        for name, path, payload in ways:
            if self._tokenizer is not None and self._tokenizer != name:
                continue
            try:
                data = self._call(self.root + path, payload, retries=0 if self._tokenizer is None else None)
            except (_Refused, FatalError):
                if self._tokenizer == name:  # it answered before: a real failure, but counting can fall back
                    return None
                continue
            n = _count_from(data)
            if n is not None:
                self._tokenizer = name
                return n
        self._tokenizer = ""
        return None

    # -- completions

    def complete(
        self, prompt: Prompt, *, seed: int, temperature: float, top_p: float, max_tokens: int, stop: Sequence[str]
    ) -> Completion:
        if self._tokenizer and self.context_tokens:  # exact counts: keep within the context window
            room = self.context_tokens - prompt.tokens - 32  # 32: the chat template's own tokens
            if room < 16:
                raise PromptTooLong(
                    f"prompt of {prompt.tokens} tokens does not fit the {self.context_tokens}-"
                    "token context; lower --prompt-tokens or raise --context-tokens"
                )
            max_tokens = min(max_tokens, room)
        sampling = {"seed": seed, "temperature": temperature, "top_p": top_p, "stop": list(stop)}
        if self.mode is None:
            self.mode = self._probe(prompt, sampling)
        start = time.monotonic()
        if self.mode == "chat":
            try:
                text, logprobs, usage = self._chat(prompt, sampling, max_tokens)
            except _Refused:
                self.mode = "completions"  # e.g. no chat template on the server, or no final assistant message
                return self.complete(
                    prompt, seed=seed, temperature=temperature, top_p=top_p, max_tokens=max_tokens, stop=stop
                )
        else:
            try:
                text, logprobs, usage = self._completion(prompt, sampling, max_tokens)
            except _Refused as exc:
                raise EnvironmentProblem(
                    f"{self.url}/completions refused the request ({exc.status}: {exc.message})"
                ) from None
        seconds = time.monotonic() - start
        text = text if text.startswith(prompt.prefill) else prompt.prefill + text  # some servers echo the prefill
        n = int(usage.get("completion_tokens") or len(logprobs) or estimate_tokens(text[len(prompt.prefill) :]))
        # The mean log-probability ranks candidates; a server that returns none gives every completion
        # 0.0, so they all rank alike (their order then follows the samples).
        mean = sum(logprobs) / len(logprobs) if logprobs else 0.0
        return Completion(
            text=text,
            seed=seed,
            tokens=n,
            mean_logprob=mean,
            seconds=seconds,
            prompt_tokens=int(usage.get("prompt_tokens") or prompt.tokens),
        )

    def _probe(self, prompt: Prompt, sampling: dict[str, Any]) -> str:
        """Does the server continue a final assistant message, or close that turn and start a new one?

        The answer's text cannot tell (a new answer may well start with code), so ask for one token with
        and without the prefill: continued, the prompt grows by the prefill's tokens (give or take one
        where they join); closed and reopened, it also grows by the template's end-of-turn and new
        assistant header. Without token counts (no usage in answers, no tokenize endpoint) a few
        tokens are sampled instead: a new answer usually opens a code fence or repeats the prefill."""
        try:
            _, _, without = self._chat(prompt, sampling, 1, prefill=False)
            _, _, usage = self._chat(prompt, sampling, 1)
        except _Refused:
            return "completions"
        prefill_tokens = self.count_tokens(prompt.prefill)
        if self._tokenizer and without.get("prompt_tokens") and usage.get("prompt_tokens"):
            grew = int(usage["prompt_tokens"]) - int(without["prompt_tokens"])
            return "chat" if abs(grew - prefill_tokens) <= 1 else "completions"
        quick = dict(sampling, stop=[s for s in sampling["stop"] if "```" not in s])
        text, *_ = self._chat(prompt, quick, PROBE_TOKENS)
        first = next((line for line in prompt.prefill.splitlines() if line.strip() and "```" not in line), "")
        head = text.removeprefix(prompt.prefill)
        if "```" in head or (first and head.lstrip().startswith(first.strip())):
            return "completions"
        return "chat"

    def _post(self, path: str, payload: dict[str, Any], optional: dict[str, Any]) -> dict[str, Any]:
        """POST with the optional fields the server accepts; on a refusal, ask again with fewer of them."""
        while True:
            body = dict(payload)
            if self.extras:
                body.update(optional.get("extras", {}))
            if self.logprobs:
                body.update(optional.get("logprobs", {}))
            try:
                data = self._call(self.url + path, body)
            except _Refused as exc:
                if exc.status in (400, 404, 422, 500, 501) and self.logprobs and "logprob" in exc.message.lower():
                    self.logprobs = False
                    continue
                if exc.status in (400, 422) and self.extras and optional.get("extras"):
                    self.extras = False
                    continue
                if exc.status in (400, 422) and self.logprobs:
                    self.logprobs = False
                    continue
                raise
            if not isinstance(data, dict) or not data.get("choices"):
                raise FatalError(f"{self.url}{path} answered without choices: {str(data)[:200]}")
            return data

    def _chat(self, prompt: Prompt, sampling: dict[str, Any], max_tokens: int, *, prefill: bool = True):
        messages = [{"role": "system", "content": prompt.system}, {"role": "user", "content": prompt.user}]
        extras = dict(SAMPLER_EXTRAS)
        if prefill:
            messages.append({"role": "assistant", "content": prompt.prefill})
            extras.update(continue_final_message=True, add_generation_prompt=False)  # vLLM's way to continue it
        payload = {
            "model": self.served_model,
            "messages": messages,
            "max_tokens": max_tokens,
            "stream": False,
            **sampling,
        }
        data = self._post(
            "/chat/completions", payload, {"extras": extras, "logprobs": {"logprobs": True, "top_logprobs": 1}}
        )
        choice = data["choices"][0]
        content = (choice.get("message") or {}).get("content") or ""
        items = ((choice.get("logprobs") or {}).get("content")) or []
        logprobs = [float(i["logprob"]) for i in items if isinstance(i, dict) and _finite(i.get("logprob"))]
        return content, logprobs, data.get("usage") or {}

    def _completion(self, prompt: Prompt, sampling: dict[str, Any], max_tokens: int):
        text = chatml(prompt.system, prompt.user) + prompt.prefill
        payload = {"model": self.served_model, "prompt": text, "max_tokens": max_tokens, "stream": False, **sampling}
        data = self._post("/completions", payload, {"extras": SAMPLER_EXTRAS, "logprobs": {"logprobs": 1}})
        choice = data["choices"][0]
        values = (choice.get("logprobs") or {}).get("token_logprobs") or []
        logprobs = [float(v) for v in values if _finite(v)]
        return choice.get("text") or "", logprobs, data.get("usage") or {}


def _finite(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and -1e9 < value <= 0.0


def _count_from(data: object) -> int | None:
    if not isinstance(data, dict):
        return None
    if isinstance(data.get("count"), int):
        return data["count"]
    if isinstance(data.get("tokens"), list):
        return len(data["tokens"])
    return None


def _error_message(exc: urllib.error.HTTPError) -> str:
    try:
        raw = exc.read(4096).decode("utf-8", "replace")
    except Exception:  # noqa: BLE001 - the body is only for the message
        raw = ""
    try:
        data = json.loads(raw)
        error = data.get("error", data.get("detail", data)) if isinstance(data, dict) else data
        if isinstance(error, dict):
            error = error.get("message", error)
        return str(error)[:300]
    except ValueError:
        return (raw.strip() or exc.reason or "")[:300]


def _retry_after(exc: urllib.error.HTTPError) -> float:
    value = exc.headers.get("Retry-After", "") if exc.headers else ""
    try:
        return max(0.0, float(value))
    except ValueError:
        return 0.0
