"""What a run did: per-candidate outcomes, per-target lines, the funnel, and the exit status."""

from __future__ import annotations

import dataclasses
import enum
import json
from dataclasses import dataclass, field

from testbot.errors import EXIT_BAD_INPUT, EXIT_OK, EXIT_WRITTEN
from testbot.integrate import FileChange


@dataclass(frozen=True)
class CandidateResult:
    name: str
    round: int
    sample: int
    mean_logprob: float
    outcome: str  # see validate.OUTCOMES
    detail: str
    stable: bool
    gain_lines: tuple[int, ...] = ()
    gain_branches: tuple[tuple[int, int], ...] = ()
    kept: bool = False
    seconds: float = 0.0


@dataclass(frozen=True)
class Funnel:
    generated: int = 0  # test functions written by the model, plus completions with no usable code
    parsed: int = 0  # tests that parse
    passed: int = 0  # passed their first run
    stable: int = 0  # passed every re-run
    added_coverage: int = 0  # covered lines or branches the baseline did not
    kept: int = 0  # survived deduplication and the whole-file run

    def __add__(self, other: Funnel) -> Funnel:
        return Funnel(*(a + b for a, b in zip(dataclasses.astuple(self), dataclasses.astuple(other))))

    def line(self) -> str:
        return (
            f"generated {self.generated} / parsed {self.parsed} / passed {self.passed} / stable {self.stable} / "
            f"added coverage {self.added_coverage} / kept {self.kept}"
        )


class Status(enum.StrEnum):
    """How a target's turn ended (``TargetReport.note`` says it in words; code decides on this)."""

    RAN = "ran"  # its rounds ran to the end (tests kept or not)
    COVERED = "covered"  # nothing was missing before its own rounds (the suite, the search, earlier tests)
    SPENT = "spent"  # its rounds stopped at its share of the time (--budget, --target-seconds)
    SKIPPED = "skipped"  # no turn: over --max-targets, --budget spent before it, unreadable, prompt too long
    CACHED = "cached"  # handled by an earlier run with the same source and settings


@dataclass(frozen=True)
class TargetReport:
    target: str
    funnel: Funnel
    candidates: tuple[CandidateResult, ...]
    kept: tuple[str, ...]
    gain_lines: int
    gain_branches: int
    lines_total: int  # statements that matter
    branches_total: int
    lines_before: int  # covered by the baseline
    branches_before: int
    rounds: int
    seconds: float
    completions: int = 0
    tokens: int = 0  # generated tokens
    prompt_tokens: int = 0
    note: str = ""  # e.g. "already fully covered", "time budget spent"
    status: Status = Status.RAN
    catches: int = 0  # mutants caught by the tests kept for that alone (testbot.mutants)
    captures: int = 0  # kept tests that fail on the code before the change, where no other test does

    def line(self) -> str:
        n = len(self.candidates)
        text = f"{self.target}  {n} candidate{'s' if n != 1 else ''}, {len(self.kept)} kept"
        if self.kept:
            more = f", {self.catches} more mutant{'s' if self.catches != 1 else ''} caught" if self.catches else ""
            more += (
                ", fails on the code before the change"
                if self.captures == 1
                else (f", {self.captures} fail on the code before the change" if self.captures else "")
            )
            text += f" (+{self.gain_lines} lines, +{self.gain_branches} branches{more})"
        if self.note:
            text += f"  [{self.note}]"
        return text


@dataclass(frozen=True)
class Report:
    targets: tuple[TargetReport, ...]
    files: tuple[FileChange, ...]
    model: str
    seconds: float
    dry_run: bool
    errors: tuple[str, ...] = ()
    settings: dict = field(default_factory=dict)
    isolation: tuple[str, ...] = ()  # the sandbox's barriers in force on this machine (sandbox.Isolation.tokens)
    phases: dict[str, float] = field(default_factory=dict)  # seconds by phase: suite, search, write, targets, ...

    @property
    def funnel(self) -> Funnel:
        total = Funnel()
        for t in self.targets:
            total = total + t.funnel
        return total

    @property
    def tests_added(self) -> int:
        return sum(len(f.tests) for f in self.files)

    @property
    def return_code(self) -> int:
        """0: nothing written; 1: tests written (or would be, with --dry-run); 2: a file could not be written."""
        if self.tests_added:
            return EXIT_WRITTEN
        if self.errors:
            return EXIT_BAD_INPUT
        return EXIT_OK

    def to_json(self) -> str:
        data = {
            "model": self.model,
            "seconds": round(self.seconds, 2),
            "phases": {k: round(v, 2) for k, v in self.phases.items()},
            "dry_run": self.dry_run,
            "funnel": dataclasses.asdict(self.funnel),
            "targets": [dataclasses.asdict(t) for t in self.targets],
            "files": [
                {
                    "path": str(f.path),
                    "created": f.created,
                    "tests": list(f.tests),
                    "authors": list(f.authors),
                    "skipped": list(f.skipped),
                    "written": f.written,
                    "error": f.error,
                }
                for f in self.files
            ],
            "errors": list(self.errors),
            "settings": self.settings,
            "isolation": list(self.isolation),
            "exit_code": self.return_code,
        }
        return json.dumps(data, indent=2, default=list)
