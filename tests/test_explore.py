"""--explore: tests without the model, calls with values read off the code and results observed from it."""

from __future__ import annotations

import ast
import dataclasses
import re
import subprocess
import sys
from pathlib import Path

from conftest import FAST, Project
from coverage import CoverageData

from testbot.backends.fake import FakeBackend
from testbot.config import Settings
from testbot.explore import explore_tests
from testbot.pipeline import EXPLORE_MODEL, Pipeline
from testbot.targets import find_targets

CODE = """\
from typing import Optional


def bump(version: str, part: int = 2, pre: Optional[str] = None) -> str:
    if part > 2:
        raise ValueError("part")
    if pre == "alpha":
        return version + "a0"
    return version


def wrap(text, width=10, *, strict=False):
    return text


async def later(x: int) -> int:
    return x


def numbers():
    yield 1


class Box:
    def __init__(self, size: int, label: str = "box"):
        self.size = size

    def grow(self, by: int) -> int:
        return self.size + by

    @property
    def empty(self) -> bool:
        return not self.size

    @staticmethod
    def parse(text: str) -> "Box":
        return Box(int(text))
"""


def _targets(tmp_path: Path) -> dict[str, object]:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "mod.py").write_text(CODE)
    return {t.qualname: t for t in find_targets([str(tmp_path / "pkg" / "mod.py")], tmp_path)}


def _calls(code: str) -> list[str]:
    tree = ast.parse(code)
    return [ast.unparse(f.body[0].test.left) for f in tree.body if isinstance(f, ast.FunctionDef)]


def test_values_come_from_annotations_defaults_names_and_the_code_s_constants(tmp_path: Path):
    targets = _targets(tmp_path)
    bump = explore_tests(targets["bump"], CODE)
    assert bump.startswith("from pkg.mod import bump\n")
    calls = _calls(bump)
    assert calls[0] == "bump('hello world')"  # the ordinary value of each required parameter, defaults left out
    # one parameter changed at a time, taking turns; the constants it compares with are tried (2 -> 1, 3 too)
    assert "bump('hello world', 3)" in calls and "bump('hello world', pre='alpha')" in calls
    assert "bump('')" in calls and len(calls) == len(set(calls)) <= 12
    wrap = _calls(explore_tests(targets["wrap"], CODE))
    assert wrap[0] == "wrap('hello world')"  # `text` is a string by its name
    assert "wrap('hello world', 3)" in wrap and "wrap('hello world', strict=True)" in wrap  # by the default's type
    assert explore_tests(targets["later"], CODE) == ""  # (async: left to the model)
    assert _calls(explore_tests(targets["numbers"], CODE)) == ["list(numbers())"]  # (a generator: its items)


def test_methods_are_called_on_an_object_built_from_ordinary_values(tmp_path: Path):
    targets = _targets(tmp_path)
    assert _calls(explore_tests(targets["Box.grow"], CODE))[:2] == ["Box(3).grow(3)", "Box(3).grow(0)"]
    assert _calls(explore_tests(targets["Box.empty"], CODE)) == ["Box(3).empty"]
    assert _calls(explore_tests(targets["Box.parse"], CODE))[0] == "Box.parse('hello world')"
    assert explore_tests(targets["Box.grow"], CODE).startswith("from pkg.mod import Box\n")


def test_explored_calls_cover_a_function_and_the_model_is_not_asked(project: Project):
    """Real pytest runs: the calls' results are observed by the oracle, validated, and kept by coverage."""
    backend = FakeBackend()
    targets = find_targets([str(project.root / "pkg" / "m.py")], project.root)
    settings = Settings(explore=True, write=False, samples=1, runs=2, repair_rounds=0, python=sys.executable)
    report = Pipeline(project.root, settings, backend=backend).run(targets)
    by_id = {t.target: t for t in report.targets}
    classify = by_id["pkg/m.py::classify"]
    assert classify.gain_lines == classify.lines_total and classify.gain_branches == classify.branches_total
    assert classify.note == "covered by explored calls" and classify.completions == 0
    written = project.read("tests/test_m.py")
    # (the search's calls of classify, one shape: a parametrized test, a row each)
    assert "(-1, 'negative')," in written and "(0, 'zero')," in written
    # lo > hi raises inside the code: that call expects it, and the message clamp states
    assert "assert str(caught.value) == 'lo must not exceed hi'" in written
    assert backend.prompts == [] and all(t.completions == 0 and t.kept for t in report.targets)


def test_the_model_writes_from_the_search_s_evidence_and_its_tests_come_first(project: Project):
    """--write (the default): the search's calls and observed values are shown to the model as facts, not as
    tests to imitate; its named tests are kept first and the search's tests only for what they leave."""
    answer = (
        "```python\nfrom pkg.m import classify\n\n\n"
        "def test_classify_names_the_sign_of_a_number():\n"
        "    assert classify(-5) == 'negative'\n"
        "    assert classify(0) == 'zero'\n"
        "    assert classify(7) == 'negative'\n"  # (wrong: the oracle puts in what the code returns)
        "```"
    )
    backend = FakeBackend({"*": [answer]})
    targets = find_targets([str(project.root / "pkg" / "m.py")], project.root)
    settings = Settings(explore=True, samples=1, runs=2, repair_rounds=0, python=sys.executable)
    report = Pipeline(project.root, settings, backend=backend).run(targets)
    # one write prompt for the file's two functions, each with its code and what the search observed
    (prompt,) = backend.prompts
    assert prompt.key == "pkg/m.py::*write*"
    classify_part = prompt.user.split("## `classify`")[1].split("## `clamp`")[0]
    assert "Observed:" in classify_part and "classify(-1) == 'negative'" in classify_part
    clamp_part = prompt.user.split("## `clamp`")[1]
    assert "with pytest.raises(ValueError) as caught:" in clamp_part
    assert "assert str(caught.value) == 'lo must not exceed hi'" in clamp_part
    assert "_explored" not in prompt.user and "Tests already written" not in prompt.user
    by_id = {t.target: t for t in report.targets}
    classify = by_id["pkg/m.py::classify"]
    assert classify.kept == ("test_classify_names_the_sign_of_a_number",)
    assert classify.gain_lines == classify.lines_total
    written = project.read("tests/test_m.py")
    # (its three checks of one call come as a table of cases, the wrong value put right)
    assert "(7, 'positive')," in written and "assert classify(n) == expected" in written
    assert "classify_explored" not in written
    # clamp: the model's answer is empty, so the search's tests stay, named for what they show
    clamp = by_id["pkg/m.py::clamp"]
    assert clamp.kept and all("explored" not in name and not re.search(r"_\d+$", name) for name in clamp.kept)
    assert "def test_clamp_raises_value_error_for" in written
    assert project.pytest("tests/test_m.py").returncode == 0
    files = report.files
    assert files[0].authors.count("fake") == 1 and files[0].authors.count(EXPLORE_MODEL) == len(clamp.kept)


def test_a_model_test_of_several_behaviours_is_kept_as_one_test_each(project: Project):
    """The model puts a value check and an error in one test: each comes as a test of its own, checked on its
    own, so a wrong check loses only its part (here none is wrong: both stay, each named for what it shows)."""
    answer = (
        "```python\nimport pytest\nfrom pkg.m import clamp\n\n\n"
        "def test_clamp():\n"
        "    assert clamp(15, 0, 10) == 10\n"
        "    with pytest.raises(ValueError) as caught:\n"
        "        clamp(1, 5, 0)\n"
        "    assert str(caught.value) == 'lo must not exceed hi'\n"
        "```"
    )
    backend = FakeBackend({"*": [answer]})
    targets = find_targets([str(project.root / "pkg" / "m.py")], project.root)
    settings = Settings(explore=True, samples=1, runs=2, repair_rounds=0, python=sys.executable, mutants=False)
    report = Pipeline(project.root, settings, backend=backend).run(targets)
    clamp = {t.target: t for t in report.targets}["pkg/m.py::clamp"]
    assert set(clamp.kept) == {
        "test_clamp_returns_ten_for_15_zero_ten",
        "test_clamp_raises_value_error_for_one_five_zero",
    }
    written = project.read("tests/test_m.py")
    assert "def test_clamp():" not in written and project.pytest("tests/test_m.py").returncode == 0
    assert report.files[0].authors.count("fake") == 2


class _SlowReader(FakeBackend):
    """A fake model that says it read ``read`` prompt tokens in 0.15 s of each answer (and records the seeds)."""

    def __init__(self, read: int) -> None:
        super().__init__()
        self.read = read
        self.seeds: list[int] = []

    def complete(self, prompt, *, seed, **kw):
        import time

        self.seeds.append(seed)
        completion = super().complete(prompt, seed=seed, **kw)
        time.sleep(0.2)
        return dataclasses.replace(completion, read_tokens=self.read, read_seconds=0.15)


def test_a_later_write_prompt_is_sent_only_when_its_answer_still_fits_after_reading_it(project: Project):
    """Write prompts take a file's functions a few at a time (here one: a tiny prompt budget); each gets a seed of
    its own, and under --budget one more is sent only if, after the time reading it takes at the speed measured
    so far, a useful answer still fits."""
    targets = find_targets([str(project.root / "pkg" / "m.py")], project.root)
    plain = _SlowReader(read=100_000)
    settings = Settings(
        explore=True,
        samples=1,
        runs=2,
        repair_rounds=0,
        python=sys.executable,
        prompt_tokens=50,
        dry_run=True,
        mutants=False,
    )
    Pipeline(project.root, settings, backend=plain).run(targets)
    writes = [(p.key, seed) for p, seed in zip(plain.prompts, plain.seeds) if p.key.endswith("::*write*")]
    assert [seed for _, seed in writes] == [1000, 1001]  # (seed + 1000 + the prompt's number in its file)
    slow = _SlowReader(read=1)  # 7 prompt tokens a second: the second prompt cannot be read in time
    Pipeline(project.root, dataclasses.replace(settings, budget=60.0), backend=slow).run(targets)
    assert [p.key for p in slow.prompts].count("pkg/m.py::*write*") == 1


def _explored_check(n: int, body: str, line: int):
    """A search test of ``check`` (its number ``n``, its ``body``) that passed and covered ``line``."""
    from testbot.extract import Candidate
    from testbot.keep import EXPLORE_ROUND, Outcome
    from testbot.measure import Covered
    from testbot.report import CandidateResult

    source = f"def test_check_explored_{n}():\n{body}"
    imports = ("import pytest", "from pkg.m import check")
    code = "\n".join(imports) + "\n\n\n" + source
    cand = Candidate(
        "pkg/m.py::check", f"test_check_explored_{n}", code, source, "", "", imports, (), EXPLORE_ROUND, 0, 0.0, True
    )
    result = CandidateResult(cand.name, EXPLORE_ROUND, 0, 0.0, "passed", "", True, (line,), (), True)
    return Outcome(cand, result, Covered(frozenset({line}), frozenset()))


def test_the_model_is_shown_the_plain_facts_first_and_no_wrong_kind_of_input():
    from testbot import keep, shape

    module = (
        "from datetime import date\n\n\n"
        "def check(when: date, days: int = 1):\n"
        "    if days < 0:\n"
        "        raise ValueError('days')\n"
        "    return when.day + days\n"
    )
    facts = shape.module_facts(module)
    raises = _explored_check(1, "    with pytest.raises(ValueError):\n        check(date(2020, 1, 31), -1)\n", 3)
    long = _explored_check(2, "    assert check(date(2020, 1, 31), 1000000000000000) == 1000000000000031\n", 4)
    short = _explored_check(3, "    assert check(date(2020, 1, 1)) == 2\n", 5)
    mistyped = _explored_check(4, "    assert check(date(2020, 1, 1), 'Actual/365') == 'x'\n", 6)
    accident = _explored_check(5, "    with pytest.raises(AttributeError):\n        check(None)\n", 7)
    shown = keep.evidence([raises, long, mistyped, accident, short], facts)
    # values before errors, short calls before long; a string for `days: int`, an error the code never raises: out
    assert shown == (
        "assert check(date(2020, 1, 1)) == 2",
        "assert check(date(2020, 1, 31), 1000000000000000) == 1000000000000031",
        "with pytest.raises(ValueError):\n    check(date(2020, 1, 31), -1)",
    )
    # without the module's facts nothing is judged out, only ordered
    assert len(keep.evidence([raises, long, mistyped, accident, short])) == 5
    # a ValueError that only another function of the module states is no fact about this one
    other = shape.module_facts(
        module.replace("raise ValueError('days')", "return 0") + "\n\ndef g():\n    raise ValueError\n"
    )
    assert keep.evidence([raises, short], other) == ("assert check(date(2020, 1, 1)) == 2",)


def test_search_tests_that_would_share_a_name_become_one_test():
    from testbot.keep import polished as _polished

    def explored(n: int, arg: str, line: int):
        return _explored_check(n, f"    with pytest.raises(ValueError):\n        check({arg})\n", line)

    target = type("T", (), {"name": "check", "is_async": False, "source": ""})()
    out = _polished(target, [explored(1, "'-'", 3), explored(2, "'--'", 4), explored(3, "'-'", 5)])
    assert [o.candidate.name for o in out] == [
        "test_check_raises_value_error_for_dash",
        "test_check_raises_value_error_for_dashes",
    ]
    merged = out[0]
    assert merged.candidate.test_source.count("with pytest.raises(ValueError):") == 2
    assert merged.result.gain_lines == (3, 5) and merged.covered.lines == {3, 5}
    namespace: dict = {}
    exec(
        compile(
            merged.candidate.code.replace("from pkg.m import check", "def check(x):\n    raise ValueError"), "t", "exec"
        ),
        namespace,
    )
    namespace["test_check_raises_value_error_for_dash"]()


def test_search_tests_of_one_error_and_message_become_one_parametrized_test():
    from testbot import keep

    def explored(n: int, arg: str, message: str):
        body = (
            f"    with pytest.raises(ValueError) as caught:\n        check({arg!r})\n"
            f"    assert str(caught.value) == {message!r}\n"
        )
        return _explored_check(n, body, n)

    target = type("T", (), {"name": "check", "is_async": False, "source": "def check(word):\n    pass\n"})()
    target.class_name = ""
    same = [explored(n, arg, "must be a word") for n, arg in enumerate(["", " ", "1"], 1)]
    other = explored(4, "--", "must not contain dashes")
    out = keep.grouped(target, [*same, other])
    assert len(out) == 2 and out[1] is other  # another message: another behaviour, a test of its own
    source = out[0].candidate.test_source
    assert '@pytest.mark.parametrize(\n    "word",\n' in source
    assert (
        "    with pytest.raises(ValueError) as caught:\n        check(word)\n"
        "    assert str(caught.value) == 'must be a word'\n" in source
    )


def test_a_model_s_test_of_many_checks_of_one_call_becomes_one_parametrized_test():
    """A model's grab-bag of `assert f(x) == v` reads as a table of cases, under the model's own name; a test
    that mixes calls, or checks too few, stays as it is."""
    from testbot import keep
    from testbot.extract import Candidate
    from testbot.measure import Covered
    from testbot.report import CandidateResult

    def written(name: str, body: str) -> keep.Outcome:
        source = f"def {name}():\n{body}"
        imports = ("from pkg.m import bump",)
        code = "\n".join(imports) + "\n\n\n" + source
        cand = Candidate("pkg/m.py::bump", name, code, source, "", "", imports, (), 1, 0, 0.0, True)
        result = CandidateResult(name, 1, 0, 0.0, "passed", "", True, (3,), (), True)
        return keep.Outcome(cand, result, Covered(frozenset({3}), frozenset()))

    target = type("T", (), {"name": "bump", "is_async": False, "class_name": ""})()
    target.source = "def bump(version, position=2):\n    pass\n"
    bag = written(
        "test_bump_raises_the_given_part",
        "    assert bump('1.2.3') == '1.2.4'\n    assert bump('1.2.3', 1) == '1.3'\n"
        "    assert bump('1.2.3', 0) == '2.0'\n    assert bump('0.9.9', 1) == '0.10'\n",
    )
    pairs = written("test_bump_pairs", "    assert bump('1.2.3', 1) == '1.3'\n    assert bump('1.2.3', 0) == '2.0'\n")
    (mixed, few) = keep.polished(target, [bag, pairs])
    assert few.candidate.test_source == pairs.candidate.test_source  # two checks: no table
    assert mixed.candidate.test_source == bag.candidate.test_source  # one call has one argument, the rest two
    same = written(
        "test_bump_raises_the_given_part",
        "    assert bump('1.2.3', 2) == '1.2.4'\n    assert bump('1.2.3', 1) == '1.3'\n"
        "    assert bump('1.2.3', 0) == '2.0'\n",
    )
    (table,) = keep.polished(target, [same])
    source = table.candidate.test_source
    assert table.candidate.name == "test_bump_raises_the_given_part" and "import pytest" in table.candidate.imports
    assert source.startswith('@pytest.mark.parametrize(\n    "version, position, expected",\n')
    assert "        ('1.2.3', 1, '1.3'),\n" in source
    assert source.endswith(
        "def test_bump_raises_the_given_part(version, position, expected):\n"
        "    assert bump(version, position) == expected\n"
    )
    namespace: dict = {}
    exec(compile(table.candidate.code.replace("from pkg.m import bump", ""), "t", "exec"), namespace)
    # a name made from the first case's values (a split part's, a numbered one's) is the table's own name
    numbered = written("test_01_bump", same.candidate.test_source.split("\n", 1)[1])
    (table,) = keep.polished(target, [numbered])
    assert table.candidate.name == "test_bump_returns_the_expected_value"
    assert "def test_bump_returns_the_expected_value(version, position, expected):" in table.candidate.test_source
    assert "test_bump_raises_the_given_part" in namespace and namespace["pytest"]


def test_a_test_with_filler_input_is_kept_only_for_what_no_realistic_one_covers():
    from testbot import keep
    from testbot.extract import Candidate
    from testbot.measure import Covered, Measurable
    from testbot.report import CandidateResult

    def outcome(name: str, arg: str, lines: set[int]) -> keep.Outcome:
        source = f"def {name}():\n    assert slug({arg!r}) == 'x'\n"
        cand = Candidate("pkg/m.py::slug", name, source, source, "", "", (), (), 0, 0, 0.0, True)
        result = CandidateResult(name, 0, 0, 0.0, "passed", "", True)
        return keep.Outcome(cand, result, Covered(frozenset(lines), frozenset()))

    filler = outcome("test_slug_filler", "hello world! 123", {1, 2, 3, 4})
    title = outcome("test_slug_title", "The Title", {1, 2, 3})
    dash = outcome("test_slug_dash", "a-b", {2, 3})
    meas = Measurable(frozenset({1, 2, 3, 4, 5}), frozenset())
    _, kept, _ = keep.choose([filler, title, dash], Covered(), meas)
    # the filler test covers most, but the realistic one is chosen first; the filler one only for line 4
    assert [o.candidate.name for o in kept] == ["test_slug_title", "test_slug_filler"]
    _, kept, _ = keep.choose([filler, title], Covered(frozenset({4}), frozenset()), meas)
    assert [o.candidate.name for o in kept] == ["test_slug_title"]


def test_a_copy_of_a_docstring_example_is_kept_only_for_what_no_other_test_covers():
    from testbot import keep, shape
    from testbot.extract import Candidate
    from testbot.measure import Covered, Measurable
    from testbot.report import CandidateResult

    module = 'def bump(v):\n    """Next version.\n\n    >>> bump("1.2.2")\n    \'1.2.3\'\n    """\n'
    facts = shape.module_facts(module)

    def outcome(name: str, arg: str, want: str, lines: set[int]) -> keep.Outcome:
        source = f"def {name}():\n    assert bump({arg!r}) == {want!r}\n"
        cand = Candidate("pkg/m.py::bump", name, source, source, "", "", (), (), 0, 0, 0.0, True)
        result = CandidateResult(name, 0, 0, 0.0, "passed", "", True)
        return keep.Outcome(cand, result, Covered(frozenset(lines), frozenset()))

    copy = outcome("test_bump_patch", "1.2.2", "1.2.3", {1, 2, 3})
    own = outcome("test_bump_minor_patch", "0.9.0", "0.9.1", {1, 2})
    meas = Measurable(frozenset({1, 2, 3}), frozenset())
    _, kept, _ = keep.choose([copy, own], Covered(), meas, facts=facts)
    # the copy covers most, but the test the docstring does not show goes first; the copy only for line 3
    assert [o.candidate.name for o in kept] == ["test_bump_minor_patch", "test_bump_patch"]
    _, kept, _ = keep.choose([copy, own], Covered(frozenset({3}), frozenset()), meas, facts=facts)
    assert [o.candidate.name for o in kept] == ["test_bump_minor_patch"]
    # without the module's examples nothing tells the copy
    _, kept, _ = keep.choose([copy, own], Covered(), meas)
    assert [o.candidate.name for o in kept] == ["test_bump_patch"]


def test_a_test_that_expects_an_error_the_code_never_states_is_not_kept():
    from testbot import keep, shape
    from testbot.measure import Covered, Measurable

    module = (
        "def check(x):\n    if x < 0:\n        raise ValueError('negative')\n    return len(x) > 3\n"  # (len(5) fails)
    )
    stated = _explored_check(1, "    with pytest.raises(ValueError):\n        check(-1)\n", 3)
    accident = _explored_check(2, "    with pytest.raises(TypeError):\n        check(5)\n", 4)
    meas = Measurable(frozenset({3, 4}), frozenset())
    _, kept, _ = keep.choose([stated, accident], Covered(), meas, facts=shape.module_facts(module))
    assert [o.candidate.name for o in kept] == ["test_check_explored_1"]  # line 4 stays open: no test for misuse
    _, kept, _ = keep.choose([stated, accident], Covered(), meas)  # (what the module states not known)
    assert len(kept) == 2
    # nor is it a spare test the mutants phase may keep later
    spare = keep.spare([stated, accident], [], shape.module_facts(module))
    assert [o.candidate.name for o in spare] == ["test_check_explored_1"]


def test_a_test_that_passes_an_input_of_the_wrong_kind_is_not_kept():
    from testbot import keep, shape
    from testbot.measure import Covered, Measurable

    module = (
        "def check(x: str, strict: bool = False):\n    if strict:\n        return x.isalpha()\n    return bool(x)\n"
    )
    flag = _explored_check(1, "    assert check('abc', strict=True)\n", 3)
    number = _explored_check(2, "    assert not check('', strict=0)\n", 4)
    meas = Measurable(frozenset({3, 4}), frozenset())
    facts = shape.module_facts(module)
    _, kept, _ = keep.choose([flag, number], Covered(), meas, facts=facts)
    assert [o.candidate.name for o in kept] == ["test_check_explored_1"]
    assert [o.candidate.name for o in keep.spare([flag, number], [], facts)] == ["test_check_explored_1"]


def test_explored_tests_are_written_and_say_where_they_came_from(project: Project):
    assert Settings().explore  # on by default (conftest.py turns it off for the rest of the suite)
    run = project.generate("pkg/m.py", "--explore", "--model", project.fake_model([]), *FAST)
    assert run.code == 1, run.err
    written = project.read("tests/test_m.py")
    assert f"model {EXPLORE_MODEL}, expected values observed from the code" in written
    assert project.pytest("tests/test_m.py").returncode == 0


def _explore_pause(project: Project):
    """The report of exploring pause(seconds), which sleeps as long as it is told."""
    project.write(
        "pkg/m.py", "import time\n\n\ndef pause(seconds: int):\n    time.sleep(seconds)\n    return seconds\n"
    )
    targets = find_targets([str(project.root / "pkg" / "m.py")], project.root)
    settings = Settings(
        explore=True, write=False, samples=1, runs=2, repair_rounds=0, dry_run=True, python=sys.executable
    )
    return Pipeline(project.root, settings, backend=FakeBackend()).run(targets).targets[0]


def test_a_call_that_hangs_costs_seconds_and_the_other_calls_are_kept(project: Project, monkeypatch):
    """pause(100) would sleep past any test's limit: explored calls run under a short one of their own (the fixed
    calls, as where the search cannot run; the search's own limit is the next test's)."""
    from testbot import search_phase
    from testbot.search_phase import EXPLORE_TIMEOUT

    monkeypatch.setattr(search_phase, "SEARCH_MAX", 0.0)  # no search: the fixed calls
    pause = _explore_pause(project)
    hung = [c for c in pause.candidates if c.outcome == "timeout"]
    assert hung and all(f"({EXPLORE_TIMEOUT:g} s)" in c.detail for c in hung), pause.candidates
    assert pause.kept and pause.gain_lines == pause.lines_total  # pause(0) or pause(1), its value observed


def test_a_function_defined_under_an_if_is_explored_like_any_other(tmp_path: Path):
    """find_targets finds definitions inside if/try blocks (version checks); explore finds them the same way."""
    code = "import sys\n\nif sys.version_info >= (3, 8):\n    def half(n: int) -> int:\n        return n // 2\n"
    (tmp_path / "m.py").write_text(code)
    (target,) = find_targets([str(tmp_path / "m.py")], tmp_path)
    assert _calls(explore_tests(target, code))[:2] == ["half(3)", "half(2)"]  # (2: a constant of its code)


def test_the_search_drops_a_call_that_hangs_and_keeps_the_quick_one(project: Project):
    pause = _explore_pause(project)
    assert pause.kept and pause.gain_lines == pause.lines_total
    assert not [c for c in pause.candidates if c.outcome == "timeout"]  # the search never offered pause(100)


SEARCHED = '''\
from functools import singledispatch

HEADINGS = ("Args", "Returns")


def section(text: str) -> str:
    """Which part of a docstring a line opens."""
    name, colon, rest = text.partition(":")
    if not colon:
        return "text"
    if name.strip() in HEADINGS and not rest.strip():
        return name.lower()
    if name.strip() == "Raises" and rest.strip():
        return "raises-inline"
    return "other"


@singledispatch
def size(obj) -> int:
    return -1


@size.register(list)
def _(obj) -> int:
    return len(obj)


@size.register(str)
def _(obj) -> int:
    return len(obj.split())
'''


def test_the_search_combines_the_module_s_strings_and_reaches_code_no_target_names(project: Project):
    """A heading needs "Args" and ":" together; the list overload of size() is a hidden `_` (find_targets keeps the
    last one): reached through size(), and kept because it adds to the file; a target's reported gain stays on its
    own lines."""
    project.write("pkg/m.py", SEARCHED)
    targets = find_targets([str(project.root / "pkg" / "m.py")], project.root)
    settings = Settings(explore=True, write=False, samples=1, runs=2, repair_rounds=0, python=sys.executable)
    backend = FakeBackend()
    report = Pipeline(project.root, settings, backend=backend).run(targets)
    section = next(t for t in report.targets if t.target.endswith("::section"))
    assert section.gain_lines == section.lines_total and section.gain_branches == section.branches_total
    for r in report.targets:  # a test kept for the hidden overload counts nothing on size()'s own lines
        assert (
            r.lines_before + r.gain_lines <= r.lines_total and r.branches_before + r.gain_branches <= r.branches_total
        ), r
    written = project.read("tests/test_m.py")
    # (the heading's name, lowered; the search's calls as a parametrized test's rows)
    assert re.search(r"'\s*(args|returns)'\),", written), written
    assert "'raises-inline')," in written
    assert backend.prompts == []
    assert project.pytest("tests/test_m.py").returncode == 0
    lines = SEARCHED.splitlines()
    hidden = lines.index("    return len(obj)") + 1
    data = project.root / ".coverage-check"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "coverage",
            "run",
            f"--data-file={data}",
            "--include=pkg/m.py",
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/test_m.py",
        ],
        cwd=project.root,
        check=True,
        capture_output=True,
    )
    covered = CoverageData(basename=str(data))
    covered.read()
    assert hidden in covered.lines(str((project.root / "pkg" / "m.py").resolve()))


def test_a_search_spec_names_the_call_s_parts_and_adds_the_module_s_strings_and_objects(tmp_path: Path):
    from testbot.explore import module_strings, search_spec

    targets = _targets(tmp_path)
    strings = module_strings(CODE)
    assert "alpha" in strings and all(len(s) <= 40 for s in strings)
    assert "part" not in strings  # (the message of a `raise`: no value a call takes)
    grow = search_spec(targets["Box.grow"], CODE, strings)
    assert [p["source"] for p in grow["parts"]] == ["Box", ".grow"]
    size, label = grow["parts"][0]["params"]
    assert (size["name"], size["required"], label["required"]) == ("size", True, False)
    assert "'alpha'" in label["pool"]  # a string parameter also gets the module's strings
    assert grow["seeds"][0] == "Box(3).grow(3)" and grow["head"].startswith("from pkg.mod import Box\n")
    wrap = search_spec(targets["wrap"], CODE, strings)
    (text, width, strict) = wrap["parts"][0]["params"]
    assert strict["keyword"] and not width["required"]
    assert search_spec(targets["Box.empty"], CODE, strings)["parts"][1] == {"source": ".empty", "params": None}
    assert search_spec(targets["later"], CODE, strings) is None  # async: not called
    untyped = "class Pair:\n    def __init__(self, a: int):\n        self.a = a\n\n\ndef same(left, right):\n    return left == right\n"
    (tmp_path / "pkg" / "u.py").write_text(untyped)
    (same,) = [t for t in find_targets([str(tmp_path / "pkg" / "u.py")], tmp_path) if t.name == "same"]
    spec = search_spec(same, untyped, [])
    assert "Pair(3)" in spec["parts"][0]["params"][0]["pool"]  # nothing says what `left` is: objects are tried
    assert "from pkg.u import Pair" in spec["head"]


BYTES_PARSER = """\
import warnings
from datetime import date


def parse_week(datestr):
    if datestr[4:5] == b'W':
        return date.fromisocalendar(int(datestr[:4]), int(datestr[5:7]), 1)
    if datestr[:1] == b'\\xff':
        warnings.warn('odd first byte')
    raise ValueError('not a week: {}'.format(datestr))


def shift(when, weeks):
    return when + weeks
"""


def test_a_module_s_strings_take_its_bytes_as_text_and_leave_its_messages_out(tmp_path: Path):
    """A parser of bytes compares with b'W': its text joins the module's strings (b'\\xff' is no text); what it
    raises or warns does not; a module that names `date` gets ISO dates (a week date among them) for its string
    parameters (`datestr` is one by its name), date objects and no ISO texts for a parameter nothing types."""
    from testbot.explore import module_strings, search_spec

    strings = module_strings(BYTES_PARSER)
    assert "W" in strings and "2020-W05-3" in strings and "2020-01-31" in strings, strings
    assert not [s for s in strings if "week" in s or "odd" in s or "\xff" in s], strings
    (tmp_path / "w.py").write_text(BYTES_PARSER)
    (target, shift) = find_targets([str(tmp_path / "w.py")], tmp_path)
    pool = search_spec(target, BYTES_PARSER, strings)["parts"][0]["params"][0]["pool"]
    assert pool[0] == "'hello world'" and "'2020-W05-3'" in pool and "3" not in pool, pool
    pool = search_spec(shift, BYTES_PARSER, strings)["parts"][0]["params"][0]["pool"]  # (nothing types `when`)
    assert "date(2020, 1, 31)" in pool and "'2020-W05-3'" not in pool and "'W'" in pool, pool


def test_a_module_s_strings_leave_out_the_names_it_spells():
    """`__all__`, `__version__` and the attribute names given to `getattr` name things: glued into a call's text
    they make inputs no user passes (`'2024-02-29T, isoparser'`). The module's other strings stay."""
    from testbot.explore import module_strings

    code = (
        '__all__ = ["isoparse", "isoparser"]\n__version__ = "2.9"\n\n'
        'def isoparse(text, sep="T"):\n    if getattr(text, "upper", None) is None:\n        return None\n'
        "    return text.split(sep)\n"
    )
    assert module_strings(code) == ["T"]


def test_a_subclass_without_its_own_init_is_built_with_its_base_s(tmp_path: Path):
    code = (
        "class Section:\n    def __init__(self, title: str, key: str):\n        self.title = title\n\n\n"
        "class Params(Section):\n    def item(self, value: int) -> int:\n        return value\n"
    )
    (tmp_path / "m.py").write_text(code)
    (_, item) = [t for t in find_targets([str(tmp_path / "m.py")], tmp_path)]
    assert _calls(explore_tests(item, code))[0] == "Params('hello world', 'hello world').item(3)"


def test_a_dataclass_s_fields_with_defaults_are_optional_and_a_callable_gets_functions(tmp_path: Path):
    from testbot.explore import search_spec

    code = (
        "from dataclasses import dataclass, field\nfrom typing import Callable, ClassVar, Optional, Union\n\n\n"
        "@dataclass\nclass Timer:\n    count: ClassVar[int] = 0\n    _start: Optional[float] = field(default=None, init=False)\n"
        "    name: Optional[str] = None\n    text: Union[str, Callable[[float], str]] = 'took {}'\n"
        "    sink: Optional[Callable[[str], None]] = print\n\n"
        "    def stop(self) -> str:\n        return self.text(1.0) if callable(self.text) else self.text\n"
    )
    (tmp_path / "t.py").write_text(code)
    (stop,) = find_targets([str(tmp_path / "t.py")], tmp_path)
    assert _calls(explore_tests(stop, code))[0] == "Timer().stop()"  # the defaults stand: nothing is required
    params = search_spec(stop, code, [])["parts"][0]["params"]
    assert [(p["name"], p["required"]) for p in params] == [("name", False), ("text", False), ("sink", False)]
    assert "str" in params[1]["pool"] and "'hello world'" in params[1]["pool"]  # a function or a string
    assert "print" in params[2]["pool"] and "None" in params[2]["pool"]


def test_dates_decimals_and_other_standard_objects_are_tried_where_the_module_names_their_types(tmp_path: Path):
    from testbot.explore import search_spec

    code = (
        "import datetime\nfrom decimal import Decimal\n\nDate = datetime.date\n\n\n"
        "def days(start: Date, rate: Decimal, other):\n    return (other - start).days * rate\n\n\n"
        "def Path(x):\n    return x\n"
    )
    (tmp_path / "d.py").write_text(code)
    targets = {t.name: t for t in find_targets([str(tmp_path / "d.py")], tmp_path)}
    assert _calls(explore_tests(targets["days"], code))[0] == "days(date(2020, 1, 31), Decimal('1.5'), 'hello world')"
    assert "from datetime import date\nfrom decimal import Decimal\n" in explore_tests(targets["days"], code)
    spec = search_spec(targets["days"], code, [])
    other = spec["parts"][0]["params"][2]["pool"]  # nothing types it: the objects of the types the module names
    assert "datetime(2020, 1, 31, 12, 30, 15)" in other and "timedelta(0)" not in other
    assert "from datetime import datetime" in spec["head"]
    assert not any(v.startswith("Path(") for v in other)  # pathlib's Path would rebind the module's own Path


TYPED = '''\
import dataclasses
import typing


def describe(type_):
    """What a type annotation asks for, in words."""
    if dataclasses.is_dataclass(type_):
        return "record of " + ", ".join(f.name for f in dataclasses.fields(type_))
    origin = typing.get_origin(type_)
    if origin is list:
        return "list of " + describe(typing.get_args(type_)[0])
    if origin is typing.Union:
        return " or ".join(describe(a) for a in typing.get_args(type_))
    if origin is dict:
        return "mapping"
    return getattr(type_, "__name__", "?")


def build(cls, data):
    """An object of the dataclass ``cls`` from a dict of its fields, each converted to its field's type."""
    if not dataclasses.is_dataclass(cls):
        raise TypeError("not a dataclass")
    hints = typing.get_type_hints(cls)
    values = {}
    for field in dataclasses.fields(cls):
        if field.name not in data:
            raise KeyError(field.name)
        kind = hints[field.name]
        values[field.name] = kind(data[field.name]) if kind in (int, str) else data[field.name]
    return cls(**values)


def pick(kind: type, rule: typing.Type[Exception], content_type):
    return kind, rule, content_type
'''


def test_a_parameter_that_takes_a_type_gets_types_and_a_module_that_reads_dataclasses_gets_some(tmp_path: Path):
    """`type_`, `cls` and an annotation `type` take builtins, generic aliases and a dataclass; `Type[Exception]`
    (wants the class and its subclasses) and `content_type` (a string) do not. A module that calls `is_dataclass`
    gets dataclass objects, classes and dicts of their fields for a parameter nothing types (and types, for it
    calls `get_type_hints`); `@dataclass` or `Type[X]` alone does not bring them."""
    from testbot.explore import mentioned_objects, search_spec

    (tmp_path / "t.py").write_text(TYPED)
    targets = {t.name: t for t in find_targets([str(tmp_path / "t.py")], tmp_path)}
    calls = _calls(explore_tests(targets["describe"], TYPED))
    assert calls[:3] == ["describe(int)", "describe(str)", "describe(List[int])"], calls
    assert "from typing import List\n" in explore_tests(targets["describe"], TYPED)
    pick = search_spec(targets["pick"], TYPED, [])["parts"][0]["params"]
    assert "Optional[str]" in pick[0]["pool"] and "make_dataclass('Point', [('x', int), ('y', str)])" in pick[0]["pool"]
    assert pick[1]["pool"][0] == "'hello world'" and "int" not in pick[2]["pool"], pick  # (unknown; a string)
    data = search_spec(targets["build"], TYPED, [])["parts"][0]["params"][1]["pool"]
    assert "{'x': 1, 'y': 'a'}" in data and "make_dataclass('Point', [('x', int), ('y', str)])(1, 'a')" in data
    assert mentioned_objects("from dataclasses import dataclass\n\n@dataclass\nclass A:\n    x: int\n") == []
    assert mentioned_objects("def f(x: Type[A]):\n    return x\n") == []


WRAPPED = """\
class _Codec:
    @classmethod
    def encode(cls, number):
        if number < 1 or number > 3999:
            raise ValueError(number)
        return 'nine' if number % 10 == 9 else 'other'

    def check(self, number):
        return number == 77


class _Other:
    def check(self, number):
        return number == 88


def encode(number):
    return _Codec.encode(number)


def fixed(number):
    return _Codec.encode(len(str(number)))


def checked(number, strict=False):
    return _Codec().check(number) if strict else check(number)
"""


def test_a_wrapper_s_parameter_gets_the_constants_of_the_function_it_hands_it_on_to(tmp_path: Path):
    """encode(number) only hands number on to _Codec.encode, whose bounds (1, 3999) and digit (9) it never names:
    its values include them. fixed() hands on only what it makes of its parameter; checked() calls check(), a name two
    classes define, and a method of an object, not of the class: none of those constants."""
    from testbot.explore import search_spec

    (tmp_path / "w.py").write_text(WRAPPED)
    targets = {t.name: t for t in find_targets([str(tmp_path / "w.py")], tmp_path)}
    pool = search_spec(targets["encode"], WRAPPED, [])["parts"][0]["params"][0]["pool"]
    assert {"3999", "4000", "1", "9", "10"} <= set(pool), pool
    assert "3999" not in search_spec(targets["fixed"], WRAPPED, [])["parts"][0]["params"][0]["pool"]
    pool = search_spec(targets["checked"], WRAPPED, [])["parts"][0]["params"][0]["pool"]
    assert "77" not in pool and "88" not in pool, pool


def test_the_search_reaches_a_dataclass_s_fields_and_generic_aliases(project: Project):
    """Every line and branch of describe() and build() needs a type: a dataclass, a List, a Union, a Dict; build()
    also needs a dict with its dataclass's field names. The search finds them, no model asked."""
    project.write("pkg/typed.py", TYPED)
    targets = {t.qualname: t for t in find_targets([str(project.root / "pkg" / "typed.py")], project.root)}
    settings = Settings(explore=True, write=False, samples=1, runs=2, repair_rounds=0, python=sys.executable)
    report = Pipeline(project.root, settings, backend=FakeBackend()).run([targets["describe"], targets["build"]])
    for r in report.targets:
        assert r.lines_before + r.gain_lines == r.lines_total, r
        assert r.branches_before + r.gain_branches == r.branches_total, r
    written = project.read("tests/test_typed.py")
    assert re.search(r"build\(make_dataclass\(.*\), \{'(x|when)': ", written), written  # (Point or Item)
    assert project.pytest("tests/test_typed.py").returncode == 0


def test_the_module_s_docstring_examples_are_the_search_s_first_calls(tmp_path: Path):
    from testbot.explore import doc_calls, search_spec

    code = (
        '"""Day counts.\n\n>>> start, end = datetime.date(2008, 2, 1), datetime.date(2009, 5, 31)\n'
        '>>> round(days(start, end=end), 2)\n485\n>>> days(datetime.date.today(), end)\n"""\n'
        "import datetime\nfrom .rates import Rate\n\n\n"
        "def days(start, end):\n    return (end - start).days\n\n\n"
        "class Acc:\n    def add(self, rate):\n        '''\n        >>> Acc().add(Rate(2))\n        >>> for r in x: Acc().add(r)\n        '''\n"
    )
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "d.py").write_text(code)
    targets = {t.qualname: t for t in find_targets([str(tmp_path / "pkg" / "d.py")], tmp_path)}
    head, calls = doc_calls(targets["days"], code)
    # the variables put in, the call taken out of round(...), the one on today's date left out
    assert calls == ["days(datetime.date(2008, 2, 1), end=datetime.date(2009, 5, 31))"]
    assert head == "import datetime\nfrom pkg.d import days\n"
    head, calls = doc_calls(targets["Acc.add"], code)
    assert calls == ["Acc().add(Rate(2))"]  # (the loop's call uses a name the examples never set)
    assert head == "from pkg.d import Acc\nfrom pkg.rates import Rate\n"  # a relative import made absolute
    spec = search_spec(targets["days"], code, [])
    assert spec["seeds"][0] == "days(datetime.date(2008, 2, 1), end=datetime.date(2009, 5, 31))"
    start, end = spec["parts"][0]["params"]
    assert "datetime.date(2008, 2, 1)" in start["pool"] and "datetime.date(2009, 5, 31)" in end["pool"]


CODES = """\
def kind(code: str) -> str:
    if len(code) == 6 and code[:3].isdigit() and code[3] == "-" and code[4:].isalpha():
        if code.endswith("zz"):
            return "special"
        return "plain"
    return "none"
"""


def test_a_second_search_grows_the_model_s_inputs_even_from_a_test_that_failed(project: Project):
    """No value the first search has passes the check; the model's test calls kind("123-ab") but asks for a
    fixture nobody has. The second search starts from that call: kept, with the value the code returns."""
    project.write("pkg/m.py", CODES)
    targets = find_targets([str(project.root / "pkg" / "m.py")], project.root)
    settings = Settings(explore=True, write=False, samples=1, runs=2, repair_rounds=0, python=sys.executable)
    broken = (
        "```python\nfrom pkg.m import kind\n\n\ndef test_kind(nobody_s_fixture):\n    code = '123-ab'\n"
        "    assert kind(code) == 'x'\n```"
    )
    backend = FakeBackend({"kind": [broken]})
    report = Pipeline(project.root, settings, backend=backend).run(targets)
    (kind,) = report.targets
    written = project.read("tests/test_m.py")
    assert len(backend.prompts) == 1 and "nobody_s_fixture" not in written  # the model's test failed
    assert "assert kind('123-ab') == 'plain'" in written, written
    assert kind.gain_lines >= kind.lines_total - 1  # ("special" needs "zz": the search may or may not grow it)
    assert project.pytest("tests/test_m.py").returncode == 0


def _search(root: Path, spec: dict) -> dict[str, list[str]]:
    """testbot/_search.py run directly on a spec (as the sandbox does, the result file named through a pipe)."""
    import json
    import os

    (root / "spec.json").write_text(json.dumps(spec))
    result = root / "result.json"
    read, write = os.pipe()
    os.write(write, json.dumps({"result_file": str(result), "nonce": "n"}).encode())
    os.close(write)
    subprocess.run(
        [sys.executable, str(Path(__file__).parents[1] / "testbot" / "_search.py"), str(root / "spec.json")],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root), "TESTBOT_HANDOFF_FD": str(read)},
        pass_fds=(read,),
        check=True,
        timeout=60,
    )
    os.close(read)
    return json.loads(result.read_text())["calls"]


def _run_search(tmp_path: Path, code: str, seeds: list[str], measured: bool, filler: str = "") -> list[str]:
    """The search on m.py's one target f(x)."""
    from testbot.measure import first_lines, measurable_file

    (tmp_path / "m.py").write_text(code)
    whole = measurable_file(code)
    spec = {
        "file": str(tmp_path / "m.py"),
        "seconds": 1.5,
        "seed": 0,
        "targets": [
            {
                "id": "m.py::f",
                "head": "from m import f\n",
                "seeds": seeds,
                "parts": [
                    {"source": "f", "params": [{"name": "x", "pool": ["3"], "required": True, "keyword": False}]}
                ],
            }
        ],
    }
    if measured:
        spec.update(lines=sorted(whole.lines), branches=sorted(whole.branches), first_lines=first_lines(code))
    if filler:
        spec["filler"] = filler
    return _search(tmp_path, spec)["m.py::f"]


def test_the_search_keeps_a_call_only_for_a_statement_or_a_branch_coverage_counts(tmp_path: Path):
    """f('a') raises on a line f(3) already ran: its exit from there is a new step, not new coverage."""
    code = "def f(x):\n    y = (x +\n         1)\n    if y > 5:\n        return 'big'\n    return 'small'\n"
    seeds = ["f(3)", "f('a')", "f(4)", "f(10)"]
    assert _run_search(tmp_path, code, seeds, measured=True) == ["f(3)", "f(10)"]
    assert _run_search(tmp_path, code, seeds, measured=False)[:3] == ["f(3)", "f('a')", "f(10)"]  # (unmeasured)


def _target_spec(name: str, seeds: list[str], **extra: object) -> dict:
    """A search spec's target: m.py's function ``name`` of one parameter x."""
    param = {"name": "x", "pool": ["3"], "required": True, "keyword": False}
    return {"id": f"m.py::{name}", "head": f"from m import {name}\n", "seeds": seeds, "qualname": name,
            "parts": [{"source": name, "params": [param]}], **extra}  # fmt: skip


def test_the_search_keeps_no_call_whose_error_is_raised_before_the_target_runs(tmp_path: Path):
    """f(half(3)) fails in half, an argument's own call: it says nothing of f, unlike f(0), which fails in f."""
    code = (
        "def half(x):\n    if x % 2:\n        raise ValueError('odd')\n    return x // 2\n\n\n"
        "def f(x):\n    if not x:\n        raise KeyError(x)\n    return x * 2\n"
    )
    (tmp_path / "m.py").write_text(code)
    f = _target_spec("f", ["f(half(3))", "f(0)", "f(half(4))"], first=7, last=10)
    f["head"] = "from m import f, half\n"
    spec = {"file": str(tmp_path / "m.py"), "seconds": 1.0, "seed": 0, "targets": [f]}
    calls = _search(tmp_path, spec)["m.py::f"]
    assert "f(half(3))" not in calls and "f(0)" in calls and "f(half(4))" in calls


def test_a_private_helper_is_reached_through_the_public_function_that_calls_it(tmp_path: Path):
    """f(1) and f(-1) run both of _sign's branches: no call of _sign itself is kept, though its target comes first."""
    code = (
        "def _sign(x):\n    if x < 0:\n        return 'minus'\n    return 'plus'\n\n\n"
        "def f(x):\n    return 'sign: ' + _sign(x)\n"
    )
    (tmp_path / "m.py").write_text(code)
    targets = [_target_spec("_sign", ["_sign(1)", "_sign(-1)"]), _target_spec("f", ["f(1)", "f(-1)"])]
    spec = {"file": str(tmp_path / "m.py"), "seconds": 1.0, "seed": 0, "targets": targets}
    calls = _search(tmp_path, spec)
    assert calls.get("m.py::f") == ["f(1)", "f(-1)"] and "m.py::_sign" not in calls


def test_a_comparison_the_search_called_is_checked_as_one_value_not_a_chained_comparison():
    """`d.__ne__(None)` is written `d != None`; its check must not read `d != None == None` (always true)."""
    from testbot.explore import _lines

    assert _lines("Duration(1) != None") == "    assert (Duration(1) != None) == None\n"
    assert _lines("-Duration(1)") == "    assert -Duration(1) == None\n"


def test_a_plain_call_takes_the_place_of_one_passing_filler_text_that_covers_no_more(tmp_path: Path):
    """slug('hello world.x') reached the words branch first; slug('My Title') covers all it does and is kept
    instead; the filler call that alone reaches a line is made plain text too, where that covers as much."""
    from testbot.shape import PLACEHOLDER_PATTERN

    code = (
        "def f(x):\n    if ' ' in x:\n        return x.split()\n    if len(x) > 30:\n        return 'long'\n"
        "    return [x]\n"
    )
    seeds = ["f('hello world.x')", "f('xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx')", "f('ab')", "f('My Title')"]
    calls = _run_search(tmp_path, code, seeds, measured=True, filler=PLACEHOLDER_PATTERN)
    # (the long one as a long word: 'abc...' covers what 'xxx...' did)
    assert sorted(calls) == sorted(["f('My Title')", "f('abcdefghijklmnopqrstuvwxyzabcdefghijklmn')", "f('ab')"])
    assert "f('hello world.x')" in _run_search(tmp_path, code, seeds, measured=True)  # (no filler named: kept)


def test_filler_text_in_a_kept_call_becomes_plain_text_where_that_covers_as_much(tmp_path: Path):
    """f('hello\\nworld=') reaches the line-break branch; cut out or made 'text' it would not, with its words made
    plain words as long and its line break kept it does: that call takes its place."""
    import re

    from testbot._search import _filler, _plain_variants
    from testbot.shape import PLACEHOLDER_PATTERN

    filler = re.compile(PLACEHOLDER_PATTERN)
    assert _plain_variants(filler, "f('hello\\nworld=', 'a')") == [
        "f('', 'a')",
        "f('text', 'a')",
        "f('three\\nseven=', 'a')",
    ]
    assert _plain_variants(filler, "f('My Title')") == []
    # a word longer than any plain word: the alphabet, as long (a reviewer reads a long word, not 'xxxx...')
    assert _plain_variants(filler, "f('%s', 3)" % ("x" * 30)) == [
        "f('', 3)",
        "f('text', 3)",
        "f('abcdefghijklmnopqrstuvwxyzabcd', 3)",
    ]
    code = "def f(x):\n    if '\\n' in x:\n        return x.splitlines()\n    return [x]\n"
    calls = _run_search(tmp_path, code, ["f('hello\\nworld=')", "f('ab')"], measured=True, filler=PLACEHOLDER_PATTERN)
    assert not any(_filler(filler, c) for c in calls), calls
    assert any("\\n" in c for c in calls) and "f('ab')" in calls, calls


def test_the_search_hands_back_few_calls_that_cover_what_all_its_kept_calls_cover(tmp_path: Path):
    from testbot._search import _fewest

    kept = [
        ("m::f", "f(1)", {(0, 2)}),
        ("m::f", "f(2)", {(0, 2), (0, 3)}),
        ("m::g", "g()", {(0, 7)}),
        ("m::f", "f(3)", {(0, 3)}),
    ]
    assert _fewest(kept) == {"m::f": ["f(2)"], "m::g": ["g()"]}  # f(1) and f(3) run nothing f(2) does not
    code = "def f(x):\n    if x > 5:\n        return 'big'\n    if x < 0:\n        return 'neg'\n    return 'small'\n"
    # f(3) is kept first (new lines), then f(10) and f(-1) (new branches); all three are still needed
    assert sorted(_run_search(tmp_path, code, ["f(3)", "f(10)", "f(-1)", "f(4)"], measured=True)) == [
        "f(-1)",
        "f(10)",
        "f(3)",
    ]


def test_a_parameter_typed_with_a_class_the_module_s_parse_returns_gets_parse_s_result(project: Project):
    """`compose(doc: Doc)` is called on what `parse(text) -> Doc` returns: an object of the very type, built the
    way the module builds it (docstring_parser's `compose` and `parse`), not a string that fails at once."""
    from testbot.explore import _type_names, search_spec

    code = (
        "from dataclasses import dataclass\n\n\n@dataclass\nclass Doc:\n    title: str\n    body: list\n\n\n"
        "def parse(text: str) -> Doc:\n    first, _, rest = text.partition('\\n')\n"
        "    return Doc(first, rest.split())\n\n\n"
        "def compose(doc: 'Doc', upper: bool = False) -> str:\n"
        "    title = doc.title.upper() if upper else doc.title\n"
        "    if not doc.body:\n        return title\n    return title + ': ' + ' '.join(doc.body)\n"
    )
    project.write("pkg/doc.py", code)
    targets = {t.name: t for t in find_targets([str(project.root / "pkg" / "doc.py")], project.root)}
    spec = search_spec(targets["compose"], code, [])
    assert spec["parts"][0]["params"][0]["pool"][:2] == ["parse('hello world')", "parse('\\n')"]  # (its own values)
    assert spec["seeds"][0] == "compose(parse('hello world'))" and "from pkg.doc import parse\n" in spec["head"]
    assert search_spec(targets["parse"], code, [])["parts"][0]["params"][0]["pool"][0] == "'hello world'"
    names = {a: _type_names(ast.parse(a, mode="eval").body) for a in ("Optional['Doc']", "m.Doc | None", "Any", "T")}
    assert names == {"Optional['Doc']": ["Doc"], "m.Doc | None": ["Doc"], "Any": [], "T": []}  # (no class named)
    settings = Settings(explore=True, write=False, samples=1, runs=2, repair_rounds=0, python=sys.executable)
    report = Pipeline(project.root, settings, backend=FakeBackend()).run([targets["compose"]])
    (compose,) = report.targets
    assert compose.kept and compose.gain_lines == compose.lines_total
    written = project.read("tests/test_doc.py")
    assert "compose(parse(" in written and project.pytest("tests/test_doc.py").returncode == 0


SECTIONS = """\
from dataclasses import dataclass

HEADINGS = ("Args", "Returns")


@dataclass
class Doc:
    title: str
    sections: dict


def parse(text: str) -> Doc:
    first, _, rest = text.partition("\\n")
    sections = {}
    for line in rest.splitlines():
        name, colon, body = line.partition(":")
        if colon and name.strip() in HEADINGS:
            sections[name.strip()] = body.strip()
    return Doc(first, sections)


def compose(doc: Doc) -> str:
    out = [doc.title]
    for name in HEADINGS:
        if name in doc.sections:
            out.append(name + ": " + doc.sections[name])
    return "\\n".join(out)
"""


def test_the_search_calls_the_module_s_parse_on_strings_that_reached_its_sections_for_compose(project: Project):
    """compose(doc: Doc) reaches a section only with a Doc that has one: the search calls parse (which makes Docs from
    strings) on the strings that parse's own kept calls grew towards a heading ("x\\nArgs:"), not only on the
    fixed 'hello world'."""
    from testbot.explore import module_strings, search_spec
    from testbot.measure import first_lines, measurable_file

    path = project.write("pkg/doc.py", SECTIONS)
    targets = {t.name: t for t in find_targets([str(path)], project.root)}
    specs = [search_spec(targets[name], SECTIONS, module_strings(SECTIONS)) for name in ("parse", "compose")]
    (doc,), (text,) = specs[1]["parts"][0]["params"], specs[0]["parts"][0]["params"]
    assert doc["makers"] == ["parse"] and "makers" not in text
    whole = measurable_file(SECTIONS)
    calls = _search(
        project.root,
        {
            "file": str(path),
            "seconds": 3,
            "seed": 0,
            "targets": specs,
            "lines": sorted(whole.lines),
            "branches": sorted(whole.branches),
            "first_lines": first_lines(SECTIONS),
        },
    )
    composed = calls[targets["compose"].id]
    assert any(c.startswith("compose(parse(") and ("Args" in c or "Returns" in c) for c in composed), composed


GENERATORS = '''\
def pairs(items: list, size: int = 2):
    """Consecutive groups of ``size`` items, the last one shorter."""
    group = []
    for item in items:
        group.append(item)
        if len(group) == size:
            yield tuple(group)
            group = []
    if group:
        yield tuple(group)


def counting(start: int):
    while True:
        yield start
        start += 1
'''


def test_a_generator_is_explored_through_list_and_an_endless_one_is_left_to_the_model(project: Project):
    """pairs() runs only as its items are drawn: its explored calls are `list(pairs(...))`, checked by the items;
    counting() has a `while True:` loop, so drawing all its items never ends: no call of it is explored."""
    project.write("pkg/gen.py", GENERATORS)
    targets = {t.name: t for t in find_targets([str(project.root / "pkg" / "gen.py")], project.root)}
    assert explore_tests(targets["counting"], GENERATORS) == ""
    assert _calls(explore_tests(targets["pairs"], GENERATORS))[0].startswith("list(pairs(")
    settings = Settings(explore=True, write=False, samples=1, runs=2, repair_rounds=0, python=sys.executable)
    report = Pipeline(project.root, settings, backend=FakeBackend()).run([targets["pairs"]])
    (pairs,) = report.targets
    assert pairs.kept and pairs.gain_lines == pairs.lines_total and pairs.gain_branches == pairs.branches_total
    written = project.read("tests/test_gen.py")
    assert "assert list(pairs(" in written and "== None" not in written, written
    assert project.pytest("tests/test_gen.py").returncode == 0


def test_the_search_underlines_a_line_as_a_heading(tmp_path: Path):
    """numpydoc and reStructuredText headings are a line of text over a line of as many dashes: a length no piece
    of the module's strings has. Where the module repeats a mark to a text's length ('-' * len(title)), the search
    writes one by underlining a string's last line."""
    from testbot.explore import underline_marks

    assert underline_marks(SECTIONS) == "" and underline_marks(GENERATORS) == ""
    assert underline_marks("def rule(t):\n    return t + '\\n' + '=' * len(t) + ' ' * len(t) + 'a' * len(t)\n") == "="
    code = (
        "def kind(text):\n    title, _, rule = text.partition('\\n')\n"
        "    if title and rule == '-' * len(title):\n        return 'heading'\n    return 'text'\n"
    )
    (tmp_path / "m.py").write_text(code)
    spec = {
        "file": str(tmp_path / "m.py"),
        "seconds": 1.5,
        "seed": 0,
        "targets": [
            {
                "id": "m.py::kind",
                "head": "from m import kind\n",
                "seeds": ["kind('Notes')"],
                "underline": "-",
                "parts": [
                    {
                        "source": "kind",
                        "params": [{"name": "text", "pool": ["'Notes'"], "required": True, "keyword": False}],
                    }
                ],
            }
        ],
    }
    calls = _search(tmp_path, spec)["m.py::kind"]
    assert any(c.startswith("kind('") and "\\n-" in c for c in calls), calls


LAMP = """\
class Shade(str):
    def __new__(cls, *parts: str, value: str = ""):
        new = str.__new__(cls, value)
        new.parts = parts
        return new


class Lamp:
    def __init__(self):
        self.on = False

    def switch(self) -> None:
        self.on = not self.on

    def paint(self, *colors: str) -> str:
        if not self.on:
            return ""
        if len(colors) == 2:
            return "mixed"
        return "plain"
"""


def test_star_args_take_values_and_a_class_with_new_is_called_through_itself(tmp_path: Path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "lamp.py").write_text(LAMP)
    targets = {t.qualname: t for t in find_targets([str(tmp_path / "pkg" / "lamp.py")], tmp_path)}
    assert _calls(explore_tests(targets["Lamp.paint"], LAMP))[:2] == ["Lamp().paint()", "Lamp().paint('hello world')"]
    assert _calls(explore_tests(targets["Shade.__new__"], LAMP))[:3] == [
        "Shade()",
        "Shade('hello world')",
        "Shade(value='hello world')",
    ]


def test_the_search_calls_a_method_on_an_object_another_method_set_up(project: Project):
    """paint() says more than "" only on a lamp that switch() turned on, and "mixed" only for two colours: the
    search calls it on an object a kept call of switch() set up (written as the object's line, the set-up call,
    then the assert), with one to three values for *colors."""
    project.write("pkg/lamp.py", LAMP)
    targets = {t.qualname: t for t in find_targets([str(project.root / "pkg" / "lamp.py")], project.root)}
    settings = Settings(explore=True, write=False, samples=1, runs=2, repair_rounds=0, python=sys.executable)
    pipeline = Pipeline(project.root, settings, backend=FakeBackend())
    report = pipeline.run([targets["Lamp.switch"], targets["Lamp.paint"]])
    paint = next(r for r in report.targets if r.target.endswith("paint"))
    assert paint.lines_before + paint.gain_lines == paint.lines_total, paint
    assert paint.branches_before + paint.gain_branches == paint.branches_total, paint
    written = project.read("tests/test_lamp.py")
    assert "    lamp = Lamp()\n    lamp.switch()\n    assert lamp.paint(" in written, written
    assert "== 'mixed'" in written and ":=" not in written, written
    assert project.pytest("tests/test_lamp.py").returncode == 0


TALLY = """\
class Tally:
    def __init__(self, start: int = 0):
        self.total = start
        self.items = []

    def add(self, n: int) -> None:
        if n < 0:
            raise ValueError("negative")
        self.total += n
        self.items.append(n)
"""


def test_a_method_that_returns_none_is_checked_by_what_it_did_to_its_object(project: Project):
    """add() returns None: its test holds the tally, calls add, then checks the tally's attributes, not `is None`."""
    project.write("pkg/tally.py", TALLY)
    (add,) = [t for t in find_targets([str(project.root / "pkg" / "tally.py")], project.root) if t.name == "add"]
    settings = Settings(explore=True, write=False, samples=1, runs=2, repair_rounds=0, python=sys.executable)
    Pipeline(project.root, settings, backend=FakeBackend()).run([add])
    written = project.read("tests/test_tally.py")
    assert "    tally = Tally()\n    tally.add(" in written and "    assert tally.total == " in written, written
    assert "def test_add_sets_items_to_" in written and "is None" not in written and "result" not in written
    assert project.pytest("tests/test_tally.py").returncode == 0


PACK = """\
import base64
import zlib


def pack(text: str) -> str:
    return base64.urlsafe_b64encode(zlib.compress(text.encode())).decode()


def unpack(packed: str) -> str:
    try:
        data = zlib.decompress(base64.urlsafe_b64decode(packed))
    except (ValueError, zlib.error):
        return ""
    return data.decode()
"""


def test_the_search_passes_a_string_one_call_returned_to_another(project: Project):
    """unpack() returns its text only for what pack() made: no value of the lists, grown or not, is one. The
    search passes it a string a kept call of pack() returned (written as the literal)."""
    project.write("pkg/packing.py", PACK)
    targets = {t.qualname: t for t in find_targets([str(project.root / "pkg" / "packing.py")], project.root)}
    settings = Settings(explore=True, write=False, samples=1, runs=2, repair_rounds=0, python=sys.executable)
    report = Pipeline(project.root, settings, backend=FakeBackend()).run([targets["pack"], targets["unpack"]])
    unpack = next(r for r in report.targets if r.target.endswith("unpack"))
    assert unpack.lines_before + unpack.gain_lines == unpack.lines_total, unpack
    written = project.read("tests/test_packing.py")
    assert "assert unpack('eJ" in written, written
    assert project.pytest("tests/test_packing.py").returncode == 0


def test_a_fixed_call_s_literal_arguments_are_matched_to_the_target_s_parameters():
    """A kept docstring example's values join its parameters' kept values (what the search grows): positional ones
    in order, the rest of them for *args, keywords by name; a name or another callable's call gives none."""
    from testbot import _search

    params = [
        {"name": "number", "pool": ["3"], "required": True, "keyword": False},
        {"name": "*more", "pool": ["3"], "required": False, "keyword": False},
        {"name": "style", "pool": ["'x'"], "required": False, "keyword": True},
    ]
    spec = {"id": "m.py::encode", "parts": [{"source": "encode", "params": params}]}
    target = _search._Target(spec, [None], {}, [], {})
    used = target.seed_used("encode(37, 1, 'a', style=[1], other=2)")
    assert [(p["name"], v) for p, v in used] == [("number", 37), ("*more", 1), ("*more", "a"), ("style", [1])]
    assert target.seed_used("decode(37)") == [] and target.seed_used("encode(x)") == []
    assert [v for _, v in target.seed_used("codec.encode(-2)")] == [-2]


def test_the_search_runs_on_an_older_python(tmp_path: Path):
    """The search runs on the project's Python, 3.7 or later: a kept docstring example's values and a returned
    string handed on must not need what 3.9 added (`ast.unparse`). Run on the oldest interpreter found."""
    import json
    import shutil

    import pytest

    from testbot import _search
    from testbot.explore import module_strings, search_spec

    import os

    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    found_pythons = [shutil.which(f"python3.{n}") for n in (7, 8)]
    found_pythons += sorted(map(str, pyenv.glob("3.[78].*/bin/python3")))
    old = next(
        (
            p
            for p in found_pythons
            if p
            and subprocess.run(
                [p, "-c", "import sys; assert sys.version_info < (3, 9)"], capture_output=True
            ).returncode
            == 0
        ),
        None,
    )
    if old is None:
        pytest.skip("no Python 3.7 or 3.8 on this machine")
    example = 'def pack(text: str) -> str:\n    """\n    >>> pack(\'ab\')\n    """\n'
    code = PACK.replace("def pack(text: str) -> str:\n", example)
    (tmp_path / "packing.py").write_text(code)
    found = {t.qualname: t for t in find_targets([str(tmp_path / "packing.py")], tmp_path)}
    specs = [search_spec(found[name], code, module_strings(code)) for name in ("pack", "unpack")]
    assert specs[0]["seeds"][0] == "pack('ab')"
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"file": str(tmp_path / "packing.py"), "seconds": 3, "seed": 0, "targets": specs}))
    out = tmp_path / "out.json"
    driver = (
        f"import sys\nsys.path[:0] = [{str(Path(_search.__file__).parent)!r}, {str(tmp_path)!r}]\n"
        f"import _search\n_search._handoff = lambda: {{'result_file': {str(out)!r}, 'nonce': 'n'}}\n"
        f"sys.argv = ['search', {str(spec)!r}]\nsys.exit(_search.main())\n"
    )
    ran = subprocess.run([old, "-c", driver], capture_output=True, text=True, timeout=60)
    assert ran.returncode == 0, ran.stderr
    result = json.loads(out.read_text())
    assert result["finished"] and "pack('ab')" in result["calls"][found["pack"].id], result
    assert result["calls"].get(found["unpack"].id), result
    # the strings made from a file's patterns (string literals are `ast.Str` before 3.8; `sre_parse` before 3.11)
    (tmp_path / "pkg").mkdir()
    for path, text in PATTERNS.items():
        (tmp_path / path).write_text(text)
    (tmp_path / "pkg" / "__init__.py").write_text("")
    driver = (
        f"import sys, os\nsys.path[:0] = [{str(Path(_search.__file__).parent)!r}, {str(tmp_path)!r}]\n"
        "import _search, pkg.text\nfile = os.path.realpath(pkg.text.__file__)\n"
        "made = _search.pattern_matches(_search._patterns(file))\n"
        "print(len(_search._patterns(file)), sum('://' in m for m in made), len(made))\n"
    )
    ran = subprocess.run([old, "-c", driver], capture_output=True, text=True, timeout=60)
    assert ran.returncode == 0, ran.stderr
    patterns, links, made = map(int, ran.stdout.split())
    assert patterns == 4 and links >= 1 and made >= 4, ran.stdout


PATTERNS = {
    "pkg/_patterns.py": """\
import re

LINK_RE = re.compile(r'(https?://)(www\\.)?[a-z]{3,8}\\.(com|org|net)(/[a-z]+)*')
MARKS = {'HASH': re.compile(r'(?<=\\s)#[a-z]+\\b'), 'CODE': re.compile(r'[A-Z]{2}-\\d{4}')}
""",
    "pkg/text.py": """\
import re

from ._patterns import *


def describe(text: str) -> str:
    words = text.split()
    if LINK_RE.search(text):
        return "link"
    if MARKS['HASH'].search(text):
        return "tagged"
    if MARKS['CODE'].fullmatch(words[-1] if words else ''):
        return "code"
    if re.search(r'\\b(\\w+) \\1\\b', text):
        return "repeated"
    return "plain"
""",
}


def test_the_search_passes_strings_the_module_s_regular_expressions_match(project: Project):
    """describe() returns "link", "tagged", "code" or "repeated" only for texts its patterns match: patterns of
    another module brought in by `import *` (one in a dict) and one written in the call. No value of the lists,
    grown or not, is such a text; the search makes them from the patterns."""
    for path, code in PATTERNS.items():
        project.write(path, code)
    project.write("pkg/__init__.py", "")
    targets = find_targets([str(project.root / "pkg" / "text.py")], project.root)
    settings = Settings(explore=True, write=False, samples=1, runs=2, repair_rounds=0, python=sys.executable)
    (describe,) = Pipeline(project.root, settings, backend=FakeBackend()).run(targets).targets
    assert describe.lines_before + describe.gain_lines == describe.lines_total, describe
    written = project.read("tests/test_text.py")
    assert "'link')," in written and "'code')," in written and "'repeated')," in written, written
    assert project.pytest("tests/test_text.py").returncode == 0


def test_strings_made_from_a_pattern_are_found_by_it():
    """Each made string is one the pattern finds something in: lookbehinds, back-references, negated classes,
    categories, alternatives and bounded repeats; a pattern the walk cannot satisfy gives none, not a wrong one."""
    import re

    from testbot._search import pattern_matches

    patterns = [
        re.compile(p)
        for p in (
            r"^[+-]?\d+(\.\d+)?$",
            r"(?<=\S)\+(?=\S)",
            r"<([a-z]+)>[^<]*</\1>",
            r"[^\W\d_]{2,}@[a-z]+\.(com|org)",
            r"^\s*$",
            r"(?i)^x{3}(?!x)",
        )
    ]
    made = pattern_matches(patterns + [re.compile(r"a(?<=b)")])
    assert all(any(p.search(m) for p in patterns) for m in made), made
    assert all(any(p.search(m) for m in made) for p in patterns), made
    assert pattern_matches(patterns) == made[: len(pattern_matches(patterns))]  # (seeded: the same strings again)


DISPATCH = '''\
from functools import singledispatch


def convert(text: str):
    """The words of a text as a list; an empty text is refused."""
    if not isinstance(text, str):  # (so that only _convert's own calls can reach the namedtuple branch)
        raise TypeError("not a text")
    return _convert(tuple(text.split()) if text else text)


@singledispatch
def _convert(obj):
    raise TypeError("not a tuple")


@_convert.register(tuple)
def _(obj):
    if hasattr(obj, "_fields"):  # a namedtuple becomes a dict
        return dict(obj._asdict())
    return list(obj)
'''


def test_a_covered_function_s_explored_tests_are_kept_for_the_overload_they_reach(project: Project):
    """convert('') covers all of _convert's own code, and only _convert's own calls reach the namedtuple branch
    of its overload (no target: it is named `_`). When convert's tests are written first, _convert is already
    fully covered at its turn; its explored test is still kept for what it adds to the file."""
    project.write("pkg/conv.py", DISPATCH)
    targets = {
        t.qualname: t for t in find_targets([str(project.root / "pkg" / "conv.py")], project.root, include_private=True)
    }
    settings = Settings(explore=True, write=False, samples=1, runs=2, repair_rounds=0, python=sys.executable)
    report = Pipeline(project.root, settings, backend=FakeBackend()).run([targets["convert"], targets["_convert"]])
    inner = next(r for r in report.targets if r.target.endswith("::_convert"))
    written = project.read("tests/test_conv.py")
    assert "_convert(namedtuple(" in written, (inner, written)
    assert project.pytest("tests/test_conv.py").returncode == 0
    ran = subprocess.run(
        [
            sys.executable,
            "-m",
            "coverage",
            "run",
            "--branch",
            "--include=pkg/conv.py",
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/test_conv.py",
        ],
        cwd=project.root,
        capture_output=True,
    )
    assert ran.returncode == 0, ran.stdout
    data = CoverageData(str(project.root / ".coverage"))
    data.read()
    lines = data.lines(str(project.root / "pkg" / "conv.py"))
    assert DISPATCH.splitlines().index("        return dict(obj._asdict())") + 1 in lines, (sorted(lines), written)


def test_a_set_up_step_is_a_kept_call_on_an_object_the_class_itself_built():
    """Only `Call(...).method(...)` of a method that changes its object becomes a set-up step (a class may be named
    `Call`); a receiver that another callable made, or that is wrapped in parentheses, does not."""
    from testbot import _search

    spec = {
        "id": "m.py::Call.fill",
        "mutates": True,
        "parts": [{"source": "Call", "params": []}, {"source": ".fill", "params": []}],
    }
    target = _search._Target(spec, [None], {}, [], {})
    for expr in [
        "Call(1).fill(2)",
        "Call.load('p').fill(1)",
        "Call()(2).fill(1)",
        "(Call(1)).fill(1)",
        "Caller(1).fill(1)",
        "Call('é').fill('ü')",
        "Call(1).fill(2)",
    ]:
        target.keep_step(expr)
    assert target.steps == {"Call": [("Call(1)", ".fill(2)"), ("Call('é')", ".fill('ü')")]}
    reader = _search._Target({**spec, "mutates": False}, [None], {}, [], {})
    reader.keep_step("Call(1).fill(2)")
    assert reader.steps == {}
    assert _search._object_name("TextBox", {}) == "text_box" and _search._object_name("If", {}) == "if_"


SIZES = """\
def size(x):
    if x > 10:
        return "big"
    if x < 0:
        return "neg"
    return "small"
"""


def test_in_a_change_run_explored_tests_are_kept_only_for_the_changed_lines(tmp_path: Path):
    """The change touches the negative branch; the big branch, untouched and untested, is not this change's
    business: a --staged run keeps the search's tests for the changed line only. A run over the file keeps both."""
    from conftest import GIT, make_project

    project = make_project(tmp_path / "proj")
    project.write("pkg/sizes.py", SIZES)
    project.write(
        "tests/test_sizes.py", "from pkg.sizes import size\n\n\ndef test_small():\n    assert size(5) == 'small'\n"
    )
    subprocess.run([*GIT, "add", "-A"], cwd=project.root, check=True)
    subprocess.run([*GIT, "commit", "-q", "-m", "sizes"], cwd=project.root, check=True)
    project.write("pkg/sizes.py", SIZES.replace('"neg"', '"negative"'))
    subprocess.run([*GIT, "add", "-A"], cwd=project.root, check=True)
    run = project.generate("--staged", "--explore", "--dry-run", "--json", "--model", project.fake_model([]), *FAST)
    (target,) = run.json()["targets"]
    assert target["target"] == "pkg/sizes.py::size" and target["kept"], run.err
    written = run.json()["files"][0]
    calls = " ".join(written["tests"])
    assert len(written["tests"]) == 1, calls
    whole = project.generate(
        "pkg/sizes.py", "--explore", "--dry-run", "--json", "--model", project.fake_model([]), *FAST
    )
    assert len(whole.json()["files"][0]["tests"]) == 2  # the big branch too
