"""The default backend: llama.cpp on the CPU through xllamacpp, prebuilt wheels with llama.cpp's own server engine.

xllamacpp runs llama.cpp's server in this process: ``Server.handle_completions`` takes an OpenAI-style
request (token ids in, text with per-token log-probabilities out) and runs it on the server's own loop
thread, with its prompt cache (a request that starts like the previous one reads only the new tokens).
Nothing is compiled at install time: the wheels are manylinux/macOS/Windows builds of llama.cpp.

The same engine also starts llama.cpp's HTTP server, always. Here it listens on a Unix socket in a
private temporary folder (no TCP port) and wants a random API key; testbot uses it only for what
``Server`` has no Python call for: the chat template (``/apply-template``) and the tokenizer
(``/tokenize``, for prompt budgets).

Sampling matches the llama_cpp backend: temperature and top-p only (no top-k, min-p or repeat penalty),
seeded per request. Log-probabilities are those of the raw logits (temperature 1), as there.

Ctrl-C: the completion streams on a worker thread while this thread waits, so that KeyboardInterrupt
arrives here at once; the worker then stops the stream, which cancels the request in the engine.
"""

from __future__ import annotations

import http.client
import json
import os
import platform
import secrets
import shutil
import signal
import socket
import tempfile
import threading
import time
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from testbot.errors import EnvironmentProblem, PromptTooLong
from testbot.generate import Completion
from testbot.model import resolve_model
from testbot.prompt import Prompt

XLLAMACPP_VERSION = "2026.10.11549"
INSTALL = f"pip install xllamacpp=={XLLAMACPP_VERSION} (prebuilt; testbot's default install includes it)"
CHATML = "<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n"
# Sampler settings of the llama_cpp backend; llama.cpp's own defaults (top-k 40, min-p 0.05) would differ.
SAMPLER = {"top_k": 0, "min_p": 0.0, "repeat_penalty": 1.0, "typical_p": 1.0}
_COUNT_CACHE = 8192  # token counts remembered (the prompt builder counts the same sections again and again)
# The Linux x86-64 wheel is compiled for these instructions (llama.cpp's system info: SSE3 SSSE3 AVX AVX2 F16C
# FMA BMI2); a CPU without one of them would die of SIGILL in the first matrix product. Names as in /proc/cpuinfo.
X86_FEATURES = ("pni", "ssse3", "avx", "avx2", "f16c", "fma", "bmi2")


def missing_cpu_features(cpuinfo: str | None = None) -> list[str]:
    """The instructions the prebuilt x86-64 Linux wheel needs that this CPU lacks ([] where unknown or other)."""
    if cpuinfo is None:
        if platform.system() != "Linux" or platform.machine() not in ("x86_64", "AMD64"):
            return []
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(errors="replace")
        except OSError:
            return []
    line = next((row for row in cpuinfo.splitlines() if row.startswith("flags")), "")
    if not line:
        return []
    flags = set(line.partition(":")[2].split())
    return [f for f in X86_FEATURES if f not in flags]


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self._path)
        self.sock = sock


class _Stream:
    """What the worker thread gathers from the streamed chunks of one completion."""

    def __init__(self) -> None:
        self.text: list[str] = []
        self.logprobs: list[float] = []
        self.usage: dict[str, Any] = {}
        self.timings: dict[str, Any] = {}
        self.error: str = ""
        self.cancelled = False

    def add(self, chunk: dict[str, Any]) -> bool:
        """One chunk; True stops the stream."""
        try:
            if "error" in chunk or "choices" not in chunk:
                error = chunk.get("error", chunk)
                self.error = str(error.get("message", error) if isinstance(error, dict) else error)
                return True
            for choice in chunk["choices"]:
                self.text.append(choice.get("text") or "")
                for item in (choice.get("logprobs") or {}).get("content") or []:
                    value = item.get("logprob")
                    if isinstance(value, int | float) and -1e9 < value <= 0.0:
                        self.logprobs.append(float(value))
            if isinstance(chunk.get("usage"), dict):
                self.usage = chunk["usage"]
            if isinstance(chunk.get("timings"), dict):
                self.timings = chunk["timings"]
        except Exception as exc:  # noqa: BLE001 - an odd chunk: the engine would swallow the exception
            self.error = f"unexpected answer from llama.cpp: {exc}: {str(chunk)[:200]}"
            return True
        return self.cancelled


def _number(value: Any) -> float:
    """A timing from llama.cpp's answer as a float (0.0 where it is missing or odd)."""
    return float(value) if isinstance(value, int | float) and value >= 0 else 0.0


def _restore_signals(saved: dict[int, Any]) -> None:
    """llama.cpp's server installs its own SIGINT/SIGTERM handlers (they stop its loop): put Python's back."""
    if threading.current_thread() is not threading.main_thread():
        return
    for sig, handler in saved.items():
        try:
            signal.signal(sig, handler)
        except (ValueError, TypeError, OSError):
            pass


def _params(
    xlc: Any,
    model: Path,
    *,
    context_tokens: int,
    threads: int,
    host: str,
    port: int,
    api_key: str,
    alias: str,
    verbosity: int,
    lora: Path | None = None,
) -> Any:
    params = xlc.CommonParams()
    params.model.path = str(model)
    if lora is not None:  # applied at scale 1 to every request (testbot's requests name no adapters of their own)
        params.lora_adapters = [xlc.CommonAdapterLoraInfo(str(lora), 1.0)]
    if alias:
        params.model_alias = {alias}  # the model's id in the server's /v1/models
    params.n_ctx = context_tokens
    params.n_parallel = 1  # one slot: requests run one after the other, the slot's cache serves the next
    params.n_batch = 512
    params.n_ubatch = 512
    params.cpuparams.n_threads = threads
    params.cpuparams_batch.n_threads = threads
    params.cache_prompt = True
    params.cache_ram_mib = 0  # no second cache of older prompts in RAM: one slot's prefix is what testbot reuses
    params.ctx_shift = False
    params.warmup = False
    params.verbosity = verbosity  # 1: errors only; 3: llama.cpp's log (the llama_verbosity setting)
    params.hostnames = [host]
    params.port = port
    params.api_keys = [api_key] if api_key else []
    params.endpoint_slots = False
    params.endpoint_metrics = False
    params.ui = False
    params.n_threads_http = 2
    return params


def start_server(
    model: Path,
    *,
    context_tokens: int,
    threads: int,
    host: str,
    port: int,
    api_key: str,
    alias: str = "",
    verbosity: int = 1,
    lora: Path | None = None,
) -> Any:
    """An ``xllamacpp.Server`` with testbot's load settings (and a LoRA adapter GGUF on the model, if given);
    Python's signal handlers kept."""
    try:
        import xllamacpp as xlc
    except ImportError:
        raise EnvironmentProblem(
            f"the xllamacpp backend needs xllamacpp: {INSTALL}; or use llama-cpp-python "
            "with --backend llama_cpp (pip install 'testbot[llama]', compiled from source)"
        ) from None
    missing = missing_cpu_features()
    if missing:
        raise EnvironmentProblem(
            f"this CPU lacks {', '.join(missing).replace('pni', 'sse3').upper()}, which the "
            "prebuilt llama.cpp (xllamacpp) needs; llama-cpp-python compiles llama.cpp for this "
            "CPU: pip install 'testbot[llama]' (a C compiler and cmake), then --backend llama_cpp"
        )
    params = _params(
        xlc,
        model,
        context_tokens=context_tokens,
        threads=threads or os.cpu_count() or 2,
        host=host,
        port=port,
        api_key=api_key,
        alias=alias,
        verbosity=verbosity,
        lora=lora,
    )
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        return xlc.Server(params)
    finally:
        _restore_signals({sig: h for sig, h in saved.items() if h is not None})


class XLlamaCppBackend:
    def __init__(
        self,
        model: str = "default",
        *,
        context_tokens: int = 4096,
        threads: int = 0,
        llama_verbosity: int = 1,
        **_: object,
    ) -> None:
        mf = resolve_model(model)  # first: a wrong model path is reported as such, with or without xllamacpp
        self.name = mf.name
        self.path = mf.path
        self.lora = mf.lora
        self.context_tokens = context_tokens
        st = mf.path.stat()
        self._file = (st.st_dev, st.st_ino, st.st_size)  # llama.cpp maps the file: it must not shrink under us
        self._key = secrets.token_urlsafe(24)
        self._dir = tempfile.mkdtemp(prefix="testbot-llama-")
        weakref.finalize(self, shutil.rmtree, self._dir, True)
        sock = os.path.join(self._dir, "http.sock")
        unix = len(sock) < 100  # the limit of a socket's path; else loopback TCP on a free port, with the key
        try:
            self._server = start_server(
                mf.path,
                context_tokens=context_tokens,
                threads=threads,
                host=sock if unix else "127.0.0.1",
                port=0,
                api_key=self._key,
                verbosity=llama_verbosity,
                lora=mf.lora,
            )
        except RuntimeError:
            if mf.lora is not None:
                raise EnvironmentProblem(
                    f"llama.cpp cannot load {mf.path} with the LoRA adapter {mf.lora}: a file may be truncated "
                    "or corrupt, or the adapter made for another base model (--llama-verbosity 3 shows "
                    "llama.cpp's log)"
                ) from None
            raise EnvironmentProblem(
                f"llama.cpp cannot load {mf.path}: the file may be truncated or corrupt, or not a "
                "model llama.cpp knows (--llama-verbosity 3 shows llama.cpp's log)"
            ) from None
        address = str(self._server.listening_address)
        self._local = threading.local()
        self._connect = (
            (lambda: _UnixConnection(sock, 60.0))
            if unix
            else (lambda: http.client.HTTPConnection(address.removeprefix("http://").rstrip("/"), timeout=60.0))
        )
        self._counts: dict[str, int] = {}
        # A model whose vocabulary adds a BOS token gets it in front of the rendered prompt, unless the chat
        # template wrote it already.
        plain, special = self._tokenize("x", add_special=False), self._tokenize("x", add_special=True)
        self._bos = special[:1] if len(special) > len(plain) and special[1:] == plain else []
        self._template = True
        # The last completion's prompt tokens read from the cache and llama.cpp's own timings (benchmarks, tests).
        self.cached_tokens = 0
        self.timings: dict[str, Any] = {}

    # -- the engine's HTTP side (Unix socket)

    def _post(self, path: str, body: dict[str, Any]) -> Any:
        data = json.dumps(body)
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {self._key}"}
        for attempt in range(2):
            conn = getattr(self._local, "conn", None)
            if conn is None:
                conn = self._local.conn = self._connect()
            try:
                conn.request("POST", path, data, headers)
                response = conn.getresponse()
                payload = response.read()
            except (OSError, http.client.HTTPException) as exc:  # a dropped keep-alive connection: once more
                conn.close()
                self._local.conn = None
                if attempt:
                    raise EnvironmentProblem(f"llama.cpp's engine stopped answering ({exc})") from None
                continue
            if response.status != 200:
                raise _Refused(response.status, payload.decode("utf-8", "replace")[:300])
            return json.loads(payload)
        raise AssertionError("unreachable")

    def _tokenize(self, text: str, *, add_special: bool) -> list[int]:
        data = self._post("/tokenize", {"content": text, "add_special": add_special, "parse_special": True})
        return [int(t) for t in data["tokens"]]

    def count_tokens(self, text: str) -> int:
        n = self._counts.get(text)
        if n is None:
            n = len(self._tokenize(text, add_special=False))
            if len(self._counts) < _COUNT_CACHE:
                self._counts[text] = n
        return n

    def render(self, prompt: Prompt) -> str:
        """The model's own chat template (llama.cpp renders it) with the answer's start appended."""
        if self._template:
            messages = [{"role": "system", "content": prompt.system}, {"role": "user", "content": prompt.user}]
            try:
                return str(self._post("/apply-template", {"messages": messages})["prompt"]) + prompt.prefill
            except (_Refused, KeyError, TypeError):
                self._template = False  # a template llama.cpp cannot render: ChatML, as the llama_cpp backend does
        return CHATML.format(system=prompt.system, user=prompt.user) + prompt.prefill

    def _check_file(self) -> None:
        """A model file cut short in place while mapped would crash the next read with SIGBUS: say so instead.

        A file replaced by a new one (a rename, as testbot's own cache does it) is harmless: the old one
        stays mapped until testbot ends."""
        try:
            st = os.stat(self.path)
        except OSError:
            return
        if (st.st_dev, st.st_ino) == self._file[:2] and st.st_size != self._file[2]:
            raise EnvironmentProblem(
                f"the model file {self.path} changed while testbot was using it ({self._file[2]} "
                f"bytes, now {st.st_size}); run testbot again once the file is complete"
            )

    # -- completions

    def complete(
        self, prompt: Prompt, *, seed: int, temperature: float, top_p: float, max_tokens: int, stop: Sequence[str]
    ) -> Completion:
        self._check_file()
        tokens = self._tokenize(self.render(prompt), add_special=False)
        if self._bos and tokens[:1] != self._bos:
            tokens = self._bos + tokens
        room = self.context_tokens - len(tokens) - 8
        if room < 64:
            raise PromptTooLong(
                f"prompt of {len(tokens)} tokens does not fit the {self.context_tokens}-token context; "
                "lower --prompt-tokens or raise --context-tokens"
            )
        request = {
            "prompt": tokens,
            "max_tokens": min(max_tokens, room),
            "temperature": temperature,
            "top_p": top_p,
            "seed": seed,
            "stop": list(stop),
            "logprobs": 1,
            "stream": True,
            "cache_prompt": True,
            **SAMPLER,
        }
        start = time.monotonic()
        stream = self._run(request)
        seconds = time.monotonic() - start
        if stream.error:
            raise EnvironmentProblem(f"llama.cpp refused the completion: {stream.error}")
        generated = "".join(stream.text)
        self.cached_tokens = int((stream.usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0)
        self.timings = stream.timings
        n = int(stream.usage.get("completion_tokens") or len(stream.logprobs))
        mean = sum(stream.logprobs) / len(stream.logprobs) if stream.logprobs else -99.0
        return Completion(
            text=prompt.prefill + generated,
            seed=seed,
            tokens=n,
            mean_logprob=mean,
            seconds=seconds,
            prompt_tokens=len(tokens),
            read_seconds=_number(stream.timings.get("prompt_ms")) / 1000.0,
            read_tokens=int(_number(stream.timings.get("prompt_n"))),
        )

    def _run(self, request: dict[str, Any]) -> _Stream:
        stream = _Stream()
        server = self._server

        def work() -> None:
            try:
                server.handle_completions(request, stream.add)
            except Exception as exc:  # noqa: BLE001 - reported by the waiting thread
                stream.error = f"{exc.__class__.__name__}: {exc}"

        worker = threading.Thread(target=work, name="testbot-llama", daemon=True)
        worker.start()
        try:
            while worker.is_alive():
                worker.join(0.25)
        except BaseException:  # Ctrl-C: stop the stream (the engine cancels the request), then go on unwinding
            stream.cancelled = True
            worker.join(30)
            raise
        return stream

    def close(self) -> None:
        """Stop the engine (it also stops when testbot ends)."""
        server, self._server = getattr(self, "_server", None), None
        del server
        shutil.rmtree(self._dir, ignore_errors=True)


class _Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
