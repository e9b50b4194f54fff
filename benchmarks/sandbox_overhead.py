"""Sandbox overhead: what one sandboxed candidate run costs over a plain ``python -m pytest`` subprocess.

A tiny project (one module, one test file with two tests) is copied into a testbot Workspace. Each
round runs, in turn:

- ``plain``: ``python -m pytest -q -p no:cacheprovider tests/test_m.py`` as a plain subprocess, in the copy;
- ``sandboxed``: the same test file through ``Workspace.run_tests``, the path every candidate takes
  (run folder, handoff pipe, cgroup, ``unshare``, Landlock, capabilities, guard, result plugin,
  checks of the user's files and of the copy before and after);
- the same pair under coverage (``plain+coverage`` / ``sandboxed+coverage``), as candidates really run;
- ``sandboxed`` under shifted conditions (libfaketime's clock, another time zone and locale), as every other
  stability re-run of a candidate runs;
- ``sandboxed`` with one layer turned off at a time (``TESTBOT_SANDBOX_OFF``), to show what each costs.

The runs of a round are interleaved, so drift in machine load hits every variant alike. Reports the
median, mean and 90th percentile wall time per variant and the overhead (median minus plain median).

    python -m benchmarks.sandbox_overhead                 # 20 rounds
    python -m benchmarks.sandbox_overhead --rounds 40 --out sandbox-mine

Results: benchmarks/results/sandbox-<date>.md and .json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from testbot import sandbox
from testbot import validate as v

RESULTS = Path(__file__).resolve().parent / "results"
AIM = 0.3  # seconds of overhead per candidate run we aim to stay under

SOURCE = """\
def classify(n):
    if n < 0:
        return "negative"
    if n == 0:
        return "zero"
    return "positive"
"""
TESTS = """\
from pkg.m import classify


def test_negative():
    assert classify(-1) == "negative"


def test_zero():
    assert classify(0) == "zero"
"""
# The same switch the test suite's tiny project uses: entry-point plugins installed here cost ~1 s each run.
PYPROJECT = '[project]\nname = "pkg"\nversion = "0.1"\n\n[tool.pytest.ini_options]\naddopts = "-p no:hypothesispytest -p no:benchmark"\n'
LAYERS = ("namespaces", "mountns", "cgroup", "landlock", "reads", "guard")


def make_project(root: Path) -> Path:
    (root / "pkg").mkdir(parents=True)
    (root / "tests").mkdir()
    (root / "pyproject.toml").write_text(PYPROJECT)
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "m.py").write_text(SOURCE)
    (root / "tests" / "test_m.py").write_text(TESTS)
    return root


def plain(ws: v.Workspace, test: Path, coverage: bool) -> float:
    args = [ws.python]
    if coverage:
        args += [
            "-m",
            "coverage",
            "run",
            "--branch",
            f"--data-file={ws.runs / 'plain-coverage'}",
            f"--include={ws.project / 'pkg' / 'm.py'}",
        ]
    args += ["-m", "pytest", "-q", "-p", "no:cacheprovider", str(test)]
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": str(ws.project)}
    start = time.perf_counter()
    res = subprocess.run(args, cwd=ws.project, env=env, capture_output=True, timeout=120)
    seconds = time.perf_counter() - start
    if res.returncode != 0:
        raise SystemExit(f"plain pytest run failed: {res.stdout.decode()[-2000:]}")
    return seconds


def sandboxed(ws: v.Workspace, root: Path, test: Path, coverage: bool, off: str = "", shifted: bool = False) -> float:
    old = os.environ.get("TESTBOT_SANDBOX_OFF")
    os.environ["TESTBOT_SANDBOX_OFF"] = off
    try:
        start = time.perf_counter()
        res = ws.run_tests(
            [test], import_root=root, measure=root / "pkg" / "m.py" if coverage else None, shifted=shifted
        )
        seconds = time.perf_counter() - start
    finally:
        if old is None:
            os.environ.pop("TESTBOT_SANDBOX_OFF", None)
        else:
            os.environ["TESTBOT_SANDBOX_OFF"] = old
    if res.outcome != v.PASSED:
        raise SystemExit(f"sandboxed run did not pass ({off or 'all layers'}): {res.outcome} {res.detail[-2000:]}")
    return seconds


def stats(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "median": round(statistics.median(ordered), 4),
        "mean": round(statistics.fmean(ordered), 4),
        "p90": round(ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))], 4),
        "n": len(ordered),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20, help="rounds of every variant (default 20)")
    parser.add_argument("--layer-rounds", type=int, default=10, help="rounds of each one-layer-off variant")
    parser.add_argument("--python", default=sys.executable, help="interpreter that runs the tests")
    parser.add_argument("--out", default="", help="results file name without extension (default sandbox-<date>)")
    args = parser.parse_args(argv)
    times: dict[str, list[float]] = {}
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="testbot-bench-") as tmp:
        root = make_project(Path(tmp) / "proj")
        with v.Workspace(root, args.python, sandbox.Limits(wall_seconds=120, cpu_seconds=120)) as ws:
            isolation = ws.isolation
            test = ws.scratch_path(root / "tests" / "test_m.py")
            variants = {
                "plain": lambda: plain(ws, test, False),
                "sandboxed": lambda: sandboxed(ws, root, test, False),
                "plain+coverage": lambda: plain(ws, test, True),
                "sandboxed+coverage": lambda: sandboxed(ws, root, test, True),
                # (a stability re-run under shifted conditions: the clock moved by libfaketime, another zone)
                "sandboxed, shifted": lambda: sandboxed(ws, root, test, False, shifted=True),
            }
            for name in variants:  # warm-up: file caches, probes, imports
                variants[name]()
            for i in range(args.rounds):
                order = list(variants) if i % 2 == 0 else list(reversed(variants))
                for name in order:
                    times.setdefault(name, []).append(variants[name]())
                print(f"round {i + 1}/{args.rounds}", file=sys.stderr)
            for i in range(args.layer_rounds):
                for layer in LAYERS:
                    times.setdefault(f"sandboxed, {layer} off", []).append(sandboxed(ws, root, test, False, layer))
                times.setdefault("sandboxed, all layers off", []).append(
                    sandboxed(ws, root, test, False, ",".join((*LAYERS, "caps")))
                )
                times.setdefault("plain (layer rounds)", []).append(plain(ws, test, False))
    summary = {name: stats(values) for name, values in times.items()}
    overhead = round(summary["sandboxed"]["median"] - summary["plain"]["median"], 4)
    overhead_cov = round(summary["sandboxed+coverage"]["median"] - summary["plain+coverage"]["median"], 4)
    date = dt.date.today().isoformat()
    meta = {
        "date": date,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.platform()}",
        "python": sys.version.split()[0],
        "euid": os.geteuid(),
        "rounds": args.rounds,
        "layer_rounds": args.layer_rounds,
        "isolation": isolation.as_dict() if isolation else {},
        "load_average_1m": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],  # before, after
        "aim_seconds": AIM,
    }
    data = {
        "meta": meta,
        "variants": summary,
        "overhead_seconds": overhead,
        "overhead_seconds_coverage": overhead_cov,
        "raw": {k: [round(x, 4) for x in vals] for k, vals in times.items()},
    }
    RESULTS.mkdir(exist_ok=True)
    name = args.out or f"sandbox-{date}"
    (RESULTS / f"{name}.json").write_text(json.dumps(data, indent=2) + "\n")
    lines = [
        f"# Sandbox overhead, {date}",
        "",
        f"Machine: {meta['machine']}; Python {meta['python']}; euid {meta['euid']}; load average "
        f"{meta['load_average_1m'][0]} before, {meta['load_average_1m'][1]} after; {args.rounds} rounds "
        f"({args.layer_rounds} for the layer variants). Produced by `python -m benchmarks.sandbox_overhead`.",
        "",
        "Isolation in force: " + "; ".join(f"{k}: {v}" for k, v in meta["isolation"].items()),
        "",
        f"**Overhead per candidate run: {overhead * 1000:.0f} ms** (median sandboxed − median plain), "
        f"{overhead_cov * 1000:.0f} ms under coverage; aim: under {AIM * 1000:.0f} ms.",
        "",
        "| variant | median s | mean s | p90 s | over plain (median) |",
        "|---|---:|---:|---:|---:|",
    ]
    for variant, s in summary.items():
        base = summary["plain+coverage" if "coverage" in variant else "plain"]["median"]
        if "off" in variant:
            base = summary["plain (layer rounds)"]["median"]
        lines.append(
            f"| {variant} | {s['median']:.3f} | {s['mean']:.3f} | {s['p90']:.3f} | "
            f"{(s['median'] - base) * 1000:+.0f} ms |"
        )
    (RESULTS / f"{name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
