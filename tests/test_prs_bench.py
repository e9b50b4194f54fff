"""The PR track's harness (benchmarks/prs.py, benchmarks/diff_mutation.py) on a tiny real git repository with a
real suite, replayed in both modes with the fake backend."""

from __future__ import annotations

import json
import subprocess
import sys
import venv
from pathlib import Path

import pytest
import yaml

from benchmarks import diff_mutation, prs, review
from testbot.measure import first_lines
from testbot.pipeline import EXPLORE_MODEL

GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false"]

PARENT = """\
def clamp(x, lo, hi):
    return max(lo, min(x, hi))


def label(n):
    return "small" if n < 10 else "big"
"""

CHANGED = """\
def clamp(x, lo, hi):
    if lo > hi:
        raise ValueError("lo must not exceed hi")
    return max(lo, min(x, hi))


def label(n):
    return "small" if n < 10 else "big"
"""

SUITE = """\
from calc import label


def test_label():
    assert label(3) == "small"
    assert label(30) == "big"
"""

AUTHOR_TEST = """

import pytest

from calc import clamp


def test_clamp_rejects_reversed_bounds():
    with pytest.raises(ValueError):
        clamp(1, 5, 2)
    assert clamp(7, 0, 5) == 5
    assert clamp(-1, 0, 5) == 0
"""

COMPLETION = """```python
import pytest

from calc import clamp


def test_clamp_reversed_bounds():
    with pytest.raises(ValueError, match="^lo must not exceed hi$"):
        clamp(1, 5, 2)


def test_clamp_equal_bounds():
    assert clamp(3, 2, 2) == 2
```"""


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run([*GIT, *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def upstream(tmp_path: Path) -> tuple[Path, str, str]:
    """A repository with a parent commit and a commit that changes ``clamp`` and adds the author's test."""
    root = tmp_path / "upstream"
    (root / "src" / "calc").mkdir(parents=True)
    (root / "tests").mkdir()
    (root / "pyproject.toml").write_text(
        '[project]\nname = "calc"\nversion = "1"\n\n[tool.pytest.ini_options]\n'
        'addopts = "-p no:hypothesispytest -p no:benchmark"\n'
    )
    (root / "src" / "calc" / "__init__.py").write_text(PARENT)
    (root / "tests" / "test_calc.py").write_text(SUITE)
    _git(root, "init", "-q")
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "initial")
    parent = _git(root, "rev-parse", "HEAD")
    (root / "src" / "calc" / "__init__.py").write_text(CHANGED)
    (root / "tests" / "test_calc.py").write_text(SUITE + AUTHOR_TEST)
    _git(root, "commit", "-q", "-am", "clamp: refuse reversed bounds")
    return root, parent, _git(root, "rev-parse", "HEAD")


def _manifest(tmp_path: Path, root: Path, parent: str, sha: str) -> Path:
    path = tmp_path / "prs.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "schema": 1,
                "repos": [
                    {
                        "name": "calc",
                        "url": str(root),
                        "snapshot": sha,
                        "import_root": "src",
                        "package": "src/calc",
                        "tests": "tests",
                        "install": [],
                        "pytest_args": [],
                        "commits": [
                            {
                                "sha": sha,
                                "parent": parent,
                                "title": "clamp: refuse reversed bounds",
                                "kind": "fix",
                                "author_tests": True,
                                "changed": ["src/calc/__init__.py::clamp"],
                                "quick": True,
                            }
                        ],
                    }
                ],
            }
        )
    )
    return path


def _isolate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The harness's clones, worktrees and the project's venv (this interpreter's pytest and coverage, a site
    folder of its own for the checkout's .pth) under ``tmp_path``."""
    monkeypatch.setattr(prs, "WORK", tmp_path / "work")
    monkeypatch.setattr(prs, "RUNS", tmp_path / "runs")
    env = tmp_path / "venv"
    venv.EnvBuilder(system_site_packages=True, with_pip=False).create(env)
    monkeypatch.setattr(prs, "venv_python", lambda repo: env / "bin" / "python")


def test_a_kept_test_that_ran_no_line_of_the_package_is_named() -> None:
    cov = {
        "files": {
            "pkg/calc.py": {
                "contexts": {"3": ["", "tests.test_calc.test_clamp"], "4": ["test_calc.TestClamp.test_low"]}
            }
        }
    }
    ids = [
        "tests/test_calc.py::test_clamp",
        "tests/test_calc.py::TestClamp::test_low[1-2]",
        "tests/test_calc.py::test_never_ran",
    ]
    assert prs.not_in_contexts(cov, ids) == ["tests/test_calc.py::test_never_ran"]


def test_diff_mutants_only_on_changed_lines_and_keep_the_rest_of_the_file() -> None:
    found = diff_mutation.mutants("m.py", CHANGED, {2, 3})
    assert found and {m.line for m in found} == {2, 3}
    assert {m.description for m in found} >= {"Gt -> GtE", "string changed"}
    for m in found:
        assert m.text.splitlines()[3:] == CHANGED.splitlines()[3:]  # nothing after the changed lines moves


def test_a_changed_line_inside_a_statement_over_several_lines_changes_the_whole_statement() -> None:
    # the commit edited only the pattern (line 4); the `&=` on the statement's first line is part of that change
    source = (
        "def ok(fragment, segments=True):\n"
        "    if fragment:\n"
        "        segments &= bool(\n"
        '            re.fullmatch(r"[a-z#]*", fragment)\n'
        "        )\n"
        "    return segments\n"
    )
    lines = diff_mutation.statement_lines({4}, first_lines(source))
    assert lines == {3, 4, 5}
    found = diff_mutation.mutants("m.py", source, lines)
    assert {m.line for m in found} == {3, 4}
    assert "BitAnd= -> BitOr=" in {m.description for m in found}
    assert diff_mutation.statement_lines({2, 6}, first_lines(source)) == {2, 6}


def test_diff_mutants_leave_docstrings_annotations_and_fstrings_alone() -> None:
    source = 'def f(x: "int" = 1) -> "str":\n    """doc"""\n    return f"{x + 1}"\n'
    assert [m.description for m in diff_mutation.mutants("m.py", source, {2, 3})] == ["return None"]
    assert [m.description for m in diff_mutation.mutants("m.py", source, {1})] == ["1 -> 2"]


def test_function_lines_are_the_bodies_of_functions_and_methods_not_module_level_code() -> None:
    source = '__version__ = "1.0"\n\n\ndef f(x):\n    return x + 1\n\n\nclass C:\n    n = 2\n\n    def m(self):\n        return 3\n'
    assert diff_mutation.function_lines(source) == {5, 12}


def test_changed_lines_and_functions_of_a_real_commit(upstream: tuple[Path, str, str]) -> None:
    root, parent, sha = upstream
    lines = prs.changed_lines(root, parent, sha, ["src/calc/__init__.py"])
    assert lines == {"src/calc/__init__.py": {2, 3}}
    assert prs.functions_on(CHANGED, lines["src/calc/__init__.py"]) == ["clamp"]


def test_replay_in_both_modes(tmp_path: Path, upstream: tuple[Path, str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    root, parent, sha = upstream
    _isolate(tmp_path, monkeypatch)
    monkeypatch.setattr(prs, "RESULTS", tmp_path / "results")
    (tmp_path / "results").mkdir()
    completions = tmp_path / "completions.json"
    completions.write_text(json.dumps({"*": [COMPLETION] * 12}))
    args = [
        "--manifest",
        str(_manifest(tmp_path, root, parent, sha)),
        "--quick",
        "--mirrors",
        str(tmp_path / "none"),
        "--model",
        f"fake:{completions}",
    ]
    rc = prs.main([*args, "--kill-after", "600"])
    assert rc == 0
    data = json.loads((tmp_path / "results" / "prs-quick.json").read_text())
    runs = {r["mode"]: r for r in data["records"]}
    assert set(runs) == {"with", "without"}, data.get("failed")

    without = runs["without"]
    assert without["suite"]["exit"] == 0
    assert without["before"]["statements"] == 2 and without["before"]["statements_covered"] == 0
    assert without["targets_matching"] == 1
    assert without["kept"] >= 1 and without["placed"][0]["path"] == "tests/test_calc.py"
    assert without["after"]["statements_covered"] == 2
    assert without["after_suite"] == {"exit": 0}  # every kept test ran in the suite's run after testbot
    assert without["f2p"] >= 1  # the reversed-bounds test fails on the parent
    m = without["mutation"]
    assert m["mutants"] == 2 and m["killed_suite"] == 0 and m["killed_by_testbot"] == 2  # boundary and message
    assert m["in_functions"] == {"mutants": 2, "killed_suite": 0, "killed_by_testbot": 2}  # (both inside clamp)

    with_author = runs["with"]
    assert with_author["before"]["statements_covered"] == with_author["before"]["statements"] == 2
    assert with_author["nothing_missing"] and with_author["kept"] == 0
    assert with_author["mutation"]["killed_suite"] == 0  # the author's test checks neither
    assert with_author["written_where_nothing_missing"] == 0

    md = (tmp_path / "results" / "prs-quick.md").read_text()
    assert "| goal (issue 38) |" in md and "calc" in md
    assert (tmp_path / "results" / "prs-quick.png").exists()
    # the upstream repository is untouched, and a second run resumes: nothing left to do
    assert _git(root, "rev-parse", "HEAD") == sha and not _git(root, "status", "--porcelain")
    assert prs.main(args) == 0
    assert len(json.loads((tmp_path / "results" / "prs-quick.json").read_text())["records"]) == 2
    # this interpreter's site folder got no .pth
    purelib = subprocess.run(
        [sys.executable, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    assert not (Path(purelib) / "_testbot_bench_checkout.pth").exists()


def test_without_mode_leaves_out_the_parent_tests_the_change_broke(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The commit moves label's threshold and updates the test that pinned it: with that update undone, the
    parent's test fails on the commit's code; the harness leaves it out of its own runs and says so."""
    root = tmp_path / "upstream"
    (root / "src" / "calc").mkdir(parents=True)
    (root / "tests").mkdir()
    (root / "pyproject.toml").write_text('[project]\nname = "calc"\nversion = "1"\n')
    (root / "src" / "calc" / "__init__.py").write_text(PARENT)
    (root / "tests" / "test_calc.py").write_text(SUITE)
    _git(root, "init", "-q")
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "initial")
    parent = _git(root, "rev-parse", "HEAD")
    (root / "src" / "calc" / "__init__.py").write_text(PARENT.replace("n < 10", "n < 100"))
    (root / "tests" / "test_calc.py").write_text(SUITE.replace("label(30)", "label(300)"))
    _git(root, "commit", "-q", "-am", "label: small is below 100")
    sha = _git(root, "rev-parse", "HEAD")
    _isolate(tmp_path, monkeypatch)
    completions = tmp_path / "completions.json"
    completions.write_text(json.dumps({"*": ["nothing"] * 12}))
    manifest = _manifest(tmp_path, root, parent, sha)
    assert (
        prs.main(
            [
                "--manifest",
                str(manifest),
                "--quick",
                "--modes",
                "without",
                "--mirrors",
                str(tmp_path / "none"),
                "--model",
                f"fake:{completions}",
                "--results",
                str(tmp_path),
            ]
        )
        == 0
    )
    (record,) = json.loads((tmp_path / "prs-quick.json").read_text())["records"]
    assert record["deselected"] == ["tests/test_calc.py::test_label"]
    assert record["suite"]["exit"] == 5 and not record.get("error")  # nothing else left to run: no failure


def test_a_blind_review_packet_hides_who_wrote_each_test_and_the_score_joins_the_key(
    tmp_path: Path, upstream: tuple[Path, str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    root, parent, sha = upstream
    monkeypatch.setattr(prs, "WORK", tmp_path / "work")
    mine = "def test_clamp_keeps_a_value_inside_the_bounds():\n    assert clamp(3, 0, 5) == 3\n"
    record = {
        "repo": "calc",
        "sha": sha,
        "parent": parent,
        "mode": "with",
        "seed": 0,
        "changed_functions": ["src/calc/__init__.py::clamp"],
        "author_files": ["tests/test_calc.py"],
        "kept_sources": [mine],
    }
    results = tmp_path / "prs-x.json"
    results.write_text(json.dumps({"records": [record, {**record, "mode": "without"}]}))
    text, key = review.packet(results, "with", 0, None, manifest=_manifest(tmp_path, root, parent, sha))
    assert [(k["id"], k["who"]) for k in sorted(key, key=lambda k: k["who"])] in (
        [("T01", "author"), ("T02", "testbot")],
        [("T02", "author"), ("T01", "testbot")],
    )
    assert 'raise ValueError("lo must not exceed hi")' in text  # the changed function, as committed
    assert "def test_clamp_rejects_reversed_bounds" in text and mine in text  # both tests (not test_label)
    assert "def test_label" not in text and "testbot" not in text and "author" not in text
    ours = next(k["id"] for k in key if k["who"] == "testbot")
    theirs = next(k["id"] for k in key if k["who"] == "author")
    verdicts = f"{ours} | REJECT | checks nothing the change did\n{theirs} | MERGE | clear\nnoise\n"
    result = review.score(key, verdicts)
    assert result["counts"] == {
        "testbot": {"MERGE": 0, "EDIT": 0, "REJECT": 1},
        "author": {"MERGE": 1, "EDIT": 0, "REJECT": 0},
    }
    assert result["unanswered"] == []


def test_a_modules_track_review_packet_mixes_the_model_s_and_the_search_s_kept_tests(tmp_path: Path) -> None:
    run = tmp_path / "work" / "pkg.m" / "testbot"
    (run / "tests").mkdir(parents=True)
    tests = {
        "test_clamp_keeps_a_value_inside": ("    assert clamp(3, 0, 5) == 3\n", "qwen"),
        "test_clamp_raises_value_error_for_one_zero": (
            "    with pytest.raises(ValueError):\n        clamp(1, 5, 0)\n",
            EXPLORE_MODEL,
        ),
        "test_clamp_returns_five_for_nine": ("    assert clamp(9, 0, 5) == 5\n", EXPLORE_MODEL),
    }
    text = "import pytest\nfrom pkg.m import clamp\n\n\n" + "\n\n".join(
        f"def {name}():\n{body}" for name, (body, _) in tests.items()
    )
    (run / "tests" / "test_m.py").write_text(text)
    report = {
        "targets": [{"target": "pkg/m.py::clamp"}],
        "files": [
            {
                "path": "/elsewhere/.work/pkg.m/testbot/tests/test_m.py",  # (where the run wrote it)
                "written": True,
                "tests": list(tests),
                "authors": [author for _, author in tests.values()],
            }
        ],
    }
    (run.parent / "testbot.report.json").write_text(json.dumps(report))
    packet, key = review.modules_packet(tmp_path / "work", per=2)
    assert sorted(k["who"] for k in key) == ["model", "search"] and [k["id"] for k in key] == ["T001", "T002"]
    assert f"source at {run / 'pkg' / 'm.py'}" in packet and "from pkg.m import clamp" in packet
    assert "qwen" not in packet and "explore" not in packet
    verdicts = "\n".join(f"{k['id']} | {'MERGE' if k['who'] == 'model' else 'EDIT'} | x" for k in key)
    assert review.score(key, verdicts)["counts"] == {
        "model": {"MERGE": 1, "EDIT": 0, "REJECT": 0},
        "search": {"MERGE": 0, "EDIT": 1, "REJECT": 0},
    }
