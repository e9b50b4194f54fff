"""The search phases of a run (``--explore``): before the model (:meth:`SearchPhase.first`) and again after its
turns (:meth:`SearchPhase.again`).

Each target is called with values read off its code (:mod:`testbot.explore`) by a coverage-guided search in the
sandbox (:mod:`testbot._search`); the calls it keeps become tests whose expected values the oracle observes, run
a few hundred to a pytest process and chosen by what they add to the whole file. What a target keeps is its
:class:`testbot.ledger.Pre`; the model's turns write from it, and the second search starts from all that the kept
tests cover, with the model's tests as its first calls.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from testbot import keep, mutants, shape
from testbot import validate as v
from testbot.budget import SEARCH_SHARE, Budget
from testbot.check import Checker
from testbot.config import Settings
from testbot.explore import calls_in_tests, explore_tests, explored_tests, module_strings, search_spec
from testbot.extract import Candidate, split_tests, top_level_names
from testbot.integrate import Kept
from testbot.keep import EXPLORE_MODEL, EXPLORE_ROUND
from testbot.layout import destination_for
from testbot.ledger import Ledger, Pre
from testbot.measure import Covered, Measurable, first_lines, measurable, measurable_file
from testbot.phase import Phase
from testbot.report import Funnel, Status, TargetReport
from testbot.suite import Suite
from testbot.targets import Target, neighbours

EXPLORE_TIMEOUT = 5.0  # seconds for one explored call run alone (and the base of a whole batch's limit)
EXPLORE_EACH = 0.5  # seconds more for each call in a batch
EXPLORE_TARGETS_PER_RUN = 4  # targets whose fixed calls share a pytest process (a hang redoes them one by one)
EXPLORE_TESTS_PER_RUN = 200  # searched calls (each ran within a second in the search) sharing a pytest process
SEARCH_PER_TARGET = 2.0  # seconds of search per target of a file ...
SEARCH_MAX = 30.0  # ... and at most this for one file
SEARCH_STRINGS = 60  # strings of the model's tests a second search adds to the module's


class SearchPhase(Phase):
    """The search for one run: its workspace, checker and ledger, shared with the pipeline."""

    def __init__(
        self,
        root: Path,
        settings: Settings,
        budget: Budget,
        ws: v.Workspace,
        check: Checker,
        ledger: Ledger,
        suite: Suite,
        targets: Sequence[Target],
        changes: bool,
    ) -> None:
        super().__init__(root, settings, budget, ws, check, changes)
        self.ledger = ledger
        self.suite = suite
        self.targets = targets  # all the run's targets (a change run's scope is their changed lines)

    def first(self, todo: Sequence[Target]) -> None:
        """``--explore``: each target called with values read off its code (:mod:`testbot.explore`), the expected
        values observed from the code (the oracle), validated and chosen by coverage like the model's tests.

        First a search in the sandbox (:mod:`testbot._search`) calls a file's targets many times with values
        sampled from those lists and keeps the calls that reached new lines or branches; where it cannot run, the
        fixed calls of :func:`explore_tests` stand in. The kept calls become tests, run together (a few hundred to a
        pytest process: a process per target would cost more than the calls). A test is kept when it adds
        coverage anywhere in the file's functions (calls through a dispatcher reach code no target names); what a
        target keeps is its ``Pre``, and its own turn asks the model only for what is still missing. Under
        --budget this phase gets at most SEARCH_SHARE of the time left, half of it for the search.
        """
        by_file: dict[Path, list[Target]] = {}
        for t in todo:
            by_file.setdefault(t.file, []).append(t)
        budgeted = self.budget.limited
        stop = self.budget.share(SEARCH_SHARE)
        for n_file, (file, targets) in enumerate(by_file.items()):
            try:
                text = file.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                continue
            folder = destination_for(targets[0], self.root, self.s.tests_dir).parent
            wanted = []
            for t in targets:
                meas = measurable(t, text)
                base = self.ledger.baseline(t)
                if keep.missing(meas, base.within(meas)) or (
                    self.changes and self.s.mutants and self.suite.runs_change(t)
                ):
                    # (a change the suite runs: the search's calls are the spare tests for the mutants its tests miss)
                    wanted.append((t, meas))
            found: dict[str, list[str]] = {}
            strings = module_strings(text)
            specs = [
                self._with_before(spec, t, text)
                for t, _ in wanted
                if (spec := search_spec(t, text, strings)) is not None
            ]
            seconds = min(SEARCH_MAX, SEARCH_PER_TARGET * len(specs))
            if budgeted:
                seconds = min(seconds, self.budget.split(stop, len(by_file) - n_file, 0.5) - time.monotonic())
            if specs and seconds >= 1:
                found = self._search(file, text, targets, specs, seconds, self.s.seed)
            open_ = self._candidates(wanted, text, found, {spec["id"]: spec["head"] for spec in specs})
            facts = shape.module_facts(text, neighbours(file))  # (its examples, the errors it states)
            for t, pre in self._validate(file, text, facts, open_, folder, stop, many=bool(found)):
                self.ledger.pre[t.id] = pre

    def _search(
        self,
        file: Path,
        text: str,
        targets: Sequence[Target],
        specs: list[dict[str, Any]],
        seconds: float,
        seed: int,
        cover: Covered | None = None,
    ) -> dict[str, list[str]]:
        """One search of ``file``'s targets in the sandbox, over the file's scope; a second search starts from
        ``cover`` (what the kept tests run)."""
        whole = self.scope(file, text)
        spec: dict[str, Any] = {
            "file": str(self.ws.scratch_path(file)),
            "seed": seed,
            "targets": specs,
            "module": targets[0].module,
            "mutants": self.s.mutants,
            "lines": sorted(whole.lines),
            "branches": sorted(whole.branches),
            "first_lines": first_lines(text),
        }
        if cover is not None:
            spec.update(seen=sorted(cover.arcs), reached=sorted(cover.lines))
        return self.ws.search(spec, targets[0].import_root, seconds)

    def _with_before(self, spec: dict[str, Any], target: Target, text: str) -> dict[str, Any]:
        """A search spec of a change's target with the code before the change (:func:`mutants.change`): the search's
        mutant round looks for a call that tells the two apart first."""
        m = mutants.change(target, text) if self.changes and self.s.mutants else None
        return {**spec, "before": {"start": m.start, "end": m.end, "new": m.new}} if m is not None else spec

    def again(
        self,
        todo: Sequence[Target],
        model_tests: Mapping[Path, list[str]],
        pools: Mapping[str, mutants.Pool],
        by_id: dict[str, TargetReport],
        kept_by_file: dict[Path, list[Kept]],
    ) -> None:
        """``--explore``, after the model's turns: a second search where the files still miss something, starting
        from all that the kept tests cover, with the model's tests (kept or not) as its first calls and their
        strings and argument values among its values: a test that failed on its expected value still calls the
        code with a realistic input, which the search grows (CodaMosa's idea, on a small scale). Under --budget it
        gets what is left (FINAL_SHARE was kept back for it); without, as long as the first search."""
        budgeted = self.budget.limited
        files = list(dict.fromkeys(t.file for t in todo if t.id in by_id and by_id[t.id].status is not Status.SKIPPED))
        for n, file in enumerate(files):
            left = self.budget.left()
            if left < 2 or (not budgeted and not model_tests.get(file)):
                continue
            try:
                text = file.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                continue
            targets = [t for t in todo if t.file == file]
            cover = self.ledger.in_file(file)
            whole = self.scope(file, text)
            if not keep.missing(whole, cover):
                continue
            # every target: a call of one that is covered may still reach code no target names (an overload)
            wanted = [(t, measurable(t, text)) for t in targets]
            meas_of = {t.id: m for t, m in wanted}
            calls, imports, written = calls_in_tests(model_tests.get(file, []))
            strings = module_strings(text)
            strings += [x for x in written if x not in strings][:SEARCH_STRINGS]
            specs = [
                self._with_before(spec, t, text)
                for t, _ in wanted
                if (spec := search_spec(t, text, strings, calls, imports)) is not None
            ]
            seconds = (left / (len(files) - n)) / 2 if budgeted else min(SEARCH_MAX, SEARCH_PER_TARGET * len(specs))
            if not specs or seconds < 1:
                continue
            found = self._search(file, text, targets, specs, seconds, self.s.seed + 1, cover)
            if not found:
                continue
            open_ = self._candidates(wanted, text, found, {spec["id"]: spec["head"] for spec in specs})
            folder = destination_for(targets[0], self.root, self.s.tests_dir).parent
            facts = shape.module_facts(text, neighbours(file))
            for t, pre in self._validate(file, text, facts, open_, folder, self.budget.end, many=True):
                r = by_id[t.id]
                spare = keep.spare(pre.outcomes, pre.kept, facts)
                pre.kept = keep.polished(t, pre.kept)
                pool = pools.get(t.id)
                if pool is not None:
                    pool.kept += pre.kept
                    pool.spare += spare
                kept = [Kept(o.candidate, keep.gain_of(o), t.id, EXPLORE_MODEL) for o in pre.kept]
                if kept:
                    kept_by_file.setdefault(destination_for(t, self.root, self.s.tests_dir), []).extend(kept)
                gained = keep.gains_of(pre.kept).within(meas_of[t.id])
                by_id[t.id] = dataclasses.replace(
                    r,
                    funnel=r.funnel + pre.funnel + Funnel(kept=len(kept)),
                    candidates=r.candidates + tuple(o.result for o in pre.outcomes),
                    kept=r.kept + tuple(o.candidate.name for o in pre.kept),
                    gain_lines=r.gain_lines + len(gained.lines),
                    gain_branches=r.gain_branches + len(gained.branches),
                )

    def _candidates(
        self, targets: list[tuple[Target, Measurable]], text: str, found: dict[str, list[str]], heads: dict[str, str]
    ) -> list[tuple[Target, Measurable, list[Candidate]]]:
        """The search's kept calls (or, when it did not run, the fixed calls) as test candidates, per target."""
        names = top_level_names(text)
        out = []
        for t, meas in targets:
            if found:  # (the search ran: a target it kept no call for has nothing new to show)
                code = explored_tests(t, heads[t.id], found[t.id]) if t.id in found and t.id in heads else ""
            else:
                code = explore_tests(t, text)
            ex = (
                split_tests(
                    "```python\n" + code + "```",
                    target_id=t.id,
                    protected={t.qualname.split(".")[0]},
                    round=EXPLORE_ROUND,
                    module=t.module,
                    module_names=names,
                )
                if code
                else None
            )
            if ex is not None and not ex.error and ex.candidates:
                out.append((t, meas, list(ex.candidates)))
        return out

    def scope(self, file: Path, text: str) -> Measurable:
        """What the search's calls are kept for: the whole file, or in a change run only the changed lines of
        the file's targets."""
        if not self.changes:
            return measurable_file(text)
        parts = [measurable(t, text) for t in self.targets if t.file == file]
        return Measurable(frozenset().union(*[m.lines for m in parts]), frozenset().union(*[m.branches for m in parts]))

    def _validate(
        self,
        file: Path,
        text: str,
        facts: shape.ModuleFacts,
        open_: list[tuple[Target, Measurable, list[Candidate]]],
        folder: Path,
        stop: float,
        many: bool,
    ) -> list[tuple[Target, Pre]]:
        """Explored calls run in a few pytest processes (``many``: as many targets to a process as fit, else
        EXPLORE_TARGETS_PER_RUN), the oracle's values put in, each target's chosen by what they add to the whole
        file over what is covered so far (the file's group coverage in the ledger then includes them)."""
        whole = self.scope(file, text)
        chunks: list[list[tuple[Target, Measurable, list[Candidate]]]] = []
        most = math.inf if many else EXPLORE_TARGETS_PER_RUN  # targets to a chunk: many when the search vouched
        for item in open_:
            size = sum(len(cs) for _, _, cs in chunks[-1]) if chunks else 0
            if not chunks or len(chunks[-1]) >= most or size + len(item[2]) > EXPLORE_TESTS_PER_RUN:
                chunks.append([])
            chunks[-1].append(item)
        out = []
        for chunk in chunks:
            if time.monotonic() >= stop:
                break
            cands = [c for _, _, cs in chunk for c in cs]
            # A call may hang (a sleep, a loop on a value it never expected): short time limits, so that it
            # costs seconds, not the --timeout meant for a test someone wrote.
            validated = self.check.run(chunk[0][0], cands, folder, EXPLORE_TIMEOUT, EXPLORE_EACH)
            if self.s.observe:  # (without it only the calls that return None pass: the oracle gives the values)
                validated += self.check.repair(chunk[0][0], validated, folder, True, EXPLORE_TIMEOUT, EXPLORE_EACH)
            cover = self.ledger.group(file)
            for t, meas, cs in chunk:
                base = self.ledger.baseline(t) | cover
                # chosen by what they add to the whole file, their gain recorded on the target's own code
                have = base.within(whole)
                mine = [o for o in validated if o.candidate.target_id == t.id]
                outcomes, chosen, counted = keep.choose(mine, have, whole, record=meas, facts=facts)
                out.append((t, Pre(outcomes, chosen, counted + Funnel(generated=len(cs), parsed=len(cs)))))
                for o in chosen:
                    cover = cover | o.covered
            self.ledger.add_group(file, cover)
        return out
