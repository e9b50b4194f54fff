"""The pipeline: a run's phases over its targets, in order (:meth:`Pipeline.run`).

1. the project's suite, once (:mod:`testbot.suite`): the baseline kept tests must add to (``--baseline``);
2. search (``--explore``, :mod:`testbot.search_phase`): calls found in the sandbox become tests, expected values
   from the oracle;
3. write (``--write``): the model turns those calls into named tests, several functions to a prompt;
4. targets: each target's own rounds for what is still missing (prompt, generate, check, choose);
5. search again: a second search from the model's tests, for what is still missing;
6. mutants (``--mutants``, :mod:`testbot.mutants_phase`): small faults in each function; spare tests that catch
   what the kept ones miss are kept, and in a change run the model is shown the faults no test catches (``--aim``);
7. place: kept tests into the project's test files.

Checking a candidate is :mod:`testbot.check` (sandboxed runs, the oracle's repairs); choosing it is :mod:`testbot.keep`; every deadline
comes from :mod:`testbot.budget`. The CLI, the hook and the GitHub Action are thin adapters over
:class:`Pipeline`.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from testbot import secrets_scan
from testbot.budget import FINAL_SHARE, GROUP_SHARE, MIN_TOKENS, MUTANTS_SHARE, USEFUL_TOKENS, WRITE_SHARE, Budget
from testbot.cache import Cache, Entry
from testbot.check import Checker
from testbot.config import Settings, settings_fingerprint
from testbot.context import build_context
from testbot.errors import EnvironmentProblem, PromptTooLong
from testbot.extract import Candidate, split_tests, top_level_names
from testbot.generate import STOP, Backend, load_backend_for
from testbot.integrate import FileChange, Kept, integrate
from testbot.layout import destination_for
from testbot.measure import (Covered, Measurable, measurable, read_covered)
from testbot.prompt import (Feedback, Prompt, build_group_prompt, build_prompt, build_write_prompt,
                            signature_texts)
from testbot.report import CandidateResult, Funnel, Report, Status, TargetReport
from testbot.targets import Target, neighbours, reach
from testbot import keep, mutants, proc, shape
from testbot.keep import EXPLORE_MODEL, EXPLORE_ROUND
from testbot.ledger import Ledger, Pre
from testbot.mutants_phase import MutantsPhase, Writer
from testbot.search_phase import SearchPhase
from testbot.suite import Suite
from testbot import validate as v

WRITE_TOKENS = 200  # tokens of answer per function of a write prompt (two or three short tests) ...
WRITE_TOKENS_MAX = 1024  # ... and at most this for one prompt

Event = Callable[[str, Target, "TargetReport | None"], None]  # ("start" | "done", target, report)


class Pipeline:
    def __init__(self, root: Path, settings: Settings, backend: Backend | None = None,
                 on_event: Event | None = None, cache: Cache | None = None, changes: bool = False) -> None:
        self.root = root.resolve()
        self.s = settings
        # The targets are a change's (--changed, --staged, --base, a pull request): a kept test must add to the
        # changed lines; the search's calls are not kept for the rest of their files, which the change left alone.
        self.changes = changes
        self._targets: Sequence[Target] = ()
        self._backend = backend
        self.on_event = on_event or (lambda *a: None)
        self.cache = cache  # skips targets handled before (hook and --changed runs)
        self.budget = Budget(settings.budget)  # the run's time (--budget): deadlines, shares, the model's speed
        self._targets_left = 1  # targets not yet started, this one included: each gets a share of the budget
        self._shared: set[str] = set()  # targets whose time was cut to their share of the budget
        self._written: dict[Path, list[str]] = {}  # file -> the model's tests for its targets (for a second search)
        self.limits = v.candidate_limits(settings)
        self.ledger: Ledger  # covered so far, per file, and what each target got before its turn: set by a run
        self.search: SearchPhase  # the search before the model and after its turns: set by a run
        self._roots: dict[str, Path] = {}  # target id -> import root, for the whole-file runs
        self._imports: dict[str, v.RunResult] = {}  # module -> its import-only run (coverage data)
        self._known: frozenset[str] | None = None  # the project's own strings: not credentials in a kept test
        self.suite = Suite()  # what the project's own suite covers (the baseline), set by its run
        self._wrote: set[str] = set()  # targets whose search evidence a write prompt turned into the model's tests
        self._pools: dict[str, mutants.Pool] = {}  # target id -> its kept and spare tests, for the mutants phase
        self._last_prompt = ""  # the text of the last prompt sent: a backend's prompt cache holds its start
        self.check: Checker  # runs and repairs candidates: set with the run's workspace

    # -- the model is loaded on first use: fully covered targets never pay for it
    @property
    def backend(self) -> Backend:
        if self._backend is None:
            self._backend = load_backend_for(self.s)
        return self._backend

    @property
    def _prompt_limit(self) -> int:
        """The most prompt tokens that leave the answer its room in the context (less a margin for the chat
        template): over it, a prompt shows the code under test with short docstrings."""
        return self.s.context_tokens - min(self.s.max_tokens, self.s.context_tokens // 2) - 64

    def model_name(self) -> str:
        return self._backend.name if self._backend is not None else self.s.model

    def check_environment(self) -> None:
        """pytest and coverage must be importable by the interpreter that runs the tests."""
        res = proc.run([self.s.python, "-c", "import pytest, coverage"], timeout=60)
        if res.returncode != 0:
            missing = "pytest" if "pytest" in res.output else "coverage" if "coverage" in res.output else "pytest/coverage"
            if res.returncode == 127:
                raise EnvironmentProblem(f"cannot run the Python interpreter {self.s.python!r}: {res.stderr.strip()}")
            raise EnvironmentProblem(f"{missing} is not installed for {self.s.python}: "
                                     f"pip install pytest coverage (into the environment that runs your tests)")

    def run(self, targets: Sequence[Target]) -> Report:
        start = time.monotonic()
        self._targets = targets
        self.budget = Budget(self.s.budget)
        fingerprint = settings_fingerprint(self.s)
        by_id: dict[str, TargetReport] = {}
        todo: list[Target] = []
        for target in targets:  # cached targets cost nothing; those over --max-targets are named, not run
            entry = self.cache.get(target, fingerprint) if self.cache is not None else None
            if entry is None and not (self.s.max_targets and len(todo) >= self.s.max_targets):
                todo.append(target)
                continue
            note = entry.describe() if entry else f"skipped: over max-targets ({self.s.max_targets})"
            by_id[target.id] = self._skipped(target, note, Status.CACHED if entry else Status.SKIPPED)
            self.on_event("done", target, by_id[target.id])
        kept_by_file: dict[Path, list[Kept]] = {}
        files: list[FileChange] = []
        isolation: tuple[str, ...] = ()
        incidents: list[str] = []  # the user's own files changed while a candidate ran
        if todo and self.s.budget:
            # Not every target may get a turn: those whose tests can run the most lines go first.
            reached = reach(todo)
            todo.sort(key=lambda t: -reached[t.id])
        if todo:
            self.check_environment()
            with v.Workspace(self.root, self.s.python, self.limits) as ws:
                self.check = Checker(ws, self.s)
                self.suite = Suite()
                self.ledger = Ledger(lambda t: self._first_baseline(ws, t))
                self.search = SearchPhase(self.root, self.s, self.budget, ws, self.check, self.ledger, self.suite,
                                          targets, self.changes)
                for module, import_root in sorted({(t.module, t.import_root) for t in todo}):
                    # Fails fast, naming a missing dependency; its coverage is the import-only baseline.
                    self._imports[module] = ws.check_import(module, import_root)
                # The project's own suite, run once the way its users run it: what kept tests must add to.
                with self.budget.phase("suite"):
                    if self.s.baseline:
                        self.suite.run(ws, self.root, sorted({t.file for t in todo}),
                                       sorted({t.import_root for t in todo}), self.s.timeout * 10)
                # --budget is the time for writing tests: it starts once the project is copied and imports
                # (a second or two, more on a slow machine), so a short budget is not spent before any target.
                self.budget.start()
                if self.s.explore:
                    with self.budget.phase("search"):
                        self.search.first(todo)
                # (the end of the budget is kept back for the second search, after the model's turns)
                with self.budget.held_back(FINAL_SHARE if self.s.explore else 0.0):
                    if self.s.explore and self.s.write:
                        with self.budget.phase("write"):
                            self._write_phase(ws, todo)
                    if self.s.group:
                        with self.budget.phase("group"):
                            self._group_phase(ws, todo)
                    with self.budget.phase("targets"):
                        self._targets_phase(ws, todo, by_id, kept_by_file)
                # (the end of that is kept back for the mutants)
                with self.budget.held_back(MUTANTS_SHARE if self.s.mutants else 0.0):
                    if self.s.explore:
                        with self.budget.phase("search again"):
                            self.search.again(todo, self._written, self._pools, by_id, kept_by_file)
                if self.s.mutants:
                    with self.budget.phase("mutants"):
                        writer = Writer(self._complete, self._token_cap, lambda text: self.backend.count_tokens(text),
                                        self.model_name)
                        phase = MutantsPhase(self.root, self.s, self.budget, ws, self.check, writer, self.changes)
                        changed, more = phase.run(todo, self._pools, by_id)
                        by_id.update(changed)
                        for dest, kept in more.items():
                            kept_by_file.setdefault(dest, []).extend(kept)
                with self.budget.phase("place"):
                    files = [self._integrate(ws, dest, kept) for dest, kept in kept_by_file.items()]
                isolation, incidents = ws.isolation.tokens(), ws.incidents
        # the funnel's last stage counts what went into files
        reports = [_final_kept(by_id[t.id], files) for t in targets]
        if self.cache is not None and not self.s.dry_run:
            self._remember(todo, reports, files, fingerprint)
        errors = tuple(incidents) + tuple(f.error for f in files if f.error)
        phases = dict(self.budget.phases)
        if self.budget.timed:
            phases["model (within the others)"] = self.budget.model_seconds
            if self.budget.reading_seconds:
                phases["reading prompts (within the model)"] = self.budget.reading_seconds
        return Report(tuple(reports), tuple(files), self.model_name(), time.monotonic() - start, self.s.dry_run,
                      errors, fingerprint, isolation, phases)

    def _targets_phase(self, ws: v.Workspace, todo: Sequence[Target], by_id: dict[str, TargetReport],
                       kept_by_file: dict[Path, list[Kept]]) -> None:
        """Each target's own turn, in order: what is still missing, asked of the model in rounds
        (:meth:`_target`); under --budget a target not reached in time is skipped and named."""
        for n, target in enumerate(todo):
            # (only the targets that still miss something share the time: one that the search or an earlier
            # target's tests already cover costs nothing)
            self._targets_left = self._open(ws, todo[n:]) if self.budget.limited else len(todo) - n
            # (a target with tests from its file's group prompt still gets its turn: they are kept)
            if self.budget.spent() and target.id not in self.ledger.pre:
                by_id[target.id] = self._skipped(target, f"skipped: time budget ({self.s.budget:g} s) spent")
                self.on_event("done", target, by_id[target.id])
                continue
            self.on_event("start", target, None)
            report, kept = self._target(ws, target)
            by_id[target.id] = report
            if kept:
                kept_by_file.setdefault(destination_for(target, self.root, self.s.tests_dir), []).extend(kept)
            self.on_event("done", target, report)

    def _open(self, ws: v.Workspace, targets: Sequence[Target]) -> int:
        """How many of ``targets`` still miss lines or branches after what is kept so far (the first counts
        always: it is the one about to run)."""
        count = 1
        texts: dict[Path, str | None] = {}
        for t in targets[1:]:
            if t.file not in texts:
                try:
                    texts[t.file] = t.file.read_text(encoding="utf-8")
                except (OSError, UnicodeDecodeError):
                    texts[t.file] = None
            if texts[t.file] is None:
                count += 1
                continue
            have = self.ledger.so_far(t)
            count += keep.missing(measurable(t, texts[t.file]), have)
        return count

    def _skipped(self, target: Target, note: str, status: Status = Status.SKIPPED) -> TargetReport:
        return self._report(target, Measurable(frozenset(), frozenset()), (0, 0), [], [], Funnel(), 0,
                            time.monotonic(), 0, 0, 0, note, status)

    def _remember(self, done: list[Target], reports: list[TargetReport], files: list[FileChange],
                  fingerprint: dict) -> None:
        """Cache the targets that were handled to the end: their tests written, or nothing to keep."""
        by_id = {r.target: r for r in reports}
        failed = {f.path for f in files if f.error}
        cut_short = self.budget.spent()  # a target cut by --budget gets its full turn next time
        for target in done:
            r = by_id[target.id]
            if r.status is Status.SKIPPED or (
                    r.status is Status.SPENT and (cut_short or target.id in self._shared)):
                continue
            if r.kept and destination_for(target, self.root, self.s.tests_dir) in failed:
                continue
            self.cache.put(target, fingerprint, Entry(target.id, r.funnel.kept, r.gain_lines, r.gain_branches, r.note))

    # -- one target
    def _first_baseline(self, ws: v.Workspace, target: Target) -> Covered:
        """Coverage of the target's file by importing it and by the project's own suite (``--no-baseline``: by
        importing it alone): where its file's baseline in the ledger starts."""
        imported = self._imports.get(target.module) or ws.check_import(target.module, target.import_root)
        return read_covered(imported.coverage_file, ws.scratch_path(target.file)) | self.suite.covered(target.file)

    def _token_cap(self, deadline: float, limit: int = 0, prompt: Prompt | None = None) -> int:
        """How long an answer to ``prompt`` (when known: reading it takes time too) ends, its tests run, before
        ``deadline`` (:meth:`Budget.token_cap`)."""
        return self.budget.token_cap(deadline, limit or self.s.max_tokens,
                                     self._unread(prompt) if prompt is not None else -1)

    def _unread(self, prompt: Prompt) -> int:
        """About how many of ``prompt``'s tokens the model has to read: those after the start it shares with the
        last prompt sent (llama.cpp's prompt cache serves that start)."""
        text = _prompt_text(prompt)
        shared = len(os.path.commonprefix([self._last_prompt, text]))
        return round(prompt.tokens * (1 - shared / max(len(text), 1)))

    def _complete(self, prompt, seed: int, max_tokens: int):
        """One completion, timed into the run's measured speeds."""
        began = time.monotonic()
        completion = self.backend.complete(prompt, seed=seed, temperature=self.s.temperature, top_p=self.s.top_p,
                                           max_tokens=max_tokens, stop=STOP)
        self._last_prompt = _prompt_text(prompt)
        self.budget.completed(completion.tokens, time.monotonic() - began, completion.read_tokens,
                              completion.read_seconds)
        return completion

    def _write_phase(self, ws: v.Workspace, todo: Sequence[Target]) -> None:
        """``--write``: the model turns the search's evidence into named tests, several functions of a file to a
        prompt (:func:`testbot.prompt.build_write_prompt`); its tests are chosen first for each function, the
        search's kept only for what they leave. Under --budget it gets WRITE_SHARE of the time left, shared
        between the files; a function no write prompt reached gets its own write round in its turn."""
        by_file: dict[Path, list[Target]] = {}
        for t in todo:
            pre = self.ledger.pre.get(t.id)
            if pre and not t.is_async and pre.explored():
                by_file.setdefault(t.file, []).append(t)
        stop = self.budget.share(WRITE_SHARE)
        files = list(by_file.items())
        for n, (file, targets) in enumerate(files):
            if time.monotonic() >= stop:
                return
            deadline = self.budget.split(stop, len(files) - n)
            try:
                text = file.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                continue
            items, lines = [], {}
            said = shape.module_facts(text, neighbours(file))  # (its signatures, the errors it states)
            for t in targets:
                explored = self.ledger.pre[t.id].explored()
                facts = keep.evidence(explored, said)
                if facts:
                    items.append((build_context(t, self.root, self.s.tests_dir), facts))
                    lines[t.id] = keep.evidence_imports(explored)
            chunk = 0
            file_targets = [t for t in todo if t.file == file and not t.is_async]
            while items:
                prompt, chosen = build_write_prompt(items, budget=self.s.prompt_tokens, count=self.backend.count_tokens,
                                                    imports=lines)
                # (after the first, a prompt is read only if the time left then holds an answer of a few tests)
                if chunk and self._token_cap(deadline, 0, prompt) < USEFUL_TOKENS:
                    break
                ids = {c.target.id for c in chosen}
                items = [it for it in items if it[0].target.id not in ids]
                self._write_group(ws, text, [c.target for c in chosen], prompt, deadline, chunk, file_targets)
                chunk += 1

    def _write_group(self, ws: v.Workspace, text: str, group: list[Target], prompt, deadline: float,
                     chunk: int, file_targets: Sequence[Target] = ()) -> None:
        """One write prompt: sample, validate, give each test to the function it adds most to (or names), keep the
        model's first and the search's for what they leave. A test that adds nothing to the prompt's functions
        but runs lines of another of ``file_targets`` (a private helper the error path goes through) belongs to
        that one, ahead of the search's tests of it."""
        limit = min(WRITE_TOKENS_MAX, WRITE_TOKENS * len(group))
        try:
            completion = self._complete(prompt, self.s.seed + 1000 + chunk,
                                        max(self._token_cap(deadline, limit, prompt), MIN_TOKENS))
        except PromptTooLong:
            return  # (each function gets its own write round in its turn)
        first = group[0]
        self._wrote.update(t.id for t in group)
        pre0 = self.ledger.pre[first.id]
        pre0.completions += 1
        pre0.tokens += completion.tokens
        pre0.prompt_tokens = max(pre0.prompt_tokens, prompt.tokens)
        ex = split_tests(completion.text, target_id=first.id, protected={t.qualname.split(".")[0] for t in group},
                         round=0, sample=chunk, mean_logprob=completion.mean_logprob, module=first.module,
                         module_names=top_level_names(text))
        if ex.error or not ex.candidates:
            pre0.funnel = pre0.funnel + Funnel(generated=1)
            return
        folder = destination_for(first, self.root, self.s.tests_dir).parent
        outcomes = self.check.run(first, keep.readable(ex.candidates), folder)
        if self.s.observe and outcomes:
            outcomes += self.check.repair(first, outcomes, folder)
        self._written.setdefault(first.file, []).extend(c.code for c in ex.candidates)
        ids = {t.id for t in group}
        rest = [t for t in file_targets if t.id not in ids]  # (the write phase runs before any target's turn)
        meas = {t.id: measurable(t, text) for t in [*group, *rest]}
        whole = self.search.scope(first.file, text)
        facts = shape.module_facts(text, neighbours(first.file))
        owned: dict[str, list[keep.Outcome]] = {t.id: [] for t in [*group, *rest]}
        # (the prompt's own functions first: a tie goes to them)
        haves = [(t, meas[t.id], self._own_have(ws, t, meas[t.id])) for t in [*group, *rest]]
        for o in outcomes:
            owner = keep.owner(o, haves)
            owned[owner.id].append(keep.Outcome(dataclasses.replace(o.candidate, target_id=owner.id), o.result,
                                            o.covered))
        for t in [*group, *(t for t in rest if owned[t.id])]:
            pre, mine = self.ledger.pre.setdefault(t.id, Pre([], [], Funnel())), owned[t.id]
            new = sum(1 for o in mine if not o.candidate.observed)  # a repaired test is its original, counted once
            marked, chosen, counted = keep.choose(mine, self._own_have(ws, t, meas[t.id]), meas[t.id], facts=facts)
            # the model's other tests go before the search's for the file's lines no function of it names (the
            # class's private helpers an error path runs): on a tie, the model's test is kept
            spare = [o for o in marked if not o.result.kept]
            others = pre.written() + chosen
            outcomes_again, still = self._refill(ws, t, spare + pre.explored(), others, pre.outcomes + marked, whole,
                                                 meas[t.id], facts)
            pre.outcomes = outcomes_again
            pre.kept = others + still
            pre.funnel = pre.funnel + counted + Funnel(generated=new, parsed=new)
            for o in chosen:
                self.ledger.add_group(t.file, o.covered)

    def _refill(self, ws: v.Workspace, target: Target, explored: list[keep.Outcome], kept: list[keep.Outcome],
                outcomes: list[keep.Outcome], whole: Measurable, meas: Measurable,
                facts: shape.ModuleFacts) -> tuple[list[keep.Outcome], list[keep.Outcome]]:
        """The search's tests of ``target`` chosen again (on the file's code, as they were first) for what the
        baseline, the other functions' tests and ``kept`` (the model's) leave: ``outcomes`` with their kept marks
        redone, and those still kept."""
        cover = self.ledger.baseline(target) | self._kept_elsewhere(target) | keep.union(Covered(), kept, whole)
        marked, still, _ = keep.choose(explored, cover.within(whole), whole, record=meas, facts=facts)
        again = {id(o.candidate): o for o in marked}
        return [again.get(id(o.candidate), o) for o in outcomes], still

    def _own_have(self, ws: v.Workspace, target: Target, meas: Measurable) -> Covered:
        """What runs of ``target`` without its own search tests: the baseline, the other functions' kept tests
        and its own tests that the model wrote."""
        pre = self.ledger.pre.get(target.id)
        mine = pre.written() if pre else []
        cover = self.ledger.baseline(target) | self._kept_elsewhere(target) | keep.union(Covered(), mine, meas)
        return cover.within(meas)

    def _group_phase(self, ws: v.Workspace, todo: Sequence[Target]) -> None:
        """``--group``: prompts for several functions of a file at once, a short test or two for each.

        Each test is validated alone, like any candidate, and belongs to the function it adds most coverage
        to (or names). A file's functions still missing coverage go into group prompts of up to six while
        its time lasts; what a function still misses afterwards gets its own rounds, told which tests
        exist. Under --budget, half the time left goes to group prompts, shared between the files.
        """
        by_file: dict[Path, list[Target]] = {}
        for t in todo:
            by_file.setdefault(t.file, []).append(t)
        files = [(f, ts) for f, ts in by_file.items() if len(ts) >= 2]
        for n, (file, targets) in enumerate(files):
            if self.budget.spent():
                return
            deadline = self.budget.split(self.budget.end, len(files) - n, GROUP_SHARE)
            try:
                text = file.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                continue
            open_: dict[str, tuple[Target, Measurable, Covered]] = {}
            for t in targets:
                if t.is_async:
                    continue
                meas = measurable(t, text)
                base = self.ledger.baseline(t) | self.ledger.group(file)  # (explored calls kept)
                have = base.within(meas)
                if keep.missing(meas, have):
                    open_[t.id] = (t, meas, have)
            ctxs = {tid: build_context(t, self.root, self.s.tests_dir) for tid, (t, _, _) in open_.items()}
            chunk = 0
            while len(ctxs) >= 2 and (not chunk or self._token_cap(deadline) >= MIN_TOKENS):
                prompt, chosen = build_group_prompt(list(ctxs.values()), budget=self.s.prompt_tokens,
                                                    count=self.backend.count_tokens)
                if len(chosen) < 2:
                    break
                for c in chosen:
                    del ctxs[c.target.id]
                self._group_prompt(ws, file, text, [open_[c.target.id] for c in chosen], prompt, deadline, chunk)
                chunk += 1

    def _group_prompt(self, ws: v.Workspace, file: Path, text: str, group: list[tuple[Target, Measurable, Covered]],
                      prompt, deadline: float, chunk: int) -> None:
        """One group prompt: sample, validate, give each test to its function, keep by greedy coverage."""
        # Longer than one function's answer, once the model's speed is known (before that, a long first answer
        # could eat the whole --budget).
        limit = min(1024, max(self.s.max_tokens, 160 * len(group))) if self.budget.timed else self.s.max_tokens
        try:
            completion = self._complete(prompt, self.s.seed + chunk,
                                        max(self._token_cap(deadline, limit, prompt), MIN_TOKENS))
        except PromptTooLong:
            return  # the functions get their own prompts
        first = group[0][0]
        pres = {t.id: Pre([], [], Funnel()) for t, _, _ in group}
        pres[first.id].completions, pres[first.id].tokens = 1, completion.tokens
        pres[first.id].prompt_tokens = prompt.tokens
        ex = split_tests(completion.text, target_id=first.id, protected={t.qualname.split(".")[0] for t, _, _ in group},
                         round=-1, sample=chunk, mean_logprob=completion.mean_logprob, module=first.module,
                         module_names=top_level_names(text))
        if ex.error:
            pres[first.id].funnel = Funnel(generated=1)
            pres[first.id].outcomes.append(keep.Outcome(
                _empty_candidate(first, -1, chunk, completion.mean_logprob),
                CandidateResult("group completion", -1, chunk, completion.mean_logprob, v.SYNTAX_ERROR, ex.error,
                                False), Covered()))
        folder = destination_for(first, self.root, self.s.tests_dir).parent
        outcomes = self.check.run(first, keep.readable(ex.candidates), folder) if not ex.error else []
        if self.s.observe and outcomes:
            outcomes += self.check.repair(first, outcomes, folder)
        for o in outcomes:
            owner = keep.owner(o, group)
            o = keep.Outcome(dataclasses.replace(o.candidate, target_id=owner.id), o.result, o.covered)
            pres[owner.id].outcomes.append(o)
            new = 0 if o.candidate.observed else 1  # a repaired test is its failed original, counted once
            pres[owner.id].funnel = pres[owner.id].funnel + Funnel(generated=new, parsed=new)
        cover = Covered()
        facts = shape.module_facts(text, neighbours(file))
        for t, meas, have in group:
            pre = pres[t.id]
            pre.outcomes, pre.kept, counted = keep.choose(pre.outcomes, have, meas, facts=facts)
            pre.funnel = pre.funnel + counted
            for o in pre.kept:
                cover = cover | o.covered
            if t.id in self.ledger.pre:  # what --explore kept for it comes first
                earlier = self.ledger.pre[t.id]
                pre.outcomes, pre.kept = earlier.outcomes + pre.outcomes, earlier.kept + pre.kept
                pre.funnel = earlier.funnel + pre.funnel
            self.ledger.pre[t.id] = pre
        self.ledger.add_group(file, cover)

    def _target(self, ws: v.Workspace, target: Target) -> tuple[TargetReport, list[Kept]]:
        start = time.monotonic()
        deadline, cut = self.budget.target_deadline(start, self.s.target_seconds, self._targets_left)
        if cut:
            self._shared.add(target.id)  # cut to a share: not cached as done, it gets a full turn next time
        try:
            text = target.file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:  # deleted or changed while testbot ran
            return self._skipped(target, f"skipped: cannot read the file any more ({exc.__class__.__name__})"), []
        meas = measurable(target, text)
        facts = shape.module_facts(text, neighbours(target.file))  # (its examples, the errors it states)
        baseline = self.ledger.baseline(target)
        have = baseline.within(meas)
        before = (len(have.lines), len(have.arcs))
        pre = self.ledger.pre.pop(target.id, None) or Pre([], [], Funnel())
        if not (meas.lines - have.lines) and not (meas.branches - have.arcs):
            # (tests kept for functions before it ran all of it: its own group-prompt tests add nothing)
            by_suite = self.suite.covers_all(target.file, meas)
            note = ("already fully covered by the project's suite" if by_suite else "already fully covered"
                    ) if meas.lines else "nothing to cover"
            # Its explored tests were chosen for what they add to the whole file (an overload no target names,
            # reached through this function): those that still add something there over the tests written since
            # are kept.
            whole = self.search.scope(target.file, text)
            _, still, _ = keep.choose(pre.kept, baseline.within(whole), whole, record=meas, facts=facts)
            chosen = {id(o.candidate) for o in still}
            marked = [keep.Outcome(o.candidate, dataclasses.replace(o.result, kept=id(o.candidate) in chosen), o.covered)
                      for o in pre.outcomes]
            spare = keep.spare(pre.outcomes, still, facts)
            still = keep.polished(target, still)
            self._pools[target.id] = self.suite.pool(target, meas, still, spare, text, self.changes)
            kept_items = [Kept(o.candidate, keep.gain_of(o), target.id, EXPLORE_MODEL) for o in still]
            if kept_items:
                note += " (its explored tests kept for the rest of the file)"
            return self._report(target, meas, before, marked, still, pre.funnel + Funnel(kept=len(kept_items)), 0,
                                start, pre.completions, pre.tokens, pre.prompt_tokens, note, Status.COVERED), kept_items
        ctx = build_context(target, self.root, self.s.tests_dir)
        folder = destination_for(target, self.root, self.s.tests_dir).parent
        protected = {target.qualname.split(".")[0]}
        module_names = top_level_names(text)
        outcomes: list[keep.Outcome] = list(pre.outcomes)
        kept: list[keep.Outcome] = list(pre.kept)
        funnel = pre.funnel
        # The search's tests for this target are evidence for the model to write from (--write): the model's
        # tests are chosen first, over what the rest holds without them; the search's fill what they leave.
        explored = pre.explored() if self.s.write and target.id not in self._wrote else []
        if explored:
            kept = pre.written()
            rest = self._kept_elsewhere(target) | keep.union(Covered(), kept, meas)
            have = have | rest.within(meas)
        else:
            group = self.ledger.group(target.file)
            if group:  # the tests kept from group prompts: this target's own (pre.kept) and its file's others
                have = have | group.within(meas)
        # After a group prompt or explored calls, the model is told what exists and what is still missing.
        feedback: Feedback | None = _feedback(meas, have, [], kept, text) if kept or explored else None
        if feedback is not None and explored:
            feedback = dataclasses.replace(feedback, evidence=keep.evidence(explored, facts),
                                           imports=keep.evidence_imports(explored))
        prompts: dict[int, object] = {}  # round -> its prompt, for --record
        completions, tokens, prompt_tokens = pre.completions, pre.tokens, pre.prompt_tokens
        rounds = 0
        status = Status.RAN if keep.missing(meas, have) else Status.COVERED
        note = "" if status is Status.RAN else "written by the model from the search's calls" if (
            target.id in self._wrote and any(o.candidate.round != EXPLORE_ROUND for o in kept)) \
            else "covered by explored calls" if any(o.candidate.round == EXPLORE_ROUND for o in kept) \
            else "covered by the file's group prompt"
        too_long = False
        # Writing from the search's evidence is one round (what its tests cover is covered either way).
        rounds_wanted = 1 if explored else 1 + self.s.repair_rounds if keep.missing(meas, have) else 0
        for round_no in range(rounds_wanted):
            if too_long:
                break
            if round_no and kept and not keep.missing(meas, have):
                break  # (checked first: a target that is done is not "out of time")
            if round_no and self._token_cap(deadline) < MIN_TOKENS:
                note, status = "time budget spent", Status.SPENT
                break
            rounds += 1
            prompt = build_prompt(ctx, budget=self.s.prompt_tokens, feedback=feedback, round=round_no,
                                  count=self.backend.count_tokens, limit=self._prompt_limit)
            prompts[round_no] = prompt
            prompt_tokens = max(prompt_tokens, prompt.tokens)
            round_outcomes: list[keep.Outcome] = []
            # Samples one at a time, each validated at once: sampling stops early when the tests so far
            # already cover everything, or the time budget is spent.
            for i in range(self.s.samples):
                if i and not keep.missing(meas, keep.union(have, round_outcomes, meas)):
                    break
                if i and explored and any(o.result.stable for o in round_outcomes):
                    break  # (the search's tests fill the rest: one good answer is enough)
                cap = self._token_cap(deadline, 0, prompt)
                if (i or round_no or pre.outcomes) and cap < MIN_TOKENS:
                    note, status = "time budget spent", Status.SPENT
                    break
                try:
                    completion = self._complete(prompt, self.s.seed + round_no * self.s.samples + i,
                                                max(cap, MIN_TOKENS))
                except PromptTooLong as exc:  # one huge function must not end the whole run
                    note, status, too_long = f"skipped: {exc}", Status.SKIPPED, True
                    break
                completions += 1
                tokens += completion.tokens
                ex = split_tests(completion.text, target_id=target.id, protected=protected, round=round_no,
                                 sample=i, mean_logprob=completion.mean_logprob, module=target.module,
                                 module_names=module_names)
                if ex.error:
                    funnel = funnel + Funnel(generated=1)
                    outcomes.append(keep.Outcome(_empty_candidate(target, round_no, i, completion.mean_logprob),
                                             CandidateResult(f"completion {i}", round_no, i,
                                                             completion.mean_logprob, v.SYNTAX_ERROR, ex.error, False),
                                             Covered()))
                    continue
                funnel = funnel + Funnel(generated=len(ex.candidates), parsed=len(ex.candidates))
                self._written.setdefault(target.file, []).extend(c.code for c in ex.candidates)
                began = time.monotonic()
                validated = self.check.run(target, keep.readable(ex.candidates), folder)
                round_outcomes.extend(validated)
                if self.s.observe:
                    round_outcomes.extend(self.check.repair(target, validated, folder,
                                                        texts=[*signature_texts(ctx), text]))
                self.budget.checked(time.monotonic() - began)
            # Rank by the model's confidence (mean token log-probability): among equal gains, greedy keeps
            # the candidate from the completion the model was surest of.
            round_outcomes.sort(key=lambda o: -o.candidate.mean_logprob)
            round_outcomes, chosen, counted = keep.choose(round_outcomes, have, meas, facts=facts)
            funnel = funnel + counted
            for o in chosen:
                kept.append(o)
                have = have | o.covered.within(meas)
            outcomes.extend(round_outcomes)
            feedback = _feedback(meas, have, round_outcomes, kept, text)
        if explored:  # the search's tests, for what the model's leave
            outcomes, still = self._refill(ws, target, explored, kept, outcomes, self.search.scope(target.file, text), meas,
                                           facts)
            kept.extend(still)
            if not still and kept:
                note = "written by the model from the search's calls"
        # Tests kept here often run other functions of the file too (a `with` test covers __exit__):
        # later targets of the file start from that, and are not asked for tests that add nothing.
        self.ledger.kept_in_turn(target.file, kept)
        model = self.model_name()
        if self.s.record and kept:  # also with --dry-run: the tests were verified all the same
            # Every stable test of the target's own rounds, kept or not: a test that passes every run but adds
            # nothing over the kept ones is still a correct test, and with it a record shows the several tests
            # an answer is asked for (a student trained on kept tests alone writes one test per answer).
            # Explored calls' tests too (no model wrote them; their record shows the round-0 prompt the model would
            # get): verified tests of the very function, in the shape the prompt asks for.
            if any(o.candidate.round == EXPLORE_ROUND for o in outcomes):
                prompts[EXPLORE_ROUND] = build_prompt(ctx, budget=self.s.prompt_tokens, round=0,
                                                      count=self.backend.count_tokens, limit=self._prompt_limit)
            stable = [o for o in outcomes if o.candidate.round in prompts and o.result.outcome == v.PASSED
                      and o.result.stable]
            _record(Path(self.s.record), target, ctx, prompts, stable, model)
        spare = keep.spare(outcomes, kept, facts)
        kept = keep.polished(target, kept)
        self._pools[target.id] = self.suite.pool(target, meas, kept, spare, text, self.changes)
        kept_items = [Kept(o.candidate, keep.gain_of(o), target.id, EXPLORE_MODEL if o.candidate.round == EXPLORE_ROUND
                           else model) for o in kept]
        funnel = funnel + Funnel(kept=len(kept_items))
        report = self._report(target, meas, before, outcomes, kept, funnel, rounds, start, completions, tokens,
                              prompt_tokens, note, status)
        return report, kept_items

    def _kept_elsewhere(self, target: Target) -> Covered:
        """What the tests kept so far for the other targets of ``target``'s file run (:meth:`Ledger.elsewhere`)."""
        return self.ledger.elsewhere(target, {t.id: t.file for t in self._targets})

    def _integrate(self, ws: v.Workspace, dest: Path, kept: list[Kept]) -> FileChange:
        def passes(text: str) -> bool:
            scratch = ws.scratch_path(dest)
            scratch.parent.mkdir(parents=True, exist_ok=True)
            original = scratch.read_text(encoding="utf-8") if scratch.exists() else None
            scratch.write_text(text, encoding="utf-8")
            try:
                res = ws.run_tests([scratch], import_root=self._import_root_for(kept))
            finally:
                if original is None:
                    scratch.unlink(missing_ok=True)
                else:
                    scratch.write_text(original, encoding="utf-8")
            return res.outcome == v.PASSED

        if self._known is None:
            self._known = secrets_scan.project_strings(self.root)
        return integrate(dest, kept, passes=passes, dry_run=self.s.dry_run, known=self._known)

    def _import_root_for(self, kept: list[Kept]) -> Path:
        return self._roots[kept[0].target_id]

    def _report(self, target: Target, meas: Measurable, before: tuple[int, int], outcomes: list[keep.Outcome],
                kept: list[keep.Outcome], funnel: Funnel, rounds: int, start: float, completions: int, tokens: int,
                prompt_tokens: int, note: str, status: Status = Status.RAN) -> TargetReport:
        gained = keep.gains_of(kept).within(meas)
        self._roots[target.id] = target.import_root
        return TargetReport(
            target=target.id, funnel=funnel, candidates=tuple(o.result for o in outcomes),
            kept=tuple(o.candidate.name for o in kept), gain_lines=len(gained.lines), gain_branches=len(gained.branches),
            lines_total=len(meas.lines), branches_total=len(meas.branches), lines_before=before[0],
            branches_before=before[1], rounds=rounds, seconds=round(time.monotonic() - start, 2),
            completions=completions, tokens=tokens, prompt_tokens=prompt_tokens, note=note, status=status)


def _prompt_text(prompt: Prompt) -> str:
    """A prompt's parts in the order the model reads them."""
    return f"{prompt.system}\x00{prompt.user}\x00{prompt.prefill}"


def _record(path: Path, target: Target, ctx, prompts: dict, stable: list[keep.Outcome], model: str) -> None:
    """Append a distillation record per stable test (``--record``): what the model saw, the test, and whether
    it was kept. A test whose code an earlier record holds is left out."""
    import json

    from testbot.finetune.data import record_for

    path.parent.mkdir(parents=True, exist_ok=True)
    seen = set()
    with path.open("a", encoding="utf-8") as f:
        for o in stable:
            if o.candidate.code in seen:
                continue
            seen.add(o.candidate.code)
            rec = record_for(target, ctx, prompts[o.candidate.round], o.candidate.code,
                             EXPLORE_MODEL if o.candidate.round == EXPLORE_ROUND else model)
            f.write(json.dumps({**rec, "test_name": o.candidate.name, "kept": o.result.kept},
                               ensure_ascii=False) + "\n")


def _feedback(meas: Measurable, have: Covered, outcomes: list[keep.Outcome], kept: list[keep.Outcome], text: str) -> Feedback:
    lines = text.splitlines()
    missing_lines = sorted(meas.lines - have.lines)
    for a, b in sorted(meas.branches - have.arcs):  # a branch not taken: point at the line that decides it
        if a not in missing_lines:
            missing_lines.append(a)
    uncovered = tuple((n, lines[n - 1].strip()) for n in sorted(set(missing_lines)) if 0 < n <= len(lines))
    failures = tuple((o.candidate.test_source, o.result.detail) for o in outcomes
                     if o.result.outcome in (v.ASSERTION_FAILURE, v.ERROR, v.IMPORT_ERROR))[:2]
    # (the search's tests are never shown as tests to imitate: see keep.evidence)
    return Feedback(failures=failures if not kept else failures[:1], uncovered=uncovered,
                    kept_tests=tuple(o.candidate.test_source for o in kept if o.candidate.round != EXPLORE_ROUND)[:4])


def _empty_candidate(target: Target, round_no: int, rank: int, logprob: float) -> Candidate:
    return Candidate(target.id, f"completion {rank}", "", "", "", "", (), (), round_no, rank, logprob)


def _final_kept(report: TargetReport, files: list[FileChange]) -> TargetReport:
    """Lower the funnel's 'kept' where a test was dropped while integrating its file."""
    skipped = {s.split(": ", 1)[0] for f in files for s in f.skipped}
    dropped = sum(1 for name in report.kept if f"{report.target} {name}" in skipped)
    if not dropped:
        return report
    return dataclasses.replace(report, funnel=dataclasses.replace(report.funnel, kept=report.funnel.kept - dropped))
