"""The time budget bounds each completion's length, not only whether one starts."""

from __future__ import annotations

import json
import time
from pathlib import Path

from testbot.config import Settings
from testbot.pipeline import MIN_TOKENS, Pipeline


def test_completions_shrink_to_fit_the_time_left(tmp_path: Path):
    pipe = Pipeline(tmp_path, Settings(max_tokens=384))
    assert pipe._token_cap(time.monotonic() + 5) == 384  # speed not measured yet: the configured length
    pipe._decoded = (200, 10.0)  # 20 tokens a second, measured on earlier completions
    assert pipe._token_cap(float("inf")) == 384
    assert pipe._token_cap(time.monotonic() + 60) == 384  # 1200 would fit: capped by max_tokens
    assert 150 <= pipe._token_cap(time.monotonic() + 8) <= 160  # 8 s left: ~160 tokens
    assert pipe._token_cap(time.monotonic() + 1) < MIN_TOKENS  # too little left for a test: not started


def test_a_budget_is_shared_between_targets_breadth_first(project):
    """Under --budget the first target may not spend the whole run on more samples while the next one waits."""
    from conftest import fenced

    def slow(*tests: str) -> list[dict]:  # 1.5 s each, long enough (a comment) that speed never caps a sample
        return [{"text": fenced("# " + "filler " * 300 + "\n" + t), "sleep": 1.5} for t in tests]

    model = project.fake_model({
        "classify": slow(*(f"from pkg.m import classify\n\n\ndef test_{i}():\n    assert classify({n}) == '{want}'\n"
                           for i, (n, want) in enumerate([(-1, "negative"), (0, "zero"), (1, "positive")]))),
        "clamp": slow(*(f"from pkg.m import clamp\n\n\ndef test_{i}():\n    assert clamp({x}, 0, 10) == {want}\n"
                        for i, (x, want) in enumerate([(5, 5), (-1, 0), (11, 10)]))),
    })
    # One target alone would take its 3 samples (~3 x 2.5 s with validation) and the other would be skipped.
    run = project.generate("pkg/m.py", "--budget", "8", "--samples", "3", "--runs", "1", "--repair-rounds", "0",
                           "--model", model, "--json", "--dry-run")
    assert run.code == 1, run.err  # 1: tests to write
    targets = json.loads(run.out)["targets"]
    assert [t["target"] for t in targets] == ["pkg/m.py::classify", "pkg/m.py::clamp"]
    assert all(1 <= t["completions"] < 3 and t["kept"] for t in targets), targets
    assert targets[0]["note"] == "time budget spent"
