"""Side-by-side benchmark: testbot vs Pynguin vs CoverUp on the same modules, machine and budget.

Two tracks:

- ``modules``: real modules from pinned wheels (benchmarks/modules.yaml, a copy of
  ../shared/bench/modules.yaml). Per module: a venv with the distribution's dependencies, a scratch project
  per tool holding the package source, the import-only baseline, each tool under the per-module budget,
  line/branch coverage of the module by the tests each tool left, and the kept tests re-run 3 times in a
  fresh copy in a shuffled order (they must all pass). Beside them the package's own tests for the module
  (own_suites.yaml: from its sdist, where it ships them); with ``--mutation`` the mutation score of each (mutmut,
  or our own mutator where mutmut would skip much of the module); for testbot who wrote each kept test (the
  search or the model) and the shapes a reviewer rejects (testbot.shape).
- ``humaneval``: the 164 HumanEval problems as modules ``he/he_NNN.py``; coverage and mutation score
  (mutmut) per problem for each tool and for the dataset's own tests (the human reference).

    python -m benchmarks --modules codetiming._timer --budget 120 --tools testbot pynguin
    python -m benchmarks --track humaneval --problems 0-1 --budget 60

Results: benchmarks/results/<date>[-label].md, .json and .png (schema in docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import random
import re
import shlex
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

import yaml

from benchmarks import core, humaneval, own_suites, peers
from benchmarks.chart import coverage_chart
from benchmarks.envs import (
    COVERUP,
    MUTMUT,
    PYNGUIN,
    ensure_venv,
    install_pins,
    run_measured,
    runner_requirements,
    wheel_requirements,
)
from benchmarks.mutation import EVERY_LINE, MUTMUT_MIN_REACH, every_line_score, mutation_score, mutmut_reach
from testbot import shape
from testbot.pipeline import EXPLORE_MODEL
from testbot.targets import neighbours

HERE = Path(__file__).resolve().parent
REPO = HERE.parent  # testbot is run from this checkout
MODULES_YAML = HERE / "modules.yaml"  # the repo's copy; tests check it matches ../shared/bench/modules.yaml
TOOLS = ("testbot", "pynguin", "coverup")
TRACKS = ("modules", "humaneval")
DEFAULT_BUDGET = 300  # seconds per module (modules track) and per problem (HumanEval track)
DEFAULT_HE_BUDGET = 60
MAX_TARGET_SECONDS = 180  # testbot's own default per target; never more than the module's budget
EXTRA_PINS = ["python-dateutil==2.9.0.post0"]  # modules.yaml notes: pypara needs python-dateutil<3
KILL_SLACK = 180  # testbot is killed this long after budget + one target's budget: a kill loses its whole report
RERUNS = 3  # fresh-copy re-runs of the kept tests, each in a different shuffled order


# ---------------------------------------------------------------- helpers


def median(values: list) -> float | None:
    values = [v for v in values if v is not None]
    return round(statistics.median(values), 1) if values else None


def ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b <= 0:
        return None
    return round(a / b, 2)


def test_files(tests_dir: Path) -> list[Path]:
    return sorted(tests_dir.rglob("test_*.py")) if tests_dir.exists() else []


def copy_project(base: Path, dest: Path) -> Path:
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(base, dest, ignore=shutil.ignore_patterns("__pycache__", ".coverage*"))
    return dest


def rerun_fresh(project: Path, tests: list[Path], python: Path, reruns: int, seed: int) -> dict:
    """Re-run ``tests`` ``reruns`` times from a fresh copy of the project, each time in a shuffled order and with
    a random hash seed, the last one also with the clock two years ahead, another time zone and locale (as users
    run them later, elsewhere)."""
    if not tests:
        return {"reruns": 0, "tests": 0, "failing": []}
    fresh = project.parent / (project.name + ".fresh")
    if fresh.exists():
        shutil.rmtree(fresh)
    shutil.copytree(project, fresh, ignore=shutil.ignore_patterns(".git", "__pycache__", ".coverage*", ".pytest_cache"))
    rel = [str(t.relative_to(project)) for t in tests]
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("PYTHONHASHSEED", "TZ")},
        "PYTHONPATH": str(fresh),
        "PYTHONHASHSEED": "random",
    }
    later = {**env, **core.later_conditions()}
    base = [str(python), "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:randomly", "--rootdir", str(fresh)]
    collected = subprocess.run(
        base + ["--collect-only", "-q", *rel], cwd=fresh, env=env, capture_output=True, text=True, timeout=600
    )
    ids = [line.strip() for line in collected.stdout.splitlines() if "::" in line]
    failing: set[str] = set()
    for r in range(reruns):
        order = ids[:]
        random.Random(seed + r).shuffle(order)
        proc = subprocess.run(
            base + ["-q", "-rfE", "--continue-on-collection-errors", *(order or rel)],
            cwd=fresh,
            env=later if r == reruns - 1 else env,
            capture_output=True,
            text=True,
            timeout=1800,
        )
        failing |= {m.group(2) for m in re.finditer(r"^(FAILED|ERROR) (\S+)", proc.stdout, re.M)}
        if proc.returncode not in (0, 5) and not failing:
            failing.add(f"<pytest exit {proc.returncode}>")
    return {"reruns": reruns, "tests": len(ids), "failing": sorted(failing)}


def testbot_command(target: str, args: argparse.Namespace, python: Path, budget: float) -> list[str]:
    return [
        sys.executable,
        "-m",
        "testbot",
        "generate",
        target,
        "--json",
        "--no-progress",
        "--model",
        args.model,
        "--python",
        str(python),
        "--include-private",
        "--samples",
        str(args.samples),
        "--seed",
        str(args.seed),
        "--budget",
        str(budget),
        "--target-seconds",
        str(min(MAX_TARGET_SECONDS, args.budget)),
        *shlex.split(args.testbot_args),
    ]


def testbot_details(report: dict, seconds: float) -> dict:
    per_target = [t["seconds"] for t in report["targets"] if t.get("completions")]  # skipped ones took 0 s
    tokens = sum(t["tokens"] for t in report["targets"])
    return {
        "targets": len(report["targets"]),
        "funnel": report["funnel"],
        "kept_ratio": round(report["funnel"]["kept"] / report["funnel"]["generated"], 3)
        if report["funnel"]["generated"]
        else None,
        "seconds_per_target_p50": round(statistics.median(per_target), 1) if per_target else None,
        "seconds_per_target_p90": round(sorted(per_target)[math.ceil(0.9 * len(per_target)) - 1], 1)
        if per_target
        else None,
        "generated_tokens": tokens,
        "tokens_per_second": round(tokens / seconds, 1) if seconds else None,
        "model": report["model"],
        "target_notes": {t["target"]: t["note"] for t in report["targets"] if t["note"]},
        "phases": report.get("phases", {}),  # seconds by phase (search, write, targets, ...), the model's among them
    }


def kept_tests(report: dict, project: Path, module_file: Path) -> dict:
    """testbot's kept tests on one module, from its JSON report and the files it wrote: how many, how many the
    model wrote (every author but the search's; "" is a test whose author the report does not know), and how
    many have each shape a reviewer rejects (testbot.shape; copied-doctest against the module's own examples)."""
    sources: list[str] = []
    authors: list[str] = []
    written_by: dict[int, str] = {}  # index in sources -> author, where the file names one per test found
    known = True  # a report from before testbot named authors has none
    for f in report.get("files", []):
        if not f.get("written") or not f.get("tests"):
            continue
        path = Path(f["path"]) if Path(f["path"]).is_absolute() else project / f["path"]
        found = shape.tests_in(path.read_text(encoding="utf-8"), f["tests"])
        if "authors" in f:
            authors += f["authors"]
            if len(found) == len(f["authors"]):
                written_by.update({len(sources) + i: a for i, a in enumerate(f["authors"])})
        else:
            known = False
        sources += found
    tests = len(sources)
    by_model = sum(1 for a in authors if a and a != EXPLORE_MODEL) if known else None
    facts = shape.module_facts(module_file.read_text(encoding="utf-8"), neighbours(module_file))
    # (the share of checks does not move when tests are split or grouped: how much of the testing the model wrote)
    checks = [shape.check_count(src) for src in sources]
    all_checks = sum(checks)
    by_author = known and len(written_by) == tests
    model_checks = (
        sum(n for i, n in enumerate(checks) if written_by[i] not in ("", EXPLORE_MODEL)) if by_author else None
    )
    return {
        "tests": tests,
        "by_model": by_model,
        "checks": all_checks,
        "checks_by_model": model_checks,
        "model_checks_share_pct": round(100.0 * model_checks / all_checks, 1)
        if model_checks is not None and all_checks
        else None,
        "author_unknown": sum(1 for a in authors if not a) if known else None,
        "model_share_pct": round(100.0 * by_model / tests, 1) if by_model is not None and tests else None,
        "shapes": shape.count(sources, facts),
        # the tests a reviewer would send back, as written, with their shapes and author (what to look at next)
        "shaped": [
            {"shapes": found, "author": written_by.get(i), "source": src}
            for i, src in enumerate(sources)
            if (found := shape.problems(src, facts))
        ],
    }


def module_mutation(
    args: argparse.Namespace,
    mutmut_python: Path,
    python: Path,
    project: Path,
    module_file: Path,
    work: Path,
    pytest_args: list[str],
) -> dict:
    """The mutation score of the tests in ``project``/tests on ``module_file``, with the same tool and settings for
    every tool's tests and the package's own: mutmut (its package copied whole, only the module mutated) where it
    reaches the module's functions, else our own mutator on every line (benchmarks/mutation.py says why)."""
    files = sorted(p for p in (project / "tests").rglob("*.py") if "__pycache__" not in p.parts)
    files = files if any(p.name.startswith("test_") for p in files) else []
    reach = round(100.0 * mutmut_reach(module_file.read_text(encoding="utf-8")), 1)
    if reach >= 100.0 * MUTMUT_MIN_REACH:
        result = mutation_score(
            mutmut_python,
            module_file,
            project,
            files,
            work,
            timeout=args.mutation_timeout,
            children=args.mutation_children,
            whole_package=True,
            pytest_args=pytest_args,
        )
        return result | {"tool": MUTMUT, "mutmut_reach_pct": reach}
    result = every_line_score(python, module_file, project, files, work, pytest_args)
    return result | {"tool": EVERY_LINE, "mutmut_reach_pct": reach}


def run_own_suite(
    spec: dict,
    suite: own_suites.OwnSuite | None,
    base: Path,
    args: argparse.Namespace,
    python: Path,
    mutmut_python: Path | None,
) -> dict:
    """The package's own tests for the module (own_suites.yaml) in a copy of the scratch project: coverage, the
    tests that fail, and with --mutation their mutation score. {"status": "none", "note"} where none are shipped."""
    if suite is None:
        return {"status": "none", "note": f"not in {args.own_suites.name}"}
    if not suite.tests:
        return {"status": "none", "note": suite.none}
    project = copy_project(base, args.work / spec["id"] / "own")
    file = project / spec["file"]
    try:
        sdist = own_suites.fetch_sdist(suite, args.work / "sdists")
        tests = own_suites.install(suite, sdist, project)
    except (OSError, SystemExit) as exc:
        return {"status": "error", "error": f"own suite not installed: {exc}"}
    cell: dict = {
        "status": "ok",
        "sdist": suite.sdist,
        "test_files": [str(t.relative_to(project)) for t in tests],
        "deselected": [{"test": t, "why": why} for t, why in suite.deselect],
    }
    origin = own_suites.imported_from(project, spec["id"], python)
    cell["imported_from"] = origin
    if Path(origin) != file:  # the tests would test another copy than the pinned wheel's
        return cell | {"status": "error", "error": f"{spec['id']} is imported from {origin}, not from {file}"}
    start = dt.datetime.now()
    cell["after"] = core.measure_files(project, [file], tests, python)[file]
    cell["seconds"] = round((dt.datetime.now() - start).total_seconds(), 1)
    if cell["after"]["pytest_exit"] != 0:
        proc = subprocess.run(
            [str(python), "-m", "pytest", "-q", "-rfE", "-p", "no:cacheprovider", "--rootdir", str(project)],
            cwd=project,
            env={**os.environ, "PYTHONPATH": str(project)},
            capture_output=True,
            text=True,
            timeout=900,
        )
        failing = sorted({m.group(2) for m in re.finditer(r"^(FAILED|ERROR) (\S+)", proc.stdout, re.M)})
        cell.update(status="failing", failing=failing or [f"<pytest exit {cell['after']['pytest_exit']}>"])
    if mutmut_python:
        cell["mutation"] = module_mutation(
            args, mutmut_python, python, project, file, args.work / spec["id"] / "mutation" / "own", suite.pytest_args
        )
    return cell


def run_tool(
    tool: str,
    project: Path,
    target_files: list[Path],
    args: argparse.Namespace,
    python: Path,
    budget: float,
    server: peers.ModelServer | None,
    deps: list[str],
    pins: list[str],
) -> dict:
    """Run one tool in ``project`` (its own copy); the tests it left are in project/tests."""
    tests_dir = project / "tests"
    out: dict = {"status": "ok"}
    if tool == "testbot":
        target = str(target_files[0]) if len(target_files) == 1 else str(target_files[0].parent)
        cmd = testbot_command(target, args, python, budget)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
        run = run_measured(
            cmd,
            cwd=project,
            env=env,
            timeout=budget + min(MAX_TARGET_SECONDS, args.budget) + KILL_SLACK,
            log=project.parent / (project.name + ".testbot.log"),
        )
        out.update(command=cmd, seconds=run.seconds, peak_rss_mb=run.peak_rss_mb)
        try:
            report = json.loads(run.stdout)
            out.update(testbot_details(report, run.seconds))
            (project.parent / (project.name + ".report.json")).write_text(run.stdout)
        except ValueError:
            out.update(status="error", error=f"testbot exited {run.returncode}: {run.stderr[-1500:]}")
        if run.timed_out:  # no report: a completion under way when the limit came (see docs/benchmarks.md)
            out.update(
                status="killed at limit",
                error=f"killed after {run.seconds} s, before its report; stderr: {run.stderr[-1000:]}",
            )
        return out
    try:
        # The module's own dependencies, pinned where the yaml pins them, resolved together with the tool's
        # (no constraints file: the tool's pins, e.g. Pynguin's, must win where the yaml says nothing).
        pinned = {re.split(r"==", x)[0].lower().replace("_", "-"): x for x in pins}
        wanted = [pinned.get(d.lower().replace("_", "-"), d) for d in deps]
        python_tool = ensure_venv(args.work / "venvs", tool, [PYNGUIN if tool == "pynguin" else COVERUP] + wanted)
    except SystemExit as exc:
        return {"status": "error", "error": f"could not install {tool}: {exc}"}
    if tool == "pynguin":
        runs = []
        for f in target_files:  # one module per Pynguin run
            module = ".".join(f.relative_to(project).with_suffix("").parts)
            runs.append(peers.run_pynguin(python_tool, project, module, budget, tests_dir, seed=args.seed))
        last = runs[-1]
        out.update(
            command=last.command,
            seconds=round(sum(r.run.seconds for r in runs), 1),
            peak_rss_mb=max(r.run.peak_rss_mb for r in runs),
            runs_killed_at_limit=sum(r.run.timed_out for r in runs),
            runs_failed=sum(1 for r in runs if r.run.returncode not in (0, None)),
        )
        if all(r.run.returncode not in (0, None) for r in runs):
            out["status"] = "error"
        elif any(r.run.timed_out for r in runs):
            out["status"] = "killed at limit"
        if not any(r.tests for r in runs):
            out["note"] = "no tests written"
        if out["status"] == "error" or not any(r.tests for r in runs):
            out["error"] = f"last run exit {last.run.returncode}: {(last.run.stdout + last.run.stderr)[-1500:]}"
        return out
    if server is None or server.error:
        return {"status": "error", "error": f"model server: {server.error if server else 'not started'}"}
    package_dir = target_files[0].parent
    run = peers.run_coverup(
        python_tool,
        project,
        package_dir,
        target_files,
        budget * len(target_files),
        server.base_url,
        server.model_name,
        tests_dir,
    )
    try:
        server.restart()  # nothing of CoverUp's may go on generating while the next tool runs
    except RuntimeError as exc:
        server.error = str(exc)
    out.update(command=run.command, seconds=run.run.seconds, peak_rss_mb=run.run.peak_rss_mb)
    if run.run.timed_out:
        out["status"] = "killed at limit"
    elif run.run.returncode:
        out["status"] = "error"
    if not run.tests:
        out["note"] = "no tests written"
    if out["status"] == "error" or not run.tests:
        out["error"] = f"exit {run.run.returncode}: {(run.run.stdout + run.run.stderr)[-1500:]}"
    return out


# ---------------------------------------------------------------- tracks


def modules_track(args: argparse.Namespace, server: peers.ModelServer | None) -> dict:
    data = yaml.safe_load(args.modules_yaml.read_text())
    specs = {m["id"]: m for m in data["modules"]}
    ids = args.modules or [m for m, s in specs.items() if s.get("split") == "public"]
    unknown = [m for m in ids if m not in specs]
    if unknown:
        raise SystemExit(f"unknown module ids: {unknown}; see {args.modules_yaml}")
    pins = install_pins(data.get("install", "")) + EXTRA_PINS
    suites = own_suites.load(args.own_suites)
    rows = []
    for mid in ids:
        spec = specs[mid]
        print(f"== {mid}", file=sys.stderr, flush=True)
        wheel = core.fetch_wheel(spec, args.work / "wheels")
        deps = wheel_requirements(wheel)
        python = (
            Path(args.python)
            if args.python
            else ensure_venv(
                args.work / "venvs", "dist-" + spec["dist"].split("==")[0], runner_requirements() + deps, pins
            )
        )
        base = core.make_project(spec, wheel, args.work / mid / "base")
        file_rel = Path(spec["file"])
        before = core.measure_files(base, [base / file_rel], [], python)[base / file_rel]
        row = {"id": mid, "file": spec["file"], "dist": spec["dist"], "before": before, "tools": {}}
        suite = suites.get(mid)
        test_deps = list(suite.test_deps) if suite else []
        # One mutmut venv per distribution: mutmut runs the tests in its own process, so it needs what they import.
        mutmut_python = (
            ensure_venv(args.work / "venvs", "mutmut-" + spec["dist"].split("==")[0], [MUTMUT, *deps, *test_deps], pins)
            if args.mutation
            else None
        )
        for tool in args.tools:
            project = copy_project(base, args.work / mid / tool)
            print(f"   {tool} ...", file=sys.stderr, flush=True)
            result = run_tool(tool, project, [project / file_rel], args, python, args.budget, server, deps, pins)
            tests = test_files(project / "tests")
            result["test_files"] = [str(t.relative_to(project)) for t in tests]
            result["after"] = (
                core.measure_files(project, [project / file_rel], tests, python)[project / file_rel]
                if tests
                else before
            )
            result["gain_pct_points"] = round(result["after"]["line_branch_pct"] - before["line_branch_pct"], 1)
            fresh = rerun_fresh(project, tests, python, args.reruns, args.seed)
            result["fresh_rerun"] = fresh
            result["kept_tests_failing_in_fresh_copy"] = len(fresh["failing"])
            report = project.parent / (project.name + ".report.json")
            if tool == "testbot" and report.exists():
                result["kept"] = kept_tests(json.loads(report.read_text()), project, project / file_rel)
            if mutmut_python:
                print(f"   {tool}: mutation ...", file=sys.stderr, flush=True)
                result["mutation"] = module_mutation(
                    args, mutmut_python, python, project, project / file_rel, args.work / mid / "mutation" / tool, []
                )
            row["tools"][tool] = result
            print(
                f"   {tool}: {result['status']} {before['line_branch_pct']} -> {result['after']['line_branch_pct']} % "
                f"in {result.get('seconds')} s",
                file=sys.stderr,
                flush=True,
            )
        own_python = python
        if test_deps and not args.python:
            own_python = ensure_venv(
                args.work / "venvs",
                "own-" + spec["dist"].split("==")[0],
                runner_requirements() + deps + test_deps,
                pins,
            )
        print("   own suite ...", file=sys.stderr, flush=True)
        row["own_suite"] = run_own_suite(spec, suite, base, args, own_python, mutmut_python)
        rows.append(row)
    return {"rows": rows, "summary": summarize(rows, args.tools)}


def humaneval_track(args: argparse.Namespace, server: peers.ModelServer | None) -> dict:
    problems = humaneval.load_problems(args.problems)
    base = humaneval.make_project(problems, args.work / "humaneval" / "base")
    stems = [humaneval.stem(p) for p in problems]
    rel_files = [Path(humaneval.PACKAGE) / f"{s}.py" for s in stems]
    python = (
        Path(args.python) if args.python else ensure_venv(args.work / "venvs", "dist-humaneval", runner_requirements())
    )
    mutmut_python = ensure_venv(args.work / "venvs", "mutmut", [MUTMUT]) if args.mutation else None
    before_all = core.measure_files(base, [base / f for f in rel_files], [], python)
    rows = [
        {"id": s, "task_id": p["task_id"], "before": before_all[base / f], "tools": {}}
        for s, p, f in zip(stems, problems, rel_files)
    ]
    # The reference (coverage, three fresh re-runs and mutmut of the dataset's own tests) takes ~20 min for all
    # 164 problems and is the same every time: a part of a merged run may leave it to another (--no-reference).
    for tool in (("reference",) if args.reference else ()) + tuple(args.tools):
        print(f"== humaneval: {tool}", file=sys.stderr, flush=True)
        project = copy_project(base, args.work / "humaneval" / tool)
        files = [project / f for f in rel_files]
        if tool == "reference":
            humaneval.write_reference_tests(problems, project / "tests")
            run = {"status": "ok"}
        else:
            run = run_tool(
                tool,
                project,
                files,
                args,
                python,
                args.budget * len(files) if tool == "testbot" else args.budget,
                server,
                [],
                [],
            )
        tests = test_files(project / "tests")
        after = (
            core.measure_files(project, files, tests, python)
            if tests
            else {f: before_all[base / r] for f, r in zip(files, rel_files)}
        )
        fresh = rerun_fresh(project, tests, python, args.reruns, args.seed)
        run.update(test_files=len(tests), fresh_rerun=fresh, kept_tests_failing_in_fresh_copy=len(fresh["failing"]))
        for row, f in zip(rows, files):
            own = humaneval.tests_for(row["id"], tests)
            # No test of its own: the problem keeps its import-only coverage (the other problems' tests
            # never import it, and would otherwise score it 0 %).
            done = after[f] if own else row["before"]
            cell = {
                "after": done,
                "test_files": [t.name for t in own],
                "gain_pct_points": round(done["line_branch_pct"] - row["before"]["line_branch_pct"], 1),
            }
            if mutmut_python:
                cell["mutation"] = mutation_score(
                    mutmut_python,
                    f,
                    project,
                    own,
                    args.work / "humaneval" / "mutmut" / tool / row["id"],
                    children=args.mutation_children,
                )
            row["tools"][tool] = cell
        run_summary = {k: v for k, v in run.items() if k != "command"} | {"command": run.get("command")}
        rows[0].setdefault("_runs", {})[tool] = run_summary
    runs = rows[0].pop("_runs") if rows else {}
    return {"rows": rows, "runs": runs, "summary": summarize(rows, ("reference", *args.tools))}


def summarize(rows: list[dict], tools: tuple | list) -> dict:
    out: dict = {"median_before": median([r["before"]["line_branch_pct"] for r in rows])}
    for tool in tools:
        cells = [r["tools"].get(tool) for r in rows if r["tools"].get(tool)]
        out[tool] = {
            "median_line_branch_pct": median([c["after"]["line_branch_pct"] for c in cells]),
            "median_line_pct": median([c["after"]["line_pct"] for c in cells]),
            "median_branch_pct": median([c["after"]["branch_pct"] for c in cells]),
            "median_gain_pct_points": median([c["gain_pct_points"] for c in cells]),
            "median_mutation_score_pct": median([(c.get("mutation") or {}).get("score_pct") for c in cells]),
            "kept_tests_failing_in_fresh_copy": sum(c.get("kept_tests_failing_in_fresh_copy", 0) for c in cells),
        }
    if "testbot" in tools:
        for peer in ("pynguin", "coverup"):
            if peer in tools:
                out[f"ratio_testbot_{peer}"] = {
                    "coverage": ratio(out["testbot"]["median_line_branch_pct"], out[peer]["median_line_branch_pct"]),
                    "gain": ratio(out["testbot"]["median_gain_pct_points"], out[peer]["median_gain_pct_points"]),
                }
    if any("own_suite" in r or "kept" in r["tools"].get("testbot", {}) for r in rows):
        out["quality"] = summarize_quality(rows)
    return out


def _score(cell: dict | None) -> float | None:
    return ((cell or {}).get("mutation") or {}).get("score_pct")


def _checks_share(kept: list[dict]) -> float | None:
    """The model's share of the kept tests' checks, over the modules whose tests' authors are all known."""
    known = [k for k in kept if k.get("checks_by_model") is not None]
    total = sum(k["checks"] for k in known)
    return round(100.0 * sum(k["checks_by_model"] for k in known) / total, 1) if total else None


def summarize_quality(rows: list[dict]) -> dict:
    """The modules track's second table, summed up: mutation scores of testbot's tests and of the packages' own
    (also on just the modules that ship their own, where the two compare), who wrote the kept tests, their shapes."""
    own = {r["id"]: r["own_suite"] for r in rows if (r.get("own_suite") or {}).get("after")}
    tb = {r["id"]: r["tools"]["testbot"] for r in rows if "testbot" in r["tools"]}
    kept = [c["kept"] for c in tb.values() if c.get("kept")]
    tests = sum(k["tests"] for k in kept)
    by_model = [k["by_model"] for k in kept if k["by_model"] is not None]
    return {
        "modules_with_own_suite": len(own),
        "own_suite_median_line_branch_pct": median([c["after"]["line_branch_pct"] for c in own.values()]),
        "own_suite_median_mutation_score_pct": median([_score(c) for c in own.values()]),
        "testbot_median_mutation_score_pct": median([_score(c) for c in tb.values()]),
        "testbot_median_mutation_score_pct_where_own_suite": median([_score(tb.get(m)) for m in own]),
        "kept_tests": tests,
        "kept_by_model": sum(by_model) if by_model else None,
        "kept_author_unknown": sum(k["author_unknown"] or 0 for k in kept),
        "model_share_pct": round(100.0 * sum(by_model) / tests, 1) if by_model and tests else None,
        "median_model_share_pct": median([k["model_share_pct"] for k in kept]),
        "model_checks_share_pct": _checks_share(kept),
        "shapes": {c: sum(k["shapes"].get(c, 0) for k in kept) for c in (*shape.CODES, "clean")},
    }


# ---------------------------------------------------------------- output


def _s(value: object) -> str:
    return "-" if value is None else str(value)


def _pct(cell: dict | None) -> str:
    return "-" if not cell else f"{cell['after']['line_branch_pct']}"


def _mut(cell: dict | None) -> str:
    m = (cell or {}).get("mutation")
    if not m:
        return "-"
    return "error" if m.get("error") else _s(m.get("score_pct"))


def quality_markdown(data: dict) -> list[str]:
    """The modules track's second table: per module testbot's tests against the package's own, and testbot's
    kept tests by author and shape."""
    q = data["summary"]["quality"]
    out = [
        "",
        "### testbot's kept tests and the package's own tests",
        "",
        "Mutation score %, the same tool for both columns of a module: mutmut on the module (the rest of its package "
        "unmutated), or, where mutmut would leave much of it alone (decorated functions), our own mutator on every "
        "line (tool: every line); own suite: the package's tests from its sdist at the pinned version (benchmarks/own_suites.yaml), "
        "'-' where none are shipped; model share: kept tests written by the model, not by the search; shapes: kept "
        "tests with each shape a reviewer rejects (testbot.shape).",
        "",
        "| module | testbot cov % | own suite cov % | mutation testbot | mutation own suite | tool | seconds (testbot / own) "
        "| kept tests | model share % | " + " | ".join(shape.CODES) + " | clean |",
        "|---|---|---|---|---|---|---|---|---|" + "---|" * (len(shape.CODES) + 1),
    ]
    for r in data["rows"]:
        tb = r["tools"].get("testbot") or {}
        own = r.get("own_suite") or {}
        k = tb.get("kept") or {}
        shapes = k.get("shapes") or {}
        seconds = " / ".join(_s(((c or {}).get("mutation") or {}).get("seconds")) for c in (tb, own))
        tool = ((tb.get("mutation") or own.get("mutation") or {}).get("tool") or "-").split("==")[0]
        out.append(
            f"| {r['id']} | {_pct(tb or None)} | {_pct(own if own.get('after') else None)} | {_mut(tb)} | "
            f"{_mut(own)} | {tool.replace(EVERY_LINE, 'every line')} | {seconds} | {_s(k.get('tests'))} | "
            f"{_s(k.get('model_share_pct'))} | " + " | ".join(_s(shapes.get(c)) for c in (*shape.CODES, "clean")) + " |"
        )
    out.append(
        f"| **median / total** | {_s(data['summary'].get('testbot', {}).get('median_line_branch_pct'))} | "
        f"{_s(q['own_suite_median_line_branch_pct'])} | {_s(q['testbot_median_mutation_score_pct'])} | "
        f"{_s(q['own_suite_median_mutation_score_pct'])} | | | {q['kept_tests']} | {_s(q['model_share_pct'])} | "
        + " | ".join(str(q["shapes"][c]) for c in (*shape.CODES, "clean"))
        + " |"
    )
    out += [
        "",
        f"Median mutation score: testbot {_s(q['testbot_median_mutation_score_pct'])} % on all modules, "
        f"{_s(q['testbot_median_mutation_score_pct_where_own_suite'])} % on the {q['modules_with_own_suite']} that "
        f"ship their own tests, whose own tests score {_s(q['own_suite_median_mutation_score_pct'])} %. Kept tests: "
        f"{q['kept_tests']}, {_s(q['kept_by_model'])} by the model ({_s(q['model_share_pct'])} %; median per module "
        f"{_s(q['median_model_share_pct'])} %; {_s(q.get('model_checks_share_pct'))} % of their checks"
        + (f"; {q['kept_author_unknown']} of unknown author" if q["kept_author_unknown"] else "")
        + "); shapes: "
        + ", ".join(f"{c} {q['shapes'][c]}" for c in (*shape.CODES, "clean"))
        + ".",
    ]
    errors = []  # (testbot's own errors are under Runs)
    for r in data["rows"]:
        tb, own = r["tools"].get("testbot") or {}, r.get("own_suite") or {}
        for who, error in (
            ("testbot mutation", (tb.get("mutation") or {}).get("error")),
            ("own suite", own.get("error")),
            ("own suite failing", ", ".join(own.get("failing", []))),
            ("own suite mutation", (own.get("mutation") or {}).get("error")),
        ):
            if error:
                errors.append(f"- {r['id']} {who}: {error}")
    if errors:
        out += ["", "Errors:", "", *(e.replace("\n", " ")[:400] for e in errors)]
    return out


def to_markdown(result: dict) -> str:
    meta = result["meta"]
    out = [
        f"# Side-by-side benchmark, {meta['date']}",
        "",
        f"Machine: {meta['machine']}. Model `{meta['model']}` (testbot, and CoverUp through `testbot serve`). "
        f"Budget {meta['budget']} s per module / {meta['he_budget']} s per HumanEval problem. Tools: "
        f"{', '.join(meta['tools'])}. Coverage: line+branch % of the module's file by the tests each tool left "
        f"(coverage.py), import only = the baseline. Load average (1, 5, 15 min) at the start "
        f"{meta.get('load_average_start')}, at the end {meta.get('load_average_end')}: on 2 cores, anything "
        f"above ~1 means other work shared the CPU and the timings (and what fit in the budget) are not valid.",
        "",
    ]
    if meta.get("recomputed"):
        out += [f"Recomputed: {meta['recomputed']}.", ""]
    if meta.get("rows_replaced"):
        out += [
            "Rows replaced by a later run whose import-only baseline differed (the earlier numbers, measured "
            f"against the old baseline, are dropped): {', '.join(meta['rows_replaced'])}.",
            "",
        ]
    if meta.get("merged_from"):
        out += ["Merged from runs taken apart (`python -m benchmarks --merge`):", ""]
        out += [
            f"- `{m['file']}` ({m['date']}, load average {m.get('load_average_start')} -> "
            f"{m.get('load_average_end')}): `{m.get('command')}`"
            for m in meta["merged_from"]
        ]
        out += [""]
    for track, data in result["tracks"].items():
        tools = [t for t in (["reference"] if track == "humaneval" else []) + meta["tools"]]
        s = data["summary"]
        out += [
            f"## {track} track",
            "",
            "| module | import only | "
            + " | ".join(tools)
            + " |"
            + ("".join(f" testbot/{p} gain |" for p in ("pynguin", "coverup") if p in tools and "testbot" in tools)),
            "|---|---|"
            + "---|" * len(tools)
            + "---|" * sum(1 for p in ("pynguin", "coverup") if p in tools and "testbot" in tools),
        ]
        for r in data["rows"]:
            cells = [_pct(r["tools"].get(t)) for t in tools]
            if track == "humaneval" and meta.get("mutation"):
                cells = [
                    f"{c} (mut {((r['tools'].get(t) or {}).get('mutation') or {}).get('score_pct', '-')})"
                    for c, t in zip(cells, tools)
                ]
            ratios = [
                _s(
                    ratio(r["tools"]["testbot"]["gain_pct_points"], r["tools"][p]["gain_pct_points"])
                    if "testbot" in r["tools"] and p in r["tools"]
                    else None
                )  # (a tool missing: -)
                for p in ("pynguin", "coverup")
                if p in tools and "testbot" in tools
            ]
            out.append(
                f"| {r['id']} | {r['before']['line_branch_pct']} | "
                + " | ".join(cells)
                + " |"
                + "".join(f" {x} |" for x in ratios)
            )
        med = [_s(s[t]["median_line_branch_pct"]) for t in tools]
        out.append(
            f"| **median** | {s['median_before']} | "
            + " | ".join(med)
            + " |"
            + "".join(
                f" {_s(s[f'ratio_testbot_{p}']['gain'])} |"
                for p in ("pynguin", "coverup")
                if p in tools and "testbot" in tools
            )
        )
        out += [
            "",
            "| tool | median line % | median branch % | median gain (pts) | median mutation score % "
            f"| kept tests failing in a fresh copy ({meta['reruns']} shuffled re-runs) |",
            "|---|---|---|---|---|---|",
        ]
        for t in tools:
            x = s[t]
            out.append(
                f"| {t} | {x['median_line_pct']} | {x['median_branch_pct']} | {x['median_gain_pct_points']} | "
                f"{x['median_mutation_score_pct'] if x['median_mutation_score_pct'] is not None else '-'} | "
                f"{x['kept_tests_failing_in_fresh_copy']} |"
            )
        for p in ("pynguin", "coverup"):
            if p in tools and "testbot" in tools:
                rt = s[f"ratio_testbot_{p}"]
                out.append(
                    f"\nRatio testbot/{p}: median coverage {_s(rt['coverage'])}, median gain {_s(rt['gain'])} "
                    "(- : the peer gained nothing)."
                )
        if s.get("quality"):
            out += quality_markdown(data)
        out += [
            "",
            "Runs:",
            "",
            "| run | tool | status | seconds | peak RSS MB | funnel (gen/parsed/passed/stable/"
            "added/kept) | s/target p50 | p90 | tok/s | note |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        items = (
            [(track, t, data["runs"][t]) for t in data["runs"]]
            if data.get("runs")
            else [(r["id"], t, r["tools"][t]) for r in data["rows"] for t in tools if t in r["tools"]]
        )
        for where, t, x in items:
            f = x.get("funnel")
            funnel = (
                "/".join(str(f[k]) for k in ("generated", "parsed", "passed", "stable", "added_coverage", "kept"))
                if f
                else "-"
            )
            note = (x.get("note") or x.get("error") or "").replace("\n", " ").replace("|", "\\|")[:200]
            out.append(
                f"| {where} | {t} | {x.get('status')} | {x.get('seconds', '-')} | {x.get('peak_rss_mb', '-')} | "
                f"{funnel} | {x.get('seconds_per_target_p50', '-')} | {x.get('seconds_per_target_p90', '-')} | "
                f"{x.get('tokens_per_second', '-')} | {note} |"
            )
        errors = [(w, t, x) for w, t, x in items if x.get("error")]
        for w, t, x in errors:
            out += [
                "",
                f"**{t} on {w}: {x.get('status')}, {x.get('note') or 'see below'}.** Command:",
                "",
                "```",
                " ".join(map(str, x.get("command") or [])),
                "```",
                "",
                "```",
                (x.get("error") or "")[-1500:],
                "```",
            ]
    return "\n".join(out) + "\n"


def write_results(result: dict, results_dir: Path, name: str) -> dict[str, Path]:
    """The JSON and Markdown first, then a chart per track: a chart that cannot be drawn (matplotlib is a dev
    extra) is named on stderr and costs nothing of the run."""
    results_dir.mkdir(parents=True, exist_ok=True)
    paths = {"json": results_dir / f"{name}.json", "md": results_dir / f"{name}.md"}
    paths["json"].write_text(json.dumps(result, indent=2, default=str))
    paths["md"].write_text(to_markdown(result))
    charts = {}
    for track, data in result["tracks"].items():
        tools = (["reference"] if track == "humaneval" else []) + result["meta"]["tools"]
        rows = [
            {
                "id": r["id"],
                "import only": r["before"]["line_branch_pct"],
                **{t: r["tools"][t]["after"]["line_branch_pct"] for t in tools if t in r["tools"]},
            }
            for r in data["rows"]
        ]
        if track == "humaneval" and len(rows) > 30:  # 164 groups of bars are unreadable: medians instead
            rows = [
                {
                    "id": "median",
                    "import only": data["summary"]["median_before"],
                    **{t: data["summary"][t]["median_line_branch_pct"] for t in tools},
                }
            ]
        png = results_dir / f"{name}-{track}.png"
        try:
            coverage_chart(rows, ["import only", *tools], png, f"{track}: line+branch coverage per module")
        except ImportError as exc:
            print(f"no chart for {track}: {exc} (pip install -e '.[dev]')", file=sys.stderr)
            continue
        charts[track] = png
    if charts:
        result["charts"] = {k: v.name for k, v in charts.items()}
        paths["json"].write_text(json.dumps(result, indent=2, default=str))
        paths["md"].write_text(to_markdown(result) + "".join(f"\n![{k}]({v.name})\n" for k, v in charts.items()))
    return {**paths, **{f"png-{k}": v for k, v in charts.items()}}


# ---------------------------------------------------------------- merging runs


def merge_results(parts: list[dict], sources: list[str]) -> dict:
    """One result from runs taken apart (the full run does not fit one sitting): rows joined per track.

    The runs must share machine, model, budgets, seed and re-runs, or their numbers would not compare. A
    module's tools may come from different parts; a tool run twice on a module keeps its last run.
    HumanEval runs are one batch per tool; each part's batch keeps its own line.
    """
    keys = ("model", "budget", "he_budget", "samples", "seed", "reruns", "mutation", "machine")
    first = parts[0]["meta"]
    for part, src in zip(parts[1:], sources[1:]):
        differ = [k for k in keys if part["meta"].get(k) != first.get(k)]
        if differ:
            raise SystemExit(f"cannot merge {src} with {sources[0]}: they differ in {', '.join(differ)}")
    tools = list(dict.fromkeys(t for part in parts for t in part["meta"]["tools"]))
    meta = {
        **first,
        "tools": tools,
        "date": max(p["meta"]["date"] for p in parts),
        "tracks": list(dict.fromkeys(t for p in parts for t in p["tracks"])),
        "merged_from": [
            {
                "file": src,
                "command": p["meta"].get("command"),
                "date": p["meta"]["date"],
                "load_average_start": p["meta"].get("load_average_start"),
                "load_average_end": p["meta"].get("load_average_end"),
            }
            for p, src in zip(parts, sources)
        ],
        "command": " ; ".join(str(p["meta"].get("command")) for p in parts),
    }
    meta["load_average_start"] = max((p["meta"].get("load_average_start") or [0]) for p in parts)
    meta["load_average_end"] = max((p["meta"].get("load_average_end") or [0]) for p in parts)
    tracks: dict = {}
    replaced: list[str] = []
    for track in meta["tracks"]:
        rows: dict[str, dict] = {}
        runs: dict[str, dict] = {}
        for part, src in zip(parts, sources):
            data = part["tracks"].get(track)
            if not data:
                continue
            for row in data["rows"]:  # a module's tools may come from different parts
                have = rows.setdefault(row["id"], {**row, "tools": {}})
                if have["before"] != row["before"]:
                    # Its import-only baseline changed (the harness now imports it another way): numbers measured
                    # against the old one do not mix with the new; the later run's row replaces the row.
                    have = rows[row["id"]] = {**row, "tools": {}}
                    replaced.append(f"{row['id']} ({Path(src).name})")
                have["tools"].update(row["tools"])
                if "own_suite" in row:
                    have["own_suite"] = row["own_suite"]
            for tool, run in (data.get("runs") or {}).items():
                runs[f"{tool} ({Path(src).stem})"] = run
        merged = {
            "rows": list(rows.values()),
            "summary": summarize(list(rows.values()), (["reference"] if track == "humaneval" else []) + tools),
        }
        if runs:
            merged["runs"] = runs
        tracks[track] = merged
    if replaced:
        meta["rows_replaced"] = replaced
    return {"meta": meta, "tracks": tracks}


# ---------------------------------------------------------------- CLI


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    p.add_argument("--track", choices=(*TRACKS, "both"), default="both", help="which track to run (default: both)")
    p.add_argument(
        "--modules", nargs="+", default=None, help="module ids from modules.yaml (default: the public split)"
    )
    p.add_argument(
        "--problems",
        nargs="+",
        default=None,
        help="HumanEval problems: indices or ranges, e.g. 0 5 10-19 (default: all 164)",
    )
    p.add_argument("--tools", nargs="+", choices=TOOLS, default=list(TOOLS), help="tools to compare (default: all)")
    p.add_argument("--budget", type=float, default=DEFAULT_BUDGET, help="seconds per module for each tool")
    p.add_argument("--he-budget", type=float, default=DEFAULT_HE_BUDGET, help="seconds per HumanEval problem")
    p.add_argument(
        "--model", default="default", help="testbot --model, also served to CoverUp (default: embedded Qwen)"
    )
    p.add_argument("--samples", type=int, default=4, help="testbot --samples (k)")
    p.add_argument("--testbot-args", default="", help="more testbot generate options, e.g. '--repair-rounds 1'")
    p.add_argument("--seed", type=int, default=0, help="seed for testbot, Pynguin and the re-run orders")
    p.add_argument("--reruns", type=int, default=RERUNS, help="fresh-copy re-runs of the kept tests")
    p.add_argument(
        "--mutation",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="mutation score (mutmut) of each tool's tests, and of the dataset's (HumanEval) or the package's own "
        "tests (modules: own_suites.yaml)",
    )
    p.add_argument(
        "--reference",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="HumanEval: also measure the dataset's own tests (--no-reference: a part of a run whose "
        "other part measures them; they are the same every time)",
    )
    p.add_argument("--mutation-children", type=int, default=2, help="mutmut --max-children")
    p.add_argument(
        "--mutation-timeout", type=float, default=1200, help="modules track: seconds for one mutmut run (one column)"
    )
    p.add_argument(
        "--own-suites", type=Path, default=own_suites.MANIFEST, help="the packages' own tests per module (sdists)"
    )
    p.add_argument("--python", default="", help="interpreter for the modules' tests (default: a venv per distribution)")
    p.add_argument("--modules-yaml", type=Path, default=MODULES_YAML, help="benchmark module list")
    p.add_argument("--work", type=Path, default=HERE / ".work", help="scratch folder (venvs, wheels, projects)")
    p.add_argument("--results", type=Path, default=HERE / "results", help="where results are written")
    p.add_argument("--label", default="", help="result name suffix: <date>-<label>")
    p.add_argument(
        "--merge",
        nargs="+",
        type=Path,
        default=None,
        metavar="JSON",
        help="run nothing: join result files of runs taken apart (same model, budgets and seed) into one",
    )
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.work = args.work.resolve()
    if args.merge:
        parts = [json.loads(f.read_text()) for f in args.merge]
        result = merge_results(parts, [str(f) for f in args.merge])
        return _publish(result, args.results, result["meta"]["date"] + (f"-{args.label}" if args.label else "-merged"))
    tracks = TRACKS if args.track == "both" else (args.track,)
    meta = {
        "schema": 1,
        "date": dt.date.today().isoformat(),
        "model": args.model,
        "budget": args.budget,
        "he_budget": args.he_budget,
        "samples": args.samples,
        "seed": args.seed,
        "tools": list(args.tools),
        "tracks": list(tracks),
        "mutation": args.mutation,
        "reruns": args.reruns,
        "versions": {"pynguin": PYNGUIN, "coverup": COVERUP, "mutmut": MUTMUT},
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "load_average_start": [round(x, 2) for x in os.getloadavg()],  # other work on the machine skews timings
        "command": " ".join(["python -m benchmarks", *(argv if argv is not None else sys.argv[1:])]),
    }
    server = None
    if "coverup" in args.tools:
        server = peers.ModelServer(args.model, args.work / "model-server.log")
        try:
            server.__enter__()
        except RuntimeError as exc:
            server.error = str(exc)
    result = {"meta": meta, "tracks": {}}
    try:
        if "modules" in tracks:
            result["tracks"]["modules"] = modules_track(args, server)
        if "humaneval" in tracks:
            he_args = argparse.Namespace(**{**vars(args), "budget": args.he_budget})
            result["tracks"]["humaneval"] = humaneval_track(he_args, server)
    finally:
        if server and not server.error:
            server.__exit__()
    meta["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    return _publish(result, args.results, meta["date"] + (f"-{args.label}" if args.label else ""))


def _publish(result: dict, results_dir: Path, name: str) -> int:
    """Write the result files, print the Markdown, and name the files on stderr."""
    paths = write_results(result, results_dir, name)
    print(paths["md"].read_text())
    print("written: " + ", ".join(str(p) for p in paths.values()), file=sys.stderr)
    return 0
