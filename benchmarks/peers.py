"""The peer tools on the same scratch projects: Pynguin (search-based) and CoverUp (LLM-based).

Each runs in its own venv (benchmarks/envs.py) under the same per-module budget as testbot and is killed
when the budget (plus a fixed start-up allowance) is spent; whatever tests it wrote by then are measured by
the same coverage code as testbot's (benchmarks.core.measure_files).

CoverUp talks to the same embedded model as testbot, through ``testbot serve`` (llama-cpp-python's
OpenAI-compatible server) on 127.0.0.1, via litellm's ``openai/<name>`` provider with ``OPENAI_API_BASE``.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from benchmarks.envs import Measured, run_measured, tool_env

STARTUP_ALLOWANCE = 60  # seconds a tool may take on top of the budget to start and write its files
PYNGUIN_SEARCH_SHARE = 0.7  # of the budget: search; the rest goes to assertion generation (mutation analysis)
COVERUP_PROMPT = "gpt-v1"  # CoverUp's prompt family without function calling (llama.cpp's server has no tools here)
COVERUP_CONTEXT_TOKENS = 8192  # CoverUp's prompts carry whole code segments; testbot's default 4096 is too small


@dataclass(frozen=True)
class ToolRun:
    command: list[str]
    run: Measured
    tests: list[Path]  # test files the tool left in the project


def run_pynguin(python: Path, project: Path, module: str, budget: float, out_dir: Path, seed: int = 0) -> ToolRun:
    """Pynguin on ``module`` (dotted name inside ``project``); its tests are moved to ``out_dir``."""
    raw = project.parent / (project.name + ".pynguin-out")
    shutil.rmtree(raw, ignore_errors=True)
    search = max(1, int(budget * PYNGUIN_SEARCH_SHARE))
    cmd = [
        str(python.parent / "pynguin"),
        "--project-path",
        str(project),
        "--module-name",
        module,
        "--output-path",
        str(raw),
        "--maximum-search-time",
        str(search),
        "--maximum-mutation-time",
        str(max(1, int(budget - search))),
        "--seed",
        str(seed),
        "-v",
    ]
    env = tool_env(python, PYNGUIN_DANGER_AWARE="1", PYTHONPATH=str(project))
    run = run_measured(
        cmd,
        cwd=project,
        env=env,
        timeout=budget + STARTUP_ALLOWANCE,
        log=project.parent / (project.name + ".pynguin.log"),
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    tests = []
    for f in sorted(raw.glob("test_*.py")) if raw.exists() else []:
        dest = out_dir / f.name
        shutil.move(str(f), dest)
        tests.append(dest)
    return ToolRun(cmd, run, tests)


def run_coverup(
    python: Path,
    project: Path,
    package_dir: Path,
    files: list[Path],
    budget: float,
    base_url: str,
    model_name: str,
    tests_dir: Path,
) -> ToolRun:
    """CoverUp on ``files`` of ``package_dir``, writing into ``tests_dir``; killed when the budget is spent."""
    tests_dir.mkdir(parents=True, exist_ok=True)
    before = set(tests_dir.glob("test_*.py"))
    cmd = [
        str(python),
        str(Path(__file__).with_name("coverup_local.py")),
        model_name,
        str(COVERUP_CONTEXT_TOKENS),
        "--package-dir",
        str(package_dir),
        "--tests-dir",
        str(tests_dir),
        "--model",
        f"openai/{model_name}",
        "--prompt",
        COVERUP_PROMPT,
        "--max-concurrency",
        "1",
        "--no-checkpoint",
        "--log-file",
        str(project.parent / (project.name + ".coverup-log")),
        *map(str, files),
    ]
    env = tool_env(
        python,
        OPENAI_API_BASE=base_url,
        OPENAI_BASE_URL=base_url,
        OPENAI_API_KEY="sk-local-bench",
        LITELLM_LOCAL_MODEL_COST_MAP="True",
        PYTHONPATH=str(project),
    )
    run = run_measured(
        cmd,
        cwd=project,
        env=env,
        timeout=budget + STARTUP_ALLOWANCE,
        log=project.parent / (project.name + ".coverup.log"),
    )
    tests = sorted(set(tests_dir.glob("test_*.py")) - before)
    return ToolRun(cmd, run, tests)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ModelServer:
    """``testbot serve`` on 127.0.0.1 for the benchmark's lifetime (a context manager)."""

    def __init__(
        self,
        model: str,
        log: Path,
        context_tokens: int = COVERUP_CONTEXT_TOKENS,
        env: dict[str, str] | None = None,
        wait_seconds: float = 300,
    ) -> None:
        self.port = free_port()
        self.env = env  # None: this process's environment
        self.wait_seconds = wait_seconds
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self.cmd = [
            sys.executable,
            "-m",
            "testbot",
            "serve",
            "--model",
            model,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--context-tokens",
            str(context_tokens),
            "--no-logprobs",
        ]
        self.log = log
        self.proc: subprocess.Popen | None = None
        self.model_name = ""
        self.error = ""  # why it could not start, recorded in the results instead of CoverUp's numbers

    def __enter__(self) -> ModelServer:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log, "ab")
        self.proc = subprocess.Popen(
            self.cmd, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True, env=self.env
        )
        deadline = time.monotonic() + self.wait_seconds
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"model server exited {self.proc.returncode}: {self.log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(self.base_url + "/models", timeout=5) as r:
                    self.model_name = json.load(r)["data"][0]["id"]
                return self
            except OSError:
                time.sleep(1)
        self.__exit__()
        raise RuntimeError(f"model server did not answer in {self.wait_seconds:g} s: {self.log.read_text()[-2000:]}")

    def restart(self) -> None:
        """Stop and start again on the same port. A client killed at its limit (CoverUp) leaves its last
        completion generating in the server, which would steal the CPU from whatever runs next."""
        self.__exit__()
        self.__enter__()

    def __exit__(self, *_: object) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
