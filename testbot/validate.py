"""Run candidate tests as pytest in sandboxed subprocesses, in a scratch copy of the project.

The user's files are never touched here: the project is copied into a temporary folder, each
candidate is written there, run under coverage (line + branch) through :mod:`testbot.sandbox`,
classified, and re-run in fresh processes to weed out flaky ones. A run that misbehaves gets an
outcome naming what it did (network, wrote_outside, processes, ...); the user's own project files are
checked before and after every run, so a write that got through would still be caught.
"""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from testbot import sandbox, shape
from testbot.errors import EnvironmentProblem, FatalError
from testbot.extract import Candidate
from testbot.layout import PYTHON_FILES, unnamed_test_modules
from testbot.targets import SKIP_DIRS, is_test_file

if TYPE_CHECKING:
    from testbot.config import Settings

# How every sandboxed pytest run starts: its outcomes through testbot's result plugin, no cache files left in
# the project, no header.
PYTEST = ("-m", "pytest", "-p", "testbot_result_plugin", "-p", "no:cacheprovider", "-q", "--no-header")

PASSED = "passed"
SYNTAX_ERROR = "syntax_error"
IMPORT_ERROR = "import_error"
ASSERTION_FAILURE = "assertion_failure"
ERROR = "error"
TIMEOUT = "timeout"  # wall time or CPU time used up
CRASHED = "crashed"  # killed by a signal before pytest finished (segfault, abort, killed)
EXITED_EARLY = "exited_early"  # ended pytest itself: os._exit, sys.exit, pytest.exit; a "pass" that is not one
SKIPPED = "skipped"
NO_TESTS = "no_tests"
TAMPERED = "tampered"  # changed the project's source or configuration files inside the scratch copy
FLAKY = "flaky"
MEMORY = "memory"  # ran out of its address-space limit
PROCESSES = "processes"  # hit the process limit (a fork bomb)
OUTPUT_LIMIT = "output_limit"  # wrote or printed more than the file-size limit
NETWORK = "network"  # tried to use the network (refused)
WROTE_OUTSIDE = "wrote_outside"  # tried to write outside its scratch folders (refused), or the user's files changed
READ_OUTSIDE = "read_outside"  # tried to read a file or list a folder outside the sandbox's view (refused)
SIGNAL_OUTSIDE = "signal_outside"  # tried to signal a process outside the sandbox, e.g. kill testbot (refused)
LEFT_PROCESS = "left_process"  # left a process running after it ended (a daemon; killed)
TAMPERED_PYTEST = "tampered_pytest"  # changed pytest or testbot's plugin while running, or forged the result
OUTCOMES = (
    PASSED,
    SYNTAX_ERROR,
    IMPORT_ERROR,
    ASSERTION_FAILURE,
    ERROR,
    TIMEOUT,
    CRASHED,
    EXITED_EARLY,
    SKIPPED,
    NO_TESTS,
    TAMPERED,
    FLAKY,
    MEMORY,
    PROCESSES,
    OUTPUT_LIMIT,
    NETWORK,
    WROTE_OUTSIDE,
    READ_OUTSIDE,
    SIGNAL_OUTSIDE,
    LEFT_PROCESS,
    TAMPERED_PYTEST,
)
# The guard's refusals, most serious first: whatever else a run did, these decide its outcome.
_GUARD_KINDS = (WROTE_OUTSIDE, SIGNAL_OUTSIDE, NETWORK, TAMPERED_PYTEST, READ_OUTSIDE)

_SEARCH = Path(__file__).with_name("_search.py")
_PLUGIN = Path(__file__).with_name("_pytest_plugin.py")
_MUTANTS_PLUGIN = Path(__file__).with_name("_mutants_plugin.py")
_MUTATE = Path(__file__).with_name("mutate.py")
_MISSING_MODULE = re.compile(r"No module named '([^']+)'")


@dataclass(frozen=True)
class RunResult:
    outcome: str
    detail: str  # the error text worth showing a user or the model (bounded)
    seconds: float
    coverage_file: str  # path of the coverage data file, "" when coverage was not measured
    programs: bool = False  # the test started another program or used ctypes (what the guard cannot watch)


# What the guard notes without refusing: the test ran code the audit hook cannot see
PROGRAM = "program"


def _copy_ignore(folder: str, names: list[str]) -> set[str]:
    return {n for n in names if n in SKIP_DIRS or (n.startswith(".") and n not in (".coveragerc",))}


# Files that change how later pytest runs behave: a candidate that writes one has tampered with the copy.
_CONFIG_FILES = {
    "conftest.py",
    "pytest.ini",
    "pyproject.toml",
    "setup.cfg",
    "tox.ini",
    "sitecustomize.py",
    "usercustomize.py",
    ".coveragerc",
}


class _Watch:
    """The user's own project files (those the scratch copy is made of, and .git's config and hooks).

    Checked before and after every sandboxed run: a file written, added or removed while a candidate
    ran is reported, even where the operating system could not prevent the write.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.state = self.scan()

    def scan(self) -> dict[str, tuple[int, ...]]:
        out: dict[str, tuple[int, ...]] = {}
        extra = [self.root / ".git" / "config", *sorted((self.root / ".git" / "hooks").glob("*"))]
        for path in extra:
            self._stat(path, out)
        for dirpath, dirnames, filenames in os.walk(self.root):
            dirnames[:] = sorted(set(dirnames) - _copy_ignore(dirpath, dirnames))
            for name in filenames:
                if not _copy_ignore(dirpath, [name]):
                    self._stat(Path(dirpath) / name, out)
        return out

    def _stat(self, path: Path, out: dict[str, tuple[int, ...]]) -> None:
        try:
            st = path.lstat()
        except OSError:
            return
        out[path.relative_to(self.root).as_posix()] = (
            st.st_size,
            st.st_mtime_ns,
            st.st_ctime_ns,
            st.st_ino,
            st.st_mode,
        )

    def changed(self, before: dict[str, tuple[int, ...]]) -> list[str]:
        after = self.scan()
        self.state = after
        return sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))


@dataclass(frozen=True)
class _Run:
    """One sandboxed pytest run and everything known about it."""

    sandboxed: sandbox.SandboxRun
    data: dict | None  # the plugin's JSON, None when it wrote none
    nonce: str
    data_file: Path
    scratch_changed: bool  # the candidate changed source/configuration files in the scratch copy
    project_changed: tuple[str, ...]  # the user's own files that changed while it ran
    limits: sandbox.Limits  # what it ran under (a caller may shorten the workspace's time limit)

    @property
    def proc(self):
        return self.sandboxed.proc

    @property
    def refusals(self) -> tuple[sandbox.Violation, ...]:
        return tuple(v for v in self.sandboxed.violations if v.kind != PROGRAM)

    def programs(self, path: Path | None = None) -> bool:
        """Whether a test (of the file ``path``, or any) started a program or used ctypes."""
        return any(
            v.kind == PROGRAM and (path is None or not v.test or _in_file(v.test, path))
            for v in self.sandboxed.violations
        )  # (outside a test: at collection, so any file's)

    @property
    def clean(self) -> bool:
        """Nothing went wrong with the run as a whole (the tests themselves may still fail)."""
        sb, data = self.sandboxed, self.data
        return bool(
            data
            and data.get("finished")
            and data.get("nonce") == self.nonce
            and not data.get("tampered")
            and not data.get("leftovers")
            and not self.refusals
            and not sb.leftovers
            and not sb.process_limit_hit
            and not sb.proc.timed_out
            and not self.scratch_changed
            and not self.project_changed
        )


def candidate_limits(settings: Settings) -> sandbox.Limits:
    """The sandbox's limits for a run of candidate tests: ``--timeout`` (its CPU time twice that, plus 5 s),
    ``--memory-mb`` and ``--max-processes``."""
    return sandbox.Limits(
        wall_seconds=settings.timeout,
        cpu_seconds=int(settings.timeout * 2) + 5,
        memory_bytes=settings.memory_mb * 1024**2,
        processes=settings.max_processes,
    )


class Workspace:
    """A scratch copy of the project where candidates run. Use as a context manager."""

    def __init__(self, root: Path, python: str, limits: sandbox.Limits) -> None:
        self.root = root.resolve()
        self.python = python
        self.limits = limits
        self._tmp = Path(tempfile.mkdtemp(prefix="testbot-"))
        self.project = self._tmp / "project"
        self.support = self._tmp / "support"  # the guard, the pytest plugin and coverage rc files; never writable
        self.runs = self._tmp / "runs"  # one folder per run: its result, coverage data, HOME and TMPDIR
        self._counter = 0
        self._fingerprint = ""
        self.isolation: sandbox.Isolation | None = None
        self.incidents: list[str] = []  # the user's files changed during a run: said in the report's errors
        self._watch: _Watch | None = None
        self._plugins: list[str] | None = None  # pytest-cov, xdist: installed for the project's interpreter

    def __enter__(self) -> Workspace:
        try:
            shutil.copytree(self.root, self.project, ignore=_copy_ignore, symlinks=True)
        except shutil.Error as exc:
            # Unreadable or vanished files are left out of the copy; the run goes on without them.
            del exc
        self.support.mkdir()
        self.runs.mkdir()
        sandbox.install_guard(self.support)
        shutil.copy(_PLUGIN, self.support / "testbot_result_plugin.py")
        shutil.copy(_MUTANTS_PLUGIN, self.support / "testbot_mutants_plugin.py")
        shutil.copy(_MUTATE, self.support / "testbot_mutate.py")
        shutil.copy(_SEARCH, self.support / "testbot_search.py")
        (self.support / "coveragerc").write_text("[run]\nbranch = True\n")
        (self.support / "coveragerc-contexts").write_text("[run]\nbranch = True\ndynamic_context = test_function\n")
        (self.support / "import_module.py").write_text("import importlib, sys\nimportlib.import_module(sys.argv[1])\n")
        self._fingerprint = self.fingerprint()
        self.isolation = sandbox.isolation(self.python)
        self._watch = _Watch(self.root)
        return self

    def __exit__(self, *exc: object) -> None:
        shutil.rmtree(self._tmp, ignore_errors=True)

    def scratch_path(self, path: Path) -> Path:
        """Where a file of the real project lives inside the scratch copy."""
        return self.project / Path(path).resolve().relative_to(self.root)

    def fingerprint(self) -> str:
        """A hash of the project's source and configuration files in the scratch copy, to spot tests that edit them."""
        h = hashlib.sha256()
        for dirpath, dirnames, filenames in os.walk(self.project):
            dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
            for name in sorted(filenames):
                p = Path(dirpath) / name
                rel = p.relative_to(self.project)
                if name in _CONFIG_FILES or name.endswith(".pth") or (name.endswith(".py") and not is_test_file(rel)):
                    try:
                        h.update(str(rel).encode() + b"\0" + p.read_bytes())
                    except OSError:
                        h.update(str(rel).encode() + b"<gone>")
        return h.hexdigest()

    def restore(self) -> None:
        """Put the project's copy back as it was, after a candidate changed it."""
        shutil.rmtree(self.project, ignore_errors=True)
        shutil.copytree(self.root, self.project, ignore=_copy_ignore, symlinks=True)
        self._fingerprint = self.fingerprint()

    def _next(self) -> int:
        self._counter += 1
        return self._counter

    def _env(self, import_root: Path | Sequence[Path]) -> dict[str, str]:
        roots = [import_root] if isinstance(import_root, Path) else list(import_root) or [self.root]
        paths = [str(self.support)] + [str(self.scratch_path(r)) for r in roots]
        if str(self.project) not in paths:
            paths.append(str(self.project))
        return {"PYTHONPATH": os.pathsep.join(paths)}

    def _sandboxed(
        self, args: list[str], import_root: Path | Sequence[Path], limits: sandbox.Limits, shifted: bool = False
    ) -> _Run:
        """Run a Python command in the sandbox, in a fresh run folder, with every check around it; ``shifted``:
        under the conditions a user's run may differ in (:func:`testbot.sandbox.shifted_env`)."""
        n = self._next()
        token = secrets.token_hex(8)
        scratch = self.runs / f"{n}-{token}"  # not guessable by an earlier run
        scratch.mkdir()
        result_file, data_file = scratch / "result.json", scratch / "coverage"
        nonce = secrets.token_hex(16)
        handoff = json.dumps({"result_file": str(result_file), "nonce": nonce}).encode()
        before = self._watch.scan() if self._watch is not None else {}
        run = sandbox.run_sandboxed(
            [a.replace("{data_file}", str(data_file)) for a in args],
            cwd=self.project,
            scratch=scratch,
            support=self.support,
            writable=[self.project],
            limits=limits,
            extra_env={**self._env(import_root), **(sandbox.shifted_env() if shifted else {})},
            handoff=handoff,
            hidden=[self.root],
            stand_in={self.root: self.project},
        )
        changed = tuple(self._watch.changed(before)) if self._watch is not None else ()
        if changed:
            self.incidents.append(
                f"your project's files changed while a candidate test ran: {', '.join(changed[:5])}"
                f"; check them (git status)"
            )
        scratch_changed = self._tampered()
        try:
            data = json.loads(result_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            data = None
        return _Run(run, data if isinstance(data, dict) else None, nonce, data_file, scratch_changed, changed, limits)

    def _pytest(
        self,
        test_files: list[Path],
        import_root: Path,
        measure: Path | None,
        timeout: float | None,
        contexts: bool = False,
        shifted: bool = False,
        extra: Sequence[str] = (),
    ) -> _Run:
        args = [self.python]
        if measure is not None:
            rc = self.support / ("coveragerc-contexts" if contexts else "coveragerc")
            args += [
                "-m",
                "coverage",
                "run",
                f"--rcfile={rc}",
                "--branch",
                "--data-file={data_file}",
                f"--include={self.scratch_path(measure)}",
            ]
        args += [
            *PYTEST,
            "--continue-on-collection-errors",
            "-o",
            "console_output_style=classic",
            *self._suite_options(),
            *extra,
            *map(str, test_files),
        ]
        limits = self.limits if timeout is None else dataclasses.replace(self.limits, wall_seconds=timeout)
        return self._sandboxed(args, import_root, limits, shifted)

    def _tampered(self) -> bool:
        if self.fingerprint() != self._fingerprint:
            self.restore()
            return True
        return False

    def _result(self, run: _Run, measure: Path | None) -> RunResult:
        outcome, detail = judge(run, run.limits)
        coverage = str(run.data_file) if measure is not None and run.data_file.exists() else ""
        return RunResult(outcome, detail, run.proc.seconds, coverage, run.programs())

    def run_tests(
        self,
        test_files: list[Path],
        *,
        import_root: Path,
        measure: Path | None = None,
        timeout: float | None = None,
        shifted: bool = False,
    ) -> RunResult:
        """Run pytest on ``test_files`` (paths inside the scratch copy); with coverage of ``measure`` if given;
        ``shifted``: with the clock years ahead, another time zone and locale."""
        return self._result(self._pytest(test_files, import_root, measure, timeout, shifted=shifted), measure)

    def run_batch(
        self,
        test_files: list[Path],
        *,
        import_root: Path,
        measure: Path | None = None,
        timeout: float | None = None,
        shifted: bool = False,
    ) -> tuple[dict[Path, RunResult], str] | None:
        """Run several candidate files in one pytest process, coverage recorded per test function.

        Returns each file's result and the coverage data file (query it with :func:`contexts_for`), or
        None when the batch as a whole went wrong (crash, timeout, tampering, anything the sandbox
        refused): then run them one by one. A batch of one file is judged as it is.
        """
        run = self._pytest(test_files, import_root, measure, timeout, contexts=True, shifted=shifted)
        coverage = str(run.data_file) if measure is not None and run.data_file.exists() else ""
        if len(test_files) == 1 and not run.clean:
            return {test_files[0]: self._result(run, measure)}, coverage
        if not run.clean:
            return None
        data = run.data
        each = len(test_files) or 1
        results = {}
        for path in test_files:
            sub = {
                **data,
                "exitstatus": 0,
                "collect_errors": [e for e in data["collect_errors"] if _in_file(e["nodeid"], path)],
                "tests": [t for t in data["tests"] if _in_file(t["nodeid"], path)],
            }
            if any(t["outcome"] == "failed" for t in sub["tests"]) or sub["collect_errors"]:
                sub["exitstatus"] = 1
            outcome, detail = classify_data(sub, run.proc, run.limits)
            results[path] = RunResult(outcome, detail, run.proc.seconds / each, "", run.programs(path))
        return results, coverage

    def run_mutants(
        self, test_files: list[Path], *, import_root: Path, spec: dict, timeout: float, node_ids: Sequence[str] = ()
    ) -> dict | None:
        """Run pytest on ``test_files``, then each mutant of ``spec`` in place in the same process
        (:mod:`testbot._mutants_plugin`): per mutant id, whether a kept test caught it and which spare test files
        did. ``node_ids``: the project's own tests the spec names (they run too, before the mutants). None when the
        run as a whole went wrong (crash, timeout, tampering, anything the sandbox refused)."""
        path = self.support / f"mutants-{self._next()}.json"  # (support: tests read it, never write it)
        path.write_text(json.dumps(spec), encoding="utf-8")
        try:
            run = self._pytest(
                test_files,
                import_root,
                None,
                timeout,
                extra=("-p", "testbot_mutants_plugin", f"--testbot-mutants={path}", *node_ids),
            )
        finally:
            path.unlink(missing_ok=True)
        answer = run.data.get("mutants") if run.clean and run.data else None
        if not isinstance(answer, dict) or not isinstance(answer.get("ran"), dict):
            return None
        return answer

    def run_suite(self, measure: list[Path], timeout: float, import_roots: Sequence[Path] = ()) -> SuiteResult:
        """Run the project's own test suite the way its users run it (``pytest`` in the project's root: its
        configuration's addopts, plugins, testpaths, doctests, conftest fixtures), under coverage of the files
        in ``measure`` (paths of the real project). pytest-cov's own measuring is turned off (``--no-cov``: the
        ``--cov`` options in addopts still parse) and xdist runs in-process (``-n 0``), so that coverage sees
        every test; both only where the plugin is installed."""
        rc = self.support / "coveragerc-suite"
        rc.write_text("[run]\nbranch = True\ndynamic_context = test_function\n")
        include = ",".join(str(self.scratch_path(p)) for p in measure)
        args = [
            self.python,
            "-m",
            "coverage",
            "run",
            f"--rcfile={rc}",
            "--branch",
            "--data-file={data_file}",
            f"--include={include}",
            *PYTEST,
            "-o",
            "console_output_style=classic",
            *self._suite_options(),
            *(["-o", f"python_files={PYTHON_FILES}"] if unnamed_test_modules(self.root) else []),
        ]
        limits = dataclasses.replace(self.limits, wall_seconds=timeout, cpu_seconds=int(timeout * 2) + 5)
        run = self._sandboxed(args, list(import_roots) or self.root, limits)
        coverage = str(run.data_file) if run.data_file.exists() else ""
        data = run.data or {}
        errors = data.get("collect_errors") or []
        status = data.get("exitstatus")
        if run.refusals or run.proc.timed_out or not data.get("finished") or errors or status in (2, 3, 4):
            if errors:
                why = f"{errors[0].get('nodeid') or 'collection'}: {_key_line(errors[0].get('text', ''))}"
            elif run.proc.timed_out:
                why = f"it did not finish in {timeout:g} s"
            elif run.refusals:
                why = f"the sandbox refused: {run.refusals[0].detail}"
            else:
                why = _key_line(run.proc.output) or f"pytest exited with status {status or run.proc.returncode}"
            return SuiteResult(False, why, coverage)
        labels = data.get("labels")
        return SuiteResult(True, "", coverage, labels if isinstance(labels, dict) else {})

    def _suite_options(self) -> list[str]:
        """pytest options that keep coverage whole under the project's plugins (checked once per interpreter):
        for the suite and for every candidate, since both run under the project's configuration."""
        if self._plugins is None:
            from testbot import proc

            found = proc.run(
                [
                    self.python,
                    "-c",
                    "import importlib.util as u; print(*[m for m in ('pytest_cov', 'xdist') if u.find_spec(m)])",
                ],
                timeout=60,
            )
            self._plugins = found.stdout.split() if found.returncode == 0 else []
        return (["--no-cov"] if "pytest_cov" in self._plugins else []) + (
            ["-n", "0"] if "xdist" in self._plugins else []
        )

    def write_candidate(self, candidate: Candidate, folder: Path) -> Path:
        """Write a candidate module into the scratch copy of ``folder`` (so its conftest.py applies)."""
        dest_folder = self.scratch_path(folder) if folder.resolve().is_relative_to(self.root) else self.project
        dest_folder.mkdir(parents=True, exist_ok=True)
        path = dest_folder / f"test_tb_{self._next()}_{os.getpid()}.py"
        path.write_text(candidate.code, encoding="utf-8")
        return path

    def search(self, spec: dict, import_root: Path, seconds: float) -> dict[str, list[str]]:
        """Run the ``--explore`` search (:mod:`testbot._search`) on one file's targets for about ``seconds``;
        returns the call expressions it kept per target id ({} when it went wrong: the caller falls back)."""
        path = self.support / f"search-{self._next()}.json"
        # (filler text: a call passing it gives way to a plain one that covers all it covers)
        path.write_text(json.dumps({"filler": shape.PLACEHOLDER_PATTERN, **spec, "seconds": seconds}), encoding="utf-8")
        limits = dataclasses.replace(self.limits, wall_seconds=seconds + 10)
        run = self._sandboxed([self.python, str(self.support / "testbot_search.py"), str(path)], import_root, limits)
        path.unlink(missing_ok=True)
        data = run.data or {}
        calls = data.get("calls") if data.get("nonce") == run.nonce else None
        if not isinstance(calls, dict):
            return {}
        return {k: [e for e in v if isinstance(e, str)] for k, v in calls.items() if isinstance(v, list)}

    def check_import(self, module: str, import_root: Path) -> RunResult:
        """Import the target module once in the sandbox; a failure names the missing dependency."""
        run = self._sandboxed(
            [
                self.python,
                "-m",
                "coverage",
                "run",
                f"--rcfile={self.support / 'coveragerc'}",
                "--branch",
                "--data-file={data_file}",
                str(self.support / "import_module.py"),
                module,
            ],
            import_root,
            self.limits,
        )
        proc = run.proc
        if proc.returncode == 0:
            return RunResult(PASSED, "", proc.seconds, str(run.data_file))
        text = proc.output
        if "No module named coverage" in text:
            raise EnvironmentProblem(f"coverage is not installed for {self.python}: pip install coverage")
        missing = _MISSING_MODULE.findall(text)
        if missing:
            raise EnvironmentProblem(
                f"cannot import {module}: its dependency '{missing[-1]}' is missing; install the "
                f"project's dependencies into {self.python} (or pass --python)"
            )
        last = text.strip().splitlines()[-1] if text.strip() else f"exit status {proc.returncode}"
        raise FatalError(f"cannot import {module}: {last}", 3)


@dataclass(frozen=True)
class SuiteResult:
    """The project's own suite, run once: whether it could run, why not, and what it covered."""

    ran: bool
    why: str  # when it could not: the key line of pytest's output
    coverage_file: str  # (a suite with failing tests still covers what it ran), with a context per test function
    labels: dict[str, str] = dataclasses.field(default_factory=dict)  # node id -> its context's name


_KEY = re.compile(r"^(?:E\s+)?(?:ERROR: .*|.*\berror: .*|[\w.]*(?:Error|Exception|Exit)\b.*)$", re.M)


def _key_line(text: str) -> str:
    """The line of pytest's output that says what went wrong (the last error line), bounded."""
    lines = [m.group(0).strip() for m in _KEY.finditer(text or "")]
    useful = [line for line in lines if not line.startswith("ERROR: usage:")]
    line = (useful or lines or [""])[-1]
    return line[:300]


def _in_file(nodeid: str, path: Path) -> bool:
    return nodeid.split("::", 1)[0].rsplit("/", 1)[-1] == path.name


def _signal_name(sig: int) -> str:
    try:
        return signal.Signals(sig).name
    except ValueError:
        return f"signal {sig}"


def judge(run: _Run, limits: sandbox.Limits) -> tuple[str, str]:
    """The outcome of one sandboxed pytest run: what the sandbox saw first, then the plugin's JSON."""
    sb, proc, data = run.sandboxed, run.proc, run.data
    if "No module named pytest" in proc.output or "No module named coverage" in proc.output:
        classify_data(None, proc)  # raises EnvironmentProblem
    for kind in _GUARD_KINDS:
        hits = [v for v in sb.violations if v.kind == kind]
        if hits:
            where = f" (in {hits[0].test})" if hits[0].test else ""
            more = f"; {len(hits) - 1} more refusal{'s' if len(hits) > 2 else ''}" if len(hits) > 1 else ""
            return kind, f"refused by the sandbox: {hits[0].detail}{where}{more}"
    if run.project_changed:
        return WROTE_OUTSIDE, (
            f"your project's files changed while this test ran: {', '.join(run.project_changed[:5])}"
            " (written by the test, or by someone else at the same time)"
        )
    if data is not None and data.get("nonce") != run.nonce:
        return TAMPERED_PYTEST, "the result file was not written by testbot's plugin (forged)"
    if data is not None and data.get("tampered"):
        return TAMPERED_PYTEST, "the test changed pytest while it ran: " + ", ".join(data["tampered"][:5])
    if run.scratch_changed:
        return TAMPERED, "the test changed the project's source or configuration files (in testbot's copy, restored)"
    if proc.timed_out:
        return (
            TIMEOUT,
            f"the test did not finish in time ({limits.wall_seconds:g} s); every process it started was killed",
        )
    if sb.cpu_limit_hit:
        return TIMEOUT, f"the test used up its CPU time ({limits.cpu_seconds} s) and was killed"
    if sb.process_limit_hit:
        return PROCESSES, (
            f"the test tried to run more than {limits.processes} processes at once (a fork bomb?); "
            "the sandbox refused, and killed them all"
        )
    left = list(sb.leftovers) + list((data or {}).get("leftovers") or [])
    if left:
        return LEFT_PROCESS, "the test left processes running after it ended (killed): " + "; ".join(left[:3])
    return classify_data(data, proc, limits)


_FORK_REFUSED = re.compile(r"BlockingIOError: \[Errno 11\]|Resource temporarily unavailable")


def classify_data(data: dict | None, proc, limits: sandbox.Limits | None = None) -> tuple[str, str]:
    limits = limits or sandbox.Limits()
    if "No module named pytest" in proc.output or "No module named coverage" in proc.output:
        raise EnvironmentProblem(
            f"pytest and coverage must be installed in the environment that runs the tests "
            f"({proc.args[0]}): pip install pytest coverage"
        )
    if not data or not data.get("finished"):
        sig = -proc.returncode if proc.returncode < 0 else 0
        tail = proc.output[-1500:]
        if sig == signal.SIGXFSZ:
            return OUTPUT_LIMIT, f"the test wrote more than {limits.file_bytes // 1024**2} MiB to a file or its output"
        if "MemoryError" in tail:
            return MEMORY, f"the test ran out of memory ({limits.memory_bytes // 1024**2} MiB)\n{tail}"
        if sig:
            return CRASHED, f"killed by {_signal_name(sig)} before pytest finished\n{tail}"
        return EXITED_EARLY, (
            f"exited with status {proc.returncode} before pytest finished (os._exit or sys.exit "
            f"outside a test?)\n{tail}"
        )
    if data.get("interrupted"):
        return EXITED_EARLY, f"the test stopped the pytest session: {data['interrupted']}"
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
        exc, text, code = first.get("exc", ""), first["text"][-1500:], first.get("errno")
        if exc == "MemoryError":
            return MEMORY, f"the test ran out of memory ({limits.memory_bytes // 1024**2} MiB)\n{text}"
        if code == errno.EFBIG:
            return (
                OUTPUT_LIMIT,
                f"the test wrote more than {limits.file_bytes // 1024**2} MiB to a file or its output\n{text}",
            )
        if code == errno.ENETUNREACH:
            return NETWORK, f"the test tried to use the network (there is none in the sandbox)\n{text}"
        if exc == "SystemExit":
            where = (
                "in a fixture"
                if first["when"] == "setup"
                else "in a test"
                if first["when"] == "call"
                else "on teardown"
            )
            return EXITED_EARLY, f"the test called sys.exit() {where}\n{text}"
        if exc == "BlockingIOError" and _FORK_REFUSED.search(text):
            return PROCESSES, f"the test hit the process limit ({limits.processes})\n{text}"
        if first["when"] == "call" and exc == "AssertionError":
            return ASSERTION_FAILURE, text
        if exc in ("ImportError", "ModuleNotFoundError"):
            return IMPORT_ERROR, text
        return ERROR, text
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
