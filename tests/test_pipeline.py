"""The time budget (testbot.budget) bounds each completion's length, not only whether one starts."""

from __future__ import annotations

import json
import sys
import time

from testbot.config import Settings
from testbot.budget import FIRST_READ_SPEED, FIRST_SPEED, FIRST_WRITE_SPEED, MIN_TOKENS, USEFUL_TOKENS, Budget
from testbot.pipeline import Pipeline


def test_completions_shrink_to_fit_the_time_left():
    budget = Budget(120)
    # Speed not measured yet: the embedded model's speed on a 2-core CPU is assumed, so a run's first completion
    # does not take a whole max_tokens out of a short budget.
    assert budget.token_cap(time.monotonic() + 5, 384) == USEFUL_TOKENS  # (5 s at FIRST_SPEED is too short)
    assert int(39.9 * FIRST_SPEED) <= budget.token_cap(time.monotonic() + 40, 384) <= int(40 * FIRST_SPEED)
    assert budget.token_cap(time.monotonic() + 600, 384) == 384
    budget.completed(200, 10.0)  # 20 tokens a second, measured on earlier completions
    assert budget.token_cap(float("inf"), 384) == 384
    assert budget.token_cap(time.monotonic() + 60, 384) == 384  # 1200 would fit: capped by max_tokens
    assert 150 <= budget.token_cap(time.monotonic() + 8, 384) <= 160  # 8 s left: ~160 tokens
    assert budget.token_cap(time.monotonic() + 1, 384) < MIN_TOKENS  # too little left for a test: not started
    budget.checked(3.0)
    budget.checked(3.0)  # running an answer's tests took 3 s: that time is kept back from the answer
    assert 90 <= budget.token_cap(time.monotonic() + 8, 384) <= 100  # (8 - 3) s at 20 tokens a second
    assert budget.token_cap(time.monotonic() + 3, 384) < MIN_TOKENS


def test_reading_a_long_prompt_is_timed_apart_from_writing_the_answer():
    budget = Budget(120)
    # Before any completion, a prompt of known length: its reading is taken off at FIRST_READ_SPEED.
    assert int(39.9 * FIRST_WRITE_SPEED) <= budget.token_cap(time.monotonic() + 40, 1024, 0) <= 40 * FIRST_WRITE_SPEED
    reading = 1100 / FIRST_READ_SPEED
    guess = budget.token_cap(time.monotonic() + 40, 1024, 1100)
    assert int((39.9 - reading) * FIRST_WRITE_SPEED) <= guess <= int((40 - reading) * FIRST_WRITE_SPEED)
    # A backend that does not say how long reading took: the whole completion's speed, as before.
    budget.completed(100, 10.0)
    assert 150 <= budget.token_cap(time.monotonic() + 16, 1024, 1500) <= 160
    assert budget.speeds() is None and budget.reading_seconds == 0.0
    # 1,500 tokens read in 25 s, 400 written in 20 s: 60 read and 20 written a second.
    budget.completed(400, 45.0, read_tokens=1500, read_seconds=25.0)
    assert budget.speeds() == (60.0, 20.0) and budget.reading_seconds == 25.0
    assert 390 <= budget.token_cap(time.monotonic() + 45, 1024, 1500) <= 400  # (45 - 25) s of writing
    assert budget.token_cap(time.monotonic() + 26, 1024, 1500) < MIN_TOKENS  # the prompt alone fills the time
    assert 790 <= budget.token_cap(time.monotonic() + 40, 1024, 0) <= 800  # nothing to read: all 40 s write
    assert budget.token_cap(time.monotonic() + 40, 1024) < 600  # prompt unknown: the whole completions' speed


def test_phases_share_the_time_left_and_a_held_back_end_returns():
    budget = Budget(0)
    budget.start()
    assert not budget.limited and budget.share(0.5) == float("inf") and budget.split(float("inf"), 3) == float("inf")
    assert budget.target_deadline(time.monotonic(), 30, 5)[1] is False  # only --target-seconds bounds a turn
    budget = Budget(100)
    budget.start()
    assert 49 <= budget.share(0.5) - time.monotonic() <= 50
    stop = time.monotonic() + 60
    assert 9 <= budget.split(stop, 3, 0.5) - time.monotonic() <= 10  # half of a third of 60 s
    end = budget.end
    with budget.held_back(0.2):  # the last fifth is kept for the phase after the block
        assert 79 <= budget.left() <= 80
        deadline, cut = budget.target_deadline(time.monotonic(), 300, 4)  # a fair share: a quarter of 80 s
        assert cut and 19 <= deadline - time.monotonic() <= 20
    assert budget.end == end
    with budget.phase("write"):
        time.sleep(0.01)
    assert budget.phases["write"] >= 0.01


def test_a_budget_is_shared_between_targets_breadth_first(project):
    """Under --budget the first target may not spend the whole run on more samples while the next one waits."""
    from conftest import fenced

    def slow(*tests: str) -> list[dict]:  # 1.5 s each, long enough (a comment) that speed never caps a sample
        return [{"text": fenced("# " + "filler " * 300 + "\n" + t), "sleep": 1.5} for t in tests]

    model = project.fake_model(
        {
            "classify": slow(
                *(
                    f"from pkg.m import classify\n\n\ndef test_{i}():\n    assert classify({n}) == '{want}'\n"
                    for i, (n, want) in enumerate([(-1, "negative"), (0, "zero"), (1, "positive")])
                )
            ),
            "clamp": slow(
                *(
                    f"from pkg.m import clamp\n\n\ndef test_{i}():\n    assert clamp({x}, 0, 10) == {want}\n"
                    for i, (x, want) in enumerate([(5, 5), (-1, 0), (11, 10)])
                )
            ),
        }
    )
    # One target alone would take its 3 samples (~3 x 2.5 s with validation) and the other would be skipped.
    run = project.generate(
        "pkg/m.py",
        "--budget",
        "8",
        "--samples",
        "3",
        "--runs",
        "1",
        "--repair-rounds",
        "0",
        "--model",
        model,
        "--json",
        "--dry-run",
    )
    assert run.code == 1, run.err  # 1: tests to write
    targets = json.loads(run.out)["targets"]
    assert [t["target"] for t in targets] == ["pkg/m.py::classify", "pkg/m.py::clamp"]
    assert all(1 <= t["completions"] < 3 and t["kept"] for t in targets), targets
    assert targets[0]["note"] == "time budget spent"


def test_group_prompt_writes_first_tests_for_a_whole_file_then_targets_fill_the_gaps(project):
    """--group: one prompt for the file's functions; each test goes to the function it covers; what is still
    missing gets the function's own round, which is told which tests exist."""
    from conftest import fenced

    from testbot.backends.fake import FakeBackend
    from testbot.targets import find_targets

    group = fenced(
        "from pkg.m import classify, clamp\n\n\n"
        "def test_classify_negative():\n    assert classify(-1) == 'negative'\n\n\n"
        "def test_classify_zero():\n    assert classify(0) == 'zero'\n\n\n"
        "def test_classify_positive():\n    assert classify(1) == 'positive'\n\n\n"
        "def test_clamp_inside():\n    assert clamp(5, 0, 10) == 5\n\n\n"
        "def test_clamp_wrong():\n    assert clamp(5, 0, 10) == 6\n"
    )
    raises = fenced(
        "from pkg.m import clamp\n\n\ndef test_clamp_bad_bounds():\n"
        "    with pytest.raises(ValueError):\n        clamp(1, 5, 0)\n"
    )
    backend = FakeBackend({"*group*": [group], "clamp": [raises]})
    targets = find_targets([str(project.root / "pkg" / "m.py")], project.root)
    settings = Settings(
        group=True, samples=1, runs=1, repair_rounds=0, dry_run=True, python=sys.executable, explore=False
    )
    report = Pipeline(project.root, settings, backend=backend).run(targets)
    by_id = {t.target: t for t in report.targets}
    classify, clamp = by_id["pkg/m.py::classify"], by_id["pkg/m.py::clamp"]
    assert [p.key for p in backend.prompts] == ["pkg/m.py::*group*", "pkg/m.py::clamp"]
    first = backend.prompts[0]
    assert "`classify`" in first.user and "`clamp`" in first.user and "def classify" in first.user
    assert "from pkg.m import classify, clamp" in first.prefill
    assert set(classify.kept) == {"test_classify_negative", "test_classify_zero", "test_classify_positive"}
    assert classify.note == "covered by the file's group prompt" and classify.completions == 1
    assert classify.gain_lines == classify.lines_total and classify.gain_branches == classify.branches_total
    assert set(clamp.kept) == {"test_clamp_inside", "test_clamp_bad_bounds"} and clamp.completions == 1
    assert "test_clamp_wrong" in [c.name for c in clamp.candidates]  # the failing one is clamp's
    assert "Tests already written" in backend.prompts[1].user and "test_clamp_inside" in backend.prompts[1].user
    assert report.funnel.kept == 5 and report.funnel.generated == 6


def test_group_prompts_take_a_file_six_functions_at_a_time(project):
    from conftest import fenced

    from testbot.backends.fake import FakeBackend
    from testbot.targets import find_targets

    project.write("pkg/many.py", "".join(f"def f{i}(x):\n    return x + {i}\n\n\n" for i in range(8)))

    def answer(ns):
        return fenced("".join(f"def test_f{i}_adds_its_number():\n    assert f{i}(1) == {1 + i}\n\n\n" for i in ns))

    backend = FakeBackend({"*group*": [answer(range(6)), answer(range(6, 8))]})
    targets = find_targets([str(project.root / "pkg" / "many.py")], project.root)
    settings = Settings(
        group=True, samples=1, runs=1, repair_rounds=0, dry_run=True, python=sys.executable, explore=False
    )
    report = Pipeline(project.root, settings, backend=backend).run(targets)
    assert [p.key for p in backend.prompts] == ["pkg/many.py::*group*"] * 2
    assert "from pkg.many import f6, f7" in backend.prompts[1].prefill
    assert [(r.target, r.kept, r.note) for r in report.targets] == [
        (f"pkg/many.py::f{i}", (f"test_f{i}_adds_its_number",), "covered by the file's group prompt") for i in range(8)
    ]


def test_group_tests_are_kept_when_the_budget_runs_out_before_their_functions_turn(project):
    from conftest import fenced

    from testbot.backends.fake import FakeBackend
    from testbot.targets import find_targets

    group = fenced(
        "from pkg.m import classify, clamp\n\n\n"
        "def test_classify_zero():\n    assert classify(0) == 'zero'\n\n\n"
        "def test_clamp_inside():\n    assert clamp(5, 0, 10) == 5\n"
    )
    backend = FakeBackend({"*group*": [{"text": group, "sleep": 4}]})
    targets = find_targets([str(project.root / "pkg" / "m.py")], project.root)
    settings = Settings(group=True, budget=3, samples=2, runs=1, repair_rounds=0, python=sys.executable, explore=False)
    report = Pipeline(project.root, settings, backend=backend).run(targets)
    assert [p.key for p in backend.prompts] == ["pkg/m.py::*group*"]  # no time left for more
    assert [(r.target, r.kept, r.note) for r in report.targets] == [
        ("pkg/m.py::classify", ("test_classify_zero",), "time budget spent"),
        ("pkg/m.py::clamp", ("test_clamp_inside",), "time budget spent"),
    ]
    written = project.read("tests/test_m.py")
    assert "def test_classify_zero" in written and "def test_clamp_inside" in written


def test_a_prompt_longer_than_the_context_skips_its_target_not_the_run(project):
    """A function whose code alone is longer than the model's context, even with its docstrings cut to a line,
    is skipped with a note; the other targets still get their tests."""
    from conftest import fenced
    from testbot.backends.fake import FakeBackend
    from testbot.errors import PromptTooLong
    from testbot.targets import find_targets

    class SmallContext(FakeBackend):
        def complete(self, prompt, **kw):
            if prompt.key.endswith("::clamp"):
                raise PromptTooLong("prompt of 5044 tokens does not fit the 4096-token context")
            return super().complete(prompt, **kw)

    backend = SmallContext(
        {
            "classify": [
                fenced("from pkg.m import classify\n\n\ndef test_sign():\n    assert classify(-1) == 'negative'\n")
            ]
        }
    )
    targets = find_targets([str(project.root / "pkg" / "m.py")], project.root)
    report = Pipeline(
        project.root,
        Settings(samples=2, runs=1, repair_rounds=1, python=sys.executable, explore=False),
        backend=backend,
    ).run(targets)
    by_name = {t.target.rpartition("::")[2]: t for t in report.targets}
    assert by_name["classify"].kept == ("test_sign",)
    assert by_name["clamp"].kept == () and by_name["clamp"].note.startswith("skipped: prompt of 5044 tokens")
    assert by_name["clamp"].completions == 0


def test_a_function_that_is_mostly_docstring_gets_a_prompt_that_fits(project):
    """Over the context (less the answer's room), the prompt shows the code with its docstring cut to a line,
    and the function gets its tests."""
    from conftest import fenced
    from testbot.backends.fake import FakeBackend
    from testbot.targets import find_targets

    examples = "\n".join(f"    Example {i}: join_cells(['{i}', 'x']) gives '{i} x'." for i in range(200))
    project.write(
        "pkg/doc.py", f'def join_cells(cells):\n    """Join cells.\n\n{examples}\n    """\n    return " ".join(cells)\n'
    )
    backend = FakeBackend(
        {
            "join_cells": [
                fenced(
                    "from pkg.doc import join_cells\n\n\ndef test_two():\n    assert join_cells(['a', 'b']) == 'a b'\n"
                )
            ]
        }
    )
    targets = find_targets([str(project.root / "pkg" / "doc.py")], project.root)
    settings = Settings(
        samples=1,
        runs=1,
        repair_rounds=0,
        dry_run=True,
        python=sys.executable,
        explore=False,
        context_tokens=2048,
        max_tokens=384,
    )
    (report,) = Pipeline(project.root, settings, backend=backend).run(targets).targets
    (prompt,) = backend.prompts
    assert '"""Join cells. (docstring shortened)"""' in prompt.user and "Example 0" not in prompt.user
    assert prompt.tokens <= 2048 - 384 - 64 and "docstrings" in prompt.dropped
    assert report.kept == ("test_two",)


def test_tests_are_kept_when_the_project_imports_tests_in_importlib_mode(project):
    """pytest's --import-mode=importlib (in a project's addopts) names a test module after its folder too
    (tests.test_x): its per-test coverage contexts must still be found, or no test adds coverage."""
    from conftest import PYPROJECT, fenced

    from testbot.backends.fake import FakeBackend
    from testbot.targets import find_targets

    project.write("pyproject.toml", PYPROJECT.replace('addopts = "', 'addopts = "--import-mode=importlib '))
    good = fenced("from pkg.m import classify\n\n\ndef test_classify_zero():\n    assert classify(0) == 'zero'\n")
    targets = find_targets([str(project.root / "pkg" / "m.py") + "::classify"], project.root)
    settings = Settings(samples=1, runs=1, repair_rounds=0, dry_run=True, python=sys.executable, explore=False)
    report = Pipeline(project.root, settings, backend=FakeBackend({"*": [good]})).run(targets)
    (classify,) = report.targets
    assert classify.kept == ("test_classify_zero",) and classify.gain_lines > 0, classify
