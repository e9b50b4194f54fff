"""Coverage gain of candidate tests over a baseline, read from coverage.py's data API, and greedy dedup."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from coverage import CoverageData
from coverage.parser import PythonParser

from testbot.targets import Target

Arc = tuple[int, int]


@dataclass(frozen=True)
class Measurable:
    """The statements and branch arcs of a target that tests can cover."""

    lines: frozenset[int]
    branches: frozenset[Arc]


@dataclass(frozen=True)
class Covered:
    lines: frozenset[int] = frozenset()
    arcs: frozenset[Arc] = frozenset()

    def __or__(self, other: Covered) -> Covered:
        return Covered(self.lines | other.lines, self.arcs | other.arcs)

    def within(self, target: Measurable) -> Covered:
        """The part on ``target``'s lines and branches."""
        return Covered(self.lines & target.lines, self.arcs & target.branches)


@dataclass(frozen=True)
class Gain:
    lines: frozenset[int] = field(default_factory=frozenset)
    branches: frozenset[Arc] = field(default_factory=frozenset)

    def __bool__(self) -> bool:
        return bool(self.lines or self.branches)

    def __sub__(self, other: Gain) -> Gain:
        return Gain(self.lines - other.lines, self.branches - other.branches)

    def __or__(self, other: Gain) -> Gain:
        return Gain(self.lines | other.lines, self.branches | other.branches)

    @property
    def size(self) -> int:
        return len(self.lines) + len(self.branches)

    def within(self, target: Measurable) -> Gain:
        """The part on ``target``'s own lines and branches (a gain recorded on the whole file counts helpers too)."""
        return Gain(self.lines & target.lines, self.branches & target.branches)


@functools.lru_cache(maxsize=128)
def _analyse(text: str) -> tuple[frozenset[int], frozenset[Arc], dict[int, int]]:
    parser = PythonParser(text=text)
    parser.parse_source()
    return frozenset(parser.statements), frozenset(parser.arcs()), dict(parser.exit_counts())


def measurable(target: Target, text: str) -> Measurable:
    """Statements among the target's lines that matter, and the arcs out of its branching lines."""
    statements, arcs, exits = _analyse(text)
    body = frozenset(range(target.def_line, target.end + 1))
    lines = frozenset(n for n in statements if n in target.lines and n in body and n != target.def_line)
    if not lines:  # e.g. a one-line function: the def line is its only statement
        lines = frozenset(n for n in statements if n in target.lines and n in body)
    branches = frozenset(a for a in arcs if a[0] in lines and exits.get(a[0], 0) > 1)
    return Measurable(lines, branches)


@functools.lru_cache(maxsize=16)
def first_lines(text: str) -> dict[int, int]:
    """The lines of multi-line statements, each with the statement's first line (coverage.py's numbering)."""
    parser = PythonParser(text=text)
    parser.parse_source()
    return {n: f for n, f in getattr(parser, "multiline_map", {}).items() if n != f}


def measurable_file(text: str) -> Measurable:
    """Every statement of a file and the arcs out of its branching lines (what a test may add anywhere in it)."""
    statements, arcs, exits = _analyse(text)
    return Measurable(statements, frozenset(a for a in arcs if a[0] in statements and exits.get(a[0], 0) > 1))


def read_covered(data_file: str | Path, source_file: Path, test_module: str = "") -> Covered:
    """Lines and arcs of ``source_file`` that a run covered (CoverageData, not report text).

    With ``test_module``, only what the tests of that module covered (needs a run recorded with
    ``dynamic_context = test_function``, whose contexts read "module.test" or "module.Class.test"). The
    module may carry a package prefix: under pytest's ``--import-mode=importlib`` (a project's addopts) a
    test file ``tests/test_x.py`` is imported as ``tests.test_x``.
    """
    found = _measured(data_file, source_file)
    if found is None:
        return Covered()
    data, measured = found
    if test_module:
        data.set_query_contexts([rf"^(?:[\w.]*\.)?{re.escape(test_module)}\."])
    return Covered(frozenset(data.lines(measured) or ()), frozenset(data.arcs(measured) or ()))


def _measured(data_file: str | Path, source_file: Path) -> tuple[CoverageData, str] | None:
    """The run's coverage data and the name it measured ``source_file`` under; None when it did not."""
    if not data_file:
        return None
    data = CoverageData(basename=str(data_file))
    data.read()
    wanted = source_file.resolve()
    for measured in data.measured_files():
        if Path(measured).resolve() == wanted:
            return data, measured
    return None


def gain(covered: Covered, baseline: Covered, target: Measurable) -> Gain:
    """What ``covered`` adds over ``baseline`` on the target's lines and branches."""
    return Gain(
        frozenset((covered.lines & target.lines) - baseline.lines),
        frozenset((covered.arcs & target.branches) - baseline.arcs),
    )


def greedy_keep(gains: Sequence[Gain], already: Gain = Gain()) -> list[int]:
    """Indices of the gains to keep: repeatedly the one adding most that is not yet covered (ties: first)."""
    kept: list[int] = []
    have = already
    remaining = [i for i, g in enumerate(gains) if g]
    while remaining:
        best = max(remaining, key=lambda i: ((gains[i] - have).size, -i))
        if not (gains[best] - have):
            break
        kept.append(best)
        have = have | gains[best]
        remaining.remove(best)
    return kept


def uncovered(target: Measurable, covered: Iterable[Covered]) -> tuple[frozenset[int], frozenset[Arc]]:
    total = Covered()
    for c in covered:
        total = total | c
    return target.lines - total.lines, target.branches - total.arcs


def tests_by_line(data_file: str | Path, source_file: Path) -> dict[int, frozenset[str]]:
    """Per line of ``source_file``, the test functions that ran it (a run recorded with ``dynamic_context =
    test_function``: "module.test", "module.Class.test"); lines run outside any test (imports, fixtures) have none."""
    found = _measured(data_file, source_file)
    if found is None:
        return {}
    data, measured = found
    by_line = data.contexts_by_lineno(measured)
    return {n: frozenset(c for c in names if c) for n, names in by_line.items() if any(names)}
