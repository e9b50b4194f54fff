"""The tests a run keeps beyond coverage: spare tests kept for the mutants they alone catch (real sandboxed pytest
runs), and the search's pins of one shape grouped into a parametrized test."""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path

from testbot import keep, mutants
from testbot import validate as v
from testbot.config import Settings
from testbot.extract import split_tests
from testbot.measure import Covered
from testbot.pipeline import Pipeline
from testbot.report import CandidateResult
from testbot.sandbox import Limits
from testbot.targets import find_targets

GRADE = """\
def grade(score):
    if score >= 90:
        return "A"
    if score >= 80:
        return "B"
    return "C"


class Counter:
    def __init__(self, n):
        self.n = n

    @property
    def down(self):
        n = self.n
        while n > 0:
            n -= 1
        return n
"""

ANSWER = """```python
from pkg.grades import grade


def test_grade_a():
    assert grade(95) == "A"


def test_grade_b():
    assert grade(85) == "B"


def test_grade_c():
    assert grade(10) == "C"


def test_grade_a_from_ninety():
    assert grade(90) == "A"
```"""


def _targets(project):
    project.write("pkg/grades.py", GRADE)
    return [t for t in find_targets([str(project.root / "pkg" / "grades.py")], project.root) if t.qualname == "grade"]


def _run(project, **settings):
    from testbot.backends.fake import FakeBackend

    targets = _targets(project)
    s = Settings(samples=1, runs=1, repair_rounds=0, dry_run=True, python=sys.executable, explore=False, **settings)
    report = Pipeline(project.root, s, backend=FakeBackend({"grade": [ANSWER]})).run(targets)
    return report.targets[0]


def test_a_test_that_adds_no_coverage_is_kept_for_the_mutants_only_it_catches(project):
    # grade(95) is kept first for the "A" line; grade(90) runs the same lines, and alone notices `>=` made `>`
    r = _run(project)
    assert r.kept[-1] == "test_grade_a_from_ninety" and set(r.kept[:-1]) == {
        "test_grade_a",
        "test_grade_b",
        "test_grade_c",
    }
    assert r.catches == 2 and r.funnel.kept == 4  # (`>=` made `>`, and 90 made 91)
    assert "2 more mutants caught" in r.line()


def test_without_mutants_the_spare_test_is_not_kept(project):
    r = _run(project, mutants=False)
    assert "test_grade_a_from_ninety" not in r.kept and r.catches == 0


def _outcome(project, code: str, round_no: int = 0) -> keep.Outcome:
    cand = split_tests(
        f"```python\n{code}```", target_id="pkg/grades.py::Counter.down", protected={"Counter"}, round=round_no
    ).candidates[0]
    return keep.Outcome(
        cand,
        CandidateResult(cand.name, round_no, 0, 0.0, v.PASSED, "", True),
        Covered(frozenset(range(1, 30)), frozenset()),
    )


def test_the_plugin_puts_a_mutant_of_a_property_in_place_and_stops_one_that_loops(project, tmp_path: Path):
    (down,) = [
        t
        for t in find_targets([str(project.write("pkg/grades.py", GRADE))], project.root)
        if t.qualname == "Counter.down"
    ]
    weak = _outcome(project, "from pkg.grades import Counter\n\n\ndef test_runs():\n    Counter(2).down\n")
    exact = _outcome(project, "from pkg.grades import Counter\n\n\ndef test_down():\n    assert Counter(2).down == 0\n")
    pool = mutants.Pool(down, frozenset(range(down.def_line + 1, down.end + 1)), [weak], [exact])
    text = GRADE
    with v.Workspace(project.root, sys.executable, Limits(wall_seconds=60)) as ws:
        folder = project.root / "tests"
        paths = {id(o): ws.write_candidate(o.candidate, folder) for o in (weak, exact)}
        file_of = {k: p.name for k, p in paths.items()}
        spec, index = mutants.spec("pkg.grades", str(ws.scratch_path(down.file)), text, [pool], file_of, 30)
        descriptions = {m.description for _, m in index.values()}
        assert {"Gt -> GtE", "Sub= -> Add=", "return None"} <= descriptions
        answer = ws.run_mutants(sorted(paths.values()), import_root=down.import_root, spec=spec, timeout=60)
    assert answer is not None and not answer["error"] and answer["ran"]
    by_description = {index[int(k)][1].description: res for k, res in answer["ran"].items()}
    # `n -= 1` made `n += 1` never ends: the timer stops it, and the test that ran it counts as catching it
    assert by_description["Sub= -> Add="]["caught"]
    # `return n` made `return None`: only the exact check notices
    assert not by_description["return None"]["caught"] and by_description["return None"]["spare"]
    chosen = mutants.choose(
        pool, {int(k): set(r["spare"]) for k, r in answer["ran"].items() if not r["caught"]}, file_of
    )
    assert [c.outcome for c in chosen] == [exact] and chosen[0].catches >= 1


def test_mutants_of_a_function_take_each_line_once_before_any_line_twice(project):
    (grade,) = _targets(project)
    found = mutants.of_function(grade, GRADE, frozenset(range(1, 30)))
    assert all(grade.def_line < m.line <= grade.end for m in found)
    assert {m.line for m in found} == {2, 3, 4, 5, 6}
    old = mutants.MUTANTS_MAX
    mutants.MUTANTS_MAX = 5
    try:
        assert sorted(m.line for m in mutants.of_function(grade, GRADE, frozenset(range(1, 30)))) == [2, 3, 4, 5, 6]
    finally:
        mutants.MUTANTS_MAX = old


def test_the_models_spare_tests_are_chosen_before_the_searchs(project):
    (grade,) = _targets(project)
    searched = _outcome(project, "def test_s():\n    assert 1\n", round_no=keep.EXPLORE_ROUND)
    written = _outcome(project, "def test_w():\n    assert 1\n")
    lone = _outcome(project, "def test_l():\n    assert 1\n", round_no=keep.EXPLORE_ROUND)
    pool = mutants.Pool(grade, frozenset({2}), [], [searched, written, lone])
    file_of = {id(searched): "s.py", id(written): "w.py", id(lone): "l.py"}
    chosen = mutants.choose(pool, {0: {"s.py", "w.py"}, 1: {"s.py"}, 2: {"l.py"}, 3: set()}, file_of)
    # the model's test first (it catches 0), then the search's for what is left: 1 by s.py, 2 by l.py
    assert [(file_of[id(c.outcome)], c.catches) for c in chosen] == [("w.py", 1), ("s.py", 1), ("l.py", 1)]


def test_the_search_ends_with_calls_that_catch_the_mutants_its_kept_calls_miss(project, monkeypatch):
    """The mutant round of the search (in-process here; in the sandbox in a run): `grade(95)` is kept, and of the
    calls tried, `grade(90)` is the one that notices `>=` made `>`."""
    import io
    import types

    from testbot import _search, mutate

    monkeypatch.setitem(sys.modules, "testbot_mutate", mutate)
    path = project.write("pkg/grades.py", GRADE)
    monkeypatch.syspath_prepend(str(project.root))
    namespace: dict = {}
    exec("from pkg.grades import grade", namespace)
    target = types.SimpleNamespace(
        id="grade",
        qualname="grade",
        first=1,
        body=set(range(2, 7)),
        namespace=namespace,
        tried=[],
        before=None,
    )
    kept = {"grade": ["grade(95)", "grade(85)", "grade(10)"]}

    def catching(tried: list[str]) -> dict:
        target.tried = tried
        return _search._catch_mutants("pkg.grades", [target], kept, str(path), time.monotonic() + 20, io.StringIO())

    assert catching(["grade(95)", "grade(50)", "grade(90)", "grade(85)"]) == {"grade": ["grade(90)"]}
    # without the boundary among the calls tried, nothing is chosen
    assert catching(["grade(95)", "grade(50)"]) == {}
    # in a change run the code before the change comes first (here the only mutant: no body lines)
    now = GRADE.split("\n\n\n")[0]
    target.body, target.before = set(), {"start": 0, "end": len(now), "new": now.replace(">= 90", "> 90")}
    assert catching(["grade(95)", "grade(50)", "grade(90)"]) == {"grade": ["grade(90)"]}


def _pinned(code: str, target_id: str = "pkg/grades.py::grade") -> keep.Outcome:
    cand = split_tests(
        f"```python\n{code}```", target_id=target_id, protected={"grade"}, round=keep.EXPLORE_ROUND
    ).candidates[0]
    return keep.Outcome(
        cand,
        CandidateResult(cand.name, keep.EXPLORE_ROUND, 0, 0.0, v.PASSED, "", True),
        Covered(frozenset({2}), frozenset()),
    )


def test_the_searchs_calls_of_one_shape_become_one_parametrized_test(project):
    (grade,) = _targets(project)
    head = "from pkg.grades import grade\n\n\n"
    kept = [
        _pinned(head + f"def test_grade_explored_{i}():\n    assert grade({score}) == {letter!r}\n")
        for i, (score, letter) in enumerate([(95, "A"), (85, "B"), (10, "C")])
    ]
    kept += [
        _pinned(
            "import pytest\n" + head + "def test_grade_explored_9():\n    with pytest.raises(TypeError):\n"
            "        grade('x')\n"
        )
    ]
    out = keep.polished(grade, kept)
    assert [o.candidate.name for o in out] == [
        "test_grade_returns_the_expected_value",
        "test_grade_raises_type_error_for_x",
    ]
    source = out[0].candidate.test_source
    assert source.startswith("@pytest.mark.parametrize(\n    \"score, expected\",\n    [\n        (95, 'A'),\n")
    assert (
        "def test_grade_returns_the_expected_value(score, expected):\n    assert grade(score) == expected\n" in source
    )
    assert "import pytest" in out[0].candidate.code and "from pkg.grades import grade" in out[0].candidate.code
    # the grouped test runs, each row a case
    path = project.write("tests/test_grouped.py", out[0].candidate.code)
    run = project.pytest(str(path))
    assert run.returncode == 0 and "3 passed" in run.stdout, run.stdout
    # fewer than GROUP_MIN of a shape stay as they are
    assert [o.candidate.name for o in keep.polished(grade, kept[:2])] == [
        "test_grade_returns_a_for_95_given",
        "test_grade_returns_b_for_85_given",
    ]


SUITE = """\
from pkg.grades import grade


def test_grades():
    assert grade(95) == "A"
    assert grade(85) == "B"
    assert grade(10) == "C"
"""


def _change_run(project, suite: str):
    """A change run of grade's `if score >= 90:` line, which the project's suite (``suite``) runs."""
    from testbot.backends.fake import FakeBackend

    project.write("tests/test_grades.py", suite)
    target = dataclasses.replace(_targets(project)[0], lines=frozenset({2}))
    s = Settings(samples=1, runs=1, repair_rounds=0, dry_run=True, python=sys.executable, write=False)
    return Pipeline(project.root, s, backend=FakeBackend({}), changes=True).run([target]).targets[0]


def test_a_change_the_suite_runs_but_does_not_check_gets_a_test_for_the_fault_it_lets_through(project):
    # the suite runs every line of grade, yet no test of it notices `>=` made `>` on the changed line
    r = _change_run(project, SUITE)
    assert r.funnel.kept >= 1 and r.catches >= 1, r.note
    assert "already fully covered by the project's suite" in r.note and "that no test catches" in r.note


def test_a_change_the_suite_checks_gets_nothing(project):
    r = _change_run(project, SUITE + '\n\ndef test_ninety():\n    assert grade(90) == "A"\n')
    assert r.funnel.kept == 0 and r.catches == 0, r.note


def test_a_change_a_unittest_subtest_of_the_suite_checks_gets_nothing(project):
    # a failing subTest is logged as a report of its own: it still counts as the suite catching the mutant
    subtests = (
        "import unittest\n\n\nclass TestGradeCases(unittest.TestCase):\n    def test_cases(self):\n"
        "        for score, want in [(95, 'A'), (90, 'A'), (85, 'B')]:\n"
        "            with self.subTest(score=score):\n                self.assertEqual(grade(score), want)\n"
    )
    r = _change_run(project, SUITE.replace("\n\n\ndef test_grades", "\n" + subtests + "\n\ndef test_grades"))
    assert r.funnel.kept == 0 and r.catches == 0, r.note


LABEL = """\
def label(score):
    return "{}-{}".format("high" if score >= 90
                          else "low", score)
"""


def _label_run(project, suite: str):
    """A change run of a statement over two lines (coverage records what runs on either on the first)."""
    from testbot.backends.fake import FakeBackend

    project.write("pkg/label.py", LABEL)
    project.write("tests/test_label.py", "from pkg.label import label\n\n\n" + suite)
    target = [t for t in find_targets([str(project.root / "pkg" / "label.py")], project.root)][0]
    target = dataclasses.replace(target, lines=frozenset({2}))  # (a change's lines are its statements' first lines)
    s = Settings(samples=1, runs=1, repair_rounds=0, dry_run=True, python=sys.executable, write=False)
    return Pipeline(project.root, s, backend=FakeBackend({}), changes=True).run([target]).targets[0]


def test_a_changed_line_inside_a_longer_statement_goes_to_the_suites_tests_of_that_statement(project):
    weak = "def test_label():\n    assert label(95) == 'high-95'\n    assert label(10) == 'low-10'\n"
    r = _label_run(project, weak)
    assert r.funnel.kept >= 1 and r.catches >= 1, r.note
    strong = weak + "\n\ndef test_ninety():\n    assert label(90) == 'high-90'\n"
    r = _label_run(project, strong)
    assert r.funnel.kept == 0 and r.catches == 0, r.note


def test_a_change_to_a_later_line_of_a_statement_mutates_that_line_not_the_first(project):
    from testbot.backends.fake import FakeBackend
    from testbot.measure import measurable

    project.write("pkg/label.py", 'def label(score):\n    return "{}-{}".format(score,\n        score >= 90)\n')
    target = find_targets([str(project.root / "pkg" / "label.py")], project.root)[0]
    # (the diff gives a touched line and the first line of its statement)
    target = dataclasses.replace(target, lines=frozenset({2, 3}))
    s = Settings(samples=1, runs=1, repair_rounds=0, dry_run=True, python=sys.executable)
    p = Pipeline(project.root, s, backend=FakeBackend({}), changes=True)
    text = (project.root / "pkg" / "label.py").read_text()
    assert p.suite.mutant_lines(target, measurable(target, text), p.changes) == {3}


AIMED = """```python
from pkg.grades import grade


def test_grade_ninety_is_an_a():
    assert grade(90) == "B"
```"""


def _aim_run(project, answer: str, **settings):
    """A change run of grade's `if score >= 90:` line with no search: what the suite lets through goes to the
    model (``answer``) alone."""
    from testbot.backends.fake import FakeBackend

    project.write("tests/test_grades.py", SUITE)
    target = dataclasses.replace(_targets(project)[0], lines=frozenset({2}))
    settings = {"aim": True, **settings}
    s = Settings(samples=1, runs=1, repair_rounds=0, dry_run=True, python=sys.executable, explore=False, **settings)
    backend = FakeBackend({"grade::*aim*": [answer]})
    return Pipeline(project.root, s, backend=backend, changes=True).run([target]).targets[0], backend


def test_the_model_is_shown_the_faults_the_suite_lets_through_and_its_test_that_catches_them_is_kept(project):
    r, backend = _aim_run(project, AIMED)
    (prompt,) = backend.prompts
    assert (
        "@@ line 2 @@\n-    if score >= 90:\n+    if (score > 90):" in prompt.user
        and "   2|     if score >= 90:" in prompt.user
    )
    # its expected value was wrong ("B"): the oracle repaired it, and the repaired test catches `>=` made `>`
    assert r.funnel.kept == 1 and r.catches >= 1, r.note
    assert "that no test catches" in r.note and r.completions == 1


def test_an_aimed_test_that_catches_no_fault_is_not_kept(project):
    r, _ = _aim_run(project, AIMED.replace("grade(90)", "grade(95)"))
    assert r.funnel.kept == 0 and r.catches == 0 and r.completions == 1, r.note


def test_without_aim_the_model_is_not_asked(project):
    r, backend = _aim_run(project, AIMED, aim=False)
    assert not backend.prompts and r.funnel.kept == 0


def test_faults_show_each_mutated_line_once_as_it_is_and_as_it_could_be():
    from testbot import mutate

    text = GRADE
    found = mutate.mutants("pkg/grades.py", text, {2})
    shown = mutants.faults(text, found + found)
    assert ("if score >= 90:" in shown[0][1]) and len(shown) == len({(n, new) for n, _, new in shown})
    assert all(n == 2 and old != new for n, old, new in shown)
    assert (2, "    if score >= 90:", "    if (score > 90):") in shown


def test_the_code_before_a_change_is_a_mutant_in_place_of_the_function(project):
    target = _targets(project)[0]
    text = (project.root / "pkg" / "grades.py").read_text()
    old = target.source.replace(">= 90", "> 90")
    m = mutants.change(dataclasses.replace(target, before=old), text)
    assert m is not None and m.description == mutants.CHANGE and m.new == old
    assert m.text == text.replace(">= 90", "> 90", 1) and text[m.start : m.end] == target.source
    assert mutants.change(dataclasses.replace(target, before=""), text) is None  # (a new function)
    assert mutants.change(dataclasses.replace(target, before="    " + old), text) is None  # (moved into a class)
    assert mutants.change(target, text) is None  # (not a change run)


def _change_of_grade(project, suite: str, answer: str, **settings):
    """A change run of grade, whose `if score >= 90:` was `if score > 90:` before the change: 90 became an A."""
    from testbot.backends.fake import FakeBackend

    project.write("tests/test_grades.py", suite)
    target = _targets(project)[0]
    target = dataclasses.replace(target, lines=frozenset({2}), before=target.source.replace(">= 90", "> 90"))
    settings = {"explore": False, "aim": True, **settings}
    s = Settings(samples=1, runs=1, repair_rounds=0, dry_run=True, python=sys.executable, **settings)
    backend = FakeBackend({"grade::*aim*": [answer]})
    return Pipeline(project.root, s, backend=backend, changes=True).run([target]).targets[0], backend


def test_a_change_no_test_notices_is_shown_to_the_model_and_its_test_that_fails_before_it_is_kept(project):
    r, backend = _change_of_grade(project, SUITE, AIMED)
    (prompt,) = backend.prompts
    assert "## The change no test notices" in prompt.user and "-    if score > 90:\n+    if score >= 90:" in prompt.user
    assert "fail on the code before the change" in prompt.user
    assert r.funnel.kept == 1 and r.captures == 1, r.note
    assert "the change itself, which no test notices" in r.note and "fails on the code before the change" in r.line()


def test_a_change_the_suite_notices_is_not_shown_to_the_model(project):
    r, backend = _change_of_grade(project, SUITE + '\n\ndef test_ninety():\n    assert grade(90) == "A"\n', AIMED)
    assert r.captures == 0 and r.funnel.kept == 0 and not backend.prompts, r.note


def test_the_searchs_call_that_fails_on_the_code_before_a_change_is_kept_for_it(project):
    # no model (no --aim): the search's mutant round tries the code before the change first, and grade(90) (90 is a
    # constant of the code) tells the two apart
    r, backend = _change_of_grade(project, SUITE, AIMED, explore=True, aim=False)
    assert r.captures == 1 and r.funnel.kept >= 1 and not backend.prompts, r.note
    assert "the change itself, which no test notices" in r.note
