"""The cache of handled functions, the time budget and --max-targets: what keeps a hook fast."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import time
from pathlib import Path

from conftest import SOURCE, Project, fenced, run_cli
from testbot.cache import Cache, Entry, key
from testbot.config import Settings, settings_fingerprint
from testbot.targets import find_targets

LEAN = ["--samples", "1", "--runs", "1", "--repair-rounds", "0", "--timeout", "20"]
CHANGED = SOURCE.replace(
    '    return "positive"', '    if n > 100:\n        return "big"\n    return "positive"'
).replace("return max(lo, min(x, hi))", "return min(hi, max(x, lo))")
CLASSIFY = fenced("from pkg.m import classify\n\n\ndef test_big():\n    assert classify(101) == 'big'\n")
CLAMP = fenced("from pkg.m import clamp\n\n\ndef test_clamp_inside():\n    assert clamp(5, 0, 10) == 5\n")


def stage_change(project: Project) -> None:
    project.write("pkg/m.py", CHANGED)
    subprocess.run(["git", "add", "pkg/m.py"], cwd=project.root, check=True)


def test_key_follows_the_function_not_its_place(tmp_path: Path):
    (tmp_path / "m.py").write_text(SOURCE)
    (target,) = find_targets([str(tmp_path / "m.py::clamp")], tmp_path)
    fp = settings_fingerprint(Settings())
    moved = dataclasses.replace(
        target,
        start=target.start + 5,
        def_line=target.def_line + 5,
        end=target.end + 5,
        lines=frozenset(n + 5 for n in target.lines),
    )
    assert key(moved, fp) == key(target, fp)
    assert key(dataclasses.replace(target, source=target.source.replace("hi))", "hi + 1))")), fp) != key(target, fp)
    assert key(target, settings_fingerprint(Settings(seed=1))) != key(target, fp)
    assert key(target, settings_fingerprint(Settings(model="small"))) != key(target, fp)
    assert key(dataclasses.replace(target, lines=frozenset({target.end})), fp) != key(target, fp)
    cache = Cache(tmp_path / "cache")
    assert cache.get(target, fp) is None
    cache.put(target, fp, Entry(target.id, 2, 3, 1, ""))
    assert cache.get(moved, fp) == Entry(target.id, 2, 3, 1, "")


def test_rerun_on_unchanged_functions_is_fast_and_never_calls_the_model(
    project: Project, testbot_script: str, tmp_path: Path
):
    stage_change(project)
    model = project.fake_model({"classify": [CLASSIFY], "clamp": [CLAMP]})
    first = run_cli(["hook", "--model", model, *LEAN], project.root)
    assert first.code == 1, first.err
    assert (project.root / ".git" / "testbot" / "cache").is_dir()
    # The user throws the tests away and the model goes missing: without the cache this run would need it.
    (project.root / "tests" / "test_m.py").unlink()
    Path(model.removeprefix("fake:")).unlink()
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    start = time.monotonic()
    res = subprocess.run(
        [testbot_script, "hook", "--model", model, *LEAN],
        cwd=project.root,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "TMPDIR": str(scratch)},
    )
    seconds = time.monotonic() - start
    assert res.returncode == 0, res.stderr
    assert "pkg/m.py::classify  0 candidates, 0 kept  [cached: 1 test written earlier" in res.stdout
    assert "pkg/m.py::clamp  0 candidates, 0 kept  [cached: 1 test written earlier" in res.stdout
    assert list(scratch.iterdir()) == []  # no scratch copy: pytest never ran
    assert seconds < 2.0, seconds  # ~0.4 s here; the bound leaves room for a busy machine
    assert not (project.root / "tests" / "test_m.py").exists()
    # --no-cache does the work again, and needs the model for it
    again = run_cli(["hook", "--no-cache", "--model", model, *LEAN], project.root)
    assert again.code == 2 and "cannot read completions" in again.err


def test_budget_finishes_with_what_it_has_and_names_what_it_skipped(project: Project):
    stage_change(project)
    slow = project.fake_model({"classify": [{"text": CLASSIFY, "sleep": 2.5}], "clamp": [CLAMP]})
    run = project.generate("--staged", "--budget", "2", "--model", slow, *LEAN)
    assert run.code == 1, run.err
    assert "pkg/m.py::classify  1 candidate, 1 kept" in run.out
    assert "pkg/m.py::clamp  0 candidates, 0 kept  [skipped: time budget (2 s) spent]" in run.out
    assert "skipped 1 target" in run.err and "pkg/m.py::clamp" in run.err
    assert "test_big" in project.read("tests/test_m.py") and "clamp" not in project.read("tests/test_m.py")
    # The finished target is remembered; the skipped one is not, so the next run does it.
    entries = list((project.root / ".git" / "testbot" / "cache").rglob("*.json"))
    assert [json.loads(e.read_text())["target"] for e in entries] == ["pkg/m.py::classify"]


def test_max_targets(project: Project):
    stage_change(project)
    run = project.generate("--staged", "--max-targets", "1", "--model", project.fake_model([CLASSIFY, CLAMP]), *LEAN)
    assert run.code == 1, run.err
    assert "pkg/m.py::clamp  0 candidates, 0 kept  [skipped: over max-targets (1)]" in run.out
    assert "skipped 1 target" in run.err
    assert "clamp" not in project.read("tests/test_m.py")


def test_cache_lives_in_the_git_folder_and_nowhere_else(tmp_path: Path):
    (tmp_path / "plain").mkdir()
    assert Cache.for_project(tmp_path / "plain") is None
    (tmp_path / "linked").mkdir()  # a linked worktree: .git is a file naming the real git folder
    (tmp_path / "linked" / ".git").write_text("gitdir: ../main/.git/worktrees/linked\n")
    assert Cache.for_project(tmp_path / "linked").folder == tmp_path / "main/.git/worktrees/linked/testbot/cache"
