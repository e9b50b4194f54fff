"""Pairs, JSONL and the chat examples: the prompt a pair trains on is the one generation builds."""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path

import pytest

from conftest import FAST, fenced
from finetune_repo import make_repo
from testbot.context import build_context
from testbot.finetune.data import (
    END,
    Pair,
    _continued,
    _merged_imports,
    pairs_from_records,
    placeholder_test,
    read_pairs,
    shape_for_training,
    split_completion,
    split_test_functions,
    to_example,
    write_pairs,
)
from testbot.finetune.mine import Source, mine
from testbot.prompt import build_prompt
from testbot.targets import find_targets

GOOD = fenced("""
import pytest
from pkg.m import classify


def test_negative():
    assert classify(-1) == "negative"


def test_zero():
    assert classify(0) == "zero"
""")


def test_pairs_round_trip_through_jsonl(tmp_path):
    pair = Pair(
        "abc",
        "mined",
        "toolz",
        "toolz.itertoolz",
        "take",
        "def take(n, seq): ...",
        "import pytest\n\ndef test_take():\n    assert True\n",
        {"sdist": "toolz-1.0.0.tar.gz", "é": "ü"},
        {"rel": "toolz/itertoolz.py"},
    )
    write_pairs(tmp_path / "d" / "p.jsonl", [pair, pair])
    assert read_pairs(tmp_path / "d" / "p.jsonl") == [pair, pair]
    (tmp_path / "bad.jsonl").write_text('{"id": 1}\n')
    with pytest.raises(ValueError, match="bad.jsonl:1: not a pair"):
        read_pairs(tmp_path / "bad.jsonl")


def test_a_mined_pair_trains_on_the_prompt_generation_builds_for_its_function(tmp_path):
    root = make_repo(tmp_path / "numbers")
    pairs = mine(Source(root, "numbers", {}), python=sys.executable).pairs
    pair = next(p for p in pairs if p.provenance["test_name"] == "test_clamp_bad_limits")
    target = find_targets([str(root / "pkg" / "m.py") + "::clamp"], root)[0]
    prompt = build_prompt(build_context(target, root))  # what testbot generate sends, round 0
    ex = to_example(pair)
    assert ex.messages == [{"role": "system", "content": prompt.system}, {"role": "user", "content": prompt.user}]
    # generation's prefill opens the first test function; a mined test that starts with one continues it
    assert ex.prefill == prompt.prefill == "```python\nimport pytest\n\nfrom pkg.m import clamp\n\n\ndef test_"
    # the completion continues the prefill; together they are the test, and they end where generation stops
    assert ex.completion.endswith(END) and not ex.completion.startswith(("import pytest", "from pkg.m import clamp"))
    code = (ex.prefill + ex.completion).removeprefix("```python\n").removesuffix(END)
    ast.parse(code)
    assert "def test_clamp_bad_limits():" in code and code.count("from pkg.m import clamp") == 1


def test_a_distilled_record_is_the_exact_prompt_and_each_stable_test(project, tmp_path):
    record = tmp_path / "distill" / "rec.jsonl"
    again = GOOD.replace("\n```", '\n\ndef test_zero_again():\n    assert classify(0) == "zero"\n```')
    run = project.generate("pkg/m.py::classify", "--model", project.fake_model([again]), "--record", str(record), *FAST)
    assert run.code == 1, run.err
    lines = sorted((json.loads(line) for line in record.read_text().splitlines()), key=lambda r: r["test_name"])
    # one record per test that passed every run; the one that adds nothing is marked as not kept
    assert [(r["test_name"], r["kept"]) for r in lines] == [
        ("test_negative", True),
        ("test_zero", True),
        ("test_zero_again", False),
    ]
    rec = lines[0]
    assert rec["target"] == "pkg/m.py::classify" and rec["function"] == "classify" and rec["model"] == "fake"
    assert rec["focal_code"].startswith("def classify(n):")
    assert "test_negative" in rec["test_code"] and "test_zero" not in rec["test_code"]
    pairs = sorted(pairs_from_records(record), key=lambda p: p.provenance["target"] + p.test_code)
    pairs = [p for p in pairs if "test_negative" in p.test_code]
    assert [p.source for p in pairs] == ["distilled"] and pairs[0].package == "pkg"
    ex = to_example(pairs[0])
    assert ex.messages == rec["messages"] and ex.prefill == rec["prefill"]  # rebuilt: the very same prompt
    assert ex.completion.endswith(END) and "def test_negative():" in ex.prefill + ex.completion
    assert "classify" in ex.messages[1]["content"]


def test_explored_calls_are_recorded_with_the_round_0_prompt_as_explored_pairs(project, tmp_path):
    record = tmp_path / "rec.jsonl"
    run = project.generate(
        "pkg/m.py::classify",
        "--explore",
        "--model",
        project.fake_model([]),
        "--record",
        str(record),
        "--dry-run",
        *FAST,
    )
    assert run.code == 1, run.err  # (1: tests to write)
    lines = [json.loads(line) for line in record.read_text().splitlines()]
    assert lines and all(r["model"].startswith("explore") and r["round"] == 0 for r in lines)
    assert all("_explored_" in r["test_name"] and "classify(" in r["test_code"] for r in lines)
    pairs = pairs_from_records(record)
    assert {p.source for p in pairs} == {"explored"}
    # named like a person would name them; the code still runs the same call
    assert all("_explored_" not in p.test_code and "_explored_" not in p.provenance["test_name"] for p in pairs)
    target = find_targets([str(project.root / "pkg" / "m.py") + "::classify"], project.root)[0]
    prompt = build_prompt(build_context(target, project.root))  # the model's own round-0 prompt, no feedback
    ex = to_example(pairs[0])
    assert (
        lines[0]["messages"]
        == ex.messages
        == [{"role": "system", "content": prompt.system}, {"role": "user", "content": prompt.user}]
    )
    code = (ex.prefill + ex.completion).removeprefix("```python\n").removesuffix(END)
    ast.parse(code)
    assert "assert classify(" in code or "pytest.raises" in code


def test_an_explored_test_imports_each_name_once_and_only_the_names_it_uses():
    code = (
        "import pytest\nfrom p.s import Spec\nfrom p.s import Spec\nfrom p.s import Base, Spec\n"
        "from p.t import TooMany\n\n\ndef test_f_1():\n    assert Spec('<3').f(Spec('>3')) == True\n"
    )
    assert _merged_imports(code) == (
        "from p.s import Spec\n\n\ndef test_f_1():\n    assert Spec('<3').f(Spec('>3')) == True\n"
    )


def test_record_is_appended_not_replaced(project, tmp_path):
    record = tmp_path / "rec.jsonl"
    for _ in range(2):
        project.generate(
            "pkg/m.py::classify", "--model", project.fake_model([GOOD]), "--record", str(record), "--dry-run", *FAST
        )
    assert len(record.read_text().splitlines()) == 4


def test_a_test_that_starts_with_a_helper_import_is_trained_after_the_imports_alone():
    prefill = "```python\nimport pytest\n\nfrom pkg.m import f\n\n\ndef test_"
    assert _continued(prefill, "def test_f():\n    assert f()" + END) == (prefill, "f():\n    assert f()" + END)
    assert _continued(prefill, "import os\n\n\ndef test_f():" + END) == (
        "```python\nimport pytest\n\nfrom pkg.m import f\n",
        "import os\n\n\ndef test_f():" + END,
    )


def test_split_completion_takes_the_prefill_lines_out_of_the_import_block():
    prefill = "```python\nimport pytest\n\nfrom pkg.m import f\n"
    code = "import pytest\n\nfrom pkg.m import f\nimport os\n\n\ndef test_f():\n    import pytest\n    assert f()\n"
    assert split_completion(code, prefill) == "import os\n\n\ndef test_f():\n    import pytest\n    assert f()" + END


def test_training_completions_are_short_tests_several_to_an_answer():
    from testbot.finetune.data import shape_for_training

    def pair(name: str, body_lines: int, function: str = "take", source: str = "mined") -> Pair:
        body = "\n".join(f"    assert take({i}, []) == []" for i in range(body_lines))
        return Pair(
            name,
            source,
            "toolz",
            "toolz.itertoolz",
            function,
            "def take(n, seq): ...",
            f"import pytest\nfrom toolz.itertoolz import take\nimport {name}_helper\n\n\ndef test_{name}():\n{body}\n",
            {"test_name": f"test_{name}"},
            {"rel": "toolz/itertoolz.py"},
        )

    pairs = [
        pair("a", 3),
        pair("long", 40),
        pair("b", 2),
        pair("c", 1),
        pair("d", 2),
        pair("e", 2, "drop"),
        pair("f", 20, source="distilled"),
    ]
    short = shape_for_training(pairs, max_test_lines=10)
    assert [p.id for p in short] == ["a", "b", "c", "d", "e", "f"]  # a distilled test is never too long
    joined = shape_for_training(pairs, max_test_lines=10, tests_per_example=3)
    assert [p.provenance.get("joined", [p.id]) for p in joined] == [["a", "b", "c"], ["d"], ["e"], ["f"]]
    code = joined[0].test_code
    compile(code, "joined", "exec")
    assert code.count("from toolz.itertoolz import take") == 1 and code.count("import pytest") == 1
    assert [n for n in ("a", "b", "c") if f"import {n}_helper" in code] == ["a", "b", "c"]
    assert [n for n in ("a", "b", "c") if f"def test_{n}():" in code] == ["a", "b", "c"]
    assert joined[0].id not in {"a", "b", "c"} and joined[1] == pairs[4]
    example = to_example(joined[0])  # trains like any pair: the prefill's imports are not in the completion
    assert "from toolz.itertoolz import take" not in example.completion and example.completion.endswith(END)


def test_distilled_pairs_can_count_several_times(tmp_path):
    from testbot.finetune.train import load_examples

    def pair(name: str, source: str) -> Pair:
        return Pair(
            name,
            source,
            "toolz",
            "toolz.itertoolz",
            "take",
            "def take(n, seq): ...",
            f"from toolz.itertoolz import take\n\n\ndef test_{name}():\n    assert take(0, []) == []\n",
            {"test_name": f"test_{name}"},
            {"rel": "toolz/itertoolz.py"},
        )

    path = tmp_path / "pairs.jsonl"
    write_pairs(path, [pair("mined", "mined"), pair("teacher", "distilled"), pair("renamed", "augmented")])
    once = load_examples(path, budget=384)
    thrice = load_examples(path, budget=384, distilled_weight=3)
    assert len(once) == 3 and len(thrice) == 5
    assert [e.completion for e in thrice].count(once[1].completion) == 3


SPLIT_ME = '''import pytest
from pkg.m import clamp


def test_clamp():
    """Docstring."""
    # inside the limits
    assert clamp(1, 0, 3) == 1

    # above: the result is read again later
    r = clamp(5, 0, 3)
    assert r == 3
    r = clamp(r, 0, 2)  # reads r before assigning it: stays with the piece above
    assert r == 2
    # the limits swapped
    with pytest.raises(ValueError):
        clamp(1, 2, 0)
    done = True


@pytest.mark.parametrize("n", [1])
def test_marked(n):
    assert clamp(n, 0, 3) == n
    assert clamp(-n, 0, 3) == 0
'''


def test_split_test_functions_cuts_one_test_per_check_where_nothing_is_shared():
    out = split_test_functions(SPLIT_ME)
    assert out.count("def test_clamp") == 3 and "def test_clamp_2():" in out and "def test_clamp_3():" in out
    first, second, third = out.split("def test_clamp")[1:4]
    assert '"""Docstring."""' in first and "# inside the limits" in first and "clamp(5" not in first
    assert "# above" in second and "r = clamp(r, 0, 2)" in second and "pytest.raises" not in second
    assert "# the limits swapped" in third and "done = True" in third
    assert out.endswith(SPLIT_ME[SPLIT_ME.index("@pytest.mark") :])  # decorated (or fixture) tests stay whole

    # the same statements run in the same order: both versions pass against the same code
    def clamp(n, lo, hi):
        if lo > hi:
            raise ValueError(lo)
        return max(lo, min(n, hi))

    for code in (SPLIT_ME, out):
        ns = {"__name__": "t"}
        exec(
            compile(code.replace("from pkg.m import clamp\n", ""), "t", "exec"), {"clamp": clamp, "pytest": pytest}, ns
        )
        tests = [v for k, v in ns.items() if k.startswith("test_") and k != "test_marked"]
        assert len(tests) == (1 if code is SPLIT_ME else 3)
        for test in tests:
            test()
    for code in (
        "def test_one():\n    assert True\n",
        "def broken(:\n",
        "def test_x():\n    x = 1\n    assert x\n",
        "def test_x():\n    x = 1\n    assert x\n    x += 1\n    assert x == 2\n",
        "def test_x():\n    x = 1\n    assert x\n    del x\n    assert True\n",
    ):
        assert split_test_functions(code) == code


def test_shape_for_training_splits_before_joining():
    pair = Pair("p1", "distilled", "pkg", "pkg.m", "clamp", "def clamp(n, lo, hi): ...", SPLIT_ME, {}, {})
    shaped = shape_for_training([pair], split_tests=True)
    assert shaped[0].test_code.count("def test_clamp") == 3 and pair.test_code == SPLIT_ME
    assert shape_for_training([pair])[0].test_code == SPLIT_ME


def test_explored_data_holds_a_package_whatever_name_its_pairs_give_it(tmp_path, monkeypatch):
    """`benchmarks/finetune/explored_data.py --hold attrs` takes out pairs whose package says "attr" (the module's
    top package, as records name it) too, and gives the held-out pairs their sdist."""
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parent.parent / "benchmarks" / "finetune"))
    import explored_data

    def pair(package, module, function):
        return Pair(
            f"{package}-{function}",
            "distilled",
            package,
            module,
            function,
            f"def {function}(): pass\n",
            f"from {module} import {function}\n\n\ndef test_{function}():\n    {function}()\n",
            {},
        )

    train = tmp_path / "train.jsonl"
    write_pairs(
        train,
        [
            pair("attr", "attr._make", "fields"),
            pair("attrs", "attr.validators", "in_"),
            pair("toolz", "toolz.itertoolz", "first"),
        ],
    )
    records = tmp_path / "records.jsonl"
    records.write_text("")
    sdists = tmp_path / "sdists"
    sdists.mkdir()
    (sdists / "attrs-26.1.0.tar.gz").write_bytes(b"not really a tarball")
    out_train, out_held = tmp_path / "t.jsonl", tmp_path / "h.jsonl"
    assert (
        explored_data.main(
            [
                "--records",
                str(records),
                "--train",
                str(train),
                "--sdists",
                str(sdists),
                "--hold",
                "attrs",
                "--out-train",
                str(out_train),
                "--out-heldout",
                str(out_held),
            ]
        )
        == 0
    )
    assert [p.function for p in read_pairs(out_train)] == ["first"]
    held = read_pairs(out_held)
    assert sorted(p.function for p in held) == ["fields", "in_"]
    assert {p.package for p in held} == {"attrs"}
    assert {p.provenance["sdist"] for p in held} == {"attrs-26.1.0.tar.gz"}


def test_placeholder_tests_are_told_apart():
    """The search's tests called with stand-in values (`--drop-placeholders` of explored_data.py leaves them out)."""
    assert placeholder_test("def test_f_1():\n    assert set_disabled('hello world') == None\n")
    assert placeholder_test("def test_f_2():\n    assert f(3) == None\n")
    assert placeholder_test("def test_f_3():\n    assert f('a\\nb') == 1\n")
    assert placeholder_test("def test_f_4():\n    with pytest.raises(TypeError):\n        f(1)\n")
    assert not placeholder_test("def test_f_5():\n    assert f(3) is None\n    assert g('abc') == 'ABC'\n")
    assert not placeholder_test("def test_f_6():\n    with pytest.raises(ValueError):\n        f(-1)\n")
