"""Checking a candidate: its tests run in the sandbox (:mod:`testbot.validate`), together and then again in fresh
processes, and the oracle's repairs of those that failed on a value, an exception or a call (:mod:`testbot.oracle`).

A :class:`Checker` serves one run's workspace; the pipeline's phases hand it candidates and get back outcomes
(result and coverage) to choose from (:mod:`testbot.keep`).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from pathlib import Path

from testbot import keep, oracle
from testbot import validate as v
from testbot.config import Settings
from testbot.extract import Candidate
from testbot.measure import Covered, read_covered
from testbot.prompt import call_signature
from testbot.report import CandidateResult
from testbot.targets import Target

FLAKY = "flaky: passed once, then "  # a passing test's detail when a later run differed (that run's outcome follows)


class Checker:
    """Runs and repairs candidates in one workspace, with the run's settings (``runs``, ``timeout``)."""

    def __init__(self, ws: v.Workspace, settings: Settings) -> None:
        self.ws = ws
        self.s = settings

    def run(
        self, target: Target, cands: list[Candidate], folder: Path, timeout: float = 0.0, each: float = 2.0
    ) -> list[keep.Outcome]:
        """Run a round's candidates: together in one pytest process with per-test coverage contexts, then
        ``runs - 1`` fresh re-runs of those that passed, the first under shifted conditions (:func:`_shifted`),
        each with a hash seed of its own. A batch that crashes, hangs or tampers with the
        sources is redone one candidate at a time, so one hostile test cannot sink the others. ``timeout``: seconds
        for one candidate run alone (default ``--timeout``), ``each`` more per candidate of a batch."""
        timeout = timeout or self.s.timeout
        if not cands:
            return []
        paths = [self.ws.write_candidate(c, folder) for c in cands]
        scratch_target = self.ws.scratch_path(target.file)
        try:
            batch = self.ws.run_batch(
                paths, import_root=target.import_root, measure=target.file, timeout=timeout + each * len(paths)
            )
            if batch is None:
                return [self.one(target, c, p, timeout) for c, p in zip(cands, paths)]
            results, data_file = batch
            covered = {
                p: read_covered(data_file, scratch_target, p.stem) for p in paths if results[p].outcome == v.PASSED
            }
            flaky: dict[Path, str] = {}
            seconds = {p: results[p].seconds for p in paths}
            for i in range(self.s.runs - 1):
                still = [p for p in covered if p not in flaky]
                if not still:
                    break
                again = self.ws.run_batch(
                    still, import_root=target.import_root, timeout=timeout + each * len(still), shifted=_shifted(i)
                )
                for p in still:
                    res = (
                        again[0][p]
                        if again is not None
                        else self.ws.run_tests(
                            [p], import_root=target.import_root, timeout=timeout, shifted=_shifted(i)
                        )
                    )
                    seconds[p] += res.seconds
                    if res.outcome != v.PASSED:
                        flaky[p] = f"{FLAKY}{res.outcome}\n{res.detail}"
            out = []
            for c, p in zip(cands, paths):
                r = results[p]
                stable = r.outcome == v.PASSED and p not in flaky
                detail = flaky.get(p, r.detail)
                out.append(
                    keep.Outcome(
                        c,
                        CandidateResult(
                            _shown(c),
                            c.round,
                            c.sample,
                            c.mean_logprob,
                            r.outcome,
                            detail,
                            stable,
                            seconds=round(seconds[p], 2),
                        ),
                        covered.get(p, Covered()),
                    )
                )
            return out
        finally:
            for p in paths:
                p.unlink(missing_ok=True)

    def repair(
        self,
        target: Target,
        outcomes: list[keep.Outcome],
        folder: Path,
        again: bool = True,
        timeout: float = 0.0,
        each: float = 2.0,
        texts: Sequence[str] = (),
    ) -> list[keep.Outcome]:
        """Tests that failed on an expected value, repaired with the values the code returns, tests stopped by
        an exception the code under test raised, made to expect it, tests stopped by their own statement,
        without it, and tests whose call broke the signature found in ``texts`` (default: the target's source),
        with the call mended; then validated like any candidate (:mod:`testbot.oracle`). A test that lost a
        statement and then fails on a value (or a mended one that fails on a value or another wrong argument)
        goes through the repairs once more (``again``). The failed originals stay in the report as they were."""
        timeout = timeout or self.s.timeout
        texts = texts or [target.source]
        probes = []  # (candidate, recording code, marker, how to read the run, how to repair)
        direct = []  # candidates repaired without a run
        mended = set()  # ids of candidates whose call was mended
        stated: frozenset[str] | None = None  # the messages the code states (read once, when first needed)
        for o in outcomes:
            if o.result.outcome == v.ASSERTION_FAILURE:
                made = oracle.instrument(o.candidate)
                if made:
                    probes.append((o.candidate, *made, oracle.observed_values, oracle.repair))
            elif o.result.outcome == v.ERROR and "DID NOT RAISE" in o.result.detail:  # an expected exception
                fixed = oracle.repair_no_raise(o.candidate)  # that never came: the block runs bare (no probe run)
                if fixed is not None:
                    direct.append(fixed)
            elif o.result.outcome == v.ERROR and (fixed := _mend_call(o, texts)) is not None:
                direct.append(fixed)  # a call that broke the signature (no probe run)
                mended.add(id(fixed))
            elif o.result.outcome == v.ERROR:  # an exception: if the code under test raised it, expect it
                made = oracle.instrument_raise(o.candidate, target.module)
                if made:
                    if stated is None:  # (its message too, where the code states it word for word)
                        stated = oracle.stated_messages([*texts, _text_of(target)])
                    probes.append(
                        (
                            o.candidate,
                            *made,
                            oracle.observed_error,
                            functools.partial(oracle.repair_error, stated=stated),
                        )
                    )
        if not probes and not direct:
            return []
        paths = [self.ws.write_candidate(dataclasses.replace(c, code=code), folder) for c, code, *_ in probes]
        results = {}
        if paths:
            try:
                batch = self.ws.run_batch(paths, import_root=target.import_root, timeout=timeout + each * len(paths))
                results = (
                    batch[0]
                    if batch is not None
                    else {p: self.ws.run_tests([p], import_root=target.import_root, timeout=timeout) for p in paths}
                )
            finally:
                for p in paths:
                    p.unlink(missing_ok=True)
        repaired, shortened = list(direct), {id(c) for c in direct}  # (a bare call's value is repaired next)
        observed: set[int] = set()  # (ids of those whose checks now hold the values the code returned)
        # (what another program printed is no expected value where the kernel does not confine reads, by Landlock
        # or the mount view: it may hold a file from outside the project, read where the guard could not see)
        trusted = bool({"landlock-read", "mount-view"} & set(self.ws.isolation.tokens() if self.ws.isolation else ()))
        for (cand, _, marker, read, fix), path in zip(probes, paths):
            res = results[path]
            seen = (
                read(res.detail, marker)
                if res.outcome == v.ASSERTION_FAILURE and (trusted or not res.programs)
                else None
            )
            fixed = fix(cand, seen) if seen else None
            if fixed is not None:
                repaired.append(fixed)
                if read is oracle.observed_values:
                    observed.add(id(fixed))
                if read is oracle.observed_error and not seen["inside"]:
                    shortened.add(id(fixed))
        validated = self.run(target, repaired, folder, timeout, each)
        # (a repaired check that failed on the next run with another value of the same plain type: a duration, a
        # random id; it checks the type instead, validated once)
        unsteady = [
            fixed
            for o in validated
            if id(o.candidate) in observed
            and (
                o.result.outcome == v.ASSERTION_FAILURE
                or not o.result.stable
                and o.result.detail.startswith(FLAKY + v.ASSERTION_FAILURE)
            )
            and (fixed := oracle.repair_unsteady(o.candidate, o.result.detail)) is not None
        ]
        validated += self.run(target, unsteady, folder, timeout, each) if unsteady else []
        if again:
            # (a mended call that now raises inside the code is not made to expect that: a value the repair put in
            # may be what the code rejects; one that breaks another parameter is mended again)
            failed = [
                o
                for o in validated
                if id(o.candidate) in shortened
                and (
                    o.result.outcome == v.ASSERTION_FAILURE
                    or id(o.candidate) in mended
                    and o.result.outcome == v.ERROR
                    and call_signature(o.result.detail, texts)
                )
            ]
            validated += self.repair(target, failed, folder, False, timeout, each, texts) if failed else []
        return validated

    def one(self, target: Target, cand: Candidate, path: Path, timeout: float = 0.0) -> keep.Outcome:
        timeout = timeout or self.s.timeout
        scratch_target = self.ws.scratch_path(target.file)
        first = self.ws.run_tests([path], import_root=target.import_root, measure=target.file, timeout=timeout)
        covered = read_covered(first.coverage_file, scratch_target) if first.outcome == v.PASSED else Covered()
        stable = first.outcome == v.PASSED
        outcome, detail, seconds = first.outcome, first.detail, first.seconds
        if stable:
            for i in range(self.s.runs - 1):
                again = self.ws.run_tests([path], import_root=target.import_root, timeout=timeout, shifted=_shifted(i))
                seconds += again.seconds
                if again.outcome != v.PASSED:
                    stable = False
                    detail = f"{FLAKY}{again.outcome}\n{again.detail}"
                    break
        return keep.Outcome(
            cand,
            CandidateResult(
                _shown(cand),
                cand.round,
                cand.sample,
                cand.mean_logprob,
                outcome,
                detail,
                stable,
                seconds=round(seconds, 2),
            ),
            covered,
        )


def _shifted(rerun: int) -> bool:
    """Whether a stability re-run (0, 1, ...) runs under the conditions a user's run may differ in: the clock
    years ahead, another time zone and locale (every run has a hash seed of its own). The first re-run does,
    the next not, and so on: a kept test passed both ways, in fresh processes, in random order."""
    return rerun % 2 == 0


def _text_of(target: Target) -> str:
    """The source of the target's file ("" where it cannot be read any more)."""
    try:
        return target.file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return ""


def _mend_call(o: keep.Outcome, texts: Sequence[str]) -> Candidate | None:
    """The test with the call that broke Python's argument binding mended to the signature in ``texts``
    (:func:`testbot.oracle.repair_bad_call`); None if the error is not that or the signature is not found."""
    signature = call_signature(o.result.detail, texts)
    return oracle.repair_bad_call(o.candidate, o.result.detail, signature, texts) if signature else None


def _shown(cand: Candidate) -> str:
    """A candidate's name in the report: a repaired copy is told apart from its failed original."""
    return f"{cand.name} (observed values)" if cand.observed else cand.name
