"""What every phase of a run that lives outside :class:`testbot.pipeline.Pipeline` shares with it."""

from __future__ import annotations

from pathlib import Path

from testbot import validate as v
from testbot.budget import Budget
from testbot.check import Checker
from testbot.config import Settings


class Phase:
    """The project's root, the run's settings and budget, its workspace and checker, and whether the targets are
    a change's (``changes``: a diff, a pull request)."""

    def __init__(
        self, root: Path, settings: Settings, budget: Budget, ws: v.Workspace, check: Checker, changes: bool
    ) -> None:
        self.root = root
        self.s = settings
        self.budget = budget
        self.ws = ws
        self.check = check
        self.changes = changes
