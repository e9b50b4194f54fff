"""testbot: writes pytest tests for Python functions, keeps only those that pass and add coverage.

The library API, what ``testbot generate`` runs::

    from testbot import FatalError, Settings, generate_tests

    try:
        report = generate_tests("path/to/project", ["pkg/parser.py::parse"], Settings(samples=2))
    except FatalError as exc:  # bad input or a missing model: the message says what to do
        raise SystemExit(f"{exc} (exit code {exc.code})")
    print(report.funnel.line())
    for change in report.files:
        print(change.path, change.tests)
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from testbot.config import Settings, resolve
from testbot.errors import FatalError

if TYPE_CHECKING:
    from testbot.report import Report, TargetReport
    from testbot.targets import Target

__version__ = "0.1.0"
__all__ = ["FatalError", "Report", "Settings", "__version__", "generate_tests"]


def generate_tests(
    root: str | os.PathLike[str],
    targets: Sequence[str | os.PathLike[str]],
    settings: Settings | None = None,
    *,
    on_event: Callable[[str, Target, TargetReport | None], None] | None = None,
) -> Report:
    """Write tests for ``targets`` of the project at ``root`` and say what was kept.

    ``targets`` are what ``testbot generate`` takes, relative to ``root`` (or absolute): a folder, a file,
    ``file.py::func`` or ``file.py::Class.method``. Without ``settings``, the project's ``[tool.testbot]``
    table, then the ``TESTBOT_*`` environment variables, then the defaults apply, as for the command line;
    given ``settings`` are used as they are. With ``settings.dry_run`` nothing is written; with
    ``settings.commit`` the written tests are committed on top of HEAD, as ``--commit`` does.

    ``on_event("start", target, None)`` and ``on_event("done", target, target_report)`` report progress.
    The returned ``Report`` holds every candidate's outcome, the files written and ``return_code``, the
    command line's exit status. Bad input or a missing model raises ``FatalError``: its message says what to
    do next and its ``code`` is the command line's exit status.
    """
    from testbot.generate import LazyBackend
    from testbot.pipeline import Pipeline
    from testbot.report import Report
    from testbot.targets import find_targets

    base = Path(root).resolve()
    if settings is None:
        settings = resolve(argparse.Namespace(), base)
    specs = []
    for target in targets:
        path, sep, selector = os.fspath(target).partition("::")
        specs.append(str(base / path) + sep + selector)
    found = find_targets(
        specs, base, include_private=settings.include_private, include=settings.include, exclude=settings.exclude
    )
    if not found:
        return Report(targets=(), files=(), model=settings.model, seconds=0.0, dry_run=settings.dry_run)
    if settings.commit:
        from testbot.diff import check_committable
        from testbot.layout import destination_for

        if settings.dry_run:
            raise FatalError("commit and dry_run together: pick one")
        check_committable(base, {destination_for(t, base, settings.tests_dir) for t in found})
    report = Pipeline(base, settings, LazyBackend(settings), on_event=on_event).run(found)
    if settings.commit:
        from testbot.hook import commit_report

        commit_report(base, report)
    return report


def __getattr__(name: str) -> object:
    """``testbot.Report`` is imported on first use: it brings coverage.py, which ``testbot --help`` does without."""
    if name == "Report":
        from testbot.report import Report

        return Report
    raise AttributeError(f"module 'testbot' has no attribute {name!r}")
