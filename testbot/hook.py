"""Thin adapters for the developer's commit: the git pre-commit hook script, its installation, and the
commit that ``--commit`` makes. The work is done by :mod:`testbot.diff` and :mod:`testbot.pipeline`.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from testbot import __version__
from testbot.errors import FatalError

if TYPE_CHECKING:  # the CLI imports this module for --help: keep it light
    from testbot.report import Report

# Defaults of `testbot hook` (flag > [tool.testbot] > TESTBOT_<NAME> > these): a commit must not wait long.
HOOK_DEFAULTS: dict[str, Any] = {
    "budget": 60.0,  # seconds; targets not started by then are named, and done on the next commit
    "max_targets": 5,  # a big commit gets tests for its first few functions; the cache remembers the rest
    "samples": 2,  # completions per round: the first one usually covers a small change
    "repair_rounds": 1,  # one more round with the failures and the uncovered lines
    "runs": 2,  # a kept test passed twice in fresh processes
    "max_tokens": 192,  # 2-4 short tests; ~17 s of decoding on a 2-core CPU with the default model
    "prompt_tokens": 1000,  # a prompt token costs 15-50 ms to read on a 2-core CPU
}

# The plain git hook (no pre-commit framework): `testbot install-hook` writes exactly this file, which is
# also hooks/pre-commit in testbot's repository.
HOOK_SCRIPT = """\
#!/bin/sh
# testbot pre-commit hook: writes pytest tests for the functions and methods this commit changes.
# Installed by `testbot install-hook`; `testbot uninstall-hook` removes it.
# Exit 1 means tests were written: review them, `git add` them, and commit again.
# Commit without it once: git commit --no-verify
if command -v testbot >/dev/null 2>&1; then
    exec testbot hook
fi
echo "testbot: the testbot command is not on PATH; committing without new tests" >&2
exit 0
"""


def hook_path(root: Path) -> Path:
    """Where git looks for the pre-commit hook (``core.hooksPath`` respected)."""
    from testbot.diff import open_repo

    with open_repo(root) as repo:
        rel = repo.git.rev_parse("--git-path", "hooks/pre-commit")
        return (Path(repo.working_tree_dir) / rel).resolve()


def install(root: Path) -> str:
    """Install the hook; never overwrite a different one. Returns what was done."""
    path = hook_path(root)
    if path.exists() or path.is_symlink():
        if path.is_file() and path.read_bytes() == HOOK_SCRIPT.encode():
            return f"testbot's pre-commit hook is already installed at {path}"
        raise FatalError(
            f"{path} already exists and is not testbot's hook; left untouched. Add the line "
            f"'testbot hook' to it yourself, or use the pre-commit framework (see the README)"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".pre-commit.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(HOOK_SCRIPT)
        os.chmod(tmp, 0o755)
        try:
            os.link(tmp, path)  # fails if a hook appeared meanwhile: never overwrites
        except FileExistsError:
            raise FatalError(f"{path} appeared while installing; left untouched") from None
    finally:
        os.unlink(tmp)
    return f"installed testbot's pre-commit hook at {path}"


def uninstall(root: Path) -> str:
    """Remove the hook, only if it is testbot's, unchanged."""
    path = hook_path(root)
    if not path.exists():
        return f"no pre-commit hook at {path}; nothing to do"
    if not path.is_file() or path.read_bytes() != HOOK_SCRIPT.encode():
        raise FatalError(f"{path} is not testbot's hook (or was edited); left untouched: remove it yourself")
    path.unlink()
    return f"removed testbot's pre-commit hook from {path}"


def commit_message(report: Report, root: Path) -> str:
    written = [t for t in report.targets if t.funnel.kept]
    names = ", ".join(t.target.rsplit("::", 1)[-1] for t in written)
    subject = f"testbot: tests for {names}" if len(names) <= 50 else f"testbot: tests for {len(written)} functions"
    body = [
        f"{t.target}: {t.funnel.kept} test{'s' if t.funnel.kept != 1 else ''}, +{t.gain_lines} lines, "
        f"+{t.gain_branches} branches"
        for t in written
    ]
    files = [
        f"{f.path.relative_to(root).as_posix() if f.path.is_relative_to(root) else f.path}: {', '.join(f.tests)}"
        for f in report.files
        if f.written
    ]
    return "\n".join(
        [
            subject,
            "",
            *body,
            "",
            *files,
            "",
            f"Written by testbot {__version__} with model {report.model}: each test passed in fresh runs",
            "and covers lines or branches that were not covered before.",
            "",
        ]
    )


def commit_report(root: Path, report: Report) -> str:
    """Commit the files the run wrote, alone; '' when it wrote none."""
    from testbot.diff import commit_files

    written = {f.path: f.text for f in report.files if f.written}
    return commit_files(root, written, commit_message(report, root)) if written else ""
