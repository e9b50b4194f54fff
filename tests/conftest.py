"""Shared fixtures: a tiny real project (package, pyproject.toml, git repo) and a way to run testbot on it."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import sysconfig
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import pytest

from testbot.cli import main

# The module the end-to-end tests write tests for: a few branches, so coverage gain is visible.
# A suite started in the background by a non-interactive shell (`bash scripts/test.sh &`) inherits SIGINT
# ignored, and so would every testbot process the tests start: the Ctrl-C tests need the default back.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


# The end-to-end tests check the model's path (fake or real) on a module so small that --explore's calls alone
# would cover it before the model is asked: the suite runs with it off (CLI runs read this variable; tests that
# build Settings themselves say explore=False), and tests/test_explore.py turns it on where it is tested.
os.environ["TESTBOT_EXPLORE"] = "0"

SOURCE = '''\
"""A tiny module to write tests for."""


def classify(n):
    if n < 0:
        return "negative"
    if n == 0:
        return "zero"
    return "positive"


def clamp(x, lo, hi):
    if lo > hi:
        raise ValueError("lo must not exceed hi")
    return max(lo, min(x, hi))
'''

# Entry-point plugins installed next to pytest here (hypothesis, pytest-benchmark) cost ~1 s per pytest
# start; the tiny project turns them off the way any project can, so each candidate run stays fast.
PYPROJECT = """\
[project]
name = "pkg"
version = "0.1"

[tool.pytest.ini_options]
addopts = "-p no:hypothesispytest -p no:benchmark"
"""

# Settings that keep a pipeline run to a few pytest processes.
FAST = ["--samples", "1", "--runs", "2", "--repair-rounds", "0", "--timeout", "20"]

GIT = [
    "git",
    "-c",
    "user.name=testbot tests",
    "-c",
    "user.email=tests@example.com",
    "-c",
    "init.defaultBranch=main",
    "-c",
    "commit.gpgsign=false",
]


def fenced(code: str) -> str:
    """A completion as a model writes it: one python code block."""
    return "```python\n" + code.strip("\n") + "\n```"


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str

    def json(self) -> dict:
        return json.loads(self.out)


def run_cli(args: list[str], cwd: Path) -> Run:
    """``testbot.cli.main(args)`` in-process, in ``cwd``, with stdout and stderr captured."""
    out, err = io.StringIO(), io.StringIO()
    old = os.getcwd()
    os.chdir(cwd)
    try:
        with redirect_stdout(out), redirect_stderr(err):
            code = main(args)
    finally:
        os.chdir(old)
    return Run(code, out.getvalue(), err.getvalue())


@dataclass
class Project:
    """A tiny package in a temporary folder: pyproject.toml, pkg/__init__.py, pkg/m.py."""

    root: Path
    _n: int = 0

    def write(self, rel: str, text: str | bytes) -> Path:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8")
        return path

    def read(self, rel: str) -> str:
        return (self.root / rel).read_text(encoding="utf-8")

    def fake_model(self, completions: object) -> str:
        """Write canned completions next to (not inside) the project; return the --model value."""
        self._n += 1
        path = self.root.parent / f"completions-{self._n}.json"
        path.write_text(json.dumps(completions), encoding="utf-8")
        return f"fake:{path}"

    def snapshot(self) -> dict[str, bytes]:
        """Every file in the project (outside .git) with its content."""
        return {
            p.relative_to(self.root).as_posix(): p.read_bytes()
            for p in sorted(self.root.rglob("*"))
            if p.is_file() and ".git" not in p.relative_to(self.root).parts
        }

    def generate(self, *args: str) -> Run:
        return run_cli(["generate", *args], self.root)

    def git_init(self) -> None:
        subprocess.run([*GIT, "init", "-q"], cwd=self.root, check=True)
        subprocess.run([*GIT, "add", "-A"], cwd=self.root, check=True)
        subprocess.run([*GIT, "commit", "-q", "-m", "initial"], cwd=self.root, check=True)

    def git_status(self) -> list[str]:
        out = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=all"],
            cwd=self.root,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        return sorted(out.splitlines())

    def pytest(self, *args: str) -> subprocess.CompletedProcess:
        """Run the project's own tests the way its developer would."""
        env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}  # leave no __pycache__ in the project
        return subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
            cwd=self.root,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )


def make_project(root: Path, git: bool = True) -> Project:
    project = Project(root)
    project.write("pyproject.toml", PYPROJECT)
    project.write("pkg/__init__.py", "")
    project.write("pkg/m.py", SOURCE)
    if git:
        project.git_init()
    return project


@pytest.fixture
def project(tmp_path: Path) -> Project:
    """A fresh tiny project, committed to a new git repository."""
    return make_project(tmp_path / "proj")


@pytest.fixture(scope="session")
def testbot_script() -> str:
    """The installed ``testbot`` console script."""
    script = Path(sysconfig.get_path("scripts")) / "testbot"
    assert script.is_file(), f"the testbot console script is not installed at {script}: pip install -e ."
    return str(script)
