"""The side-by-side benchmark harness, end to end on one tiny module with the fake backend (no network)."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
import yaml

from benchmarks import humaneval, own_suites, side_by_side
from benchmarks.envs import MUTMUT, ensure_venv
from benchmarks.mutation import every_line_score, mutation_score, mutmut_reach
from testbot.pipeline import EXPLORE_MODEL

REPO = Path(__file__).resolve().parents[1]
SHARED_YAML = REPO.parent / "shared" / "bench" / "modules.yaml"

MODULE = """\
def sign(x):
    if x > 0:
        return "positive"
    if x < 0:
        return "negative"
    return "zero"
"""

COMPLETION = """```python
from tinypkg.mini import sign


def test_sign_positive():
    assert sign(3) == "positive"


def test_sign_negative():
    assert sign(-3) == "negative"


def test_sign_zero():
    assert sign(0) == "zero"
```"""


def _wheel(tmp_path: Path) -> Path:
    wheel = tmp_path / "work" / "wheels" / "tinypkg-0.1-py3-none-any.whl"
    wheel.parent.mkdir(parents=True)
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("tinypkg/__init__.py", "")
        zf.writestr("tinypkg/mini.py", MODULE)
        zf.writestr(
            "tinypkg-0.1.dist-info/METADATA",
            "Metadata-Version: 2.1\nName: tinypkg\nVersion: 0.1\nRequires-Dist: pytest ; extra == 'test'\n",
        )
    return wheel


OWN_TEST = """\
from tinypkg.mini import sign


def test_sign():
    assert [sign(1), sign(-1)] == ["positive", "negative"]


def test_broken_here():
    assert False, "needs something this machine does not have"
"""


def _sdist(path: Path, files: dict[str, str]) -> Path:
    """A tar.gz holding ``files`` (paths inside it: contents), as an sdist ships its tests."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def _own_suites_yaml(tmp_path: Path, sdist: Path, **entry: object) -> Path:
    suite = {
        "id": "tinypkg.mini",
        "sdist": sdist.name,
        "url": sdist.as_uri(),
        "sha256": hashlib.sha256(sdist.read_bytes()).hexdigest(),
        "tests": ["tinypkg-0.1/tests/test_mini.py"],
        "support": ["tinypkg-0.1/tests/__init__.py"],
        "deselect": [{"test": "tests/test_mini.py::test_broken_here", "why": "environmental"}],
        **entry,
    }
    path = tmp_path / "own_suites.yaml"
    path.write_text(yaml.safe_dump({"schema": 1, "suites": [suite]}))
    return path


def test_harness_end_to_end_on_a_tiny_module(tmp_path):
    wheel = _wheel(tmp_path)
    sdist = _sdist(
        tmp_path / "sdists" / "tinypkg-0.1.tar.gz",
        {"tinypkg-0.1/tests/__init__.py": "", "tinypkg-0.1/tests/test_mini.py": OWN_TEST},
    )
    spec = {
        "id": "tinypkg.mini",
        "split": "public",
        "dist": "tinypkg==0.1",
        "wheel": wheel.name,
        "wheel_sha256": hashlib.sha256(wheel.read_bytes()).hexdigest(),
        "file": "tinypkg/mini.py",
    }
    modules_yaml = tmp_path / "modules.yaml"
    modules_yaml.write_text(yaml.safe_dump({"schema": 1, "install": "", "modules": [spec]}))
    completions = tmp_path / "completions.json"
    completions.write_text(json.dumps({"*": [COMPLETION]}))
    results = tmp_path / "results"
    code = side_by_side.main(
        [
            "--track",
            "modules",
            "--tools",
            "testbot",
            "--modules-yaml",
            str(modules_yaml),
            "--work",
            str(tmp_path / "work"),
            "--results",
            str(results),
            "--python",
            sys.executable,
            "--model",
            f"fake:{completions}",
            "--samples",
            "1",
            "--budget",
            "60",
            "--label",
            "test",
            "--reruns",
            "1",
            "--no-mutation",  # mutmut needs a venv of its own (tests/test_benchmarks.py::test_mutation_of_...)
            "--own-suites",
            str(_own_suites_yaml(tmp_path, sdist)),
            "--testbot-args",
            "--repair-rounds 0 --runs 1",
        ]
    )
    assert code == 0
    (json_path,) = results.glob("*-test.json")
    data = json.loads(json_path.read_text())
    assert data["meta"]["tools"] == ["testbot"] and data["meta"]["schema"] == 1
    (row,) = data["tracks"]["modules"]["rows"]
    assert row["id"] == "tinypkg.mini"
    tb = row["tools"]["testbot"]
    assert tb["status"] == "ok"
    assert tb["funnel"]["generated"] >= 3 and tb["funnel"]["kept"] >= 1
    assert row["before"]["line_branch_pct"] < tb["after"]["line_branch_pct"]
    assert tb["after"]["covered_branches"] > 0 and tb["gain_pct_points"] > 0
    assert tb["kept_tests_failing_in_fresh_copy"] == 0 and tb["fresh_rerun"]["reruns"] == 1
    assert tb["fresh_rerun"]["tests"] >= 1
    assert tb["seconds_per_target_p50"] is not None and tb["peak_rss_mb"] > 0
    summary = data["tracks"]["modules"]["summary"]
    assert summary["testbot"]["median_line_branch_pct"] == tb["after"]["line_branch_pct"]
    # the fake model wrote every kept test (the suite runs without the search: conftest.py)
    assert tb["kept"]["tests"] == tb["funnel"]["kept"] and tb["kept"]["model_share_pct"] == 100.0
    assert tb["kept"]["shapes"]["clean"] == tb["kept"]["tests"]  # named for the behaviour, exact values
    # the package's own tests ran against the wheel's copy of the module, less the deselected one
    own = row["own_suite"]
    assert own["status"] == "ok" and own["imported_from"].endswith("tinypkg.mini/own/tinypkg/mini.py")
    assert own["after"]["pytest_exit"] == 0
    assert own["after"]["covered_statements"] == own["after"]["statements"] - 1  # return "zero" is never reached
    assert own["deselected"] == [{"test": "tests/test_mini.py::test_broken_here", "why": "environmental"}]
    quality = summary["quality"]
    assert quality["modules_with_own_suite"] == 1 and quality["own_suite_median_line_branch_pct"] is not None
    md = json_path.with_suffix(".md").read_text()
    assert "## modules track" in md and "tinypkg.mini" in md
    assert "### testbot's kept tests and the package's own tests" in md
    png = results / data["charts"]["modules"]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_rerun_in_fresh_copy_names_an_order_dependent_test(tmp_path):
    project = tmp_path / "p"
    (project / "tests").mkdir(parents=True)
    (project / "tests" / "test_state.py").write_text(
        "STATE = []\n\ndef test_a():\n    STATE.append(1)\n\ndef test_b():\n    assert STATE == [1]\n"
    )
    fresh = side_by_side.rerun_fresh(project, [project / "tests" / "test_state.py"], Path(sys.executable), 2, 0)
    assert fresh["tests"] == 2 and fresh["reruns"] == 2
    # seed 0 runs a then b (passes), seed 1 runs b first (fails): the failure is named
    assert fresh["failing"] == ["tests/test_state.py::test_b"]


def test_humaneval_problems_and_reference_tests(tmp_path):
    problems = humaneval.load_problems(["0", "2-3"])
    assert [p["task_id"] for p in problems] == ["HumanEval/0", "HumanEval/2", "HumanEval/3"]
    assert len(humaneval.load_problems(None)) == 164
    project = humaneval.make_project(problems, tmp_path / "he")
    tests = humaneval.write_reference_tests(problems, project / "tests")
    assert (project / "he" / "he_002.py").read_text().startswith(problems[1]["prompt"])
    assert humaneval.tests_for("he_003", tests) == [project / "tests" / "test_he_003.py"]


@pytest.mark.skipif(not SHARED_YAML.exists(), reason="../shared is not checked out (CI clones only the repo)")
def test_repo_copy_of_modules_yaml_matches_shared():
    assert side_by_side.MODULES_YAML.read_text() == SHARED_YAML.read_text()


def _part(ids: list[str], tool: str, pct: float, budget: float = 120) -> dict:
    cell = {"line_branch_pct": pct, "line_pct": pct, "branch_pct": pct}
    rows = [
        {"id": i, "before": {"line_branch_pct": 10.0}, "tools": {tool: {"after": cell, "gain_pct_points": pct - 10}}}
        for i in ids
    ]
    meta = {
        "schema": 1,
        "date": "2026-11-22",
        "model": "default",
        "budget": budget,
        "he_budget": 30,
        "samples": 4,
        "seed": 0,
        "reruns": 3,
        "mutation": True,
        "tools": [tool],
        "tracks": ["modules"],
        "command": f"run {ids}",
        "machine": "x86_64, 2 cores, Python 3.11.7",
    }
    return {"meta": meta, "tracks": {"modules": {"rows": rows, "summary": side_by_side.summarize(rows, [tool])}}}


def test_runs_taken_apart_merge_into_one_result(tmp_path):
    files = []
    for n, part in enumerate(
        [_part(["a", "b"], "testbot", 40.0), _part(["c"], "testbot", 70.0), _part(["a", "b", "c"], "pynguin", 60.0)]
    ):
        files.append(tmp_path / f"part{n}.json")
        files[-1].write_text(json.dumps(part))
    assert side_by_side.main(["--merge", *map(str, files), "--results", str(tmp_path / "out"), "--label", "full"]) == 0
    data = json.loads((tmp_path / "out" / "2026-11-22-full.json").read_text())
    assert data["meta"]["tools"] == ["testbot", "pynguin"] and len(data["meta"]["merged_from"]) == 3
    rows = data["tracks"]["modules"]["rows"]
    assert [r["id"] for r in rows] == ["a", "b", "c"]
    assert all(set(r["tools"]) == {"testbot", "pynguin"} for r in rows)
    summary = data["tracks"]["modules"]["summary"]
    assert summary["testbot"]["median_line_branch_pct"] == 40.0 and summary["pynguin"]["median_line_branch_pct"] == 60.0
    assert "part2.json" in (tmp_path / "out" / "2026-11-22-full.md").read_text()
    # A module re-run with another import-only baseline replaces its row: old and new numbers do not mix.
    rerun = _part(["c"], "pynguin", 80.0)
    rerun["tracks"]["modules"]["rows"][0]["before"] = {"line_branch_pct": 20.0}
    files.append(tmp_path / "part3.json")
    files[-1].write_text(json.dumps(rerun))
    assert side_by_side.main(["--merge", *map(str, files), "--results", str(tmp_path / "out"), "--label", "re"]) == 0
    data = json.loads((tmp_path / "out" / "2026-11-22-re.json").read_text())
    c = data["tracks"]["modules"]["rows"][2]
    assert c["before"]["line_branch_pct"] == 20.0 and set(c["tools"]) == {"pynguin"}
    assert data["meta"]["rows_replaced"] == ["c (part3.json)"]
    other = tmp_path / "other.json"
    other.write_text(json.dumps(_part(["d"], "testbot", 50.0, budget=300)))
    with pytest.raises(SystemExit, match="differ in budget"):
        side_by_side.main(["--merge", str(files[0]), str(other), "--results", str(tmp_path / "out")])


def test_humaneval_part_without_the_reference(tmp_path):
    # A part of a merged run may leave the dataset's own tests to another part (--no-reference): they take
    # ~20 min for 164 problems and are the same every time.
    completions = tmp_path / "completions.json"
    completions.write_text(
        json.dumps(
            {
                "*": [
                    "```python\nfrom he.he_002 import truncate_number\n\n\n"
                    "def test_half():\n    assert truncate_number(3.5) == 0.5\n```"
                ]
            }
        )
    )
    results = tmp_path / "results"
    code = side_by_side.main(
        [
            "--track",
            "humaneval",
            "--problems",
            "2",
            "--tools",
            "testbot",
            "--no-reference",
            "--no-mutation",
            "--work",
            str(tmp_path / "work"),
            "--results",
            str(results),
            "--python",
            sys.executable,
            "--model",
            f"fake:{completions}",
            "--samples",
            "1",
            "--he-budget",
            "60",
            "--label",
            "part",
            "--reruns",
            "1",
            "--testbot-args",
            "--repair-rounds 0 --runs 1",
        ]
    )
    assert code == 0
    data = json.loads(next(results.glob("*-part.json")).read_text())
    (row,) = data["tracks"]["humaneval"]["rows"]
    assert list(row["tools"]) == ["testbot"] and row["tools"]["testbot"]["after"]["line_branch_pct"] == 100.0
    assert data["tracks"]["humaneval"]["summary"]["reference"]["median_line_branch_pct"] is None
    assert "| he_002 |" in next(results.glob("*-part.md")).read_text()


def test_the_results_are_written_when_no_chart_can_be_drawn(tmp_path, monkeypatch):
    """matplotlib is a dev extra: a run of an hour must not be lost because the chart cannot be drawn."""

    def no_matplotlib(*args, **kwargs):
        raise ImportError("No module named 'matplotlib'")

    monkeypatch.setattr(side_by_side, "coverage_chart", no_matplotlib)
    committed = Path(__file__).parent / "data" / "side_by_side_result.json"  # a real run of four modules
    result = json.loads(committed.read_text())
    result.pop("charts", None)
    paths = side_by_side.write_results(result, tmp_path, "run")
    data = json.loads(paths["json"].read_text())
    assert data["tracks"] == result["tracks"] and "charts" not in data and not list(tmp_path.glob("*.png"))
    assert "| docstring_parser.numpydoc | 15.5 | 61.2 |" in paths["md"].read_text()


MODULE_WITH_EXAMPLE = '''\
def double(n):
    """Twice ``n``.

    >>> double(2)
    4
    """
    return 2 * n
'''

KEPT_FILE = """\
from tinypkg.mini import double


# testbot: the search's call
def test_double_explored_1():
    assert double(2).__eq__(4)


# testbot: the model's, copies the docstring's example
def test_double_of_two():
    assert double(2) == 4


class TestDouble:
    def test_double_negative(self):
        assert double(-3) == -6


def test_double_2():
    assert double(0) == 0
"""


def test_kept_tests_by_author_and_shape(tmp_path):
    module = tmp_path / "tinypkg" / "mini.py"
    module.parent.mkdir()
    module.write_text(MODULE_WITH_EXAMPLE)
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_mini.py").write_text(KEPT_FILE)
    report = {
        "files": [
            {
                "path": "tests/test_mini.py",  # relative to the project, where testbot ran
                "written": True,
                "tests": [
                    "test_double_explored_1",
                    "test_double_of_two",
                    "TestDouble::test_double_negative",
                    "test_double_2",
                ],
                "authors": [EXPLORE_MODEL, "qwen2.5-coder-1.5b", "qwen2.5-coder-1.5b (rewritten)", ""],
            },
            {"path": "tests/test_other.py", "written": False, "tests": ["test_x"], "authors": ["m"]},  # dry run
        ]
    }
    kept = side_by_side.kept_tests(report, tmp_path, module)
    assert kept["tests"] == 4 and kept["by_model"] == 2 and kept["author_unknown"] == 1
    assert kept["model_share_pct"] == 50.0
    # (checks: one each; an unknown author's are not the model's)
    assert kept["checks"] == 4 and kept["checks_by_model"] == 2 and kept["model_checks_share_pct"] == 50.0
    assert kept["shapes"]["numbered-name"] == 2 and kept["shapes"]["dunder-call"] == 1
    assert kept["shapes"]["copied-doctest"] == 1 and kept["shapes"]["clean"] == 1  # only the class's test
    # the tests a reviewer would send back are in the record, with their author
    assert [(t["shapes"], t["author"]) for t in kept["shaped"]] == [
        (["numbered-name", "dunder-call"], EXPLORE_MODEL),
        (["copied-doctest"], "qwen2.5-coder-1.5b"),
        (["numbered-name"], ""),
    ]
    # a report from before testbot named authors: shapes still, no model share
    del report["files"][0]["authors"]
    old = side_by_side.kept_tests(report, tmp_path, module)
    assert old["by_model"] is None and old["model_share_pct"] is None and old["shapes"] == kept["shapes"]
    assert old["checks_by_model"] is None and old["model_checks_share_pct"] is None


def test_every_benchmark_module_has_an_own_suite_entry():
    suites = own_suites.load()
    modules = yaml.safe_load(side_by_side.MODULES_YAML.read_text())["modules"]
    assert sorted(suites) == sorted(m["id"] for m in modules)
    for m in modules:
        suite = suites[m["id"]]
        if suite.tests:  # pinned: the sdist of the very version whose wheel is benchmarked
            version = m["dist"].split("==")[1]
            assert suite.sdist.endswith(f"-{version}.tar.gz") and suite.url.endswith("/" + suite.sdist)
            assert len(suite.sha256) == 64
            assert all(t.startswith(suite.sdist.removesuffix(".tar.gz") + "/") for t in suite.tests + suite.support)
        else:
            assert "no human tests shipped" in suite.none
    assert sum(1 for s in suites.values() if s.tests) == 6


def test_an_own_suite_entry_says_why_it_has_no_tests(tmp_path):
    path = tmp_path / "own_suites.yaml"
    path.write_text(yaml.safe_dump({"schema": 1, "suites": [{"id": "a.b", "sdist": "a-1.tar.gz"}]}))
    with pytest.raises(SystemExit, match="a.b names no tests and no reason why"):
        own_suites.load(path)


def test_own_suite_installs_flat_and_leaves_out_the_deselected(tmp_path):
    sdist = _sdist(
        tmp_path / "tinypkg-0.1.tar.gz",
        {"tinypkg-0.1/tests/__init__.py": "", "tinypkg-0.1/tests/test_mini.py": OWN_TEST, "tinypkg-0.1/setup.py": ""},
    )
    suite = own_suites.load(_own_suites_yaml(tmp_path, sdist))["tinypkg.mini"]
    project = tmp_path / "p"
    (project / "tinypkg").mkdir(parents=True)
    # the package binds the module's name to something else, as dateutil.parser binds isoparser to its class
    (project / "tinypkg" / "__init__.py").write_text("from tinypkg.mini import sign as mini\n")
    (project / "tinypkg" / "mini.py").write_text(MODULE)
    (project / "pyproject.toml").write_text('[project]\nname = "p"\nversion = "0"\n\n[tool.pytest.ini_options]\n')
    cached = own_suites.fetch_sdist(suite, tmp_path / "cache")
    assert own_suites.install(suite, cached, project) == [project / "tests" / "test_mini.py"]
    assert sorted(p.name for p in (project / "tests").iterdir()) == ["__init__.py", "test_mini.py"]
    assert own_suites.imported_from(project, "tinypkg.mini", Path(sys.executable)) == str(
        project / "tinypkg" / "mini.py"
    )
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=project,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(project), "PATH": ""},
    )
    assert proc.returncode == 0 and "1 passed, 1 deselected" in proc.stdout
    # a download that is not the pinned file is refused
    bad = own_suites.OwnSuite(**{**suite.__dict__, "sha256": "0" * 64})
    with pytest.raises(SystemExit, match="does not match"):
        own_suites.fetch_sdist(bad, tmp_path / "cache")


def test_the_second_table_compares_testbot_with_the_own_suite_and_survives_a_merge(tmp_path):
    def cell(pct: float, score: float | None) -> dict:
        c: dict = {"after": {"line_branch_pct": pct, "line_pct": pct, "branch_pct": pct}, "gain_pct_points": pct}
        if score is not None:
            c["mutation"] = {"score_pct": score, "seconds": 3.0, "mutants": 10, "tool": "mutmut==3.8.1"}
        return c

    shapes = {c: 0 for c in (*side_by_side.shape.CODES, "clean")}
    rows = []
    for mid, tb_score, own_score, by_model in (("a", 60.0, 80.0, 1), ("b", 40.0, None, 3), ("c", 50.0, 70.0, 0)):
        tb = cell(90.0, tb_score) | {"kept": {"tests": 4, "by_model": by_model, "author_unknown": 0}}
        tb["kept"] |= {"model_share_pct": 25.0 * by_model, "shapes": shapes | {"dunder-call": 1, "clean": 3}}
        own = cell(95.0, own_score) if own_score else {"status": "none", "note": "no human tests shipped (sdist)"}
        rows.append({"id": mid, "before": {"line_branch_pct": 10.0}, "tools": {"testbot": tb}, "own_suite": own})
    q = side_by_side.summarize(rows, ["testbot"])["quality"]
    assert q["modules_with_own_suite"] == 2 and q["own_suite_median_mutation_score_pct"] == 75.0
    assert q["testbot_median_mutation_score_pct"] == 50.0
    assert q["testbot_median_mutation_score_pct_where_own_suite"] == 55.0  # a and c only
    assert q["kept_tests"] == 12 and q["kept_by_model"] == 4 and q["model_share_pct"] == 33.3
    assert q["shapes"]["dunder-call"] == 3 and q["shapes"]["clean"] == 9
    part = _part(["a"], "testbot", 40.0)
    part["tracks"]["modules"] = {"rows": rows, "summary": side_by_side.summarize(rows, ["testbot"])}
    md = side_by_side.to_markdown(part)
    assert "| b | 90.0 | - | 40.0 | - | mutmut | 3.0 / - | 4 | 75.0 | 0 | 1 | 0 | 0 | 0 | 0 | 0 | 0 | 3 |" in md
    assert "| **median / total** | 90.0 | 95.0 | 50.0 | 75.0 | | | 12 | 33.3 |" in md
    # merging parts keeps each module's own suite
    files = [tmp_path / "1.json", tmp_path / "2.json"]
    files[0].write_text(json.dumps(part))
    files[1].write_text(json.dumps(_part(["a"], "pynguin", 50.0)))
    assert side_by_side.main(["--merge", *map(str, files), "--results", str(tmp_path / "out"), "--label", "m"]) == 0
    merged = json.loads((tmp_path / "out" / "2026-11-22-m.json").read_text())["tracks"]["modules"]
    assert merged["rows"][0]["own_suite"]["mutation"]["score_pct"] == 80.0
    assert merged["summary"]["quality"]["own_suite_median_mutation_score_pct"] == 75.0


@pytest.mark.slow
def test_mutation_of_one_module_in_a_package_that_imports_its_siblings(tmp_path):
    # mutmut in a venv of its own (the harness's: pip installs it once); the module imports a sibling, so the
    # whole package is copied, and only the module is mutated.
    python = ensure_venv(tmp_path / "venvs", "mutmut", [MUTMUT])
    project = tmp_path / "p"
    (project / "tinypkg").mkdir(parents=True)
    # it reads its own version, as pypara does: the wheel's .dist-info must come along
    (project / "tinypkg" / "__init__.py").write_text(
        'import importlib.metadata\n\nV = importlib.metadata.version("tinypkg")\n'
    )
    (project / "tinypkg-0.1.dist-info").mkdir()
    (project / "tinypkg-0.1.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: tinypkg\nVersion: 0.1\n")
    (project / "tinypkg" / "helpers.py").write_text("def positive(x):\n    return x > 0\n")
    (project / "tinypkg" / "mini.py").write_text(
        "from tinypkg.helpers import positive\n\n\ndef sign(x):\n    if positive(x):\n        return 'positive'\n"
        "    return 'other'\n"
    )
    (project / "tests").mkdir()
    (project / "tests" / "conftest.py").write_text("")
    (project / "tests" / "test_mini.py").write_text(
        "from tinypkg.mini import sign\n\n\ndef test_sign():\n    assert sign(1) == 'positive'\n"
    )
    tests = [project / "tests" / "conftest.py", project / "tests" / "test_mini.py"]
    work = tmp_path / "mut"
    result = mutation_score(python, project / "tinypkg" / "mini.py", project, tests, work, whole_package=True)
    assert "error" not in result, result
    assert result["mutants"] >= 2 and 0 < result["killed"] < result["mutants"]  # 'other' is never checked
    assert not (work / "mutants" / "tinypkg" / "helpers.py.meta").exists()


def test_mutmut_reach_leaves_out_decorated_functions():
    source = (
        "import functools\n\n\n"
        "def plain(x):\n    y = x + 1\n    return y\n\n\n"
        "@functools.singledispatch\ndef dispatched(x):\n    y = x\n    return y\n\n\n"
        "class C:\n    @staticmethod\n    def s(x):\n        return x\n\n"
        "    @property\n    def p(self):\n        def inner():\n            return 1\n\n        return inner()\n"
    )
    # plain 2 + s 1 mutated; dispatched 2 + p 2 + inner 1 left alone
    assert mutmut_reach(source) == 3 / 8
    assert mutmut_reach("X = 1\n") == 1.0


def test_every_line_mutation_runs_the_tests_that_reach_each_line(tmp_path):
    project = tmp_path / "p"
    (project / "tinypkg").mkdir(parents=True)
    (project / "tinypkg" / "__init__.py").write_text("")
    (project / "tinypkg" / "mini.py").write_text(MODULE)
    (project / "tests").mkdir()
    (project / "tests" / "test_pos.py").write_text(
        "from tinypkg.mini import sign\n\n\ndef test_positive():\n    assert sign(3) == 'positive'\n"
    )
    (project / "tests" / "test_neg.py").write_text(
        "from tinypkg.mini import sign\n\n\ndef test_negative():\n    assert sign(-3) == 'negative'\n"
    )
    (project / "pyproject.toml").write_text('[project]\nname = "p"\nversion = "0"\n\n[tool.pytest.ini_options]\n')
    tests = sorted((project / "tests").glob("*.py"))
    work = tmp_path / "mut"
    result = every_line_score(Path(sys.executable), project / "tinypkg" / "mini.py", project, tests, work)
    # 10 mutants: each comparison flipped at its boundary and its 0 made 1 (4, all survive: 3 and -3 are far from
    # 0), each string changed and each return made None (6; the two of return "zero" run under no test)
    assert "error" not in result, result
    assert (result["mutants"], result["killed"], result["untested"]) == (10, 4, 2)
    assert (project / "tinypkg" / "mini.py").read_text() == MODULE  # mutants ran in the copy
