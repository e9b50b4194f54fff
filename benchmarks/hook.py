"""Hook benchmark: wall time of ``testbot hook`` for a commit that changes one function.

A scratch git repository (``benchmarks/.work/hook/``) holds a copy of ``examples/inventory``. One
function, ``apply_discount``, gets a new branch, which is staged; then ``testbot hook`` runs the way the
git pre-commit hook runs it (a fresh process in the repository root, the hook's defaults):

- ``cold``: the first run, empty cache: the model writes tests, testbot validates and writes them;
- ``until_cached``: the runs after it until the cache answers (none when the cold run finished in its
  budget; a target cut short by ``--budget`` is finished on the next commit attempt first);
- ``cached``: the same staged change again: the cache answers, no pytest, no model (median of N runs);
- ``no_python_change``: a commit that touches no Python file (median of N runs).

    python -m benchmarks.hook                   # default model (embedded Qwen2.5-Coder-1.5B)
    python -m benchmarks.hook --model small --cached-runs 3

Results: benchmarks/results/hook-<date>.md and .json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
EXAMPLE = REPO / "examples" / "inventory"
WORK = HERE / ".work" / "hook"
RESULTS = HERE / "results"
GIT = ["git", "-c", "user.name=testbot benchmark", "-c", "user.email=bench@example.com", "-c", "commit.gpgsign=false"]
# The change: a new branch in apply_discount (its lines are not covered by the example's tests).
OLD = "    return round(price * (100 - percent) / 100, 2)\n"
NEW = "    if price <= 0:\n        return 0.0\n    return round(price * (100 - percent) / 100, 2)\n"


def git(*args: str) -> str:
    return subprocess.run([*GIT, *args], cwd=WORK, check=True, capture_output=True, text=True).stdout


def make_repo() -> None:
    if WORK.exists():
        shutil.rmtree(WORK)
    shutil.copytree(EXAMPLE, WORK, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
    git("init", "-q")
    git("add", "-A")
    git("commit", "-q", "-m", "initial")
    pricing = WORK / "inventory" / "pricing.py"
    text = pricing.read_text()
    assert OLD in text, "examples/inventory changed: update benchmarks/hook.py"
    pricing.write_text(text.replace(OLD, NEW, 1))
    git("add", "inventory/pricing.py")


def hook(model: str, *extra: str) -> tuple[float, subprocess.CompletedProcess]:
    """One `testbot hook` run, as the git hook starts it; its wall time in seconds."""
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "testbot", "hook", "--model", model, *extra],
        cwd=WORK,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    return time.monotonic() - start, proc


def run(args: argparse.Namespace) -> dict:
    make_repo()
    cold_s, cold = hook(args.model, "--json")
    (WORK.parent / "hook-cold.json").write_text(cold.stdout)
    if cold.returncode not in (0, 1):
        raise SystemExit(f"testbot hook exited {cold.returncode}:\n{cold.stderr[-3000:]}")
    report = json.loads(cold.stdout)
    until_cached = []
    for _ in range(3):
        seconds, proc = hook(args.model)
        if "cached" in proc.stdout:
            break
        until_cached.append(
            {"seconds": round(seconds, 2), "exit_code": proc.returncode, "line": proc.stdout.splitlines()[0]}
        )
    else:
        raise SystemExit(f"the cache never answered:\n{proc.stdout}\n{proc.stderr}")
    cached = []
    for _ in range(args.cached_runs):
        seconds, proc = hook(args.model)
        assert proc.returncode == 0 and "cached" in proc.stdout, proc.stdout + proc.stderr
        cached.append(seconds)
    git("reset", "-q")  # unstage the Python change: a commit of a README edit
    (WORK / "README.md").write_text("notes\n")
    git("add", "README.md")
    no_python = []
    for _ in range(args.cached_runs):
        seconds, proc = hook(args.model)
        assert proc.returncode == 0, proc.stderr
        no_python.append(seconds)
    (target,) = report["targets"]
    return {
        "cold": {
            "seconds": round(cold_s, 2),
            "exit_code": cold.returncode,
            "target": target["target"],
            "funnel": report["funnel"],
            "gain_lines": target["gain_lines"],
            "gain_branches": target["gain_branches"],
            "lines_total": target["lines_total"],
            "branches_total": target["branches_total"],
            "completions": target["completions"],
            "tokens": target["tokens"],
            "prompt_tokens": target["prompt_tokens"],
            "target_seconds": target["seconds"],
            "note": target["note"],
            "tests_written": [t for f in report["files"] for t in f["tests"]],
        },
        "until_cached": until_cached,
        "cached": {
            "runs": [round(s, 3) for s in cached],
            "median": round(statistics.median(cached), 3),
            "max": round(max(cached), 3),
        },
        "no_python_change": {
            "runs": [round(s, 3) for s in no_python],
            "median": round(statistics.median(no_python), 3),
        },
        "settings": report["settings"],
    }


def to_markdown(result: dict, meta: dict) -> str:
    c = result["cold"]
    f = c["funnel"]
    return "\n".join(
        [
            f"# testbot hook benchmark, {meta['date']}",
            "",
            f"`testbot hook` on a staged change to one function ({c['target']}: a new `if` with its `return`), "
            f"model `{meta['model']}`, the hook's defaults, machine: {meta['machine']}. {meta['note']}",
            "",
            "| run | wall time (s) | aim |",
            "|---|---|---|",
            f"| cold (empty cache, model loads and writes tests) | {c['seconds']} | < 30 |",
            *[
                f"| next commit attempt (finishes what the budget cut short): {r['line']} | {r['seconds']} | |"
                for r in result["until_cached"]
            ],
            f"| cached (same change again), median of {len(result['cached']['runs'])} | {result['cached']['median']} "
            f"(max {result['cached']['max']}) | < 1 |",
            f"| commit without Python changes, median of {len(result['no_python_change']['runs'])} | "
            f"{result['no_python_change']['median']} | |",
            "",
            f"Cold run: exit {c['exit_code']}, {c['completions']} completion(s), {c['tokens']} tokens generated, prompt "
            f"{c['prompt_tokens']} tokens; funnel generated {f['generated']} / parsed {f['parsed']} / passed {f['passed']} / "
            f"stable {f['stable']} / added coverage {f['added_coverage']} / kept {f['kept']}; "
            f"+{c['gain_lines']} of {c['lines_total']} changed lines, +{c['gain_branches']} of {c['branches_total']} "
            f"branches; tests written: {', '.join(c['tests_written']) or 'none'}"
            f"{'; note: ' + c['note'] if c['note'] else ''}.",
            "",
            f"Settings: `{json.dumps(result['settings'])}`",
            "",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="default", help="testbot --model (default: the embedded Qwen model)")
    parser.add_argument("--cached-runs", type=int, default=5, help="repetitions of the cached and no-change runs")
    parser.add_argument("--note", default="", help="a remark for the results (e.g. what else ran on the machine)")
    parser.add_argument("--out", default="", help="result name (default: hook-<date>)")
    args = parser.parse_args(argv)
    result = run(args)
    meta = {
        "date": dt.date.today().isoformat(),
        "model": args.model,
        "note": args.note,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = args.out or f"hook-{meta['date']}"
    (RESULTS / f"{name}.json").write_text(json.dumps({"meta": meta, **result}, indent=2) + "\n")
    (RESULTS / f"{name}.md").write_text(to_markdown(result, meta))
    print(to_markdown(result, meta))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
