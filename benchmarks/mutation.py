"""Mutation score of a test suite on one module: mutmut 3.8.1 (own venv), or our own mutator on every line.

mutmut 3 mutates the files named in ``[tool.mutmut] source_paths`` of a pyproject.toml (``only_mutate`` narrows
that to some of them), runs the tests named in ``pytest_add_cli_args_test_selection`` against each mutant, and
records an exit code per mutant in ``mutants/<file>.meta`` (JSON). We build a small project holding the module
(HumanEval: the module alone; a benchmark module: its whole package, of which only the module is mutated) and the
tests, run ``mutmut run`` there, and read those exit codes: 0 is a surviving mutant, 33/34 (no tests, skipped) and
null (not run) are left out, any other code (test failure, timeout, crash) kills the mutant. For a benchmark module
(``whole_package``) a mutant that no test reaches (33) counts as surviving, as in :func:`every_line_score`.

mutmut leaves decorated functions alone (all but ``@staticmethod``/``@classmethod``: it cannot put its trampoline
under a decorator) and module-level code. Where that is much of a module (:func:`mutmut_reach`), the modules track
uses :func:`every_line_score` instead: benchmarks/diff_mutation.py's mutants on every line of the module, each
checked by the tests that ran its line (coverage contexts), one pytest run per mutant.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

from coverage import CoverageData

from benchmarks import diff_mutation
from benchmarks.envs import run_measured, tool_env
from testbot.measure import first_lines

NOT_COUNTED = {33, 34, None}  # mutmut: no tests, skipped, not checked
NO_TESTS = 33
MUTMUT_MIN_REACH = 0.9  # below this share of a module's function statements in mutmut's reach: every_line_score
EVERY_LINE = "diff_mutation (every line)"


def mutation_score(
    python: Path,
    module_file: Path,
    package_root: Path,
    tests: list[Path],
    work: Path,
    timeout: float = 600,
    children: int = 2,
    whole_package: bool = False,
    pytest_args: list[str] | tuple[str, ...] = (),
) -> dict:
    """{"mutants", "killed", "survived", "score_pct", "seconds"} or {"error"} for ``tests`` on ``module_file``.

    ``whole_package``: copy the module's whole top-level package (a module that imports its siblings needs them)
    and mutate only the module; each of ``tests`` (test files and the files they need: ``__init__.py``,
    ``conftest.py``, helpers) keeps its path under ``package_root``. Otherwise the module and the ``__init__.py``
    files above it are copied, and the tests go flat into ``tests/``. ``pytest_args``: more pytest options for
    every run (``--deselect ID``).
    """
    if not tests:
        return {"mutants": None, "killed": 0, "survived": None, "score_pct": 0.0, "seconds": 0.0, "note": "no tests"}
    shutil.rmtree(work, ignore_errors=True)
    rel = module_file.relative_to(package_root)
    work.mkdir(parents=True)
    also_copy = []
    if whole_package:
        shutil.copytree(package_root / rel.parts[0], work / rel.parts[0], ignore=shutil.ignore_patterns("__pycache__"))
        for info in package_root.glob("*.dist-info"):  # a package that reads its own version needs it
            shutil.copytree(info, work / info.name)
            also_copy.append(info.name)
        for t in tests:
            dest = work / t.relative_to(package_root)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(t, dest)
    else:
        (work / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(module_file, work / rel)
        for parent in rel.parents:  # keep the package importable
            init = package_root / parent / "__init__.py"
            if parent != Path(".") and init.exists():
                shutil.copy(init, work / parent / "__init__.py")
        (work / "tests").mkdir()
        for t in tests:
            shutil.copy(t, work / "tests" / t.name)
    (work / "pyproject.toml").write_text(
        "[tool.mutmut]\n"
        f'source_paths = ["{rel.parts[0]}"]\n'  # the whole package: mutants/ must shadow all of it
        + (
            f"only_mutate = [{json.dumps(rel.as_posix())}]\nalso_copy = {json.dumps(also_copy)}\n"
            if whole_package
            else ""
        )
        + 'pytest_add_cli_args_test_selection = ["tests/"]\n'
        f"pytest_add_cli_args = {json.dumps(['-p', 'no:cacheprovider', '-p', 'no:randomly', *pytest_args])}\n"
    )
    run = run_measured(
        [str(python.parent / "mutmut"), "run", "--max-children", str(children)],
        cwd=work,
        env=tool_env(python),
        timeout=timeout,
        log=work.parent / (work.name + ".mutmut.log"),
    )
    meta = work / "mutants" / (rel.as_posix() + ".meta")
    if run.timed_out or run.returncode or not meta.exists():  # e.g. "failed to collect stats": a test failed
        reason = "timed out" if run.timed_out else f"exit {run.returncode}"
        return {"error": f"mutmut {reason}: {(run.stdout + run.stderr)[-600:]}", "seconds": run.seconds}
    codes = list(json.loads(meta.read_text())["exit_code_by_key"].values())
    counted = [c for c in codes if c not in NOT_COUNTED or (whole_package and c == NO_TESTS)]
    killed = sum(1 for c in counted if c not in (0, NO_TESTS))
    return {
        "mutants": len(counted),
        "killed": killed,
        "survived": len(counted) - killed,
        "score_pct": round(100.0 * killed / len(counted), 1) if counted else None,
        "seconds": run.seconds,
        **({"untested": codes.count(NO_TESTS)} if whole_package else {}),
    }


def mutmut_reach(source: str) -> float:
    """The share of the statements inside a module's functions that mutmut mutates: those of functions with no
    decorator but ``@staticmethod`` or ``@classmethod``, nor inside one that has."""
    total: set[int] = set()
    skipped: set[int] = set()

    def visit(node: ast.AST, inside_skipped: bool) -> None:
        for child in ast.iter_child_nodes(node):
            skip = inside_skipped
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                plain = not child.decorator_list or (
                    len(child.decorator_list) == 1
                    and isinstance(child.decorator_list[0], ast.Name)
                    and child.decorator_list[0].id in ("staticmethod", "classmethod")
                )
                skip = inside_skipped or not plain
                lines = {n.lineno for n in ast.walk(child) if isinstance(n, ast.stmt) and n is not child}
                total.update(lines)
                if skip:
                    skipped.update(lines)
            visit(child, skip)

    visit(ast.parse(source), False)
    return 1.0 - len(skipped) / len(total) if total else 1.0


def every_line_score(
    python: Path,
    module_file: Path,
    project: Path,
    tests: list[Path],
    work: Path,
    pytest_args: list[str] | tuple[str, ...] = (),
) -> dict:
    """Our own mutator's score of ``tests`` (files under ``project``) on ``module_file``: a mutant of every line of
    the module (benchmarks/diff_mutation.py), each run against the tests that ran its line (a line that
    runs at import: all of them; a line no test runs: the mutant survives unrun), in a copy of ``project``."""
    test_files = [t for t in tests if t.name.startswith("test_")]
    if not test_files:
        return {"mutants": None, "killed": 0, "survived": None, "score_pct": 0.0, "seconds": 0.0, "note": "no tests"}
    start = time.monotonic()
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(project, work, ignore=shutil.ignore_patterns(".git", "__pycache__", ".coverage*"))
    rel = module_file.relative_to(project)
    target = work / rel
    source = target.read_text(encoding="utf-8")
    rels = [t.relative_to(project).as_posix() for t in test_files]
    env = {**os.environ, "PYTHONPATH": str(work), "PYTHONDONTWRITEBYTECODE": "1"}
    pytest = [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly", *pytest_args]
    rc = work / ".mutation.coveragerc"
    rc.write_text(
        f"[run]\ninclude = {target}\ndata_file = {work / '.coverage.mutation'}\ndynamic_context = test_function\n"
    )
    diff_mutation.clear_bytecode(work)
    clean = time.monotonic()
    proc = subprocess.run(
        [str(python), "-m", "coverage", "run", f"--rcfile={rc}", *pytest[1:], "--rootdir", str(work), *rels],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    clean = time.monotonic() - clean
    if proc.returncode:
        return {"error": f"the tests fail unmutated (exit {proc.returncode}): {proc.stdout[-600:]}", "seconds": 0.0}
    data = CoverageData(basename=str(work / ".coverage.mutation"))
    data.read()
    executed = set(data.lines(str(target)) or ())
    contexts = data.contexts_by_lineno(str(target))
    by_module: dict[str, str] = {}  # "tests.test_x" and "test_x" -> tests/test_x.py
    for r in rels:
        parts = r[:-3].split("/")
        for i in range(len(parts)):
            by_module.setdefault(".".join(parts[i:]), r)

    def test_of(context: str) -> str | None:
        """The pytest node id of a context ("tests.test_x.TestA.test_b" -> "tests/test_x.py::TestA::test_b"; a
        parametrized test's cases share one context, and its node id runs them all)."""
        parts = context.split(".")
        for k in range(len(parts), 0, -1):
            file = by_module.get(".".join(parts[:k]))
            if file:
                return "::".join([file, *parts[k:]])
        return None

    firsts = first_lines(source)

    def tests_for(m: diff_mutation.Mutant) -> list[str]:
        line = firsts.get(m.line, m.line)
        if line not in executed:
            return []
        found = {test_of(c) for c in contexts.get(line, ()) if c}
        return rels if not found or None in found else sorted(t for t in found if t)

    found = diff_mutation.mutants(rel.as_posix(), source, range(1, source.count("\n") + 2))
    outcomes = diff_mutation.run_mutants(
        work, found, tests_for, lambda ts: [*pytest, "-x", *ts], env, timeout=max(20.0, 4 * clean)
    )
    killed = sum(o.killed for o in outcomes)
    return {
        "mutants": len(outcomes),
        "killed": killed,
        "survived": len(outcomes) - killed,
        "score_pct": round(100.0 * killed / len(outcomes), 1) if outcomes else None,
        "seconds": round(time.monotonic() - start, 1),
        "untested": sum(1 for o in outcomes if o.how == "no test runs the line"),
    }
