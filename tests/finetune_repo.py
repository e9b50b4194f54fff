"""A tiny project with its own test suite, for the mining and augmentation tests."""

from __future__ import annotations

from pathlib import Path

SOURCE = '''\
"""Numbers."""


def _sign(n):
    return -1 if n < 0 else 1


def classify(n):
    if n < 0:
        return "negative"
    if n == 0:
        return "zero"
    return "positive"


def clamp(x, lo, hi):
    if lo > hi:
        raise ValueError("lo must not exceed hi")
    low = max(lo, x)
    return min(low, hi)


def scale(values, factor=2):
    out = []
    for value in values:
        out.append(value * factor * _sign(value) * _sign(value))
    return out
'''

# Tests live in test_numbers.py, not test_m.py: generation shows no example tests for pkg.m then.
TESTS = """\
import pytest

from pkg.m import clamp, classify, scale

LIMITS = (0, 10)


def within(x):
    return clamp(x, *LIMITS)


def test_clamp_inside():
    assert within(5) == 5


def test_clamp_bad_limits():
    with pytest.raises(ValueError, match="lo must not exceed hi"):
        clamp(1, 5, 0)


def test_classify_negative_input():
    assert classify(clamp(-5, -3, 3)) == "negative"


def test_scale_keyword():
    assert scale([1, -2], factor=3) == [3, -6]


def test_scale_name():
    assert scale([1]) == [2] and scale.__name__ == "scale"


def test_needs_conftest(numbers):
    assert classify(numbers[0]) == "positive"


def test_fails():
    assert classify(0) == "positive"


class TestClassify:
    def test_zero(self):
        assert classify(0) == "zero"
"""

CONFTEST = """\
import pytest


@pytest.fixture
def numbers():
    return [1, 2, 3]
"""


HANGS = "\n\ndef test_hangs():\n    import time\n    time.sleep(600)\n"


def make_repo(root: Path, hang: bool = False) -> Path:
    files = {
        "pyproject.toml": '[project]\nname = "numbers"\nversion = "0.1"\n\n[tool.pytest.ini_options]\n'
        'addopts = "-p no:hypothesispytest -p no:benchmark"\n',
        "pkg/__init__.py": "",
        "pkg/m.py": SOURCE,
        "tests/conftest.py": CONFTEST,
        "tests/test_numbers.py": TESTS,
    }
    if hang:
        files["tests/test_slow.py"] = HANGS
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
    return root
