"""What a run has covered so far, file by file, and what each target got before its own turn.

The phases of :class:`testbot.pipeline.Pipeline` write here and read back: the search and the write and group
prompts leave each target its :class:`Pre` (outcomes, kept tests, funnel) and grow their file's *group* coverage;
a target's own turn grows its file's *baseline* (the import, the project's suite, then every test kept in a
turn), so that later targets of the file are asked only for what is still missing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from testbot import keep
from testbot.measure import Covered
from testbot.report import Funnel
from testbot.targets import Target


@dataclass
class Pre:
    """What ``--explore`` and a file's write and group prompts did for one of its targets, before its own turn."""

    outcomes: list[keep.Outcome]
    kept: list[keep.Outcome]
    funnel: Funnel
    completions: int = 0
    tokens: int = 0
    prompt_tokens: int = 0

    def explored(self) -> list[keep.Outcome]:
        """The search's kept tests (no model wrote them)."""
        return [o for o in self.kept if o.candidate.round == keep.EXPLORE_ROUND]

    def written(self) -> list[keep.Outcome]:
        """The kept tests a model wrote."""
        return [o for o in self.kept if o.candidate.round != keep.EXPLORE_ROUND]


class Ledger:
    """Covered so far: per file, the baseline (``first(target)`` on first use, then grown by the tests each
    target's turn keeps) and the group coverage (the tests kept for its targets before their turns); per
    target, its :class:`Pre`."""

    def __init__(self, first: Callable[[Target], Covered]) -> None:
        self._first = first  # the import and the project's suite
        self._baselines: dict[Path, Covered] = {}
        self._group: dict[Path, Covered] = {}
        self.pre: dict[str, Pre] = {}  # target id -> what it got before its own turn

    def baseline(self, target: Target) -> Covered:
        """What runs of ``target``'s file before any phase keeps a test, and what the targets' turns kept since."""
        if target.file not in self._baselines:
            self._baselines[target.file] = self._first(target)
        return self._baselines[target.file]

    def kept_in_turn(self, file: Path, kept: Iterable[keep.Outcome]) -> None:
        """Tests a target's own turn kept: they often run other functions of the file too (a ``with`` test covers
        ``__exit__``), and later targets of the file start from that."""
        for o in kept:
            self._baselines[file] = self._baselines.get(file, Covered()) | o.covered

    def group(self, file: Path) -> Covered:
        """What the tests kept before the targets' turns (search, write and group prompts) run of ``file``."""
        return self._group.get(file, Covered())

    def add_group(self, file: Path, covered: Covered) -> None:
        self._group[file] = self.group(file) | covered

    def so_far(self, target: Target) -> Covered:
        """The baseline and the group coverage of ``target``'s file."""
        return self.baseline(target) | self.group(target.file)

    def in_file(self, file: Path) -> Covered:
        """All that is known to run of ``file`` (nothing is run to find out)."""
        return self._baselines.get(file, Covered()) | self.group(file)

    def elsewhere(self, target: Target, file_of: dict[str, Path]) -> Covered:
        """What the tests kept so far for the other targets of ``target``'s file run, waiting or placed (those
        placed are in the file's baseline); ``file_of``: target id -> its file."""
        cover = self._baselines.get(target.file, Covered())
        for tid, pre in self.pre.items():
            if tid != target.id and file_of.get(tid) == target.file:
                for o in pre.kept:
                    cover = cover | o.covered
        return cover
