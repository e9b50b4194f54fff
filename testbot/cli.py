"""``testbot`` command line: a thin adapter over the pipeline. ``main(argv) -> int``."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from testbot import __version__
from testbot.config import add_arguments, find_project_root, resolve
from testbot.errors import EXIT_BAD_INPUT, EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_OK, FatalError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="testbot", description="Write pytest tests that pass and add coverage.")
    parser.add_argument("--version", action="version", version=f"testbot {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    gen = sub.add_parser("generate", help="write tests for the functions in files or folders",
                         description="Write tests for functions: PATH is a folder, a file, file.py::func or "
                                     "file.py::Class.method. Every option can also be set in [tool.testbot] of "
                                     "the project's pyproject.toml.")
    gen.add_argument("paths", nargs="+", metavar="PATH", help="folder, file, file.py::func or file.py::Class.method")
    gen.add_argument("--root", help="project root (default: nearest folder with pyproject.toml, setup.py or .git)")
    add_arguments(gen)
    model = sub.add_parser("model", help="prepare and check the model files")
    model.add_argument("--model", default="default", help="'default', 'small' or a .gguf path")
    model.add_argument("--verify", action="store_true", help="hash the whole file again, even if it was verified")
    return parser


class _Progress:
    """A progress bar on stderr when it is a TTY; plain lines otherwise (CI logs)."""

    def __init__(self, total: int, enabled: bool) -> None:
        self.total = total
        self.done = 0
        self.bar = None
        if enabled and sys.stderr.isatty():
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
            from rich.console import Console

            self.bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                TimeElapsedColumn(), console=Console(stderr=True), transient=True)
            self.task = self.bar.add_task("testbot", total=total)
            self.bar.start()

    def event(self, kind: str, target, report) -> None:
        if kind == "start":
            if self.bar is not None:
                self.bar.update(self.task, description=target.id)
            else:
                print(f"[{self.done + 1}/{self.total}] {target.id} ...", file=sys.stderr, flush=True)
        else:
            self.done += 1
            if self.bar is not None:
                self.bar.advance(self.task)
                self.bar.console.print(report.line(), highlight=False, soft_wrap=True)
            else:
                print(report.line(), flush=True)

    def stop(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def generate(args: argparse.Namespace) -> int:
    from testbot.pipeline import Pipeline
    from testbot.targets import find_targets

    first = Path(args.paths[0].partition("::")[0])
    if not first.exists():
        raise FatalError(f"{first}: no such file or folder")
    root = Path(args.root).resolve() if args.root else find_project_root(first)
    settings = resolve(args, root)
    targets = find_targets(args.paths, root, include_private=settings.include_private, include=settings.include,
                           exclude=settings.exclude)
    if not targets:
        print("no functions or methods to test in " + ", ".join(args.paths), file=sys.stderr)
        return EXIT_OK
    progress = _Progress(len(targets), settings.progress and not settings.json)
    quiet_events = (lambda *a: None) if settings.json else progress.event
    try:
        report = Pipeline(root, settings, on_event=quiet_events).run(targets)
    finally:
        progress.stop()
    if settings.json:
        print(report.to_json())
        return report.return_code
    print(report.funnel.line())
    for change in report.files:
        verb = "would write" if report.dry_run else ("created" if change.created else "updated")
        if change.tests:
            rel = change.path.relative_to(root) if change.path.is_relative_to(root) else change.path
            print(f"{verb} {rel}: {len(change.tests)} test{'s' if len(change.tests) != 1 else ''}")
        if change.error:
            print(f"testbot: {change.error}", file=sys.stderr)
    print(f"model {report.model}, {report.seconds:.0f} s", file=sys.stderr)
    return report.return_code


def model_command(args: argparse.Namespace) -> int:
    from testbot.model import EMBEDDED_NAME, embedded_model, resolve_model

    mf = embedded_model(full_verify=args.verify) if args.model in ("default", EMBEDDED_NAME) else resolve_model(args.model)
    print(f"{mf.name}: {mf.path} ({mf.path.stat().st_size} bytes, ok)")
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_BAD_INPUT
    try:
        if args.command == "generate":
            return generate(args)
        if args.command == "model":
            return model_command(args)
    except FatalError as exc:
        print(f"testbot: error: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        print("testbot: interrupted; nothing was written that was not complete", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - a bug in testbot: say so briefly, full trace on request
        if os.environ.get("TESTBOT_DEBUG"):
            raise
        print(f"testbot: internal error: {exc.__class__.__name__}: {exc} (set TESTBOT_DEBUG=1 for the traceback, "
              "and please report it)", file=sys.stderr)
        return EXIT_INTERNAL
    parser.error(f"unknown command {args.command}")
    return EXIT_BAD_INPUT
