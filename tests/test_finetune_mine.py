"""Mining (function, test) pairs from a project's own test suite, by per-test coverage."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from finetune_repo import make_repo
from testbot.cli import main
from testbot.finetune.data import read_pairs
from testbot.finetune.mine import Source, mine, mine_paths, score, with_prefill_imports
from testbot.targets import Target


@pytest.fixture(scope="module")
def mined(tmp_path_factory):
    root = make_repo(tmp_path_factory.mktemp("numbers"))
    return root, mine(Source(root, "numbers", {"repo": "numbers"}), python=sys.executable)


def by_test(result):
    return {p.provenance["test_name"]: p for p in result.pairs}


def test_each_passing_test_is_paired_with_the_function_it_exercises_most_specifically(mined):
    _, result = mined
    pairs = by_test(result)
    assert {name: p.function for name, p in pairs.items()} == {
        "test_clamp_inside": "clamp",  # through a module-level helper of the test file
        "test_clamp_bad_limits": "clamp",
        "test_classify_negative_input": "classify",  # runs more of clamp's lines: the name decides
        "test_scale_keyword": "scale",
        "test_scale_name": "scale",
        "TestClassify.test_zero": "classify",
    }
    assert "test_fails" not in pairs  # a failing test teaches nothing
    assert result.tests_run == 8 and result.tests_passed == 7
    assert result.dropped["fails when self-contained (conftest fixture or lost helper)"] == 1  # test_needs_conftest
    p = pairs["test_clamp_bad_limits"]
    assert p.source == "mined" and p.package == "numbers" and p.module == "pkg.m"
    assert p.focal_code.startswith("def clamp(x, lo, hi):")
    assert p.provenance["test_file"] == "tests/test_numbers.py" and p.provenance["context_score"] > 0


def test_mined_tests_are_self_contained_and_pass_on_their_own(mined, tmp_path):
    root, result = mined
    p = by_test(result)["test_clamp_inside"]
    assert p.test_code.startswith("import pytest\n\nfrom pkg.m import clamp\n")
    assert "LIMITS = (0, 10)" in p.test_code and "def within(x):" in p.test_code  # the helpers it needs
    assert "classify" not in p.test_code and "scale" not in p.test_code  # unused imports pruned
    for i, pair in enumerate(result.pairs):
        (tmp_path / f"test_pair_{i}.py").write_text(pair.test_code)
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"{len(result.pairs)} passed" in run.stdout


def test_the_answer_is_not_in_its_own_prompt(mined):
    _, result = mined
    # The test file is tests/test_numbers.py, which generation does not show for pkg.m: no example tests.
    assert all(p.context["example_tests"] == "" for p in result.pairs)
    assert all(p.context["import_line"] == "from pkg.m import " + p.function.split(".")[0] for p in result.pairs)


def test_score_prefers_the_rarely_covered_function_and_matching_names():
    t = Target(Path("m.py"), "m.py", "m", Path("."), "parse", "function", False, 1, 1, 10, frozenset(), "")
    helper = Target(Path("m.py"), "m.py", "m", Path("."), "helper", "function", False, 1, 1, 10, frozenset(), "")
    # the same lines run: a function few tests run scores higher than one every test runs
    assert score(5, 9, 100, 2, "test_x", helper) > score(5, 9, 100, 90, "test_x", helper)
    assert score(5, 9, 100, 50, "test_parse_dates", t) > score(5, 9, 100, 50, "test_parse_dates", helper)


def test_prefill_imports_lead_and_duplicates_go():
    t = Target(Path("m.py"), "m.py", "pkg.m", Path("."), "f", "function", False, 1, 1, 2, frozenset(), "")
    code = "import pytest\nfrom pkg.m import f\nfrom pkg.m import g, h\nimport os\n\n\ndef test_f():\n    assert f(g)\n"
    assert with_prefill_imports(code, t) == (
        "import pytest\n\nfrom pkg.m import f\nfrom pkg.m import g\n\n\ndef test_f():\n    assert f(g)\n"
    )


def test_a_hanging_test_file_costs_only_itself(tmp_path):
    root = make_repo(tmp_path / "hang", hang=True)  # tests/test_slow.py sleeps for 10 minutes
    notes = []
    result = mine(Source(root, "hang", {}), python=sys.executable, note=notes.append, suite_seconds=10)
    assert notes and "ran past 10 s; running its test files one by one" in notes[0]
    assert result.dropped["test file hangs or is too slow"] == 1
    assert {p.provenance["test_name"] for p in result.pairs} >= {"test_clamp_inside", "test_scale_keyword"}


def test_a_project_without_tests_is_dropped_with_the_reason(tmp_path):
    (tmp_path / "p" / "pkg").mkdir(parents=True)
    (tmp_path / "p" / "pkg" / "__init__.py").write_text("def f():\n    return 1\n")
    pairs, results = mine_paths([tmp_path / "p"], python=sys.executable)
    assert pairs == [] and results["p"].dropped == {"package: ships no tests": 1}


def test_cli_mines_augments_and_reads_records(tmp_path, capsys):
    root = make_repo(tmp_path / "numbers")
    record = tmp_path / "rec.jsonl"
    record.write_text(
        json.dumps(
            {
                "target": "pkg/m.py::classify",
                "module": "pkg.m",
                "function": "classify",
                "focal_code": "def classify(n): ...",
                "messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}],
                "prefill": "```python\nimport pytest\n\nfrom pkg.m import classify\n",
                "round": 0,
                "model": "m",
                "test_code": "import pytest\n\nfrom pkg.m import classify\n\n\n"
                "def test_zero():\n    assert classify(0) == 'zero'\n",
                "test_name": "test_zero",
                "context": {},
            }
        )
        + "\n"
    )
    out = tmp_path / "data" / "pairs.jsonl"
    code = main(["finetune", "--mine", str(root), str(record), "--augment", "--data", str(out)])
    assert code == 0
    pairs = read_pairs(out)
    sources = {p.source for p in pairs}
    assert sources == {"mined", "augmented", "distilled"}
    assert f"wrote {out}: {len(pairs)} pairs" in capsys.readouterr().out


def test_cli_names_a_missing_path(tmp_path, capsys):
    assert main(["finetune", "--mine", str(tmp_path / "nope")]) == 2
    assert "no such file or folder" in capsys.readouterr().err
