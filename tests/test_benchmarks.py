"""The side-by-side benchmark harness, end to end on one tiny module with the fake backend (no network)."""

from __future__ import annotations

import hashlib
import json
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

from benchmarks import humaneval, side_by_side

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


def test_harness_end_to_end_on_a_tiny_module(tmp_path):
    wheel = _wheel(tmp_path)
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
    md = json_path.with_suffix(".md").read_text()
    assert "## modules track" in md and "tinypkg.mini" in md
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
