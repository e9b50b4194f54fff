"""``testbot`` command line: a thin adapter over the pipeline. ``main(argv) -> int``."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from testbot import __version__, secrets_scan
from testbot.config import HELP, add_arguments, find_project_root, resolve, setting_from_env
from testbot.errors import EXIT_BAD_INPUT, EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_OK, FatalError
from testbot.hook import HOOK_DEFAULTS
from testbot.report import Status


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="testbot", description="Write pytest tests that pass and add coverage.")
    parser.add_argument("--version", action="version", version=f"testbot {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    gen = sub.add_parser(
        "generate",
        help="write tests for the functions in files or folders",
        description="Write tests for functions: PATH is a folder, a file, file.py::func or "
        "file.py::Class.method. Every option can also be set in [tool.testbot] of "
        "the project's pyproject.toml.",
    )
    gen.add_argument(
        "paths",
        nargs="*",
        metavar="PATH",
        help="folder, file, file.py::func or file.py::Class.method (with --changed: only changes there)",
    )
    gen.add_argument("--root", help="project root (default: nearest folder with pyproject.toml, setup.py or .git)")
    changed = gen.add_argument_group("changed functions (git)")
    changed.add_argument(
        "--changed",
        action="store_true",
        help="only functions changed in the working tree against HEAD (untracked files included)",
    )
    changed.add_argument(
        "--staged",
        action="store_true",
        help="only functions changed by the staged changes, what a commit will hold (implies --changed)",
    )
    changed.add_argument(
        "--base",
        metavar="REF",
        help="only functions changed since the merge-base of REF and --head, as in a pull request (implies --changed)",
    )
    changed.add_argument("--head", metavar="REF", help="with --base: the last commit of the change (default: HEAD)")
    add_arguments(gen)
    hook_defaults = ", ".join(f"--{k.replace('_', '-')} {v:g}" for k, v in HOOK_DEFAULTS.items())
    hook = sub.add_parser(
        "hook",
        help="pre-commit hook: write tests for the functions the staged changes touch",
        description="Write tests for the functions and methods the staged changes touch. Exit 1 "
        "when tests were written (review and stage them), 0 when there was nothing "
        f"to do. A commit should not wait long, so the hook's defaults differ from "
        f"those shown below: {hook_defaults}.",
    )
    hook.add_argument(
        "files",
        nargs="*",
        metavar="FILE",
        help="look only at these staged files (the pre-commit framework passes them)",
    )
    hook.add_argument("--root", help="project root (default: nearest folder with pyproject.toml, setup.py or .git)")
    add_arguments(hook)
    for name, text in (
        ("install-hook", "install testbot as the repository's git pre-commit hook"),
        ("uninstall-hook", "remove testbot's git pre-commit hook"),
    ):
        cmd = sub.add_parser(name, help=text, description=text + " (a different existing hook is never touched)")
        cmd.add_argument("--root", help="a folder inside the repository (default: the current folder)")
    model = sub.add_parser("model", help="prepare and check the model files")
    model.add_argument(
        "--model", default="default", help="'default', 'stock', 'small', a .gguf path or BASE+ADAPTER.gguf"
    )
    model.add_argument("--verify", action="store_true", help="hash the whole file again, even if it was verified")
    pr = sub.add_parser(
        "pr",
        help="GitHub Actions: tests for a pull request's changed functions, posted on it",
        description="In a GitHub Actions job started by a pull_request event: write tests for the "
        "functions the pull request changes and post them (review suggestions, a commit "
        "or a comment) with one summary comment, edited in place on re-runs. Reads "
        "GITHUB_EVENT_PATH, GITHUB_REPOSITORY, GITHUB_API_URL and the token "
        "(TESTBOT_GITHUB_TOKEN or GITHUB_TOKEN). Its defaults differ from those shown: "
        "--budget 900, --max-targets 20.",
    )
    pr.add_argument("--root", help="project root (default: nearest folder with pyproject.toml, setup.py or .git)")
    add_arguments(pr, pr=True)
    serve = sub.add_parser(
        "serve",
        help="serve the model over an OpenAI-compatible HTTP API for other testbot runs",
        description="Run llama.cpp's OpenAI-compatible server with testbot's model, so many "
        "runs (CI jobs, a team) share one: testbot generate --model "
        "http://HOST:PORT/v1. Set TESTBOT_OPENAI_API_KEY to require that key.",
    )
    serve.add_argument(
        "--model",
        default="default",
        help="'default' (embedded Qwen, with testbot's adapter where shipped), 'stock', 'small', a .gguf path "
        "or BASE+ADAPTER.gguf",
    )
    serve.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default: 127.0.0.1, this machine only; 0.0.0.0 for a network, with an API key)",
    )
    serve.add_argument("--port", type=int, default=8000, help="port (default: 8000)")
    serve.add_argument("--context-tokens", type=int, default=4096, help="model context window (default: 4096)")
    serve.add_argument("--threads", type=int, default=0, help="CPU threads (default: 0, all cores)")
    serve.add_argument(
        "--backend",
        choices=("xllamacpp", "llama_cpp"),
        default="",
        help="xllamacpp: llama.cpp's own server (the default); llama_cpp: llama-cpp-python's "
        "(pip install 'testbot[llama-serve]')",
    )
    serve.add_argument(
        "--logprobs",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="--backend llama_cpp: return log-probabilities, which testbot ranks tests by (default: off; "
        "there they cost ~5x the time per token and context x vocabulary floats of RAM; "
        "llama.cpp's own server returns them to the requests that ask for them)",
    )
    serve.add_argument(
        "--llama-verbosity",
        type=int,
        default=None,
        help=HELP["llama_verbosity"] + " (default: TESTBOT_LLAMA_VERBOSITY, else 1)",
    )
    serve.add_argument(
        "--llama-extra-buffers",
        action=argparse.BooleanOptionalAction,
        default=None,
        help=HELP["llama_extra_buffers"] + " (default: TESTBOT_LLAMA_EXTRA_BUFFERS, else off)",
    )
    _finetune_parser(sub)
    return parser


def _finetune_parser(sub) -> argparse.ArgumentParser:
    """``testbot finetune``: data options here (mine, augment); training options join the same parser."""
    ft = sub.add_parser(
        "finetune",
        help="build training pairs from a project's tests, and fine-tune a model on them",
        description="Mine (function, test) pairs from the test suites of repositories or sdists "
        "(matched by per-test coverage) and from --record files of testbot generate, "
        "augment them by renaming, and train on them. See docs/finetune.md.",
    )
    data = ft.add_argument_group("training data")
    data.add_argument(
        "--mine",
        nargs="+",
        metavar="PATH",
        default=[],
        help="repositories, unpacked sdists, .tar.gz sdists, or .jsonl files written by "
        "testbot generate --record (distilled pairs)",
    )
    data.add_argument(
        "--augment",
        action="store_true",
        help="with --mine: add renamed copies (function, parameters, locals) whose tests still pass",
    )
    data.add_argument(
        "--data",
        default="finetune-data/pairs.jsonl",
        metavar="FILE",
        help="the pairs file --mine writes (default: finetune-data/pairs.jsonl)",
    )
    data.add_argument("--append", action="store_true", help="add to the pairs already in --data instead of replacing")
    data.add_argument(
        "--suite-timeout",
        type=float,
        default=300.0,
        metavar="S",
        help="seconds one project's test suite may run under coverage (default: 300)",
    )
    data.add_argument("--copies", type=int, default=1, help="renamed copies per pair with --augment (default: 1)")
    data.add_argument("--augment-seed", type=int, default=0, help="seed for the new names (default: 0)")
    data.add_argument("--python", default="", help="interpreter that runs the projects' tests (default: this one)")
    from testbot.finetune import train  # stdlib-only at import time: torch loads when training starts

    train.add_arguments(ft.add_argument_group("training (LoRA; needs pip install 'testbot[train]')"))
    export = ft.add_argument_group(
        "export (GGUF for llama.cpp: the adapter merged into the base, or the adapter alone)"
    )
    export.add_argument("--export", metavar="DIR", default="", help="the --out folder of a training run to export")
    export.add_argument(
        "--outtype",
        default=None,
        help="GGUF weight type: q8_0, f16, bf16 or f32 (default: q8_0); with --lora-gguf f16 or f32 (default: f16)",
    )
    export.add_argument(
        "--lora-gguf",
        nargs="?",
        const="",
        default=None,
        metavar="FILE",
        help="write the adapter alone as a llama.cpp LoRA GGUF (default file: adapter-f16.gguf beside the adapter), "
        "to run as --model BASE+FILE; --base names the base (default: the run's testbot.json)",
    )
    export.add_argument(
        "--llama-sdist",
        default="",
        metavar="FILE",
        help="the llama-cpp-python sdist holding the converter (default: fetched with pip once)",
    )
    ev = sub.add_parser(
        "eval",
        help="compare models on held-out functions through the real pipeline",
        description="Run testbot generate (dry run) with each model on held-out functions and "
        "report kept@k, pass rate, coverage gain and seconds per target as Markdown "
        "and JSON. See docs/finetune.md.",
    )
    from testbot.finetune import evaluate

    evaluate.add_arguments(ev)
    return ft


class _Progress:
    """A progress bar on stderr when it is a TTY; plain lines otherwise (CI logs)."""

    def __init__(self, total: int, enabled: bool) -> None:
        self.total = total
        self.done = 0
        self.bar = None
        if enabled and sys.stderr.isatty():
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
            from rich.console import Console

            self.bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=Console(stderr=True),
                transient=True,
            )
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
                self.bar.console.print(secrets_scan.redact(report.line()), highlight=False, soft_wrap=True)
            else:
                print(secrets_scan.redact(report.line()), flush=True)

    def stop(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def generate(args: argparse.Namespace) -> int:
    from testbot.targets import find_targets, missing_path

    if args.head and not args.base:
        raise FatalError("--head needs --base (the change is base...head)")
    if args.staged and args.base:
        raise FatalError("--staged and --base are different views of a change: pick one")
    if args.changed or args.staged or args.base:
        from testbot.diff import RANGE, STAGED, WORKTREE, ChangeSpec

        mode = STAGED if args.staged else RANGE if args.base else WORKTREE
        return _changed(args, ChangeSpec(mode, args.base or "", args.head or "HEAD"), args.paths)
    if not args.paths:
        raise FatalError("nothing to do: give a PATH (folder, file, file.py::func) or --changed")
    first = Path(args.paths[0].partition("::")[0])
    if not first.exists():
        raise missing_path(first)
    root = Path(args.root).resolve() if args.root else find_project_root(first)
    settings = resolve(args, root)
    targets = find_targets(
        args.paths, root, include_private=settings.include_private, include=settings.include, exclude=settings.exclude
    )
    if not targets:
        print("no functions or methods to test in " + ", ".join(args.paths), file=sys.stderr)
        return EXIT_OK
    return _run(root, settings, targets)


def _changed(args: argparse.Namespace, spec, paths: list[str], defaults: dict | None = None) -> int:
    """Tests for the functions a change touched (``generate --changed`` and ``hook``)."""
    from testbot.cache import Cache
    from testbot.diff import changed_targets

    for path in paths:
        if not Path(path).exists():
            raise FatalError(f"{path}: no such file or folder")
    root = Path(args.root).resolve() if args.root else find_project_root(Path.cwd())
    settings = resolve(args, root, defaults=defaults)
    change = changed_targets(
        root,
        spec,
        paths=paths,
        include_private=settings.include_private or settings.changed_private,
        include=settings.include,
        exclude=settings.exclude,
    )
    for note in change.notes:
        print(f"testbot: {note}", file=sys.stderr)
    if not change.targets:
        print(f"testbot: no changed functions or methods in the {spec.describe()}", file=sys.stderr)
        return EXIT_OK
    return _run(root, settings, list(change.targets), Cache.for_project(root) if settings.cache else None, changes=True)


def _run(root: Path, settings, targets: list, cache=None, changes: bool = False) -> int:
    from testbot.generate import LazyBackend
    from testbot.pipeline import Pipeline

    if settings.commit:
        from testbot.diff import check_committable
        from testbot.layout import destination_for

        if settings.dry_run:
            raise FatalError("--commit and --dry-run together: pick one")
        check_committable(root, {destination_for(t, root, settings.tests_dir) for t in targets})
    progress = _Progress(len(targets), settings.progress and not settings.json)
    quiet_events = (lambda *a: None) if settings.json else progress.event
    try:
        report = Pipeline(
            root, settings, LazyBackend(settings), on_event=quiet_events, cache=cache, changes=changes
        ).run(targets)
    finally:
        progress.stop()
    commit = ""
    if settings.commit:
        from testbot.hook import commit_report

        commit = commit_report(root, report)
    skipped = [t.target for t in report.targets if t.status is Status.SKIPPED]
    if settings.json:  # (nothing that looks like a credential leaves in the report: redacted)
        print(secrets_scan.redact(report.to_json(), secrets_scan.project_strings(root)))
        return report.return_code
    if skipped:
        print(
            f"testbot: skipped {len(skipped)} target{'s' if len(skipped) != 1 else ''} (see the notes above; they "
            f"get their turn on the next run): {', '.join(skipped)}",
            file=sys.stderr,
        )
    print(report.funnel.line())
    for change in report.files:
        verb = "would write" if report.dry_run else ("created" if change.created else "updated")
        if change.tests:
            rel = change.path.relative_to(root) if change.path.is_relative_to(root) else change.path
            print(f"{verb} {rel}: {len(change.tests)} test{'s' if len(change.tests) != 1 else ''}")
        if change.error:
            print(f"testbot: {change.error}", file=sys.stderr)
        for line in change.skipped:
            if "credential" in line:  # (a kept test dropped by the credentials scan: said, never silent)
                print(f"testbot: {line}", file=sys.stderr)
    for error in report.errors:  # e.g. the sandbox saw your files change while a candidate ran
        if all(error != change.error for change in report.files):
            print(f"testbot: {error}", file=sys.stderr)
    if commit:
        print(f"committed {commit[:12]}: {report.tests_added} test{'s' if report.tests_added != 1 else ''}")
    print(f"model {report.model}, {report.seconds:.1f} s", file=sys.stderr)
    return report.return_code


def hook_command(args: argparse.Namespace) -> int:
    from testbot.diff import STAGED, Busy, ChangeSpec

    try:
        return _changed(args, ChangeSpec(STAGED), args.files, defaults=HOOK_DEFAULTS)
    except Busy as exc:  # a merge or rebase commit goes ahead untouched
        print(f"testbot: {exc}", file=sys.stderr)
        return EXIT_OK


def hook_install_command(args: argparse.Namespace) -> int:
    from testbot import hook

    root = Path(args.root or ".").resolve()
    print(hook.install(root) if args.command == "install-hook" else hook.uninstall(root))
    return EXIT_OK


def pr_command(args: argparse.Namespace) -> int:
    from testbot import pr

    root = Path(args.root).resolve() if args.root else find_project_root(Path.cwd())
    settings = resolve(args, root, defaults=pr.PR_DEFAULTS)
    return pr.run(root, settings)


def finetune_command(args: argparse.Namespace) -> int:
    if args.mine:
        from testbot.finetune.mine import command

        return command(args)
    if args.train:
        from testbot.finetune.train import command

        return command(args)
    if args.export:
        from testbot.finetune.export import command

        return command(args)
    if args.augment:
        raise FatalError("--augment renames mined pairs in their source tree: give the sources with --mine")
    raise FatalError("nothing to do: give --mine PATH..., --train FILE or --export DIR (see testbot finetune --help)")


def model_command(args: argparse.Namespace) -> int:
    from testbot.model import resolve_model

    mf = resolve_model(args.model, full_verify=args.verify)
    print(f"{mf.name}: {mf.path} ({mf.path.stat().st_size} bytes, ok)")
    if mf.lora is not None:
        print(f"  LoRA adapter: {mf.lora} ({mf.lora.stat().st_size} bytes, ok)")
    return EXIT_OK


def _or_env(flag, name: str):
    """A flag of a command without a project (serve): the flag, else TESTBOT_<NAME>, else the setting's default."""
    return setting_from_env(name) if flag is None else flag


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
        if args.command == "hook":
            return hook_command(args)
        if args.command in ("install-hook", "uninstall-hook"):
            return hook_install_command(args)
        if args.command == "pr":
            return pr_command(args)
        if args.command == "finetune":
            return finetune_command(args)
        if args.command == "eval":
            from testbot.finetune.evaluate import command

            return command(args)
        if args.command == "serve":
            from testbot.serve import ServeOptions, serve

            return serve(
                ServeOptions(
                    args.model,
                    args.host,
                    args.port,
                    args.context_tokens,
                    args.threads,
                    args.logprobs,
                    args.backend,
                    llama_verbosity=_or_env(args.llama_verbosity, "llama_verbosity"),
                    llama_extra_buffers=_or_env(args.llama_extra_buffers, "llama_extra_buffers"),
                )
            )
    except FatalError as exc:
        print(f"testbot: error: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        print("testbot: interrupted; nothing was written that was not complete", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - a bug in testbot: say so briefly, full trace on request
        if os.environ.get("TESTBOT_DEBUG"):
            raise
        print(
            f"testbot: internal error: {exc.__class__.__name__}: {exc} (set TESTBOT_DEBUG=1 for the traceback, "
            "and please report it)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL
    parser.error(f"unknown command {args.command}")
    return EXIT_BAD_INPUT
