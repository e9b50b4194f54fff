"""The openai backend: against a stub OpenAI-compatible server (payloads, prefill, logprobs, retries, keys,
errors), then end to end against the real servers of ``testbot serve`` with the small model: llama.cpp's own
(xllamacpp, the default) and llama-cpp-python's (``--backend llama_cpp``, where that optional build is installed)."""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

import testbot
from benchmarks.peers import free_port
from conftest import Project, run_cli
from testbot.backends.openai_compat import OpenAICompatBackend, chatml
from testbot.errors import EXIT_ENVIRONMENT, EnvironmentProblem
from testbot.config import resolve
from testbot.generate import STOP, backend_name_for, load_backend_for
from testbot.prompt import Prompt, estimate_tokens
from testbot.validate import OUTCOMES

PROMPT = Prompt(
    "pkg/m.py::classify",
    0,
    "You write tests.",
    "Test classify.",
    "```python\nimport pytest\n\nfrom pkg.m import classify\n",
    40,
    (),
)
ANSWER = '\n\ndef test_zero():\n    assert classify(0) == "zero"\n'


class Stub:
    """A tiny OpenAI-compatible server. ``continues``: does chat continue a final assistant message?

    ``script`` lists (status, body, headers) answers given first, before the normal ones, to any POST;
    every request is recorded as (method, path, headers, json body)."""

    def __init__(
        self, *, continues: bool = True, chat: bool = True, tokenize: str = "llama.cpp", logprobs: bool = True
    ) -> None:
        self.continues, self.chat, self.tokenize, self.logprobs = continues, chat, tokenize, logprobs
        self.script: list[tuple[int, dict, dict]] = []
        self.requests: list[tuple[str, str, dict, dict]] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def _send(self, status: int, body: dict, headers: dict | None = None) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                stub.requests.append(("GET", self.path, dict(self.headers), {}))
                if self.path == "/v1/models":
                    return self._send(200, {"object": "list", "data": [{"id": "/models/coder.gguf"}, {"id": "other"}]})
                self._send(404, {"detail": "Not Found"})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                stub.requests.append(("POST", self.path, dict(self.headers), body))
                if stub.script:
                    return self._send(*stub.script.pop(0))
                self._send(*stub.answer(self.path, body))

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def answer(self, path: str, body: dict) -> tuple[int, dict]:
        words = lambda text: len(text.split())  # noqa: E731 - the stub's "tokenizer": one token a word
        if path == "/tokenize" and self.tokenize == "llama.cpp" and "content" in body:
            return 200, {"tokens": list(range(words(body["content"])))}
        if path == "/v1/chat/completions" and self.chat:
            messages = body["messages"]
            prompt = sum(words(m["content"]) + 3 for m in messages)  # 3: each turn's template tokens
            if messages[-1]["role"] == "assistant":
                prompt -= 3 if self.continues else -4  # continued: no end of turn; closed: a new header too
            if body.get("logprobs") and not self.logprobs:
                return 500, {"error": {"message": "logprobs is not supported for models created with logits_all=False"}}
            items = [{"token": "x", "logprob": lp} for lp in (-0.5, -1.5)] if body.get("logprobs") else None
            return 200, {
                "choices": [
                    {
                        "message": {"role": "assistant", "content": ANSWER},
                        "logprobs": {"content": items} if items else None,
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": prompt, "completion_tokens": 9},
            }
        if path == "/v1/completions":
            if body.get("logprobs") and not self.logprobs:
                return 500, {"error": {"message": "logprobs is not supported for models created with logits_all=False"}}
            lps = {"token_logprobs": [-1.0, None, -2.0], "tokens": ["a", "b", "c"]} if body.get("logprobs") else None
            return 200, {
                "choices": [{"text": ANSWER, "logprobs": lps, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": words(body["prompt"]), "completion_tokens": 9},
            }
        return 404, {"detail": "Not Found"}

    def posts(self, path: str) -> list[dict]:
        return [body for method, p, _, body in self.requests if method == "POST" and p == path]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def stub():
    servers: list[Stub] = []

    def make(**kw) -> Stub:
        servers.append(Stub(**kw))
        return servers[-1]

    yield make
    for s in servers:
        s.close()


@pytest.fixture(autouse=True)
def no_key(monkeypatch):
    for var in ("TESTBOT_OPENAI_API_KEY", "OPENAI_API_KEY", "TESTBOT_OPENAI_MODE"):
        monkeypatch.delenv(var, raising=False)


def _complete(backend: OpenAICompatBackend, **kw):
    args = dict(seed=7, temperature=0.3, top_p=0.95, max_tokens=100, stop=list(STOP))
    args.update(kw)
    return backend.complete(PROMPT, **args)


def test_a_url_selects_the_openai_backend() -> None:
    assert backend_name_for("http://127.0.0.1:8000/v1") == "openai"
    assert backend_name_for("https://models.example.com/v1") == "openai"
    assert backend_name_for("small") in ("xllamacpp", "llama_cpp")  # a GGUF model: llama.cpp in-process


def test_chat_that_continues_the_prefill(stub) -> None:
    server = stub(continues=True)
    backend = OpenAICompatBackend(server.url, backoff=0.01)
    assert backend.served_model == "/models/coder.gguf" and backend.name == "coder"  # the first model listed
    completion = _complete(backend)
    assert backend.mode == "chat"
    assert completion.text == PROMPT.prefill + ANSWER  # the prefill starts the text, exactly once
    assert completion.mean_logprob == pytest.approx(-1.0)
    assert completion.tokens == 9
    request = server.posts("/v1/chat/completions")[-1]
    assert request["messages"] == [
        {"role": "system", "content": PROMPT.system},
        {"role": "user", "content": PROMPT.user},
        {"role": "assistant", "content": PROMPT.prefill},
    ]
    assert {
        k: request[k]
        for k in (
            "model",
            "seed",
            "temperature",
            "top_p",
            "max_tokens",
            "stop",
            "logprobs",
            "top_logprobs",
            "continue_final_message",
            "add_generation_prompt",
        )
    } == {
        "model": "/models/coder.gguf",
        "seed": 7,
        "temperature": 0.3,
        "top_p": 0.95,
        "max_tokens": 100,
        "stop": list(STOP),
        "logprobs": True,
        "top_logprobs": 1,
        "continue_final_message": True,
        "add_generation_prompt": False,
    }
    assert request["top_k"] == 0 and request["min_p"] == 0.0 and request["repeat_penalty"] == 1.0
    _complete(backend, seed=8)  # decided once: no second probe
    assert len(server.posts("/v1/chat/completions")) == 4  # probe (2 one-token requests) + 2 completions


def test_chat_that_ignores_the_prefill_falls_back_to_completions_with_chatml(stub) -> None:
    server = stub(continues=False)
    backend = OpenAICompatBackend(server.url, served_model="other", backoff=0.01)
    completion = _complete(backend)
    assert backend.mode == "completions"
    assert completion.text == PROMPT.prefill + ANSWER
    assert completion.mean_logprob == pytest.approx(-1.5)  # None (the first token's) is left out
    (request,) = server.posts("/v1/completions")
    assert request["prompt"] == chatml(PROMPT.system, PROMPT.user) + PROMPT.prefill
    assert request["model"] == "other" and request["logprobs"] == 1 and request["seed"] == 7


def test_a_server_without_chat_gets_completions(stub) -> None:
    server = stub(chat=False)
    backend = OpenAICompatBackend(server.url, backoff=0.01)
    assert _complete(backend).text == PROMPT.prefill + ANSWER
    assert backend.mode == "completions"


def test_without_logprobs_the_mean_is_zero(stub) -> None:
    server = stub(continues=True, logprobs=False)
    backend = OpenAICompatBackend(server.url, backoff=0.01)
    completion = _complete(backend)
    assert backend.mode == "chat" and backend.logprobs is False
    assert completion.mean_logprob == 0.0 and completion.text == PROMPT.prefill + ANSWER
    assert "logprobs" not in server.posts("/v1/chat/completions")[-1]


def test_retries_502_and_429_then_succeeds(stub) -> None:
    server = stub()
    backend = OpenAICompatBackend(server.url, backoff=0.01, openai_mode="completions")
    server.script = [
        (502, {"error": "bad gateway"}, {}),
        (429, {"error": "slow down"}, {"Retry-After": "0"}),
        (503, {"error": "loading"}, {}),
    ]
    start = time.monotonic()
    completion = _complete(backend)
    assert completion.text == PROMPT.prefill + ANSWER
    assert len(server.posts("/v1/completions")) == 4
    assert time.monotonic() - start < 5


def test_a_server_that_keeps_failing_is_an_environment_problem(stub) -> None:
    server = stub()
    backend = OpenAICompatBackend(server.url, retries=2, backoff=0.01, openai_mode="completions")
    server.script = [(502, {"error": "bad gateway"}, {})] * 3
    with pytest.raises(EnvironmentProblem, match=r"kept failing \(502: bad gateway\) after 3 tries"):
        _complete(backend)


def test_the_openai_mode_setting_skips_the_probe_from_each_source(stub, project: Project, monkeypatch) -> None:
    """``openai_mode`` (flag, [tool.testbot], TESTBOT_OPENAI_MODE) reaches the backend; no chat probe then."""
    server = stub(continues=True)
    root = project.root
    settings = resolve(
        argparse.Namespace(), root, environ={"TESTBOT_OPENAI_MODE": "completions", "TESTBOT_MODEL": server.url}
    )
    backend = load_backend_for(settings)
    assert backend.mode == "completions"
    project.write("pyproject.toml", (root / "pyproject.toml").read_text() + '\n[tool.testbot]\nopenai-mode = "chat"\n')
    assert load_backend_for(resolve(argparse.Namespace(), root, environ={"TESTBOT_MODEL": server.url})).mode == "chat"
    assert server.posts("/v1/chat/completions") == []  # neither probed
    monkeypatch.setenv("TESTBOT_OPENAI_MODE", "chat")
    fast = ("--samples", "1", "--runs", "1", "--repair-rounds", "0", "--no-explore", "--no-baseline", "--dry-run")
    run = project.generate("pkg/m.py::classify", "--model", server.url, "--openai-mode", "completions", *fast)
    assert run.code in (0, 1), run.err
    assert server.posts("/v1/chat/completions") == [] and server.posts("/v1/completions")  # the flag won


def test_the_api_key_goes_in_the_header_only(stub, monkeypatch) -> None:
    key = "sk-testbot-" + "k" * 24
    monkeypatch.setenv("OPENAI_API_KEY", "sk-other")
    monkeypatch.setenv("TESTBOT_OPENAI_API_KEY", key)  # testbot's own variable wins
    server = stub(tokenize="none")
    backend = OpenAICompatBackend(server.url, backoff=0.01)
    _complete(backend)
    assert all(headers.get("Authorization") == f"Bearer {key}" for _, _, headers, _ in server.requests)
    assert all(key not in json.dumps(body) for *_, body in server.requests)
    server.script = [(401, {"error": {"message": "invalid api key"}}, {})]
    with pytest.raises(EnvironmentProblem) as info:
        _complete(backend)
    assert "TESTBOT_OPENAI_API_KEY" in str(info.value) and key not in str(info.value)


def test_count_tokens_asks_the_server_or_estimates(stub) -> None:
    server = stub(tokenize="llama.cpp")
    backend = OpenAICompatBackend(server.url, backoff=0.01)
    assert backend.count_tokens("one two three four five") == 5
    assert backend.count_tokens("one two three four five") == 5  # cached: asked once
    assert len(server.posts("/tokenize")) == 1
    plain = OpenAICompatBackend(stub(tokenize="none").url, backoff=0.01)
    assert plain.count_tokens("x" * 400) == estimate_tokens("x" * 400)  # the same estimate the prompt builder uses


def test_a_server_that_is_not_running_is_named(project: Project) -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(EnvironmentProblem, match=rf"cannot reach {url}/models: .*is the server running\?"):
        OpenAICompatBackend(url, retries=1, backoff=0.01)
    run = project.generate("pkg/m.py::classify", "--model", url, "--samples", "1")
    assert run.code == EXIT_ENVIRONMENT
    assert f"cannot reach {url}/models" in run.err and "is the server running?" in run.err


# -- the real thing: `testbot serve` with the small model, on each engine

SMALL = "smollm2-135m-instruct-q4_1"
NATIVE_SERVER = all(importlib.util.find_spec(m) is not None for m in ("llama_cpp", "uvicorn", "fastapi"))


@pytest.fixture(
    scope="module",
    params=[
        "xllamacpp",
        pytest.param(
            "llama_cpp",
            marks=pytest.mark.skipif(
                not NATIVE_SERVER,
                reason="llama-cpp-python's server (the optional native build: pip install "
                "'testbot[llama-serve]', or TESTBOT_TEST_LLAMA_CPP=1 bash scripts/test.sh) is not installed",
            ),
        ),
    ],
)
def served(request, tmp_path_factory):
    """``testbot serve --model small --backend ENGINE`` on a free loopback port, for this module; always stopped."""
    from benchmarks.peers import ModelServer  # the benchmark's own server runner

    env = {**os.environ, "PYTHONPATH": str(Path(testbot.__file__).parents[1])}
    env.pop("TESTBOT_OPENAI_API_KEY", None)
    server = ModelServer(
        "small", tmp_path_factory.mktemp("serve") / "serve.log", context_tokens=2048, env=env, wait_seconds=120
    )
    server.cmd += ["--backend", request.param]
    with server:
        assert server.model_name == SMALL
        yield request.param, server.base_url


@pytest.mark.slow
def test_real_server_completes_after_the_prefill_with_exact_token_counts(served) -> None:
    engine, url = served
    backend = OpenAICompatBackend(url, context_tokens=2048)
    assert backend.name == SMALL
    from testbot.backends.xllamacpp_backend import XLlamaCppBackend

    text = "def classify(n):\n    return n"
    exact = XLlamaCppBackend("small", context_tokens=256).count_tokens(text)  # the model's own tokenizer
    assert backend.count_tokens(text) == exact  # the server's own count, not an estimate
    completion = _complete(backend, max_tokens=48)
    assert completion.text.startswith(PROMPT.prefill) and completion.text.count(PROMPT.prefill) == 1
    assert completion.tokens > 0 and completion.prompt_tokens > 20
    if engine == "xllamacpp":
        # llama.cpp's server: /tokenize, a final assistant message continued, log-probabilities on request.
        assert backend._tokenizer == "llama.cpp" and backend.mode == "chat"
        assert backend.logprobs is True and -20 < completion.mean_logprob < 0
    else:
        assert backend._tokenizer == "extras"
        # llama-cpp-python closes a final assistant message and opens a new answer: the probe sees it.
        assert backend.mode == "completions"
        # testbot serve leaves log-probabilities off there (see testbot/serve.py): the server refuses them,
        # the backend asks again without, and every completion ranks alike.
        assert backend.logprobs is False and completion.mean_logprob == 0.0


@pytest.mark.slow
def test_generate_end_to_end_through_the_server(served, project: Project) -> None:
    before = project.read("pkg/m.py")
    run = run_cli(
        [
            "generate",
            "pkg/m.py::classify",
            "--model",
            served[1],
            "--samples",
            "2",
            "--max-tokens",
            "128",
            "--repair-rounds",
            "0",
            "--runs",
            "2",
            "--context-tokens",
            "2048",
            "--json",
        ],
        project.root,
    )
    assert run.code in (0, 1), run.err
    report = run.json()
    (target,) = report["targets"]
    assert report["model"] == SMALL  # the completions came from the server's model
    assert target["completions"] == 2 or target["note"] == "time budget spent"
    assert target["tokens"] > 0 and target["prompt_tokens"] > 100
    assert report["funnel"]["generated"] >= 1
    assert all(c["outcome"] in OUTCOMES for c in target["candidates"])
    assert project.read("pkg/m.py") == before
    if run.code == 1:  # something was kept: it passes in the project itself
        assert "# testbot: pkg/m.py::classify" in project.read("tests/test_m.py")
        assert project.pytest("tests/test_m.py").returncode == 0
