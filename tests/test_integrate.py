"""Composing kept tests into test files: merged imports, provenance, renames, nothing twice."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from testbot.extract import Candidate, split_tests
from testbot.integrate import Kept, compose, integrate
from testbot.measure import Gain

ID = "pkg/m.py::classify"


def kept(code: str, lines=(5,), branches=((4, 5),)) -> list[Kept]:
    ex = split_tests(code, target_id=ID, protected={"classify"})
    assert ex.candidates, ex.error
    return [Kept(c, Gain(frozenset(lines), frozenset(branches)), ID, "fake") for c in ex.candidates]


def functions(text: str) -> list[str]:
    return [n.name for n in ast.parse(text).body if isinstance(n, ast.FunctionDef | ast.ClassDef)]


TWO = """\
import os
import pytest
from pkg.m import classify


def test_zero():
    assert classify(0) == "zero"


def test_sep():
    assert os.sep and classify(1) == "positive"
"""


def test_new_file_gets_imports_once_and_a_provenance_comment_per_test():
    text, added, skipped = compose("", kept(TWO))
    assert added == ["test_zero", "test_sep"] and skipped == []
    assert functions(text) == ["test_zero", "test_sep"]
    assert text.count("from pkg.m import classify") == 1 and text.count("import pytest") == 1
    assert "import os" in text
    comments = [line for line in text.splitlines() if line.startswith("# testbot:")]
    assert len(comments) == 2
    assert comments[0].startswith(f"# testbot: {ID} +1 lines, +1 branches, model fake, sha ")
    lines = text.splitlines()
    assert lines[lines.index("def test_zero():") - 1] == comments[0]  # the comment sits right above its test
    compile(text, "test_m.py", "exec")


EXISTING = '''\
"""Tests for pkg.m."""
import pytest
from pkg.m import classify


def test_zero():
    assert classify(0) == "zero"  # written by hand
'''


def test_existing_file_keeps_its_tests_and_new_imports_go_with_the_others():
    text, added, _ = compose(EXISTING, kept(TWO))
    assert text.startswith('"""Tests for pkg.m."""\nimport pytest\nfrom pkg.m import classify\nimport os\n')
    assert 'assert classify(0) == "zero"  # written by hand' in text
    # the clash is renamed for what the test shows, not replaced (nor numbered)
    assert functions(text) == ["test_zero", "test_classify_returns_zero_for_zero", "test_sep"]
    assert added == ["test_classify_returns_zero_for_zero", "test_sep"]
    assert text.count("from pkg.m import classify") == 1


def test_a_name_imported_already_is_not_imported_again():
    first = kept(
        "from pkg.m import classify, Kind\nfrom pkg.m import Error\n\ndef test_a():\n    assert classify(0) == Kind.ZERO\n"
        "    with pytest.raises(Error):\n        classify(None)\n"
    )
    again = kept(
        "from pkg.m import classify\nfrom pkg.errors import Error\nfrom pkg.m import other\n\n"
        "def test_b():\n    assert other(classify(1))\n    with pytest.raises(Error):\n        other(None)\n"
    )
    text, added, _ = compose("", first + again)
    assert added == ["test_a", "test_b"]
    imports = [line for line in text.splitlines() if line.startswith("from ")]
    # (a re-exported name from another module is the same name to a reader: imported once)
    assert imports == ["from pkg.m import classify, Kind", "from pkg.m import Error", "from pkg.m import other"]


def test_composing_again_adds_nothing():
    once, _, _ = compose(EXISTING, kept(TWO))
    twice, added, skipped = compose(once, kept(TWO))
    assert twice == once
    assert added == []
    assert skipped == [f"{ID} test_zero: already in the file", f"{ID} test_sep: already in the file"]


def test_same_test_under_another_name_is_recognised():
    once, _, _ = compose("", kept(TWO))
    renamed = TWO.replace("def test_zero", "def test_zero_is_zero")
    twice, added, _ = compose(once, kept(renamed))
    assert twice == once and added == []


def test_shared_fixture_is_written_once_and_a_conflicting_one_is_not_overwritten():
    code = """\
import pytest
from pkg.m import classify


@pytest.fixture
def zero():
    return 0


def test_a(zero):
    assert classify(zero) == "zero"


def test_b(zero):
    assert classify(zero - 1) == "negative"
"""
    text, added, _ = compose("", kept(code))
    assert added == ["test_a", "test_b"]
    assert functions(text) == ["zero", "test_a", "test_b"]
    conflicting = EXISTING + "\n\n@pytest.fixture\ndef zero():\n    return 'not zero'\n"
    text, added, skipped = compose(conflicting, kept(code))
    assert added == [] and text == conflicting
    assert all("same name already exists" in s for s in skipped)


def test_class_tests_are_regrouped_into_their_class():
    code = """\
from pkg.m import classify


class TestClassify:
    def test_negative(self):
        assert classify(-1) == "negative"

    def test_zero(self):
        assert classify(0) == "zero"
"""
    text, added, _ = compose("", kept(code))
    assert added == ["TestClassify::test_negative", "TestClassify::test_zero"]
    (cls,) = [n for n in ast.parse(text).body if isinstance(n, ast.ClassDef)]
    assert [m.name for m in cls.body if isinstance(m, ast.FunctionDef)] == ["test_negative", "test_zero"]
    assert text.count("# testbot:") == 2
    clash, added, _ = compose(text.replace("# testbot", "# by hand"), kept(code.replace('== "zero"', "!= 1")))
    assert "class TestClassify2:" in clash  # an existing class of that name is left alone


def test_integrate_writes_a_file_that_passed(tmp_path: Path):
    dest = tmp_path / "tests" / "test_m.py"
    seen = []
    change = integrate(dest, kept(TWO), passes=lambda text: seen.append(text) or True, dry_run=False)
    assert change.written and change.created and change.error == ""
    assert dest.read_text() == seen[0] == change.text
    assert change.tests == ("test_zero", "test_sep")


def test_integrate_dry_run_writes_nothing(tmp_path: Path):
    dest = tmp_path / "tests" / "test_m.py"
    change = integrate(dest, kept(TWO), passes=lambda text: True, dry_run=True)
    assert not dest.exists() and not dest.parent.exists()
    assert change.tests == ("test_zero", "test_sep") and not change.written


def test_integrate_leaves_out_tests_that_fail_together(tmp_path: Path):
    dest = tmp_path / "test_m.py"
    # the file "passes" only without test_sep (say it breaks when run after the others)
    change = integrate(dest, kept(TWO), passes=lambda text: "def test_sep" not in text, dry_run=False)
    assert change.tests == ("test_zero",)
    assert "def test_sep" not in dest.read_text()
    assert any("test_sep: fails when run together" in s for s in change.skipped)


def test_integrate_writes_nothing_when_no_combination_passes(tmp_path: Path):
    dest = tmp_path / "test_m.py"
    dest.write_text(EXISTING)
    change = integrate(dest, kept(TWO), passes=lambda text: False, dry_run=False)
    assert change.tests == () and not change.written
    assert dest.read_text() == EXISTING


def test_integrate_refuses_a_test_file_that_does_not_parse(tmp_path: Path):
    dest = tmp_path / "test_m.py"
    dest.write_text("def test_broken(:\n")
    change = integrate(dest, kept(TWO), passes=lambda text: True, dry_run=False)
    assert not change.written and "does not parse" in change.error
    assert dest.read_text() == "def test_broken(:\n"


def test_integrate_does_not_overwrite_a_file_changed_meanwhile(tmp_path: Path):
    dest = tmp_path / "test_m.py"
    dest.write_text(EXISTING)

    def passes(text: str) -> bool:
        dest.write_text(EXISTING + "\n\ndef test_new_by_hand():\n    pass\n")  # the user edits it meanwhile
        return True

    change = integrate(dest, kept(TWO), passes=passes, dry_run=False)
    assert not change.written and "changed while testbot ran" in change.error
    assert "test_new_by_hand" in dest.read_text() and "test_sep" not in dest.read_text()


@pytest.mark.parametrize("existing", ["", EXISTING])
def test_composed_file_is_valid_python(existing: str):
    text, _, _ = compose(existing, kept(TWO))
    ast.parse(text)
    assert text.endswith("\n") and not text.endswith("\n\n")


UNITTEST_FILE = """\
import unittest

from pkg.m import classify, label


class ClassifyTest(unittest.TestCase):
    def setUp(self):
        self.zero = 0

    def test_zero(self):
        self.assertEqual(classify(self.zero), "zero")


class LabelTest(unittest.TestCase):
    def test_small(self):
        self.assertEqual(label(3), "small")
"""

PLAIN_FOR_CLASSIFY = """\
import pytest
from pkg.m import classify


def test_negative():
    assert classify(-2) == "negative"
    assert classify(5) != "zero"
    assert classify(7) is not None
    assert isinstance(classify(1), str)
    assert not classify(1) == "zero"
    with pytest.raises(TypeError, match="not supported"):
        classify("x")
"""


def _run_module(text: str, tmp_path: Path) -> None:
    """Run a composed test file with the tiny module it imports (pkg.m) next to it, under pytest."""
    import subprocess
    import sys

    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "m.py").write_text(
        'def classify(n):\n    if isinstance(n, str):\n        raise TypeError("str not supported")\n'
        '    return "negative" if n < 0 else "zero" if n == 0 else "positive"\n\n\n'
        'def label(n):\n    return "small" if n < 10 else "big"\n'
    )
    (tmp_path / "test_m.py").write_text(text)
    res = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly", "test_m.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, res.stdout[-2000:]


def test_in_a_unittest_file_a_test_joins_the_class_that_tests_the_function_in_its_style(tmp_path):
    text, added, skipped = compose(UNITTEST_FILE, kept(PLAIN_FOR_CLASSIFY))
    assert added == ["ClassifyTest::test_negative"] and skipped == []
    cls = next(n for n in ast.parse(text).body if isinstance(n, ast.ClassDef) and n.name == "ClassifyTest")
    method = ast.get_source_segment(text, cls.body[-1])
    assert method.startswith("def test_negative(self):")
    assert method.splitlines()[1:] == [
        '        self.assertEqual(classify(-2), "negative")',
        '        self.assertNotEqual(classify(5), "zero")',
        "        self.assertIsNotNone(classify(7))",
        "        self.assertIsInstance(classify(1), str)",
        '        self.assertNotEqual(classify(1), "zero")',
        '        with self.assertRaisesRegex(TypeError, "not supported"):',
        '            classify("x")',
    ]
    assert text.count("from pkg.m import") == 1  # classify is imported already
    assert "assert classify" not in method and "pytest" not in text  # no pytest left to import
    assert text.endswith(UNITTEST_FILE.split("\n\n\n")[-1])  # the other class untouched, the file ends as it did
    assert "    # testbot: pkg/m.py::classify +1 lines" in text
    _run_module(text, tmp_path)


def test_a_function_no_class_tests_gets_a_new_class_named_the_files_way(tmp_path):
    source = PLAIN_FOR_CLASSIFY.replace("classify", "label").replace('label(-2) == "negative"', 'label(20) == "big"')
    source = source.split("    assert label(5)")[0]
    ex = split_tests(source, target_id="pkg/m.py::other", protected={"label"})
    only = UNITTEST_FILE.replace("label", "lbl")
    text, added, _ = compose(
        only, [Kept(c, Gain(frozenset({3}), frozenset()), "pkg/m.py::other", "fake") for c in ex.candidates]
    )
    assert added == ["OtherTest::test_negative"]
    assert "class OtherTest(unittest.TestCase):\n" in text and "self.assertEqual(label(20), " in text
    assert functions(text)[-1] == "OtherTest"


def test_in_a_pytest_class_file_a_test_becomes_a_method_and_keeps_its_fixtures(tmp_path):
    existing = (
        "import pytest\nfrom pkg.m import classify\n\n\nclass TestClassify:\n    def test_zero(self):\n"
        '        assert classify(0) == "zero"\n'
    )
    code = (
        "import pytest\nfrom pkg.m import classify\n\n\n@pytest.fixture\ndef minus():\n    return -1\n\n\n"
        'def test_minus(minus):\n    assert classify(minus) == "negative"\n'
    )
    text, added, _ = compose(existing, kept(code))
    assert added == ["TestClassify::test_minus"]
    assert '    def test_minus(self, minus):\n        assert classify(minus) == "negative"' in text
    assert "def minus():" in text  # the fixture stays a module-level fixture
    _run_module(text, tmp_path)


def test_a_file_of_plain_functions_gets_plain_functions():
    text, added, _ = compose(TWO.split("def test_sep")[0], kept(PLAIN_FOR_CLASSIFY))
    assert added == ["test_negative"] and "class " not in text


def test_each_added_test_is_credited_to_its_author_when_renamed_or_placed_in_a_class():
    from testbot.integrate import _authors

    def kept(name: str, model: str) -> Kept:
        cand = Candidate("m.py::f", name, "", "", "", "", (), (), 0, 0, 0.0)
        return Kept(cand, Gain(frozenset({1}), frozenset()), "m.py::f", model)

    authors = _authors(["test_a", "TestF::test_b", "test_a_2"], [kept("test_a", "qwen"), kept("test_b", "explore")])
    assert authors == ("qwen", "explore", "qwen")


def test_a_test_kept_for_mutants_alone_is_written_and_says_so(tmp_path):
    (k,) = kept(
        "from pkg.m import classify\n\n\ndef test_edge():\n    assert classify(0) == 'zero'\n", lines=(), branches=()
    )
    change = integrate(
        tmp_path / "test_m.py",
        [Kept(k.candidate, Gain(), ID, "fake", catches=2)],
        passes=lambda text: True,
        dry_run=False,
    )
    assert change.tests == ("test_edge",) and not change.skipped
    assert "+0 lines, +0 branches, catches 2 mutants the others miss" in (tmp_path / "test_m.py").read_text()
    change = integrate(tmp_path / "test_n.py", [k], passes=lambda text: True, dry_run=False)  # it adds nothing
    assert not change.tests and "(+0)" in change.skipped[0]


def test_a_clash_that_the_behaviour_name_does_not_settle_takes_the_inputs_words():
    first = "from pkg.m import Box\n\n\ndef test_eq_is_false():\n    assert not Box(1) == Box(2)\n"
    second = "from pkg.m import Box\n\n\ndef test_eq_is_false():\n    assert not Box(1) == Box(3)\n"
    k1 = Kept(
        split_tests(first, target_id="pkg/m.py::Box.__eq__", protected={"Box"}).candidates[0],
        Gain(frozenset({3})),
        "pkg/m.py::Box.__eq__",
        "x",
    )
    k2 = Kept(
        split_tests(second, target_id="pkg/m.py::Box.__eq__", protected={"Box"}).candidates[0],
        Gain(frozenset({4})),
        "pkg/m.py::Box.__eq__",
        "x",
    )
    _, added, _ = compose("", [k1, k2])
    assert added == ["test_eq_is_false", "test_eq_is_false_for_one_three"]


def test_a_clash_the_inputs_words_do_not_settle_takes_the_keywords_names_too():
    def kept(check: str, line: int) -> Kept:
        code = f"from pkg.m import Span\n\n\ndef test_ne_is_false():\n    assert {check}\n"
        cand = split_tests(code, target_id="pkg/m.py::Span.__ne__", protected={"Span"}).candidates[0]
        return Kept(cand, Gain(frozenset({line})), "pkg/m.py::Span.__ne__", "x")

    first, second, third = (
        kept("not Span() != Span()", 3),
        kept("not Span() != Span(0)", 4),
        kept("not Span(weeks=0) != Span()", 5),
    )
    _, added, _ = compose("", [first, second, third])
    # never `test_ne_is_false_2`: a reviewer reads a number as numbering
    assert added == ["test_ne_is_false", "test_ne_is_false_for_zero", "test_ne_is_false_for_weeks_zero"]


def test_a_test_whose_name_is_taken_gets_one_that_says_what_it_shows_never_a_number():
    from testbot.integrate import _fresh_name

    taken = {"test_ne_is_false", "test_classify_is_zero"}
    assert _fresh_name("test_new", "def test_new():\n    assert f(1)\n", "pkg/m.py::f", taken) == "test_new"
    # no inputs to name it by: the code under test called with its defaults (built-ins such as str aside)
    source = "def test_ne_is_false():\n    assert not Duration() != Duration()\n"
    assert _fresh_name("test_ne_is_false", source, "pkg/m.py::Duration.__ne__", taken) == (
        "test_ne_is_false_with_defaults"
    )
    source = "def test_ne_is_false():\n    assert not str(Duration()) != str(Duration())\n"
    assert _fresh_name("test_ne_is_false", source, "pkg/m.py::Duration.__ne__", taken).endswith("_with_defaults")
    source = "def test_ne_is_false():\n    d = make(base)\n    assert not d != d\n"  # an input, though no literal
    assert _fresh_name("test_ne_is_false", source, "pkg/m.py::Duration.__ne__", taken) == "test_ne_is_false_for_base"
    flag = "def test_start_returns_none():\n    assert Timer(logger=True).start() is None\n"
    assert _fresh_name("test_start_returns_none", flag, "pkg/m.py::Timer.start", {"test_start_returns_none"}) == (
        "test_start_returns_none_for_logger_true"
    )
    taken.add("test_ne_is_false_for_base")
    assert _fresh_name("test_ne_is_false", source, "pkg/m.py::Duration.__ne__", taken) == "test_ne_is_false_2"
