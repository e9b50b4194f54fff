"""The time budget bounds each completion's length, not only whether one starts."""

from __future__ import annotations

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
