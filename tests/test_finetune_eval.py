"""``testbot eval`` end to end: held-out pairs -> sdist -> scratch project -> the real pipeline, fake models."""

from __future__ import annotations

import io
import json
import tarfile
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

from conftest import SOURCE, fenced
from testbot.cli import main
from testbot.finetune.data import Pair, write_pairs
from testbot.finetune.evaluate import ModelSpec, graded, only_tests, select_targets


GOOD = {
    "classify": [
        fenced(
            "from tinypkg.core import classify\n\ndef test_signs():\n    assert classify(-1) == 'negative'\n"
            "    assert classify(0) == 'zero'\n    assert classify(5) == 'positive'\n"
        )
    ],
    "clamp": [
        fenced(
            "import pytest\nfrom tinypkg.core import clamp\n\ndef test_clamp():\n    assert clamp(5, 0, 3) == 3\n"
            "\ndef test_bad():\n    with pytest.raises(ValueError):\n        clamp(1, 2, 0)\n"
        )
    ],
}
# (`in`, not `==`: a wrong `==` value would be replaced by the one the code returns, see testbot/oracle.py)
BAD = {
    "*": [fenced("from tinypkg.core import classify\n\ndef test_wrong():\n    assert classify(1) in ('zero',)\n")] * 4
}


def _sdist(folder: Path) -> Path:
    src = folder / "build" / "tinypkg-0.1"
    (src / "src" / "tinypkg").mkdir(parents=True)
    (src / "src" / "tinypkg" / "__init__.py").write_text("")
    (src / "src" / "tinypkg" / "core.py").write_text(SOURCE)
    (src / "tests").mkdir()
    (src / "tests" / "test_core.py").write_text("def test_nothing():\n    pass\n")
    path = folder / "sdists" / "tinypkg-0.1.tar.gz"
    path.parent.mkdir()
    with tarfile.open(path, "w:gz") as tar:
        tar.add(src, arcname="tinypkg-0.1")
    return path


def _pair(function: str, source: str = "mined") -> Pair:
    return Pair(
        f"id-{function}-{source}",
        source,
        "tinypkg",
        "tinypkg.core",
        function,
        "def ...",
        "def test(): pass",
        {"sdist": "tinypkg-0.1.tar.gz", "sha256": "x"},
        {},
    )


def test_targets_are_distinct_functions_round_robin_by_package(tmp_path):
    pairs = [
        _pair("classify"),
        _pair("classify", "augmented"),
        _pair("clamp"),
        Pair("id-z", "mined", "other", "other.m", "f", "", "", {"sdist": "other-1.tar.gz"}, {}),
    ]
    write_pairs(tmp_path / "h.jsonl", pairs + [pairs[0]])
    targets = select_targets(tmp_path / "h.jsonl", 2)
    assert [(t.package, t.function) for t in targets] == [("other", "f"), ("tinypkg", "clamp")]
    assert len(select_targets(tmp_path / "h.jsonl", 10)) == 3  # the augmented copy is not a target of its own


def test_model_specs():
    assert ModelSpec.parse("small") == ModelSpec("small", "small", "")
    assert ModelSpec.parse("tuned=small+runs/a/adapter") == ModelSpec("tuned", "small", "runs/a/adapter")
    assert ModelSpec.parse("small+runs/a/adapter").label == "small+a"
    assert ModelSpec.parse("stock+runs/a/adapter-f16.gguf") == ModelSpec(  # llama.cpp applies an adapter GGUF
        "stock+runs/a/adapter-f16.gguf", "stock+runs/a/adapter-f16.gguf", ""
    )


def test_each_candidate_is_told_by_what_became_of_it():
    from testbot.finetune.evaluate import candidate_kind, outcome_counts
    from testbot.report import CandidateResult

    def c(outcome, detail="", stable=False, name="test_a", **kw):
        return CandidateResult(name, 0, 0, -0.1, outcome, detail, stable, **kw)

    raised = "    def test_a():\n>       f(1)\nE       TypeError: f() missing 1 required positional argument\n"
    module_raised = "E   ModuleNotFoundError: x\nE   json.decoder.JSONDecodeError: Expecting value"
    cases = [
        c("passed", stable=True, kept=True),
        c("passed", stable=True, gain_lines=(3,)),
        c("passed", stable=True),
        c("passed"),
        c("error", raised),
        c("error", module_raised),
        c("error", "??"),
        c("syntax_error"),
        c("passed", stable=True, kept=True, name="test_a (observed values)"),
    ]
    assert [candidate_kind(x) for x in cases] == [
        "kept",
        "passed, added coverage",
        "passed, no new coverage",
        "flaky",
        "error: TypeError",
        "error: JSONDecodeError",
        "error",
        "syntax_error",
        "repaired: kept",
    ]
    assert outcome_counts(cases[:2] + cases[:1]) == {"kept": 2, "passed, added coverage": 1}


def _eval_args(tmp_path: Path, models: list[str], out: Path, *flags: str) -> list[str]:
    """testbot eval's command line on the tiny package's held-out pairs, with fake models NAME=fake:NAME.json."""
    named = [arg for m in models for arg in ("--model", f"{m}=fake:{tmp_path / (m + '.json')}")]
    return [
        "eval",
        "--heldout",
        str(tmp_path / "heldout.jsonl"),
        "--sdists",
        str(tmp_path / "sdists"),
        *named,
        "--samples",
        "2",
        "--runs",
        "2",
        "--out",
        str(out),
        *flags,
    ]


def test_eval_compares_models_through_the_real_pipeline(tmp_path):
    _sdist(tmp_path)
    write_pairs(tmp_path / "heldout.jsonl", [_pair("classify"), _pair("clamp")])
    (tmp_path / "good.json").write_text(json.dumps(GOOD))
    (tmp_path / "bad.json").write_text(json.dumps(BAD))
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(_eval_args(tmp_path, ["good", "bad"], tmp_path / "results" / "eval"))
    assert code == 0, err.getvalue()
    data = json.loads((tmp_path / "results" / "eval.json").read_text())
    good, bad = data["models"]
    assert (good["label"], good["targets"], good["kept_at_k"], good["kept_tests"]) == ("good", 2, 1.0, 3)
    assert good["pass_rate"] == 1.0 and good["coverage_gain"] > 0.5
    assert (bad["kept_at_k"], bad["pass_rate"], bad["coverage_gain"]) == (0.0, 0.0, 0.0)
    assert [t["target"] for t in data["per_target"]["good"]] == [
        "tinypkg:tinypkg.core.clamp",
        "tinypkg:tinypkg.core.classify",
    ]
    # reviewer-grade: the good model's tests are clean, and they catch mutants of both functions (in a sandboxed
    # pytest run with each mutant in place); the bad model kept nothing
    assert (good["targets_reviewer_grade"], good["reviewer_grade_tests"]) == (2, 3)
    assert 0.5 < good["mutation_score"] <= 1.0
    assert (bad["targets_reviewer_grade"], bad["reviewer_grade_tests"], bad["mutation_score"]) == (0, 0, 0.0)
    rows = {t["target"]: t for t in data["per_target"]["good"]}
    classify = rows["tinypkg:tinypkg.core.classify"]
    assert classify["graded"] == 1 and 0 < classify["caught"] <= classify["mutants"]
    md = (tmp_path / "results" / "eval.md").read_text()
    assert "| good (fake) | 2 | 100 % | 2 | 3 | 2 | 3 |" in md
    assert "| bad (fake) | 2 | 0 % | 0 | 0 | 0 | 0 | 0.0 % | 0 % | 0.0 % |" in md
    assert "good: kept@2 100 % (2/2)" in out.getvalue()
    # what became of each test, per model: the bad model's tests all failed on their check
    bad_kinds = [t["outcomes"] for t in data["per_target"]["bad"]]
    assert all(set(k) == {"assertion_failure"} for k in bad_kinds) and sum(sum(k.values()) for k in bad_kinds) == 4
    assert sum(t["outcomes"].get("kept", 0) for t in data["per_target"]["good"]) == 3
    assert "## What became of the tests" in md and "| assertion_failure | 0 | 4 |" in md
    assert not (tmp_path / "sdists" / "tinypkg").exists()  # the sdist folder is only read
    # runs taken apart (one model each, or one model's targets in two runs with --skip) combine into the same
    # table; different targets are refused
    for label, flags in (("good", []), ("bad-1", ["--targets", "1"]), ("bad-2", ["--targets", "2", "--skip", "1"])):
        model = label.split("-")[0]
        with redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()):
            assert (
                main(
                    [
                        "eval",
                        "--heldout",
                        str(tmp_path / "heldout.jsonl"),
                        "--sdists",
                        str(tmp_path / "sdists"),
                        "--model",
                        f"{model}=fake:{tmp_path / (model + '.json')}",
                        "--samples",
                        "2",
                        "--runs",
                        "2",
                        "--out",
                        str(tmp_path / "results" / label),
                        *flags,
                    ]
                )
                == 0
            )
    assert "(the first 1 of the selection left out)" in (tmp_path / "results" / "bad-2.md").read_text()
    with redirect_stdout(io.StringIO()):
        assert (
            main(
                [
                    "eval",
                    "--combine",
                    *(str(tmp_path / "results" / f"{n}.json") for n in ("good", "bad-1", "bad-2")),
                    "--out",
                    str(tmp_path / "results" / "both"),
                ]
            )
            == 0
        )
    both = json.loads((tmp_path / "results" / "both.json").read_text())

    def timeless(models: list[dict]) -> list[dict]:
        return [{k: v for k, v in m.items() if "seconds" not in k} for m in models]

    assert (
        timeless(both["models"]) == timeless(data["models"]) and both["per_target"].keys() == data["per_target"].keys()
    )
    assert "| good (fake) | 2 | 100 % | 2 | 3 | 2 | 3 |" in (tmp_path / "results" / "both.md").read_text()
    write_pairs(tmp_path / "one.jsonl", [_pair("classify")])
    with redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()):
        assert (
            main(
                [
                    "eval",
                    "--heldout",
                    str(tmp_path / "one.jsonl"),
                    "--sdists",
                    str(tmp_path / "sdists"),
                    "--model",
                    f"x=fake:{tmp_path / 'bad.json'}",
                    "--samples",
                    "2",
                    "--runs",
                    "2",
                    "--out",
                    str(tmp_path / "results" / "one"),
                ]
            )
            == 0
        )
    err = io.StringIO()
    with redirect_stderr(err):
        assert (
            main(["eval", "--combine", str(tmp_path / "results" / "good.json"), str(tmp_path / "results" / "one.json")])
            == 2
        )
    assert "different targets" in err.getvalue()
    with redirect_stdout(io.StringIO()):  # --labels keeps some models
        assert (
            main(
                [
                    "eval",
                    "--combine",
                    str(tmp_path / "results" / "eval.json"),
                    "--labels",
                    "bad",
                    "--out",
                    str(tmp_path / "results" / "bad-only"),
                ]
            )
            == 0
        )
    assert [m["label"] for m in json.loads((tmp_path / "results" / "bad-only.json").read_text())["models"]] == ["bad"]
    err = io.StringIO()
    with redirect_stderr(err):  # one model's target in two runs
        assert (
            main(
                [
                    "eval",
                    "--combine",
                    str(tmp_path / "results" / "bad-1.json"),
                    str(tmp_path / "results" / "bad-1.json"),
                ]
            )
            == 2
        )
    assert "has target tinypkg:tinypkg.core.clamp in two runs" in err.getvalue()


def test_only_the_named_tests_stay_in_a_test_module():
    module = (
        "import pytest\nfrom m import f\n\n@pytest.fixture\ndef x():\n    return 1\n\n"
        "def test_a(x):\n    assert f(x) == 2\n\ndef test_b():\n    assert f(0) == 1\n\n"
        "class TestF:\n    def setup_method(self):\n        self.v = 1\n\n    def test_c(self):\n"
        "        assert f(self.v) == 2\n\n    def test_d(self):\n        assert f(2) == 3\n\n"
        "class TestG:\n    def test_e(self):\n        assert f(3) == 4\n"
    )
    kept = only_tests(module, ["test_a", "TestF::test_d"])
    assert "def x():" in kept and "def test_a(x):" in kept and "def test_d(self):" in kept
    assert "setup_method" in kept and "import pytest" in kept
    assert "test_b" not in kept and "test_c" not in kept and "TestG" not in kept


def test_reviewer_grade_is_the_model_s_clean_tests_only():
    from testbot.integrate import FileChange
    from testbot.pipeline import EXPLORE_MODEL

    text = (
        "from m import f\n\ndef test_f_doubles_two():\n    assert f(2) == 4\n\n"
        "def test_f_3():\n    assert f(3) == 6\n\ndef test_f_of_four():\n    assert f(4) == 8\n\n"
        "def test_f_halves_nothing():\n    assert type(f(1)).__name__ == 'int'\n"
    )
    change = FileChange(
        Path("tests/test_m.py"),
        True,
        ("test_f_doubles_two", "test_f_3", "test_f_of_four", "test_f_halves_nothing"),
        (),
        text,
        False,
        authors=("qwen", "qwen", EXPLORE_MODEL, "qwen"),
    )

    class Report:
        files = (change,)

    # a numbered name and a type-name-only check are not reviewer-grade; the search's test is not the model's
    [(names, module)] = graded(Report(), "def f(x):\n    return 2 * x\n")
    assert names == ["test_f_doubles_two"]
    assert "test_f_doubles_two" in module and "test_f_of_four" not in module and "test_f_3" not in module


def test_eval_runs_the_whole_pipeline_within_a_budget_per_target(tmp_path):
    _sdist(tmp_path)
    write_pairs(tmp_path / "heldout.jsonl", [_pair("clamp")])
    (tmp_path / "good.json").write_text(json.dumps(GOOD))
    with redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()):
        code = main(_eval_args(tmp_path, ["good"], tmp_path / "eval", "--explore", "--budget", "60"))
    assert code == 0
    data = json.loads((tmp_path / "eval.json").read_text())
    assert (data["settings"]["explore"], data["settings"]["budget"]) == (True, 60.0)
    [row] = data["per_target"]["good"]
    # the whole run's time (the search's phases come before the target's own turn), within the budget
    assert 0 < row["seconds"] <= 60 and row["kept"] >= 1
    assert "the whole pipeline (the search first" in (tmp_path / "eval.md").read_text()
