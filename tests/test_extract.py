"""Pulling tests out of completions and splitting them into single-test candidates."""

from __future__ import annotations

import ast

from testbot.extract import code_from_completion, split_tests

ID = "pkg/m.py::classify"


def split(text: str, protected: set[str] = frozenset({"classify"})):
    return split_tests(text, target_id=ID, protected=set(protected))


def defs(code: str) -> list[str]:
    return [n.name for n in ast.parse(code).body if isinstance(n, ast.FunctionDef | ast.ClassDef)]


def imports(code: str) -> list[str]:
    return [ast.unparse(n) for n in ast.parse(code).body if isinstance(n, ast.Import | ast.ImportFrom)]


def test_code_from_a_fenced_block_ignores_prose_and_other_languages():
    text = (
        "Here are the tests:\n```python\nfrom pkg.m import classify\n\n\ndef test_a():\n    assert classify(1)\n"
        "```\nRun them with:\n```bash\npytest -q\n```\nDone."
    )
    code = code_from_completion(text)
    assert "def test_a" in code
    assert "Here are" not in code and "pytest -q" not in code and "Done." not in code


def test_raw_code_without_a_fence_is_used_as_is():
    code = "from pkg.m import classify\n\ndef test_a():\n    assert classify(1) == 'positive'\n"
    ex = split(code)
    assert ex.error == ""
    assert [c.name for c in ex.candidates] == ["test_a"]


def test_unterminated_fence_still_yields_its_code():
    ex = split("```python\nfrom pkg.m import classify\n\ndef test_a():\n    assert classify(1) == 'positive'\n")
    assert [c.name for c in ex.candidates] == ["test_a"]


def test_a_name_broken_by_a_space_after_def_test_is_joined_again():
    """The prefill ends in `def test_`; a model token with a leading space must not cost the whole answer."""
    text = "```python\nimport pytest\n\n\ndef test_ Duration__add__():\n    assert 1 + 1 == 2\n```"
    ex = split_tests(text, target_id="pkg/m.py::Duration.__add__", protected=set())
    assert not ex.error and [c.name for c in ex.candidates] == ["test_Duration__add__"]


def test_truncated_completion_keeps_the_complete_tests():
    text = (
        "```python\nfrom pkg.m import classify\n\n\ndef test_whole():\n    assert classify(-1) == 'negative'\n\n\n"
        "def test_cut():\n    value = classify(0)\n    assert value == ("
    )
    ex = split(text)
    assert ex.error == ""
    assert [c.name for c in ex.candidates] == ["test_whole"]  # test_cut had checked nothing yet
    compile(ex.candidates[0].code, "candidate.py", "exec")


def test_a_test_cut_after_its_first_checks_keeps_them():
    # An answer stopped by its token limit inside a long test: the finished statements are a test already.
    text = (
        "```python\nfrom pkg.m import classify\n\n\ndef test_many():\n    assert classify(-1) == 'negative'\n"
        "    assert classify(0) == 'zero'\n    assert classify(5) == 'pos"
    )
    ex = split(text)
    (c,) = ex.candidates
    assert c.name == "test_many" and c.test_source.rstrip().endswith("assert classify(0) == 'zero'")


def test_each_candidate_is_a_standalone_module_with_only_what_it_needs():
    text = """```python
import json
import os

import pytest

from pkg.m import classify, clamp

LIMIT = 10


@pytest.fixture
def numbers():
    return [-1, 0, 1]


def expected(n):
    return "negative" if n < 0 else "zero" if n == 0 else "positive"


def test_with_fixture(numbers):
    assert [classify(n) for n in numbers] == [expected(n) for n in numbers]


def test_uses_os():
    assert os.sep and classify(1) == "positive"


def test_uses_constant():
    assert clamp(50, 0, LIMIT) == LIMIT
```"""
    ex = split(text)
    by_name = {c.name: c for c in ex.candidates}
    assert list(by_name) == ["test_with_fixture", "test_uses_os", "test_uses_constant"]

    fixture = by_name["test_with_fixture"]
    assert defs(fixture.code) == ["numbers", "expected", "test_with_fixture"]
    assert imports(fixture.code) == ["import pytest", "from pkg.m import classify, clamp"]

    uses_os = by_name["test_uses_os"]
    assert defs(uses_os.code) == ["test_uses_os"]
    assert "import os" in imports(uses_os.code) and "import json" not in imports(uses_os.code)
    assert "LIMIT" not in uses_os.code

    constant = by_name["test_uses_constant"]
    assert "LIMIT = 10" in constant.code and "def numbers" not in constant.code
    for c in ex.candidates:
        compile(c.code, c.name, "exec")
        assert c.target_id == ID


def test_test_class_becomes_one_candidate_per_method_with_its_setup():
    text = """```python
from pkg.m import classify


class TestClassify:
    def setup_method(self):
        self.cases = {-1: "negative"}

    def test_negative(self):
        assert classify(-1) == self.cases[-1]

    def test_zero(self):
        assert classify(0) == "zero"
```"""
    ex = split(text)
    assert [c.name for c in ex.candidates] == ["TestClassify::test_negative", "TestClassify::test_zero"]
    for c in ex.candidates:
        tree = ast.parse(c.code)
        (cls,) = [n for n in tree.body if isinstance(n, ast.ClassDef)]
        methods = [m.name for m in cls.body if isinstance(m, ast.FunctionDef)]
        assert methods == ["setup_method", c.name.split("::")[1]]
        assert c.class_name == "TestClassify"


def test_two_tests_with_one_name_are_both_kept_under_different_names():
    text = (
        "```python\nfrom pkg.m import classify\n\ndef test_it():\n    assert classify(1) == 'positive'\n\n"
        "def test_it():\n    assert classify(-1) == 'negative'\n```"
    )
    ex = split(text)
    assert [c.name for c in ex.candidates] == ["test_it", "test_it_2"]
    assert "'negative'" in ex.candidates[1].code and "def test_it_2" in ex.candidates[1].code


def test_pasted_copy_of_the_code_under_test_is_removed():
    text = (
        '```python\nfrom pkg.m import classify\n\n\ndef classify(n):\n    return "fake"\n\n\n'
        'def test_zero():\n    assert classify(0) == "zero"\n\n\nif __name__ == "__main__":\n    test_zero()\n```'
    )
    (cand,) = split(text).candidates
    assert defs(cand.code) == ["test_zero"]
    assert "fake" not in cand.code and "__main__" not in cand.code
    assert "from pkg.m import classify" in cand.code
    # the same helper is kept when it is not the code under test
    (kept,) = split(text, protected={"clamp"}).candidates
    assert "def classify" in kept.code


def test_completion_without_tests_or_code_is_an_error():
    assert split("```python\nfrom pkg.m import classify\n```").error == "no test functions in the completion"
    assert split("```python\n```").candidates == ()
    bad = split("```python\n)))(((\n```")
    assert bad.candidates == () and bad.error.startswith("syntax error")


def test_candidate_remembers_round_sample_and_logprob():
    ex = split_tests(
        "def test_a():\n    assert True\n", target_id=ID, protected=set(), round=2, sample=3, mean_logprob=-0.25
    )
    (c,) = ex.candidates
    assert (c.round, c.sample, c.mean_logprob) == (2, 3, -0.25)


def test_home_made_pytest_builtin_fixtures_are_dropped_for_the_real_ones():
    text = (
        "```python\nimport pytest\nfrom pathlib import Path\nfrom pkg.m import classify\n\n\n"
        '@pytest.fixture\ndef tmp_path():\n    return Path("tmp")\n\n\n'
        'def test_writes(tmp_path):\n    (tmp_path / "x").write_text(classify(1))\n```'
    )
    (cand,) = split(text).candidates
    assert "def tmp_path" not in cand.code  # pytest's own tmp_path is used, never a folder in the project
    assert defs(cand.code) == ["test_writes"]


def test_names_used_without_import_are_imported_from_the_module_or_the_stdlib():
    text = (
        "```python\nfrom pkg.m import classify\n\n\ndef test_errors():\n    with pytest.raises(TimerError):\n"
        "        classify(None)\n    time.sleep(0)\n    assert isinstance(Path('.'), object)\n    unknown_name()\n```"
    )
    (cand,) = split_tests(
        text, target_id=ID, protected={"classify"}, module="pkg.m", module_names={"classify", "TimerError"}
    ).candidates
    found = imports(cand.code)
    assert "from pkg.m import TimerError" in found
    assert "import time" in found and "import pytest" in found and "from pathlib import Path" in found
    assert not any("unknown_name" in line for line in found)  # nothing invented for names nobody defines
    assert set(found) >= set(cand.imports)
