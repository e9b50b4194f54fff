"""Mutation score of a test suite on one module, with mutmut 3.8.1 (own venv), run non-interactively.

mutmut 3 mutates the files named in ``[tool.mutmut] source_paths`` of a pyproject.toml, runs the tests
named in ``pytest_add_cli_args_test_selection`` against each mutant, and records an exit code per mutant
in ``mutants/<file>.meta`` (JSON). We build a small project holding only the module and the tests, run
``mutmut run`` there, and read those exit codes: 0 is a surviving mutant, 33/34 (no tests, skipped) and
null (not run) are left out, any other code (test failure, timeout, crash) kills the mutant.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from benchmarks.envs import run_measured, tool_env

NOT_COUNTED = {33, 34, None}  # mutmut: no tests, skipped, not checked


def mutation_score(
    python: Path,
    module_file: Path,
    package_root: Path,
    tests: list[Path],
    work: Path,
    timeout: float = 600,
    children: int = 2,
) -> dict:
    """{"mutants", "killed", "survived", "score_pct", "seconds"} or {"error"} for ``tests`` on ``module_file``."""
    if not tests:
        return {"mutants": None, "killed": 0, "survived": None, "score_pct": 0.0, "seconds": 0.0, "note": "no tests"}
    shutil.rmtree(work, ignore_errors=True)
    rel = module_file.relative_to(package_root)
    (work / rel).parent.mkdir(parents=True)
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
        f'source_paths = ["{rel.parts[0]}"]\n'  # the whole (one-module) package: mutants/ must shadow all of it
        'pytest_add_cli_args_test_selection = ["tests/"]\n'
        'pytest_add_cli_args = ["-p", "no:cacheprovider", "-p", "no:randomly"]\n'
    )
    run = run_measured(
        [str(python.parent / "mutmut"), "run", "--max-children", str(children)],
        cwd=work,
        env=tool_env(python),
        timeout=timeout,
        log=work.parent / (work.name + ".mutmut.log"),
    )
    meta = work / "mutants" / (rel.as_posix() + ".meta")
    if run.timed_out or not meta.exists():
        reason = "timed out" if run.timed_out else f"exit {run.returncode}"
        return {"error": f"mutmut {reason}: {(run.stdout + run.stderr)[-600:]}", "seconds": run.seconds}
    codes = json.loads(meta.read_text())["exit_code_by_key"].values()
    counted = [c for c in codes if c not in NOT_COUNTED]
    killed = sum(1 for c in counted if c != 0)
    return {
        "mutants": len(counted),
        "killed": killed,
        "survived": len(counted) - killed,
        "score_pct": round(100.0 * killed / len(counted), 1) if counted else None,
        "seconds": run.seconds,
    }
