"""The project's own test suite as the baseline: run once the way its users run it, then asked what it covers of
each target's file and which of its tests run each line.

A kept test must add to what the suite covers (``--baseline``, the default); the mutants phase puts a target's
mutants where the suite does not reach, and in a change run tries the suite's own tests of a changed line first
(:meth:`Suite.pool`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from testbot import keep, mutants
from testbot import validate as v
from testbot.errors import EnvironmentProblem
from testbot.layout import has_suite
from testbot.measure import Covered, Measurable, first_lines, read_covered, tests_by_line
from testbot.targets import Target

SUITE_SECONDS = 600.0  # at least this long for the project's own suite (the baseline) to run


class Suite:
    """What the project's suite covers, per target file (empty until :meth:`run`, and with ``--no-baseline``)."""

    def __init__(self) -> None:
        self._covered: dict[Path, Covered] = {}  # target file -> what the suite covers of it
        self._tests: dict[Path, dict[int, tuple[str, ...]]] = {}  # target file -> line -> suite tests running it
        self._statements: dict[Path, dict[int, int]] = {}  # target file -> line -> first line of its statement

    def run(self, ws: v.Workspace, root: Path, files: list[Path], import_roots: list[Path], timeout: float) -> None:
        """Run the project's test suite under coverage of ``files``, importing the package from the scratch copy
        (``import_roots``: e.g. ``src/``, where an editable install points at the real project, which the sandbox
        does not let a run read); a suite that cannot be collected or run stops testbot, naming pytest's key line,
        before anything is written. A project without a suite has nothing to run."""
        if not has_suite(root):
            return
        res = ws.run_suite(files, timeout=max(timeout, SUITE_SECONDS), import_roots=import_roots)
        if not res.ran:
            raise EnvironmentProblem(
                f"the project's test suite cannot run under {ws.python}: {res.why}. Make `pytest` pass "
                f"collection there (install the project's test dependencies), or pass --no-baseline to write tests "
                f"without the suite as the baseline"
            )
        node_ids: dict[str, list[str]] = {}
        for node, label in res.labels.items():
            node_ids.setdefault(label, []).append(node)
        for file in files:
            self._covered[file] = read_covered(res.coverage_file, ws.scratch_path(file))
            self._tests[file] = {
                n: round_robin([node_ids.get(label, []) for label in sorted(labels)])
                for n, labels in tests_by_line(res.coverage_file, ws.scratch_path(file)).items()
            }

    def covered(self, file: Path) -> Covered:
        return self._covered.get(file, Covered())

    def covers_all(self, file: Path, meas: Measurable) -> bool:
        """Whether the suite alone runs every line and branch of ``meas`` (and it has lines)."""
        suite = self.covered(file)
        return bool(meas.lines) and not (meas.lines - suite.lines) and not (meas.branches - suite.arcs)

    def lines(self, target: Target) -> tuple[dict[int, int], frozenset[int], dict[int, tuple[str, ...]]]:
        """For ``target``'s file: line -> the first line of its statement (where coverage records it), the lines
        the suite runs, and line -> the suite's tests that run it."""
        if target.file not in self._statements:
            try:
                self._statements[target.file] = first_lines(target.file.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError):
                self._statements[target.file] = {}
        return self._statements[target.file], self.covered(target.file).lines, self._tests.get(target.file, {})

    def mutant_lines(self, target: Target, meas: Measurable, changes: bool) -> frozenset[int]:
        """Where ``target``'s mutants go: its lines that the suite does not run, and in a change run (``changes``)
        its changed lines, those the suite's tests run included (they run first against each mutant there). A line
        inside a statement that spans lines is run when the statement's first line is."""
        stmt, suite, known = self.lines(target)
        if changes:
            # the changed lines themselves: a statement over several lines counts among a change's lines by its
            # first line, which (when only a later line of it changed) holds no change to mutate
            mapped = {stmt[n] for n in target.lines if n in stmt}
            return frozenset(
                n
                for n in target.lines
                if target.def_line < n <= target.end
                and n not in mapped
                and (stmt.get(n, n) not in suite or known.get(stmt.get(n, n)))
            )
        return frozenset(n for n in meas.lines if stmt.get(n, n) not in suite)

    def runs_change(self, target: Target) -> bool:
        """Whether the suite's tests run some of ``target``'s changed lines (its mutants there go to them first)."""
        stmt, _, known = self.lines(target)
        return any(known.get(stmt.get(n, n)) for n in target.lines if target.def_line < n <= target.end)

    def pool(
        self,
        target: Target,
        meas: Measurable,
        kept: list[keep.Outcome],
        spare: list[keep.Outcome],
        text: str,
        changes: bool,
    ) -> mutants.Pool:
        """``target``'s tests for the mutants phase, with where its mutants go (:meth:`mutant_lines`) and, in a
        change run, the code before the change as one more mutant, run by the tests of its changed lines."""
        lines = self.mutant_lines(target, meas, changes)
        stmt, _, known = self.lines(target)
        firsts = {stmt.get(n, n) for n in lines}
        change = mutants.change(target, text) if changes else None
        changed = frozenset(stmt.get(n, n) for n in target.lines if target.def_line < n <= target.end)
        return mutants.Pool(
            target,
            lines,
            kept,
            spare,
            {n: known[n] for n in firsts if known.get(n)},
            {n: stmt[n] for n in lines if n in stmt},
            change=change,
            change_lines=changed,
            change_suite=round_robin([known.get(n, ()) for n in sorted(changed)]),
        )


def round_robin(groups: Sequence[Sequence[str]]) -> tuple[str, ...]:
    """Each group's first, then each group's second, ...: the suite's tests of a line, one per test function (its
    parametrized cases after), so that the first few tried are as different as the suite has."""
    return tuple(g[i] for i in range(max(map(len, groups), default=0)) for g in groups if i < len(g))
