"""Run candidate tests as pytest in sandboxed subprocesses, in a scratch copy of the project.

The user's files are never touched here: the project is copied into a temporary folder, each
candidate is written there, run under coverage (line + branch), classified, and re-run in fresh
processes to weed out flaky ones.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from testbot import sandbox
from testbot.errors import EnvironmentProblem, FatalError
from testbot.extract import Candidate
from testbot.targets import SKIP_DIRS, is_test_file

PASSED = "passed"
SYNTAX_ERROR = "syntax_error"
IMPORT_ERROR = "import_error"
ASSERTION_FAILURE = "assertion_failure"
ERROR = "error"
TIMEOUT = "timeout"
CRASHED = "crashed"  # the process died before pytest finished (os._exit, segfault, killed)
SKIPPED = "skipped"
NO_TESTS = "no_tests"
TAMPERED = "tampered"  # changed the project's files inside the scratch copy
FLAKY = "flaky"
OUTCOMES = (PASSED, SYNTAX_ERROR, IMPORT_ERROR, ASSERTION_FAILURE, ERROR, TIMEOUT, CRASHED, SKIPPED, NO_TESTS,
            TAMPERED, FLAKY)

_PLUGIN = Path(__file__).with_name("_pytest_plugin.py")
_MISSING_MODULE = re.compile(r"No module named '([^']+)'")


@dataclass(frozen=True)
class RunResult:
    outcome: str
    detail: str  # the error text worth showing a user or the model (bounded)
    seconds: float
    coverage_file: str  # path of the coverage data file, "" when coverage was not measured


def _copy_ignore(folder: str, names: list[str]) -> set[str]:
    return {n for n in names if n in SKIP_DIRS or (n.startswith(".") and n not in (".coveragerc",))}


class Workspace:
    """A scratch copy of the project where candidates run. Use as a context manager."""

    def __init__(self, root: Path, python: str, limits: sandbox.Limits) -> None:
        self.root = root.resolve()
        self.python = python
        self.limits = limits
        self._tmp = Path(tempfile.mkdtemp(prefix="testbot-"))
        self.project = self._tmp / "project"
        self.support = self._tmp / "support"  # the pytest plugin and an empty coverage rc file live here
        self.runs = self._tmp / "runs"
        self._counter = 0
        self._fingerprint = ""

    def __enter__(self) -> Workspace:
        try:
            shutil.copytree(self.root, self.project, ignore=_copy_ignore, symlinks=True)
        except shutil.Error as exc:
            # Unreadable or vanished files are left out of the copy; the run goes on without them.
            del exc
        self.support.mkdir()
        self.runs.mkdir()
        shutil.copy(_PLUGIN, self.support / "testbot_result_plugin.py")
        (self.support / "coveragerc").write_text("[run]\nbranch = True\n")
        (self.support / "coveragerc-contexts").write_text("[run]\nbranch = True\ndynamic_context = test_function\n")
        (self.support / "import_module.py").write_text("import importlib, sys\nimportlib.import_module(sys.argv[1])\n")
        self._fingerprint = self.fingerprint()
        return self

    def __exit__(self, *exc: object) -> None:
        shutil.rmtree(self._tmp, ignore_errors=True)

    def scratch_path(self, path: Path) -> Path:
        """Where a file of the real project lives inside the scratch copy."""
        return self.project / Path(path).resolve().relative_to(self.root)

    def fingerprint(self) -> str:
        """A hash of the project's source (non-test) files in the scratch copy, to spot tests that edit them."""
        h = hashlib.sha256()
        for dirpath, dirnames, filenames in os.walk(self.project):
            dirnames[:] = sorted(d for d in dirnames if d not in ("__pycache__", ".home"))
            for name in sorted(filenames):
                p = Path(dirpath) / name
                if name.endswith(".py") and not is_test_file(p.relative_to(self.project)):
                    try:
                        h.update(str(p).encode() + p.read_bytes())
                    except OSError:
                        h.update(str(p).encode() + b"<gone>")
        return h.hexdigest()

    def restore(self) -> None:
        """Put the project's copy back as it was, after a candidate changed it."""
        shutil.rmtree(self.project, ignore_errors=True)
        shutil.copytree(self.root, self.project, ignore=_copy_ignore, symlinks=True)
        self._fingerprint = self.fingerprint()

    def _next(self) -> int:
        self._counter += 1
        return self._counter

    def _env(self, import_root: Path, result_file: Path) -> dict[str, str]:
        paths = [str(self.support), str(self.scratch_path(import_root))]
        if self.scratch_path(import_root) != self.project:
            paths.append(str(self.project))
        return {"PYTHONPATH": os.pathsep.join(paths), "TESTBOT_RESULT_FILE": str(result_file)}

    def _pytest(self, test_files: list[Path], import_root: Path, measure: Path | None, timeout: float | None,
                contexts: bool = False) -> tuple[object, Path, Path]:
        n = self._next()
        result_file = self.runs / f"result-{n}.json"
        data_file = self.runs / f"coverage-{n}"
        args = [self.python]
        if measure is not None:
            rc = self.support / ("coveragerc-contexts" if contexts else "coveragerc")
            args += ["-m", "coverage", "run", f"--rcfile={rc}", "--branch",
                     f"--data-file={data_file}", f"--include={self.scratch_path(measure)}"]
        args += ["-m", "pytest", "-p", "testbot_result_plugin", "-p", "no:cacheprovider", "-q", "--no-header",
                 "--continue-on-collection-errors", "-o", "console_output_style=classic", *map(str, test_files)]
        limits = self.limits if timeout is None else sandbox.Limits(**{**self.limits.__dict__, "wall_seconds": timeout})
        proc = sandbox.run_sandboxed(args, cwd=self.project, limits=limits,
                                     extra_env=self._env(import_root, result_file))
        return proc, result_file, data_file

    def _tampered(self) -> bool:
        if self.fingerprint() != self._fingerprint:
            self.restore()
            return True
        return False

    def run_tests(
        self,
        test_files: list[Path],
        *,
        import_root: Path,
        measure: Path | None = None,
        timeout: float | None = None,
    ) -> RunResult:
        """Run pytest on ``test_files`` (paths inside the scratch copy); with coverage of ``measure`` if given."""
        proc, result_file, data_file = self._pytest(test_files, import_root, measure, timeout)
        outcome, detail = classify(proc, result_file)
        if self._tampered():
            outcome, detail = TAMPERED, "the test changed the project's source files"
        return RunResult(outcome, detail, proc.seconds, str(data_file) if measure is not None and data_file.exists() else "")

    def run_batch(
        self,
        test_files: list[Path],
        *,
        import_root: Path,
        measure: Path | None = None,
        timeout: float | None = None,
    ) -> tuple[dict[Path, RunResult], str] | None:
        """Run several candidate files in one pytest process, coverage recorded per test function.

        Returns each file's result and the coverage data file (query it with :func:`contexts_for`), or
        None when the batch as a whole went wrong (crash, timeout, tampering): then run them one by one.
        """
        proc, result_file, data_file = self._pytest(test_files, import_root, measure, timeout, contexts=True)
        tampered = self._tampered()
        try:
            data = json.loads(result_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            data = None
        if tampered or proc.timed_out or not data or not data.get("finished"):
            return None
        each = len(test_files) or 1
        results = {}
        for path in test_files:
            sub = {
                "finished": True,
                "exitstatus": 0,
                "collect_errors": [e for e in data["collect_errors"] if _in_file(e["nodeid"], path)],
                "tests": [t for t in data["tests"] if _in_file(t["nodeid"], path)],
            }
            if any(t["outcome"] == "failed" for t in sub["tests"]) or sub["collect_errors"]:
                sub["exitstatus"] = 1
            outcome, detail = classify_data(sub, proc)
            results[path] = RunResult(outcome, detail, proc.seconds / each, "")
        return results, str(data_file) if measure is not None and data_file.exists() else ""

    def write_candidate(self, candidate: Candidate, folder: Path) -> Path:
        """Write a candidate module into the scratch copy of ``folder`` (so its conftest.py applies)."""
        dest_folder = self.scratch_path(folder) if folder.resolve().is_relative_to(self.root) else self.project
        dest_folder.mkdir(parents=True, exist_ok=True)
        path = dest_folder / f"test_tb_{self._next()}_{os.getpid()}.py"
        path.write_text(candidate.code, encoding="utf-8")
        return path

    def check_import(self, module: str, import_root: Path) -> RunResult:
        """Import the target module once in the sandbox; a failure names the missing dependency."""
        n = self._next()
        data_file = self.runs / f"coverage-{n}"
        proc = sandbox.run_sandboxed(
            [self.python, "-m", "coverage", "run", f"--rcfile={self.support / 'coveragerc'}", "--branch",
             f"--data-file={data_file}", str(self.support / "import_module.py"), module],
            cwd=self.project, limits=self.limits, extra_env=self._env(import_root, self.runs / f"result-{n}.json"))
        if proc.returncode == 0:
            return RunResult(PASSED, "", proc.seconds, str(data_file))
        text = proc.output
        if "No module named coverage" in text:
            raise EnvironmentProblem(f"coverage is not installed for {self.python}: pip install coverage")
        missing = _MISSING_MODULE.findall(text)
        if missing:
            raise EnvironmentProblem(f"cannot import {module}: its dependency '{missing[-1]}' is missing; install the "
                                     f"project's dependencies into {self.python} (or pass --python)")
        last = text.strip().splitlines()[-1] if text.strip() else f"exit status {proc.returncode}"
        raise FatalError(f"cannot import {module}: {last}", 3)


def _in_file(nodeid: str, path: Path) -> bool:
    return nodeid.split("::", 1)[0].rsplit("/", 1)[-1] == path.name


def classify(proc, result_file: Path) -> tuple[str, str]:
    """Outcome of one pytest run, from the plugin's JSON (never from pytest's text summary)."""
    if proc.timed_out:
        return TIMEOUT, "the test did not finish in time"
    try:
        data = json.loads(result_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        data = None
    return classify_data(data, proc)


def classify_data(data: dict | None, proc) -> tuple[str, str]:
    if "No module named pytest" in proc.output or "No module named coverage" in proc.output:
        raise EnvironmentProblem(f"pytest and coverage must be installed in the environment that runs the tests "
                                 f"({proc.args[0]}): pip install pytest coverage")
    if not data or not data.get("finished"):
        sig = -proc.returncode if proc.returncode < 0 else 0
        why = f"killed by signal {sig}" if sig else f"exited with status {proc.returncode} before pytest finished"
        return CRASHED, f"{why}\n{proc.output[-1500:]}"
    if data["collect_errors"]:
        text = data["collect_errors"][0]["text"]
        if "SyntaxError" in text or "IndentationError" in text:
            return SYNTAX_ERROR, text[-1500:]
        if "ImportError" in text or "ModuleNotFoundError" in text:
            return IMPORT_ERROR, text[-1500:]
        return ERROR, text[-1500:]
    tests = data["tests"]
    failed = [t for t in tests if t["outcome"] == "failed"]
    if failed:
        first = failed[0]
        exc = first.get("exc", "")
        if first["when"] == "call" and exc == "AssertionError":
            return ASSERTION_FAILURE, first["text"][-1500:]
        if exc in ("ImportError", "ModuleNotFoundError"):
            return IMPORT_ERROR, first["text"][-1500:]
        return ERROR, first["text"][-1500:]
    calls = [t for t in tests if t["when"] == "call"]
    if not calls:
        if any(t["outcome"] == "skipped" for t in tests):
            return SKIPPED, "the test was skipped"
        return NO_TESTS, "pytest collected no test"
    if any(t["outcome"] == "skipped" for t in tests):
        return SKIPPED, "the test was skipped"
    if data.get("exitstatus") not in (0, None):
        return ERROR, f"pytest exited with status {data['exitstatus']}\n{proc.output[-1500:]}"
    return PASSED, ""
