"""The developer's commit: ``testbot hook``, the plain git hook, the pre-commit framework, commit mode, and
never losing work (Ctrl-C and crashes at each stage, the repository compared byte for byte)."""

from __future__ import annotations

import ast
import os
import signal
import stat
import subprocess
import sys
import sysconfig
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import GIT, SOURCE, Project, fenced, run_cli
from testbot import diff
from testbot.hook import HOOK_SCRIPT

CHECKOUT = Path(__file__).resolve().parents[1]
LEAN = ["--samples", "1", "--runs", "1", "--repair-rounds", "0", "--timeout", "20"]
CHANGED = SOURCE.replace('    return "positive"', '    if n > 100:\n        return "big"\n    return "positive"')
BIG = fenced("from pkg.m import classify\n\n\ndef test_big():\n    assert classify(101) == 'big'\n")
SLOW_BIG = fenced(
    "import time\n\nfrom pkg.m import classify\n\n\ndef test_big():\n    time.sleep(1)\n"
    "    assert classify(101) == 'big'\n"
)


def git(root: Path, *args: str, env: dict | None = None) -> str:
    return subprocess.run([*GIT, *args], cwd=root, check=True, capture_output=True, text=True, env=env).stdout


def hook_env(model: str, **extra: str) -> dict[str, str]:
    """The environment of a hook: testbot on PATH, the fake model through TESTBOT_MODEL (as config.read_env reads it)."""
    path = sysconfig.get_path("scripts") + os.pathsep + os.environ.get("PATH", "")
    return {**os.environ, "PATH": path, "TESTBOT_MODEL": model, "TESTBOT_RUNS": "1", **extra}


def snapshot(root: Path) -> dict[str, tuple[int, bytes]]:
    """Every file of the repository, .git included: its mode and its bytes."""
    return {
        p.relative_to(root).as_posix(): (stat.S_IMODE(p.lstat().st_mode), p.read_bytes())
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


@pytest.fixture
def wip(project: Project) -> Project:
    """A commit being prepared, amid other work: a partially staged file, unstaged edits, untracked files."""
    project.write("notes.md", "notes\n")
    git(project.root, "add", "notes.md")
    git(project.root, "commit", "-q", "-m", "notes")
    project.write("pkg/m.py", CHANGED)
    git(project.root, "add", "pkg/m.py")
    project.write("pkg/m.py", CHANGED + "\n\ndef draft():\n    return 'not staged'\n")  # partially staged
    project.write("notes.md", "notes\nmore notes, not staged\n")
    project.write("pkg/untracked.py", "def loose():\n    return 1\n")
    project.write("todo.txt", "untracked\n")
    return project


# -- the hook scripts


def test_hook_script_in_the_repository_is_what_install_hook_writes():
    path = CHECKOUT / "hooks" / "pre-commit"
    assert path.read_text(encoding="utf-8") == HOOK_SCRIPT
    assert path.stat().st_mode & stat.S_IXUSR


def test_installed_hook_runs_on_git_commit_and_passes_once_the_tests_are_staged(project: Project):
    run = run_cli(["install-hook"], project.root)
    assert run.code == 0 and "installed" in run.out
    hook = project.root / ".git" / "hooks" / "pre-commit"
    assert hook.read_text() == HOOK_SCRIPT and hook.stat().st_mode & stat.S_IXUSR
    project.write("pkg/m.py", CHANGED)
    git(project.root, "add", "pkg/m.py")
    head = git(project.root, "rev-parse", "HEAD")
    env = hook_env(project.fake_model([BIG]))
    first = subprocess.run(
        [*GIT, "commit", "-q", "-m", "big numbers"],
        cwd=project.root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert first.returncode == 1, first.stdout + first.stderr
    assert "created tests/test_m.py: 1 test" in first.stderr  # git shows a hook's output on stderr
    assert git(project.root, "rev-parse", "HEAD") == head  # the commit waits for the user's review
    git(project.root, "add", "tests/test_m.py")
    second = subprocess.run(
        [*GIT, "commit", "-q", "-m", "big numbers"],
        cwd=project.root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert second.returncode == 0, second.stdout + second.stderr
    assert git(project.root, "show", "--name-only", "--format=", "HEAD").split() == ["pkg/m.py", "tests/test_m.py"]


def test_install_hook_never_overwrites_a_different_hook(project: Project):
    hook = project.root / ".git" / "hooks" / "pre-commit"
    hook.write_text("#!/bin/sh\necho mine\n")
    for command in ("install-hook", "uninstall-hook"):
        run = run_cli([command], project.root)
        assert run.code == 2 and "not testbot's hook" in run.err
        assert hook.read_text() == "#!/bin/sh\necho mine\n"
    hook.unlink()
    assert run_cli(["install-hook"], project.root).code == 0
    again = run_cli(["install-hook"], project.root)
    assert again.code == 0 and "already installed" in again.out
    removed = run_cli(["uninstall-hook"], project.root)
    assert removed.code == 0 and "removed" in removed.out and not hook.exists()
    git(project.root, "config", "core.hooksPath", ".githooks")  # git's own setting is respected
    assert run_cli(["install-hook"], project.root).code == 0
    assert (project.root / ".githooks" / "pre-commit").read_text() == HOOK_SCRIPT and not hook.exists()


def test_pre_commit_framework_runs_the_hook_of_this_checkout(project: Project, tmp_path: Path):
    """The real pre-commit, pinned in the test extra, with this checkout's .pre-commit-hooks.yaml."""
    project.write("pkg/m.py", CHANGED)
    git(project.root, "add", "pkg/m.py")
    env = hook_env(project.fake_model([BIG]), PRE_COMMIT_HOME=str(tmp_path / "pre-commit-home"))
    command = [sys.executable, "-m", "pre_commit", "try-repo", str(CHECKOUT), "testbot"]
    first = subprocess.run(command, cwd=project.root, env=env, capture_output=True, text=True, timeout=300)
    assert first.returncode == 1, first.stdout + first.stderr
    assert "- hook id: testbot" in first.stdout and "created tests/test_m.py: 1 test" in first.stdout
    assert "def test_big" in project.read("tests/test_m.py")
    git(project.root, "add", "tests/test_m.py")
    second = subprocess.run(command, cwd=project.root, env=env, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "Passed" in second.stdout


# -- commit mode


@pytest.fixture
def committed(project: Project) -> Project:
    """The change is committed; the user has other work staged, unstaged and untracked."""
    project.write("pkg/m.py", CHANGED)
    git(project.root, "commit", "-q", "-am", "big numbers")
    project.write("pkg/__init__.py", '"""The package."""\n')
    git(project.root, "add", "pkg/__init__.py")
    project.write("pyproject.toml", project.read("pyproject.toml") + "\n# an unstaged edit\n")
    project.write("notes.md", "untracked\n")
    return project


def test_commit_mode_commits_only_testbots_files(committed: Project):
    root = committed.root
    head = git(root, "rev-parse", "HEAD")
    status = git(root, "status", "--porcelain")
    run = committed.generate("--changed", "--base", "HEAD~1", "--commit", "--model", committed.fake_model([BIG]), *LEAN)
    assert run.code == 1, run.err
    assert "committed " in run.out
    assert git(root, "rev-parse", "HEAD~1") == head
    assert git(root, "show", "--name-only", "--format=", "HEAD").split() == ["tests/test_m.py"]
    message = git(root, "log", "-1", "--format=%B")
    assert message.startswith("testbot: tests for classify\n")
    assert "pkg/m.py::classify: 1 test, +2 lines, +1 branches" in message
    assert "tests/test_m.py: test_big" in message
    assert git(root, "status", "--porcelain") == status  # the user's staged, unstaged and untracked work as it was
    assert git(root, "diff", "--cached", "--name-only") == "pkg/__init__.py\n"


def test_commit_mode_refuses_a_test_file_with_uncommitted_changes_of_the_user(committed: Project):
    committed.write("tests/test_m.py", "def test_mine():\n    pass\n")  # the user's own, not yet added
    before = snapshot(committed.root)
    run = committed.generate("--changed", "--base", "HEAD~1", "--commit", "--model", "fake:/nonexistent", *LEAN)
    assert run.code == 2 and "tests/test_m.py has changes of yours" in run.err
    assert snapshot(committed.root) == before


@pytest.mark.parametrize("step, committed_after", [("read-tree", False), ("update-ref", True)])
def test_ctrl_c_while_committing(committed: Project, monkeypatch, step: str, committed_after: bool):
    """Before HEAD moves nothing is committed; once it moves, Ctrl-C waits until the index agrees with it."""
    root = committed.root
    head, status = git(root, "rev-parse", "HEAD").strip(), git(root, "status", "--porcelain")
    git_index = (root / ".git" / "index").read_bytes()
    test_file = committed.write(
        "tests/test_m.py", "from pkg.m import classify\n\n\ndef test_big():\n    assert classify(101) == 'big'\n"
    )
    real = diff._git

    def interrupted(repo, *args, **kw):
        if args[0] == step:
            os.kill(os.getpid(), signal.SIGINT)
        return real(repo, *args, **kw)

    monkeypatch.setattr(diff, "_git", interrupted)
    with pytest.raises(KeyboardInterrupt):
        diff.commit_files(root, {test_file: test_file.read_text()}, "testbot: tests\n")
    if committed_after:
        assert git(root, "rev-parse", "HEAD~1").strip() == head
        assert git(root, "show", "--name-only", "--format=", "HEAD").split() == ["tests/test_m.py"]
        assert git(root, "status", "--porcelain") == status  # the index has the new file too
    else:
        assert git(root, "rev-parse", "HEAD").strip() == head
        assert (root / ".git" / "index").read_bytes() == git_index
        assert git(root, "status", "--porcelain") == status + "?? tests/\n"


# -- never lose work: Ctrl-C and crashes


def _descendants(pid: int) -> list[list[str]]:
    """The command lines of every process below ``pid``."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                parents[int(entry.name)] = int(fields[1])
            except (OSError, IndexError, ValueError):
                continue
    found, frontier = [], {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier}
        for child in frontier:
            try:
                found.append((Path("/proc") / str(child) / "cmdline").read_bytes().decode(errors="replace").split("\0"))
            except OSError:
                pass
    return found


def _pytest_running(pid: int, whole_file: bool) -> bool:
    for argv in _descendants(pid):
        is_pytest = any(argv[i : i + 2] == ["-m", "pytest"] for i in range(len(argv)))
        if is_pytest and any(a.endswith("tests/test_m.py") for a in argv) == whole_file:
            return True
    return False


STAGES: dict[str, Callable[[int, Path], bool]] = {
    "model": lambda pid, marker: marker.exists(),  # the fake model is "thinking"
    "validation": lambda pid, marker: _pytest_running(pid, whole_file=False),  # a candidate runs in the sandbox
    "integration": lambda pid, marker: _pytest_running(pid, whole_file=True),  # the composed test file runs
}


@pytest.mark.parametrize(
    "stage, sig",
    [
        ("model", signal.SIGINT),
        ("validation", signal.SIGINT),
        ("integration", signal.SIGINT),
        ("model", signal.SIGKILL),
    ],
    ids=["ctrl-c-model", "ctrl-c-validation", "ctrl-c-integration", "killed-model"],
)
def test_interrupted_or_killed_hook_leaves_the_repository_byte_for_byte(
    wip: Project, tmp_path: Path, stage: str, sig: int
):
    marker = tmp_path / "model-called"
    completion = {"text": SLOW_BIG, "touch": str(marker), "sleep": 60 if stage == "model" else 0}
    env = hook_env(wip.fake_model([completion]), TMPDIR=str(tmp_path))
    before = snapshot(wip.root)
    proc = subprocess.Popen(
        [sys.executable, "-m", "testbot", "hook", *LEAN],
        cwd=wip.root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not STAGES[stage](proc.pid, marker):
            assert proc.poll() is None, f"testbot ended before the {stage} stage: {proc.communicate()}"
            assert time.monotonic() < deadline, f"the {stage} stage never came"
            time.sleep(0.01)
        os.kill(proc.pid, sig)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    if sig == signal.SIGINT:
        assert proc.returncode == 130, err
        assert "interrupted" in err
    else:
        assert proc.returncode == -signal.SIGKILL
    assert snapshot(wip.root) == before


def test_ctrl_c_while_reading_the_change(wip: Project, monkeypatch):
    real = diff.changed_files

    def then_ctrl_c(*args, **kw):
        found = real(*args, **kw)
        os.kill(os.getpid(), signal.SIGINT)
        return found

    monkeypatch.setattr(diff, "changed_files", then_ctrl_c)
    before = snapshot(wip.root)
    run = run_cli(["hook", "--model", "fake:/nonexistent", *LEAN], wip.root)
    assert run.code == 130
    assert snapshot(wip.root) == before


@pytest.mark.parametrize("what, code", [("ctrl-c", 130), ("crash", 4)])
def test_ctrl_c_or_crash_while_writing_the_test_file(wip: Project, monkeypatch, what: str, code: int):
    """The test file is written to a temporary file, synced, then renamed: stopped before the rename,
    the repository is as it was."""
    real = os.fsync

    def fsync(fd: int) -> None:
        real(fd)
        if "/tests/.test_m.py." in os.readlink(f"/proc/self/fd/{fd}"):
            if what == "crash":
                raise RuntimeError("the disk caught fire")
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(os, "fsync", fsync)
    before = snapshot(wip.root)
    run = run_cli(["hook", "--model", wip.fake_model([BIG]), *LEAN], wip.root)
    assert run.code == code, run.err
    assert snapshot(wip.root) == before


def test_hook_run_leaves_the_users_work_as_it_was(wip: Project):
    """An ordinary run adds its test file and its cache, and changes nothing else."""
    before = snapshot(wip.root)
    status = git(wip.root, "status", "--porcelain")
    run = run_cli(["hook", "--model", wip.fake_model([BIG]), *LEAN], wip.root)
    assert run.code == 1, run.err
    after = snapshot(wip.root)
    added = {p for p in after if p not in before}
    assert {p for p in added if not p.startswith(".git/testbot/cache/")} == {"tests/test_m.py"}
    assert {p: v for p, v in after.items() if p in before} == before
    assert sorted(git(wip.root, "status", "--porcelain").splitlines()) == sorted(status.splitlines() + ["?? tests/"])
    assert ast.parse(wip.read("tests/test_m.py"))
