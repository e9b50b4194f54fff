"""Mutation as a signal: among the tests that passed but add no coverage, keep the ones that catch faults the kept
tests miss.

Coverage says a line ran; a mutant (:mod:`testbot.mutate`: ``<`` made ``<=``, a ``+`` made ``-``, a return made
``None``) says whether any test would notice it being wrong. After the run's tests are chosen by coverage, each
function's mutants are put in place one at a time inside one sandboxed pytest process
(:mod:`testbot._mutants_plugin`): the kept tests that run the mutated line go first, and a mutant one of them
catches is done; for a mutant they all miss, every spare test (stable, passing, not kept) that runs the line is
tried. Spare tests are then kept greedily by the mutants only they catch, the model's before the search's
(Meta's ACH keeps tests by the faults they catch in the same spirit), at most :data:`KEEP_MAX` per function.

Mutants go on a function's body lines that the project's own suite does not run and, in a change run, on its
changed lines the suite's tests do run: there the suite's tests of the line go first (a mutant one of them catches
is the suite's), so a spare test is kept only for a fault in the change that the suite would let through. Outside a
change run the suite's lines are left alone (whether the suite catches a mutant in the unchanged code is its own
business, and running it per mutant would cost the whole budget). This module has no I/O; the pipeline writes the
tests and runs the spec.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from testbot import keep
from testbot import mutate
from testbot.targets import Target

MUTANTS_MAX = 40  # mutants per function, at most (spread over its lines: every line gets a turn first)
KEEP_MAX = 3  # spare tests kept for mutants alone, per function
PER_TEST = 1.0  # seconds a test may run with a mutant in place before it counts as catching it
CHANGE_WORTH = 10  # the change itself (the code before it), counted as this many mutants when choosing
SUITE_MAX = 300  # the project's tests tried per mutant, at most (those that run its line, one per test function
# first): a mutant the cut-off tests would catch looks missed, and the spare test kept for it adds nothing


@dataclass
class Pool:
    """One function's tests: the kept ones (for the mutants they catch) and the spare ones (to choose from)."""

    target: Target
    lines: frozenset[int]  # where its mutants go
    kept: list[keep.Outcome]
    spare: list[keep.Outcome]
    suite: dict[int, tuple[str, ...]] = field(default_factory=dict)  # line -> the project's tests that run it
    statements: dict[int, int] = field(default_factory=dict)  # line -> the first line of its statement
    only: tuple[mutate.Mutant, ...] | None = None  # these mutants, not those on ``lines`` (a run for survivors)
    # In a change run: the function as it was before the change, as one more mutant (:func:`change`), run by the
    # tests of the changed lines (statement first lines), the project's (``change_suite``) first
    change: mutate.Mutant | None = None
    change_lines: frozenset[int] = frozenset()
    change_suite: tuple[str, ...] = ()


CHANGE = "the code before this change"  # the description of a pool's change mutant


def change(target: Target, text: str) -> mutate.Mutant | None:
    """The function as it was before the change (``target.before``) put in place of the function now (``text``:
    its file), as a mutant: a test that catches it passes on the code after the change and fails on the code
    before it, so it captures the change. None outside a change run, for a function the change added, or where the
    old code cannot stand in (it reads the same, or sat at another indentation)."""
    old = target.before
    if not old or old == target.source or _indent(old) != _indent(target.source):
        return None
    lines = text.splitlines(keepends=True)
    start = sum(len(line) for line in lines[: target.start - 1])
    end = start + len(target.source)
    if text[start:end] != target.source:
        return None
    return mutate.Mutant(target.rel, target.def_line, CHANGE, text[:start] + old + text[end:], start, end, old)


def _indent(source: str) -> str:
    first = source.lstrip("\n").splitlines()[0] if source.strip() else ""
    return first[: len(first) - len(first.lstrip())]


@dataclass(frozen=True)
class Chosen:
    outcome: keep.Outcome
    catches: int  # mutants it catches that the kept tests (and the spare ones chosen before it) miss
    captures: bool = False  # it catches the code before the change (fails there, passes now)


def of_function(target: Target, text: str, lines: frozenset[int]) -> list[mutate.Mutant]:
    """Mutants of ``target``'s body on ``lines``, at most :data:`MUTANTS_MAX`, taking each line's first mutant
    before any line's second."""
    body = {n for n in lines if target.def_line < n <= target.end}
    return mutate.spread(mutate.mutants(target.rel, text, body), MUTANTS_MAX)


def spec_entry(
    n: int, target: Target, m: mutate.Mutant, suite: Sequence[str], kept: list[str], spare: list[str]
) -> dict:
    """One mutant of the plugin's spec (:mod:`testbot._mutants_plugin`): its id ``n``, the function it changes,
    the edit, and the tests to try: the project's ``suite`` node ids (at most SUITE_MAX), then the ``kept`` test
    files (stop at the first that fails), then every ``spare`` one."""
    return {
        "id": n,
        "qualname": target.qualname,
        "first": target.start,
        "start": m.start,
        "end": m.end,
        "text": m.new,
        "suite": list(suite)[:SUITE_MAX],
        "kept": kept,
        "spare": spare,
    }


def spec(
    module: str,
    scratch_file: str,
    text: str,
    pools: Sequence[Pool],
    file_of: dict[int, str],
    seconds: float,
    every: bool = False,
) -> tuple[dict, dict[int, tuple[int, mutate.Mutant]]]:
    """The plugin's spec for the functions of one source file (``text``; ``scratch_file``: its path in the
    scratch copy; ``file_of``: id of an outcome -> the name of the test file it was written to), and mutant id
    -> (pool index, mutant). A mutant no spare test runs is left out: there is nothing to choose for it (unless
    ``every``: then the answer also tells which mutants no test catches, those without spare tests last)."""
    first: list[dict] = []
    last: list[dict] = []  # (every: the mutants no spare test runs, after those it does)
    found: list[tuple[int, mutate.Mutant]] = []

    def entry(n: int, m: mutate.Mutant, suite: Sequence[str], kept: list[str], spare: list[str], lead: bool) -> None:
        (first if lead else last).append(spec_entry(len(found), pools[n].target, m, suite, kept, spare))
        found.append((n, m))

    def running(outcomes: list[keep.Outcome], lines: frozenset[int]) -> list[str]:
        return [file_of[id(o)] for o in outcomes if lines & o.covered.lines and id(o) in file_of]

    for n, pool in enumerate(pools):
        # the kept tests to try: the function's own first, then the other functions' of the file
        own = {id(o) for o in pool.kept}
        kept_first = pool.kept + [o for p in pools for o in p.kept if id(o) not in own]
        spare = running(pool.spare, pool.change_lines)
        if pool.change is not None and (spare or every):  # (first: a test that captures the change is worth most)
            entry(n, pool.change, pool.change_suite, running(kept_first, pool.change_lines), spare, True)
        for m in pool.only if pool.only is not None else of_function(pool.target, text, pool.lines):
            line = pool.statements.get(m.line, m.line)  # (what coverage records of a statement over several lines)
            spare = running(pool.spare, frozenset({line}))
            if spare or every:
                entry(n, m, pool.suite.get(line, ()), running(kept_first, frozenset({line})), spare, bool(spare))
    index = dict(enumerate(found))
    mutants = first + last
    return {"module": module, "file": scratch_file, "mutants": mutants, "seconds": seconds, "per_test": PER_TEST}, index


def missed(answer: dict, index: dict[int, tuple[int, mutate.Mutant]]) -> dict[int, dict[int, set[str]]]:
    """Pool index -> mutant id -> the spare test files that caught it, for each mutant the run put in place and
    neither the project's tests nor a kept test caught (a mutant the time cut short is not among them)."""
    out: dict[int, dict[int, set[str]]] = {}
    for key, res in answer.get("ran", {}).items():
        if not key.isdigit() or int(key) not in index or not isinstance(res, dict) or res.get("caught"):
            continue
        out.setdefault(index[int(key)][0], {})[int(key)] = {f for f in res.get("spare") or () if isinstance(f, str)}
    return out


def survivors(
    missed_by: dict[int, dict[int, set[str]]], index: dict[int, tuple[int, mutate.Mutant]]
) -> dict[int, list[mutate.Mutant]]:
    """Pool index -> its mutants that no test caught, not even a spare one (``missed_by``: :func:`missed`)."""
    out: dict[int, list[mutate.Mutant]] = {}
    for n, by_mutant in missed_by.items():
        for mid, files in by_mutant.items():
            if not files:
                out.setdefault(n, []).append(index[mid][1])
    return out


def change_ids(index: dict[int, tuple[int, mutate.Mutant]]) -> frozenset[int]:
    """The ids of the pools' change mutants (:func:`change`) among ``index``'s."""
    return frozenset(mid for mid, (_, m) in index.items() if m.description == CHANGE)


def faults(text: str, found: Sequence[mutate.Mutant]) -> list[tuple[int, str, str]]:
    """(line number, the line as it is, the line with the mutant in it) for each of ``found`` in ``text`` (the
    lines of a statement over up to three), once each (two mutants that read the same are one fault to show)."""
    lines = text.splitlines()
    out: list[tuple[int, str, str]] = []
    for m in found:
        if m.description == CHANGE:
            continue  # (shown as the change's diff)
        start = text.rfind("\n", 0, m.start) + 1
        end = text.find("\n", m.end)
        old = text[start : end if end >= 0 else len(text)]
        new = text[start : m.start] + m.new + text[m.end : end if end >= 0 else len(text)]
        if old.count("\n") > 2 or m.line > len(lines):
            continue  # (a long statement's fault is hard to read off a prompt)
        fault = (m.line, old, new)
        if old != new and fault not in out:
            out.append(fault)
    return out


def choose(
    pool: Pool, caught_by: dict[int, set[str]], file_of: dict[int, str], changes: frozenset[int] = frozenset()
) -> list[Chosen]:
    """The spare tests of ``pool`` worth keeping: ``caught_by`` maps each of its mutants that no kept test caught
    to the spare test files that did. Greedy by mutants caught that no test chosen so far catches (the change
    itself, a mutant id in ``changes``, worth CHANGE_WORTH of them); the model's tests first (a search's call kept
    for a mutant only where no model test catches it), at most KEEP_MAX."""
    alive = {mid: files for mid, files in caught_by.items() if files}
    chosen: list[Chosen] = []
    for model_first in (True, False):
        group = [o for o in pool.spare if (o.candidate.round != keep.EXPLORE_ROUND) == model_first and id(o) in file_of]
        while alive and len(chosen) < KEEP_MAX:
            scored = []
            for o in group:
                caught = {mid for mid, files in alive.items() if file_of[id(o)] in files}
                scored.append((sum(CHANGE_WORTH if mid in changes else 1 for mid in caught), caught, o))
            best = max(scored, key=lambda s: (s[0], -len(s[2].candidate.test_source)), default=None)
            if best is None or best[0] == 0:
                break
            _, caught, o = best
            chosen.append(Chosen(o, len(caught - changes), bool(caught & changes)))
            group.remove(o)
            alive = {mid: files for mid, files in alive.items() if mid not in caught}
    return chosen
