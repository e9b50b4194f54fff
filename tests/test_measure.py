"""Coverage gain over a baseline, read from real coverage data, and greedy deduplication."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from testbot.measure import Covered, Gain, Measurable, gain, greedy_keep, measurable, read_covered
from testbot.targets import find_targets

SOURCE = '''\
def sign(n):
    """Docstrings and comments are not statements."""
    # a comment
    if n < 0:
        return -1
    elif n == 0:
        return 0
    return 1


def one_liner(): return 42
'''


@pytest.fixture
def module(tmp_path: Path) -> Path:
    path = tmp_path / "mod.py"
    path.write_text(SOURCE)
    return path


def _target(path: Path, name: str):
    (t,) = find_targets([f"{path}::{name}"], path.parent)
    return t


def test_measurable_lines_are_the_body_statements(module: Path):
    m = measurable(_target(module, "sign"), SOURCE)
    assert m.lines == {4, 5, 6, 7, 8}  # not the def line, the docstring or the comment
    assert m.branches == {(4, 5), (4, 6), (6, 7), (6, 8)}


def test_one_line_function_measures_its_def_line(module: Path):
    m = measurable(_target(module, "one_liner"), SOURCE)
    assert m.lines == {11}


def test_gain_counts_only_new_lines_and_branches_of_the_target():
    target = Measurable(frozenset({4, 5, 6, 7}), frozenset({(4, 5), (4, 6)}))
    covered = Covered(frozenset({1, 4, 5, 20}), frozenset({(4, 5), (20, 21)}))
    baseline = Covered(frozenset({4}), frozenset())
    g = gain(covered, baseline, target)
    assert g == Gain(frozenset({5}), frozenset({(4, 5)}))
    assert g.size == 2 and bool(g)
    assert not gain(baseline, baseline, target)


def G(*lines: int, branches=()) -> Gain:
    return Gain(frozenset(lines), frozenset(branches))


def test_greedy_keep_drops_tests_that_add_nothing_new():
    gains = [G(1, 2), G(1, 2), G(3)]
    assert greedy_keep(gains) == [0, 2]


def test_greedy_keep_prefers_the_test_that_covers_most():
    # the big one first; then the small ones it already covers are dropped
    assert greedy_keep([G(1), G(2), G(1, 2, 3)]) == [2]
    assert greedy_keep([G(1, branches=[(1, 2)]), G(1)]) == [0]  # branches count too


def test_greedy_keep_ties_go_to_the_first_and_empty_gains_are_never_kept():
    assert greedy_keep([G(), G(5), G(6), G()]) == [1, 2]
    assert greedy_keep([G(5), G(5)]) == [0]
    assert greedy_keep([]) == []


def test_greedy_keep_respects_what_is_already_covered():
    assert greedy_keep([G(1, 2), G(3)], already=G(1, 2)) == [1]


def test_read_covered_reads_a_real_coverage_run(module: Path, tmp_path: Path):
    script = tmp_path / "drive.py"
    script.write_text("import mod\nassert mod.sign(-3) == -1\n")
    data_file = tmp_path / ".coverage.drive"
    subprocess.run(
        [sys.executable, "-m", "coverage", "run", "--branch", f"--data-file={data_file}", str(script)],
        cwd=tmp_path,
        check=True,
        timeout=60,
    )
    covered = read_covered(data_file, module)
    assert {4, 5} <= covered.lines
    assert 6 not in covered.lines and 8 not in covered.lines
    assert (4, 5) in covered.arcs and (4, 6) not in covered.arcs
    m = measurable(_target(module, "sign"), SOURCE)
    assert gain(covered, Covered(), m) == Gain(frozenset({4, 5}), frozenset({(4, 5)}))
    # a file the run did not measure, or no data at all, covers nothing
    assert read_covered(data_file, script.with_name("other.py")) == Covered()
    assert read_covered("", module) == Covered()
