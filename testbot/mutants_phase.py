"""The mutants phase of a run (``--mutants``, and ``--aim`` in a change run), after the tests are chosen by coverage.

Per source file, its functions' mutants run against the project's tests of their lines, the kept tests and the
spare ones in one sandboxed pytest process (:func:`testbot.mutants.spec`); spare tests that catch mutants the kept
ones miss are kept too (:func:`testbot.mutants.choose`). In a change run with ``--aim`` the run also names the
mutants that no test catches, and the model is shown them (:meth:`MutantsPhase.aim`).

The phase reads the run's reports and returns the ones it changed with the tests it keeps; the pipeline merges
them before placing the tests.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from testbot import keep, mutants, mutate
from testbot import validate as v
from testbot.budget import MIN_TOKENS, MUTANTS_SECONDS, Budget
from testbot.check import Checker
from testbot.config import Settings
from testbot.context import build_context
from testbot.errors import PromptTooLong
from testbot.extract import split_tests, top_level_names
from testbot.generate import Completion
from testbot.integrate import Kept
from testbot.keep import EXPLORE_MODEL, EXPLORE_ROUND
from testbot.layout import destination_for
from testbot.measure import Gain
from testbot.phase import Phase
from testbot.prompt import Prompt, build_aim_prompt, change_diff, signature_texts
from testbot.report import Funnel, Status, TargetReport
from testbot.targets import Target

AIM_TOKENS = 400  # tokens of answer for the tests aimed at one function's surviving mutants (--aim) ...
AIM_SECONDS = 120.0  # ... and without --budget, at most this long for them in a run
AIM_SEED = 2000  # (added to --seed: the aimed answers sample apart from the other prompts')


@dataclass(frozen=True)
class Writer:
    """What the phase asks of the run's model; the pipeline's own calls, so the time goes into the run's budget."""

    complete: Callable[[Prompt, int, int], Completion]  # (prompt, seed, max_tokens)
    # (deadline, limit or 0, the prompt or None: reading it takes time too) -> tokens an answer can have before it
    token_cap: Callable[[float, int, Prompt | None], int]
    count_tokens: Callable[[str], int]
    name: Callable[[], str]  # the model's name, recorded with each test it wrote


def scratch_node(ws: v.Workspace, root: Path, node: str) -> str:
    """A suite test's node id with its file as a path in the scratch copy (pytest takes it as an argument)."""
    path, sep, rest = node.partition("::")
    return str(ws.scratch_path(root / path)) + sep + rest


class MutantsPhase(Phase):
    def __init__(
        self,
        root: Path,
        settings: Settings,
        budget: Budget,
        ws: v.Workspace,
        check: Checker,
        writer: Writer,
        changes: bool = False,
    ) -> None:
        super().__init__(root, settings, budget, ws, check, changes)
        self.writer = writer
        self.reports: dict[str, TargetReport] = {}
        self.kept: dict[Path, list[Kept]] = {}

    def aims(self) -> bool:
        """Whether the mutants no test catches go to the model (``--aim``): in a change run, with a model."""
        return self.changes and self.s.mutants and self.s.aim and self.s.write

    def run(
        self, todo: Sequence[Target], pools: Mapping[str, mutants.Pool], reports: Mapping[str, TargetReport]
    ) -> tuple[dict[str, TargetReport], dict[Path, list[Kept]]]:
        """The phase over ``todo`` (``pools``: each target's kept and spare tests; ``reports``: the run's so far).
        Under --budget it gets what is left (MUTANTS_SHARE was kept back for it), shared by the files. Returns the
        reports it changed and the tests it keeps, by the test file they go to."""
        self.reports, self.kept = dict(reports), {}
        before = dict(self.reports)
        aim = self.aims()
        by_file: dict[Path, list[mutants.Pool]] = {}
        for t in todo:
            pool = pools.get(t.id)
            if pool is not None and (pool.lines or pool.change) and (pool.spare or aim) and t.id in self.reports:
                by_file.setdefault(t.file, []).append(pool)
        aim_left = AIM_SECONDS  # (without --budget: the model's time for the survivors, shared by the files)
        for n, (file, file_pools) in enumerate(by_file.items()):
            left = self.budget.left() / (len(by_file) - n) if self.budget.limited else MUTANTS_SECONDS
            if left < 2:
                continue
            try:
                text = file.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                continue
            ran = self.run_mutants(text, file_pools, left, every=aim)
            if ran is None:
                continue
            answer, index, file_of = ran
            missed = mutants.missed(answer, index)  # pool index -> mutant id -> spare files catching it
            changes = mutants.change_ids(index)
            for i, pool in enumerate(file_pools):
                self.keep(pool, mutants.choose(pool, missed.get(i, {}), file_of, changes))
            if aim:
                alive = mutants.survivors(missed, index)
                began = time.monotonic()
                share = (self.budget.left() if self.budget.limited else aim_left) / (len(by_file) - n)
                self.aim(text, [(file_pools[i], found) for i, found in sorted(alive.items())], began + share)
                aim_left -= time.monotonic() - began
        return {k: r for k, r in self.reports.items() if r is not before[k]}, self.kept

    def run_mutants(
        self, text: str, pools: list[mutants.Pool], seconds: float, every: bool = False
    ) -> tuple[dict, dict[int, tuple[int, mutate.Mutant]], dict[int, str]] | None:
        """One sandboxed pytest process: the mutants of ``pools`` (functions of one file, ``text``) against the
        project's tests that run their lines, the kept tests and the spare ones (:func:`mutants.spec`). Returns
        the plugin's answer, mutant id -> (pool index, mutant), and id of an outcome -> its test file's name;
        None when there was nothing to run or the run went wrong."""
        ws = self.ws
        target = pools[0].target
        folder = destination_for(target, self.root, self.s.tests_dir).parent
        written: dict[int, Path] = {}
        for o in [o for p in pools for o in p.kept + p.spare]:
            written.setdefault(id(o), ws.write_candidate(o.candidate, folder))
        file_of = {k: p.name for k, p in written.items()}
        spec, index = mutants.spec(
            target.module, str(ws.scratch_path(target.file)), text, pools, file_of, max(1.0, seconds - 3), every
        )
        # the project's tests the mutants name, by node id (relative to the project's root, as pytest spells them)
        nodes = sorted({n for m in spec["mutants"] for n in m["suite"]})
        try:
            if not spec["mutants"]:
                return None
            answer = ws.run_mutants(
                sorted(set(written.values())),
                import_root=target.import_root,
                spec=spec,
                timeout=seconds + 5,
                node_ids=[scratch_node(ws, self.root, n) for n in nodes],
            )
        finally:
            for path in written.values():
                path.unlink(missing_ok=True)
        return None if answer is None else (answer, index, file_of)

    def keep(self, pool: mutants.Pool, chosen: list[mutants.Chosen]) -> None:
        """Keep ``chosen`` (spare tests of ``pool``) for the mutants they catch."""
        if not chosen:
            return
        t = pool.target
        # (each on its own: grouped or merged with another, a test's own count of mutants would be lost)
        polished = [keep.polished(t, [c.outcome])[0] for c in chosen]
        # (kept for the mutants alone: over the kept tests they add no line or branch)
        model = self.writer.name()
        kept = [
            Kept(
                o.candidate,
                Gain(),
                t.id,
                EXPLORE_MODEL if o.candidate.round == EXPLORE_ROUND else model,
                c.catches,
                c.captures,
            )
            for o, c in zip(polished, chosen)
        ]
        self.kept.setdefault(destination_for(t, self.root, self.s.tests_dir), []).extend(kept)
        r = self.reports[t.id]
        note = r.note
        catches, captures = sum(c.catches for c in chosen), sum(c.captures for c in chosen)
        if r.status is Status.COVERED:  # (the suite runs all of it, yet lets these faults through)
            what = [f"{catches} mutants of it that no test catches"] if catches else []
            what += ["the change itself, which no test notices (it fails on the code before)"] if captures else []
            note = f"{note}; {len(kept)} kept for {' and '.join(what)}"
        self.reports[t.id] = dataclasses.replace(
            r,
            funnel=r.funnel + Funnel(kept=len(kept)),
            kept=r.kept + tuple(o.candidate.name for o in polished),
            catches=r.catches + catches,
            captures=r.captures + captures,
            note=note,
        )

    def aim(self, text: str, alive: list[tuple[mutants.Pool, list[mutate.Mutant]]], stop: float) -> None:
        """``--aim``: for each function with mutants that no test catches (``alive``: the project's suite, the
        kept tests and the spare ones all pass with them in place), the model is shown those faults next to the
        code, and the change itself when no test notices it either (the code before it passes every test too)
        (:func:`testbot.prompt.build_aim_prompt`), and writes tests meant to tell the code from each; its passing
        tests (wrong expected values repaired by the oracle) run against those mutants, and the ones that catch
        them are kept (Meta's ACH and MuTAP aim a model at surviving mutants in the same way). Until ``stop``."""
        for pool, found in alive:
            t = pool.target
            change = next((m for m in found if m.description == mutants.CHANGE), None)
            rest = [m for m in found if m is not change]
            faults = mutants.faults(text, rest)
            # (no prompt is built when even an unread one leaves too little time: reading only takes more)
            if not (faults or change) or self.writer.token_cap(stop, 0, None) < 2 * MIN_TOKENS:
                continue
            ctx = build_context(t, self.root, self.s.tests_dir)
            explored = [o for o in pool.kept + pool.spare if o.candidate.round == EXPLORE_ROUND]
            diff = change_diff(t.before or "", t.source) if change is not None else ""
            prompt = build_aim_prompt(
                ctx,
                text,
                faults,
                change=diff,
                imports=keep.evidence_imports(explored),
                budget=self.s.prompt_tokens,
                count=self.writer.count_tokens,
            )
            cap = self.writer.token_cap(stop, AIM_TOKENS, prompt)
            if cap < 2 * MIN_TOKENS:  # (what is left, once the prompt is read, holds no test worth the time)
                continue
            try:
                completion = self.writer.complete(prompt, self.s.seed + AIM_SEED, cap)
            except PromptTooLong:
                continue
            ex = split_tests(
                completion.text,
                target_id=t.id,
                protected={t.qualname.split(".")[0]},
                round=0,
                sample=0,
                mean_logprob=completion.mean_logprob,
                module=t.module,
                module_names=top_level_names(text),
            )
            folder = destination_for(t, self.root, self.s.tests_dir).parent
            outcomes = [] if ex.error else self.check.run(t, keep.readable(ex.candidates), folder)
            if self.s.observe and outcomes:
                outcomes += self.check.repair(t, outcomes, folder, texts=[*signature_texts(ctx), text])
            passing = [o for o in outcomes if o.result.outcome == v.PASSED and o.result.stable]
            r = self.reports[t.id]
            made = len(ex.candidates) if not ex.error else 1
            self.reports[t.id] = dataclasses.replace(
                r,
                funnel=r.funnel
                + Funnel(
                    generated=made,
                    parsed=len(ex.candidates) if not ex.error else 0,
                    passed=sum(o.result.outcome == v.PASSED for o in outcomes),
                    stable=len(passing),
                ),
                candidates=r.candidates + tuple(o.result for o in outcomes),
                completions=r.completions + 1,
                tokens=r.tokens + completion.tokens,
            )
            seconds = stop - time.monotonic()
            if not passing or seconds < 2:
                continue
            again = mutants.Pool(
                t,
                frozenset(m.line for m in rest),
                [],
                passing,
                {},
                pool.statements,
                tuple(rest),
                change=change,
                change_lines=pool.change_lines,
            )
            ran = self.run_mutants(text, [again], seconds)
            if ran is None:
                continue
            answer, index, file_of = ran
            caught = mutants.missed(answer, index).get(0, {})
            self.keep(again, mutants.choose(again, caught, file_of, mutants.change_ids(index)))
