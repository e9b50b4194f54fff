"""The pull-request track: real commits of real projects replayed as pull requests, with their own suites.

For each commit of the manifest (benchmarks/prs.yaml: repositories pinned at a snapshot, their dev dependencies
pinned, commits that change behaviour) and each mode:

- ``with``: the commit as it was, the author's tests included: testbot should add only what is still missing;
- ``without``: the commit's test changes undone (test files back at the parent, new ones removed) and committed
  on top: testbot is the only one writing tests for the change;

the harness checks the commit out in a worktree, runs the project's suite under coverage (statements and branches
on the changed lines, and which tests ran each line), runs diff mutation testing with the suite alone
(benchmarks/diff_mutation.py: mutants only on changed statements), runs ``testbot generate --base <parent> --head
<head>`` in the project's own venv, and measures again with testbot's tests added: coverage of the changed lines,
the mutants the suite left alive that testbot's tests kill, and fail-to-pass (kept tests that pass on the commit
and fail with the package's files put back at the parent).

    python -m benchmarks.prs --quick                 # the quick subset: 3 commits, both modes
    python -m benchmarks.prs --label full            # every commit, both modes; resumes where it stopped
    python -m benchmarks.prs --repos parse --modes without --seeds 0 1

Each finished (commit, mode, seed) is saved at once in benchmarks/results/prs-<label>.json, with the Markdown
summary and chart next to it; a run that stops resumes from there. Repositories come from GitHub at the manifest's
URLs, or from a local mirror folder (``--mirrors``, ``owner+name/repo`` bare repositories) when there is one.
"""

from __future__ import annotations

import argparse
import ast
import datetime as dt
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from benchmarks import diff_mutation
from benchmarks.envs import ensure_venv, run_measured, tool_env
from testbot import shape
from testbot.measure import first_lines
from testbot.targets import is_test_file, neighbours

HERE = Path(__file__).resolve().parent
MANIFEST = HERE / "prs.yaml"
WORK = Path(os.environ.get("TESTBOT_PRS_WORK") or HERE / ".work" / "prs")  # clones and venvs
# Worktrees live outside this checkout: pytest looks for its configuration in every folder above a project
# that has none of its own, and must not find testbot's pyproject.toml there.
RUNS = Path(os.environ.get("TESTBOT_PRS_RUNS") or Path(tempfile.gettempdir()) / "testbot-prs-runs")
RESULTS = HERE / "results"
MODES = ("without", "with")
MAX_MUTANTS = 60  # per commit and mode; a seeded sample when the diff has more
GIT_ID = ["-c", "user.name=testbot-bench", "-c", "user.email=bench@testbot.invalid", "-c", "commit.gpgsign=false"]


# ---------------------------------------------------------------- manifest


@dataclass
class Commit:
    sha: str
    parent: str
    title: str
    kind: str
    author_tests: bool
    changed: list[str]
    quick: bool = False
    date: str = ""


@dataclass
class Repo:
    name: str
    url: str
    snapshot: str
    import_root: str
    package: str
    tests: str
    install: list[str]
    pytest_args: list[str] = field(default_factory=list)
    commits: list[Commit] = field(default_factory=list)

    @property
    def slug(self) -> str:  # owner+name, as the mirror folders are named
        return "+".join(self.url.rstrip("/").split("/")[-2:])


def load_manifest(path: Path = MANIFEST) -> list[Repo]:
    data = yaml.safe_load(path.read_text())
    repos = []
    for r in data["repos"]:
        commits = [
            Commit(
                sha=c["sha"],
                parent=c["parent"],
                title=c["title"],
                kind=c.get("kind", ""),
                author_tests=bool(c.get("author_tests")),
                changed=list(c.get("changed", [])),
                quick=bool(c.get("quick")),
                date=str(c.get("date", "")),
            )
            for c in r["commits"]
        ]
        repos.append(
            Repo(
                name=r["name"],
                url=r["url"],
                snapshot=r["snapshot"],
                import_root=r.get("import_root", "."),
                package=r["package"],
                tests=r["tests"],
                install=list(r["install"]),
                pytest_args=list(r.get("pytest_args", [])),
                commits=commits,
            )
        )
    return repos


# ---------------------------------------------------------------- git


def git(cwd: Path, *args: str, check: bool = True) -> str:
    proc = subprocess.run(["git", *GIT_ID, *args], cwd=cwd, capture_output=True, text=True)
    if check and proc.returncode:
        raise RuntimeError(f"git {' '.join(args)} in {cwd}: {proc.stderr.strip()[-800:]}")
    return proc.stdout


def ensure_clone(repo: Repo, mirrors: Path | None) -> Path:
    dest = WORK / "repos" / repo.name
    source = str(mirrors / repo.slug / "repo") if mirrors and (mirrors / repo.slug / "repo").exists() else repo.url
    if not (dest / ".git").exists():
        dest.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["git", "clone", "-q", "--no-checkout", source, str(dest)], check=True)
    missing = [
        c.sha
        for c in repo.commits
        if subprocess.run(["git", "cat-file", "-e", c.sha + "^{commit}"], cwd=dest).returncode
    ]
    if missing:
        git(dest, "fetch", "-q", source, repo.snapshot)
    return dest


def is_test_path(rel: str, repo: Repo) -> bool:
    """A test file by the manifest's tests folder or file, or by testbot's own rule."""
    tests = repo.tests.rstrip("/")
    return rel == tests or rel.startswith(tests + "/") or is_test_file(Path(rel))


def in_package(rel: str, repo: Repo) -> bool:
    pkg = repo.package.rstrip("/")
    return rel.endswith(".py") and (rel == pkg or rel.startswith(pkg + "/")) and not is_test_path(rel, repo)


def changed_paths(cwd: Path, a: str, b: str) -> list[tuple[str, str]]:
    """(status letter, path) of the files changed between ``a`` and ``b`` (renames as delete + add)."""
    out = git(cwd, "diff", "--no-renames", "--name-status", a, b)
    return [(line.split("\t")[0][0], line.split("\t")[-1]) for line in out.splitlines() if line.strip()]


def changed_lines(cwd: Path, a: str, b: str, paths: list[str]) -> dict[str, set[int]]:
    """New-side line numbers added or changed between ``a`` and ``b``, per path; where lines were only removed,
    the lines on either side of the gap."""
    if not paths:
        return {}
    out = git(cwd, "diff", "--no-renames", "-U0", a, b, "--", *paths)
    lines: dict[str, set[int]] = {}
    current = None
    for line in out.splitlines():
        if line.startswith("+++ "):
            current = line[6:] if line.startswith("+++ b/") else None
        elif line.startswith("@@") and current:
            m = re.match(r"@@ -\S+ \+(\d+)(?:,(\d+))? @@", line)
            if m:
                start, count = int(m.group(1)), int(m.group(2) or 1)
                span = range(start, start + count) if count else (n for n in (start, start + 1) if n >= 1)
                lines.setdefault(current, set()).update(span)
    return {p: s for p, s in lines.items() if s}


def functions_on(source: str, lines: set[int]) -> list[str]:
    """Qualified names of the innermost functions holding any of ``lines``."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    spans: list[tuple[int, int, str]] = []

    def walk(body: list[ast.stmt], prefix: str) -> None:
        for node in body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
                spans.append((first, node.end_lineno or node.lineno, prefix + node.name))
                walk(node.body, prefix + node.name + ".")
            elif isinstance(node, ast.ClassDef):
                walk(node.body, prefix + node.name + ".")

    walk(tree.body, "")
    found = set()
    for line in lines:
        holding = [s for s in spans if s[0] <= line <= s[1]]
        if holding:
            found.add(min(holding, key=lambda s: s[1] - s[0])[2])
    return sorted(found)


# ---------------------------------------------------------------- the project's venv and suite


def venv_python(repo: Repo) -> Path:
    return ensure_venv(WORK / "venvs", repo.name, repo.install)


def point_venv_at(python: Path, checkout: Path, repo: Repo) -> None:
    """The checkout's import root on the venv's sys.path, as an editable install would put it."""
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    (Path(purelib) / "_testbot_bench_checkout.pth").write_text(str((checkout / repo.import_root).resolve()) + "\n")


def _has(python: Path, module: str) -> bool:
    return subprocess.run([str(python), "-c", f"import {module}"], capture_output=True).returncode == 0


@dataclass
class Suite:
    python: Path
    checkout: Path
    repo: Repo
    no_cov: bool
    deselect: list[str] = field(default_factory=list)  # tests left out of every run of this suite
    failed: list[str] = field(default_factory=list)  # the tests that failed in the last coverage run

    def options(self) -> list[str]:
        """pytest's options for every run of this suite."""
        return [
            "-q",
            "-p",
            "no:cacheprovider",
            *self.repo.pytest_args,
            *(["--no-cov"] if self.no_cov else []),
            *[f"--deselect={n}" for n in self.deselect],
        ]

    def pytest(self, *args: str) -> list[str]:
        return [str(self.python), "-m", "pytest", *self.options(), *args]

    def env(self) -> dict:
        return tool_env(self.python, PYTHONDONTWRITEBYTECODE="1")

    def coverage(self, out: Path, contexts: bool) -> tuple[dict, float, int | None, str]:
        """Run the whole suite under coverage; (coverage JSON, seconds, pytest exit, output tail)."""
        pkg = (self.checkout / self.repo.package).resolve()
        include = f"{pkg}/*" if pkg.is_dir() else str(pkg)
        rc = out.with_suffix(".coveragerc")
        rc.write_text(
            "[run]\nbranch = True\n"
            f"include = {include}\n"
            f"data_file = {out.with_suffix('.data')}\n"
            + ("dynamic_context = test_function\n" if contexts else "")
            + "[json]\nshow_contexts = "
            + ("True" if contexts else "False")
            + "\n"
        )
        cmd = [str(self.python), "-m", "coverage", "run", f"--rcfile={rc}", "-m", "pytest", *self.options()]
        run = run_measured(cmd, cwd=self.checkout, env=self.env(), timeout=1200, log=out.with_suffix(".log"))
        subprocess.run(
            [str(self.python), "-m", "coverage", "json", f"--rcfile={rc}", "-o", str(out)],
            cwd=self.checkout,
            env=self.env(),
            capture_output=True,
        )
        data = json.loads(out.read_text()) if out.exists() else {"files": {}}
        self.failed = [m.group(2) for m in re.finditer(r"^(FAILED|ERROR) (.+?)(?: - .*)?$", run.stdout, re.M)]
        return data, run.seconds, run.returncode, (run.stdout + run.stderr)[-1500:]

    def outcomes(self, node_ids: list[str], log: Path) -> dict[str, str]:
        """pytest outcome per node id (parametrized cases folded: one failure fails the test)."""
        if not node_ids:
            return {}
        run = run_measured(
            self.pytest("-rA", "-p", "no:randomly", *node_ids), cwd=self.checkout, env=self.env(), timeout=900, log=log
        )
        seen: dict[str, str] = {}
        for line in run.stdout.splitlines():
            m = re.match(r"(PASSED|FAILED|ERROR|XFAIL|XPASS|SKIPPED) (\S+)", line)
            if m:
                base = m.group(2).split("[")[0]
                if seen.get(base) not in ("FAILED", "ERROR"):
                    seen[base] = m.group(1)
        return {n: seen.get(n, "MISSING") for n in node_ids}


def coverage_files(cov: dict, checkout: Path) -> dict[str, dict]:
    """A coverage JSON report's files by their path in the checkout (the report may name them either way)."""
    out = {}
    for k, v in cov.get("files", {}).items():
        path = Path(k) if os.path.isabs(k) else checkout / k
        try:
            out[path.resolve().relative_to(checkout.resolve()).as_posix()] = v
        except ValueError:
            continue
    return out


def changed_coverage(cov: dict, checkout: Path, lines: dict[str, set[int]]) -> dict:
    """Statements and branches on the changed lines, and how many of each the run covered."""
    files = coverage_files(cov, checkout)
    st = st_cov = br = br_cov = 0
    for rel, changed in lines.items():
        f = files.get(rel)
        if f is None:
            continue
        executed, missing = set(f["executed_lines"]), set(f["missing_lines"])
        st += len((executed | missing) & changed)
        st_cov += len(executed & changed)
        eb = [b for b in f.get("executed_branches", []) if b[0] in changed]
        mb = [b for b in f.get("missing_branches", []) if b[0] in changed]
        br += len(eb) + len(mb)
        br_cov += len(eb)
    return {"statements": st, "statements_covered": st_cov, "branches": br, "branches_covered": br_cov}


def not_in_contexts(cov: dict, node_ids: list[str]) -> list[str]:
    """The node ids (``tests/test_x.py::TestA::test_b``) in no coverage context of a run with ``test_function``
    contexts (``tests.test_x.TestA.test_b``): tests that ran no line of the measured package."""
    seen: set[str] = set()
    for f in cov.get("files", {}).values():
        for names in (f.get("contexts") or {}).values():
            seen.update(n.split("|")[0] for n in names if n)
    out = []
    for node in node_ids:
        path, _, rest = node.partition("::")
        dotted = rest.split("[")[0].replace("::", ".")
        parts = path[:-3].split("/") if path.endswith(".py") else path.split("/")
        # the context names the module from wherever its import root is: any tail of the path
        if not any(".".join([*parts[i:], dotted]) in seen for i in range(len(parts))):
            out.append(node)
    return out


def package_coverage(cov: dict) -> dict:
    """Statements and branches of the whole package (the run measured nothing else), and those covered."""
    files = cov.get("files", {}).values()
    return {
        "statements": sum(len(f["executed_lines"]) + len(f["missing_lines"]) for f in files),
        "statements_covered": sum(len(f["executed_lines"]) for f in files),
        "branches": sum(len(f.get("executed_branches", [])) + len(f.get("missing_branches", [])) for f in files),
        "branches_covered": sum(len(f.get("executed_branches", [])) for f in files),
    }


def _pct(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


class TestIndex:
    """Coverage contexts (``tests.test_x.TestA.test_b``) mapped to the test files that hold them."""

    def __init__(self, checkout: Path, repo: Repo, cov: dict, firsts: dict[str, dict[int, int]]):
        self.firsts = firsts  # per file: a line of a multi-line statement -> its first line
        self.files: dict[str, str] = {}
        for p in checkout.rglob("*.py"):
            rel = p.relative_to(checkout).as_posix()
            if ".git" in p.parts or not is_test_path(rel, repo):
                continue
            parts = rel[:-3].split("/")
            for i in range(len(parts)):
                self.files.setdefault(".".join(parts[i:]), rel)
        self.contexts: dict[tuple[str, int], set[str]] = {}
        self.executed: set[tuple[str, int]] = set()
        for rel, v in coverage_files(cov, checkout).items():
            for line in v["executed_lines"]:
                self.executed.add((rel, line))
            for line, names in (v.get("contexts") or {}).items():
                self.contexts[(rel, int(line))] = {n for n in names if n}

    def file_of(self, context: str) -> str | None:
        parts = context.split(".")
        for k in range(len(parts), 0, -1):
            hit = self.files.get(".".join(parts[:k]))
            if hit:
                return hit
        return None

    def tests_for(self, m: diff_mutation.Mutant) -> list[str]:
        line = self.firsts.get(m.path, {}).get(m.line, m.line)
        if (m.path, line) not in self.executed:
            return []
        files = {self.file_of(c) for c in self.contexts.get((m.path, line), ())}
        if None in files or not files:
            return ["."]  # ran by something we cannot place (a doctest, a fixture): the whole suite
        return sorted(f for f in files if f)


# ---------------------------------------------------------------- one commit in one mode


def prepare(clone: Path, repo: Repo, c: Commit, mode: str) -> tuple[Path, str, list[str]]:
    """A worktree at the commit (``with``) or at the commit minus its test changes (``without``); returns
    (checkout, head sha, the test files the commit changed)."""
    dest = RUNS / f"{repo.name}-{c.sha[:8]}-{mode}"
    if dest.exists():
        git(clone, "worktree", "remove", "--force", str(dest), check=False)
        shutil.rmtree(dest, ignore_errors=True)
    git(clone, "worktree", "prune")
    git(clone, "worktree", "add", "-q", "--detach", str(dest), c.sha)
    test_changes = [(s, p) for s, p in changed_paths(clone, c.parent, c.sha) if is_test_path(p, repo)]
    if mode == "without" and test_changes:
        for status, path in test_changes:
            if status == "A":
                git(dest, "rm", "-q", "--", path)
            else:
                git(dest, "checkout", c.parent, "--", path)
        git(dest, "commit", "-q", "-m", f"{c.title} (its test changes removed)")
    return dest, git(dest, "rev-parse", "HEAD").strip(), [p for _, p in test_changes]


def testbot_command(args: argparse.Namespace, c: Commit, head: str, python: Path, seed: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "testbot",
        "generate",
        "--base",
        c.parent,
        "--head",
        head,
        "--python",
        str(python),
        "--json",
        "--no-progress",
        "--no-cache",
        "--model",
        args.model,
        "--seed",
        str(seed),
        *args.testbot_args.split(),
    ]


def run_one(args: argparse.Namespace, repo: Repo, clone: Path, c: Commit, mode: str, seed: int) -> dict:
    record: dict = {
        "repo": repo.name,
        "sha": c.sha,
        "parent": c.parent,
        "title": c.title,
        "kind": c.kind,
        "mode": mode,
        "seed": seed,
        "model": args.model,
        "author_tests": c.author_tests,
        "changed_functions": c.changed,
    }
    checkout, head, author_files = prepare(clone, repo, c, mode)
    logs = checkout.parent / f"{checkout.name}.logs"
    shutil.rmtree(logs, ignore_errors=True)
    logs.mkdir(parents=True)
    python = venv_python(repo)
    point_venv_at(python, checkout, repo)
    suite = Suite(python, checkout, repo, no_cov=_has(python, "pytest_cov"))
    pkg_changes = [(s, p) for s, p in changed_paths(checkout, c.parent, head) if in_package(p, repo)]
    lines = changed_lines(checkout, c.parent, head, [p for s, p in pkg_changes if s != "D"])
    texts = {p: (checkout / p).read_text() for p in lines}
    record["changed_lines"] = sum(len(v) for v in lines.values())
    # coverage.py counts a statement on its first line: a changed line inside a multi-line statement (a long
    # regular expression, a call over several lines) is that statement's
    firsts = {p: first_lines(texts[p]) for p in lines}
    statements = {p: {firsts[p].get(n, n) for n in ls} for p, ls in lines.items()}
    record["functions_on_diff"] = sorted(f"{p}::{q}" for p, ls in lines.items() for q in functions_on(texts[p], ls))
    record["author_files"] = author_files

    diff_mutation.clear_bytecode(checkout)
    cov, seconds, exit_code, tail = suite.coverage(logs / "before.json", contexts=True)
    if exit_code == 1 and mode == "without" and suite.failed:
        # The parent's tests that pin the behaviour the commit changed (the author updated them): left out of the
        # harness's runs, as a reviewer would; testbot meets them as they are.
        record["deselected"] = list(suite.failed)
        suite.deselect = list(suite.failed)
        diff_mutation.clear_bytecode(checkout)
        cov, seconds, exit_code, tail = suite.coverage(logs / "before.json", contexts=True)
    record["suite"] = {"exit": exit_code, "seconds": seconds}
    if exit_code not in (0, 5):
        record["error"] = f"the suite fails before testbot runs (exit {exit_code}): {tail[-600:]}"
    record["before"] = changed_coverage(cov, checkout, statements)
    record["package_before"] = package_coverage(cov)

    found = [
        m
        for p, ls in lines.items()
        for m in diff_mutation.mutants(p, texts[p], diff_mutation.statement_lines(ls, firsts[p]))
    ]
    chosen = diff_mutation.sample(found, MAX_MUTANTS, seed=0)
    index = TestIndex(checkout, repo, cov, firsts)
    timeout = max(20.0, 4 * seconds)
    t0 = time.monotonic()
    suite_outcomes = diff_mutation.run_mutants(
        checkout, chosen, index.tests_for, lambda tests: suite.pytest("-x", *tests), suite.env(), timeout
    )
    inside = {p: diff_mutation.function_lines(texts[p]) for p in lines}
    mutation = {
        "found": len(found),
        "mutants": len(chosen),
        "killed_suite": sum(o.killed for o in suite_outcomes),
        "suite_seconds": round(time.monotonic() - t0, 1),
        # the mutants the suite lets through, to read (equivalent mutants are among them)
        "survivors": [
            f"{o.mutant.path}:{o.mutant.line} {o.mutant.description}" for o in suite_outcomes if not o.killed
        ],
    }

    start = time.monotonic()
    run = run_measured(
        testbot_command(args, c, head, python, seed),
        cwd=checkout,
        env={
            **tool_env(Path(sys.executable)),
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONPATH": str(HERE.parent),
        },  # this checkout's testbot
        timeout=args.kill_after,
        log=logs / "testbot.log",
    )
    record["seconds"] = round(time.monotonic() - start, 1)
    record["testbot_exit"] = run.returncode
    try:
        report = json.loads(run.stdout[run.stdout.index("{") :])
    except ValueError:
        report = {"targets": [], "files": [], "errors": [f"no JSON report: {(run.stdout + run.stderr)[-800:]}"]}
    targets = [t["target"] for t in report.get("targets", [])]
    record["targets"] = [
        {
            "target": t["target"],
            "kept": len(t["kept"]),
            "note": t.get("note", ""),
            "seconds": t.get("seconds"),
            "lines_before": t.get("lines_before"),
            "lines_total": t.get("lines_total"),
        }
        for t in report.get("targets", [])
    ]
    record["targets_matching"] = sum(1 for f in c.changed if any(_same_function(f, t) for t in targets))
    record["errors"] = report.get("errors", []) + (
        [] if run.returncode in (0, 1) else [f"testbot exit {run.returncode}: {run.stderr[-600:]}"]
    )
    placed, kept_ids = [], []
    for f in report.get("files", []):
        if not f.get("tests") or not f.get("written"):
            continue
        rel = Path(f["path"]).resolve().relative_to(checkout.resolve()).as_posix()
        placed.append(
            {"path": rel, "created": f["created"], "tests": len(f["tests"]), "author_file": rel in author_files}
        )
        kept_ids += [f"{rel}::{t}" for t in f["tests"]]
    record["placed"] = placed
    record["kept"] = len(kept_ids)
    # who wrote them (the search's explored calls have round -2; the model's rounds count from 0), and the shapes
    # a reviewer rejects (testbot.shape)
    record["kept_by_model"] = sum(
        1
        for t in report.get("targets", [])
        for cand in t.get("candidates", [])
        if cand.get("kept") and cand.get("round", -1) >= 0
    )
    facts = shape.merged(shape.module_facts(text, neighbours(checkout / p)) for p, text in texts.items())
    sources = [
        src
        for f in placed
        for src in shape.tests_in(
            (checkout / f["path"]).read_text(),
            [i.split("::", 1)[1] for i in kept_ids if i.startswith(f["path"] + "::")],
        )
    ]
    record["shapes"] = shape.count(sources, facts)
    record["kept_sources"] = sources
    record["kept_tests"] = kept_ids
    before = record["before"]
    record["nothing_missing"] = (
        bool(before["statements"])
        and before["statements_covered"] == before["statements"]
        and before["branches_covered"] == before["branches"]
    )
    record["written_where_nothing_missing"] = len(kept_ids) if record["nothing_missing"] else 0

    if kept_ids:
        diff_mutation.clear_bytecode(checkout)
        cov_after, _, after_exit, after_tail = suite.coverage(logs / "after.json", contexts=True)
        record["after"] = changed_coverage(cov_after, checkout, statements)
        record["package_after"] = package_coverage(cov_after)
        # a kept test the suite's run never reached (no line of the package ran in its name) gains nothing there:
        # named, with the run's exit, so a zero gain can be told from a test the run left out
        record["after_suite"] = {"exit": after_exit}
        silent = not_in_contexts(cov_after, kept_ids)
        if silent:
            record["after_suite"]["kept_not_run"] = silent
            record["after_suite"]["tail"] = after_tail[-600:]
        survivors = [o.mutant for o in suite_outcomes if not o.killed]
        extra = diff_mutation.run_mutants(
            checkout,
            survivors,
            lambda m: kept_ids,
            lambda tests: suite.pytest("-x", "-p", "no:randomly", *tests),
            suite.env(),
            timeout,
        )
        mutation["killed_by_testbot"] = sum(o.killed for o in extra)
        killed_in = sum(o.killed for o in extra if o.mutant.line in inside.get(o.mutant.path, ()))
        mutation["survivors_killed"] = [
            f"{o.mutant.path}:{o.mutant.line} {o.mutant.description}" for o in extra if o.killed
        ]
        at_head = suite.outcomes(kept_ids, logs / "f2p-head.log")
        passing = [n for n, o in at_head.items() if o == "PASSED"]
        for status, path in pkg_changes:
            if status == "A":
                (checkout / path).unlink()
            else:
                git(checkout, "checkout", c.parent, "--", path)
        diff_mutation.clear_bytecode(checkout)
        at_parent = suite.outcomes(passing, logs / "f2p-parent.log")
        git(checkout, "checkout", head, "--", ".")
        record["kept_passing"] = len(passing)
        record["f2p_tests"] = sorted(n for n, o in at_parent.items() if o != "PASSED")
    else:
        record["after"] = before
        record["package_after"] = record["package_before"]
        mutation["killed_by_testbot"] = 0
        killed_in = 0
        record["kept_passing"] = 0
        record["f2p_tests"] = []
    record["f2p"] = len(record["f2p_tests"])
    # the same, counting only the mutants inside functions (mutmut's scope: a version string or an author list at
    # module level is no test's business)
    in_functions = [o for o in suite_outcomes if o.mutant.line in inside.get(o.mutant.path, ())]
    mutation["in_functions"] = {
        "mutants": len(in_functions),
        "killed_suite": sum(o.killed for o in in_functions),
        "killed_by_testbot": killed_in,
    }
    pb, pa = record["package_before"], record["package_after"]
    gained = (pa["statements_covered"] - pb["statements_covered"]) + (pa["branches_covered"] - pb["branches_covered"])
    record["package_gain"] = gained
    record["added_nothing"] = added_nothing(record, mutation)
    m = mutation
    m["survived_suite"] = m["mutants"] - m["killed_suite"]
    m["score_suite_pct"] = _pct(m["killed_suite"], m["mutants"])
    m["score_with_testbot_pct"] = _pct(m["killed_suite"] + m["killed_by_testbot"], m["mutants"])
    m["survivors_killed_pct"] = _pct(m["killed_by_testbot"], m["survived_suite"])
    record["mutation"] = m
    if not args.keep:
        git(clone, "worktree", "remove", "--force", str(checkout), check=False)
    return record


def added_nothing(record: dict, mutation: dict) -> int:
    """The kept tests of a commit where they added no covered line or branch anywhere in the package, killed no
    diff mutant the suite left alive and none fails on the parent (a fail-to-pass test captures the change): tests
    that add nothing."""
    useless = record["package_gain"] <= 0 and not mutation["killed_by_testbot"] and not record["f2p"]
    return record["kept"] if record["kept"] and useless else 0


def _same_function(manifest_name: str, target: str) -> bool:
    """``pkg/mod.py::Class.meth`` (manifest) against testbot's target id (the same form, from the root)."""
    return target == manifest_name or target.endswith("/" + manifest_name)


# ---------------------------------------------------------------- summary


def p50(values: list) -> float | None:
    values = [v for v in values if v is not None]
    return round(statistics.median(values), 1) if values else None


def summarise(records: list[dict]) -> dict:
    out = {}
    for mode in MODES:
        rs = [r for r in records if r["mode"] == mode and not r.get("error")]
        if not rs:
            continue
        mutants = sum(r["mutation"]["mutants"] for r in rs)
        killed_suite = sum(r["mutation"]["killed_suite"] for r in rs)
        killed_tb = sum(r["mutation"]["killed_by_testbot"] for r in rs)
        survivors = mutants - killed_suite
        st = sum(r["before"]["statements"] for r in rs)
        br = sum(r["before"]["branches"] for r in rs)
        out[mode] = {
            "runs": len(rs),
            "repos": len({r["repo"] for r in rs}),
            "p50_seconds": p50([r["seconds"] for r in rs]),
            "max_seconds": max(r["seconds"] for r in rs),
            "changed_functions": sum(len(r["changed_functions"]) for r in rs),
            "targets_matching": sum(r["targets_matching"] for r in rs),
            "targets": sum(len(r["targets"]) for r in rs),
            "kept": sum(r["kept"] for r in rs),
            "commits_with_kept": sum(1 for r in rs if r["kept"]),
            "placed_in_existing_file": sum(p["tests"] for r in rs for p in r["placed"] if not p["created"]),
            "placed_in_new_file": sum(p["tests"] for r in rs for p in r["placed"] if p["created"]),
            "f2p_commits": sum(1 for r in rs if r["f2p"]),
            "f2p_commit_pct": _pct(sum(1 for r in rs if r["f2p"]), len(rs)),
            "f2p_tests": sum(r["f2p"] for r in rs),
            "changed_statements_covered_before_pct": _pct(sum(r["before"]["statements_covered"] for r in rs), st),
            "changed_statements_covered_after_pct": _pct(sum(r["after"]["statements_covered"] for r in rs), st),
            "changed_branches_covered_before_pct": _pct(sum(r["before"]["branches_covered"] for r in rs), br),
            "changed_branches_covered_after_pct": _pct(sum(r["after"]["branches_covered"] for r in rs), br),
            "mutants": mutants,
            "diff_mutation_suite_pct": _pct(killed_suite, mutants),
            "diff_mutation_pct": _pct(killed_suite + killed_tb, mutants),
            "survivors": survivors,
            "survivors_killed_pct": _pct(killed_tb, survivors),
            **_in_functions(rs),
            "nothing_missing_commits": sum(1 for r in rs if r["nothing_missing"]),
            "written_where_nothing_missing": sum(r["written_where_nothing_missing"] for r in rs),
            "tests_that_add_nothing": sum(added_nothing(r, r["mutation"]) for r in rs),
            # kept tests the suite's run after testbot did not reach (see after_suite in the records)
            "kept_not_run_after": sum(len(r.get("after_suite", {}).get("kept_not_run", [])) for r in rs),
            "package_lines_branches_gained": sum(r["package_gain"] for r in rs),
            "testbot_errors": sum(1 for r in rs if r["errors"]),
            "kept_by_model": sum(r.get("kept_by_model", 0) for r in rs),
            **{f"shape_{k}": sum(r.get("shapes", {}).get(k, 0) for r in rs) for k in (*shape.CODES, "clean")},
        }
    return out


def _in_functions(rs: list[dict]) -> dict:
    """The mutation figures with only the mutants inside functions (records from before this count lack them)."""
    parts = [r["mutation"]["in_functions"] for r in rs if "in_functions" in r["mutation"]]
    if len(parts) < len(rs):
        return {}
    mutants = sum(p["mutants"] for p in parts)
    killed_suite = sum(p["killed_suite"] for p in parts)
    killed_tb = sum(p["killed_by_testbot"] for p in parts)
    return {
        "mutants_in_functions": mutants,
        "diff_mutation_in_functions_suite_pct": _pct(killed_suite, mutants),
        "diff_mutation_in_functions_pct": _pct(killed_suite + killed_tb, mutants),
        "survivors_in_functions": mutants - killed_suite,
        "survivors_in_functions_killed_pct": _pct(killed_tb, mutants - killed_suite),
    }


def goals_table(summary: dict) -> list[str]:
    rows = ["| goal (issue 38) | target | measured | met |", "|---|---|---|---|"]

    def row(label: str, target: str, value, ok: bool | None) -> None:
        rows.append(
            f"| {label} | {target} | {'n/a' if value is None else value} | "
            f"{'n/a' if ok is None else ('yes' if ok else 'no')} |"
        )

    w = summary.get("without", {})
    v = w.get("f2p_commit_pct")
    row("without the author's tests: commits with a fail-to-pass test", ">= 40 %", v, None if v is None else v >= 40)
    v = w.get("diff_mutation_pct")
    row(
        "without the author's tests: diff mutation score, suite + testbot", ">= 70 %", v, None if v is None else v >= 70
    )
    v = w.get("p50_seconds")
    row("without the author's tests: p50 seconds per commit (2 cores)", "<= 120 s", v, None if v is None else v <= 120)
    a = summary.get("with", {})
    v = a.get("tests_that_add_nothing")
    row(
        "with the author's tests: kept tests that add nothing (no line, branch or diff mutant)",
        "0",
        v,
        None if v is None else v == 0,
    )
    v = a.get("written_where_nothing_missing")
    row("with the author's tests: kept tests where the change was already fully covered", "(reported)", v, None)
    v = a.get("survivors_killed_pct")
    row("with the author's tests: surviving diff mutants killed", ">= 30 %", v, None if v is None else v >= 30)
    v = a.get("survivors_in_functions_killed_pct")
    row(
        "with the author's tests: the same, mutants inside functions only (mutmut's scope)",
        ">= 30 %",
        v,
        None if v is None else v >= 30,
    )
    v = w.get("diff_mutation_in_functions_pct")
    row(
        "without the author's tests: diff mutation score inside functions only",
        ">= 70 %",
        v,
        None if v is None else v >= 70,
    )
    return rows


def markdown(data: dict) -> str:
    meta, records, summary = data["meta"], data["records"], data["summary"]
    lines = [
        f"# PR track: {meta['label']}",
        "",
        f"{meta['date']} · model `{meta['model']}` · seeds {', '.join(map(str, meta['seeds']))} · "
        f"{meta['machine']} · manifest `benchmarks/prs.yaml` ({meta['manifest_commits']} commits, "
        f"{meta['manifest_repos']} repositories) · reproduce: `{meta['command']}`",
        "",
        f"Finished: {len(records)} runs over {len({(r['repo'], r['sha']) for r in records})} commits of "
        f"{len({r['repo'] for r in records})} repositories.",
        "",
        "## Goals",
        "",
    ]
    lines += goals_table(summary)
    lines += ["", "## Per mode", "", "| | " + " | ".join(summary) + " |", "|---|" + "---|" * len(summary)]
    keys = next(iter(summary.values())).keys() if summary else []
    for k in keys:
        lines.append(f"| {k} | " + " | ".join(str(summary[m].get(k)) for m in summary) + " |")
    lines += [
        "",
        "## Per commit",
        "",
        "Coverage is of the statements/branches on the changed lines of the package; mutants are only on "
        "those lines; f2p counts kept tests that pass on the commit and fail on its parent.",
        "",
        "| repo | commit | mode | s | targets (changed fns found) | kept | placed | stmts before→after | "
        "branches before→after | mutants killed: suite → +testbot | f2p | note |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in records:
        b, a, m = r["before"], r["after"], r["mutation"]
        placed = ", ".join(f"{p['path']}{' (new)' if p['created'] else ''} ×{p['tests']}" for p in r["placed"]) or "-"
        notes = "; ".join(sorted({t["note"] for t in r["targets"] if t["note"]}))
        if r.get("error"):
            notes = "ERROR " + r["error"][:120]
        notes = " ".join(notes.split()).replace("|", "/")
        lines.append(
            f"| {r['repo']} | `{r['sha'][:8]}` {r['title'][:40]} | {r['mode']} | {r['seconds']} | "
            f"{len(r['targets'])} ({r['targets_matching']}/{len(r['changed_functions'])}) | {r['kept']} | {placed} | "
            f"{b['statements_covered']}/{b['statements']} → {a['statements_covered']}/{a['statements']} | "
            f"{b['branches_covered']}/{b['branches']} → {a['branches_covered']}/{a['branches']} | "
            f"{m['killed_suite']}/{m['mutants']} → {m['killed_suite'] + m['killed_by_testbot']}/{m['mutants']} | "
            f"{r['f2p']} | {notes[:160]} |"
        )
    lines += ["", f"Chart: ![diff mutation score per commit]({Path(meta['chart']).name})", ""]
    return "\n".join(lines)


def chart(records: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(MODES), 1, figsize=(max(7.0, 0.35 * len(records) + 2), 7), squeeze=False)
    for ax, mode in zip(axes[:, 0], MODES):
        rs = [r for r in records if r["mode"] == mode and r["mutation"]["mutants"] and not r.get("error")]
        xs = range(len(rs))
        suite = [r["mutation"]["score_suite_pct"] or 0 for r in rs]
        both = [r["mutation"]["score_with_testbot_pct"] or 0 for r in rs]
        ax.bar([x - 0.2 for x in xs], suite, 0.4, label="project suite", color="#777777")
        ax.bar([x + 0.2 for x in xs], both, 0.4, label="suite + testbot", color="#1f77b4")
        for x, r in zip(xs, rs):
            if r["f2p"]:
                ax.text(x + 0.2, both[x] + 1, "f2p", ha="center", fontsize=6)
        ax.set_xticks(list(xs))
        ax.set_xticklabels([f"{r['repo']}@{r['sha'][:6]}" for r in rs], rotation=60, ha="right", fontsize=6)
        ax.set_ylim(0, 110)
        ax.set_ylabel("diff mutation score (%)")
        ax.set_title(f"{mode} the author's tests", fontsize=9)
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def save(path: Path, data: dict) -> None:
    data["summary"] = summarise(data["records"])
    path.write_text(json.dumps(data, indent=1) + "\n")
    png = path.with_suffix(".png")
    data["meta"]["chart"] = png.name
    try:
        chart(data["records"], png)
    except Exception as exc:  # noqa: BLE001 - a chart is not worth losing the run
        print(f"chart not drawn: {exc}", file=sys.stderr)
    path.with_suffix(".md").write_text(markdown(data))


# ---------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.prs", description=__doc__.split("\n\n")[0])
    p.add_argument("--manifest", type=Path, default=MANIFEST)
    p.add_argument("--label", default="", help="results go to benchmarks/results/prs-<label>.json/.md/.png")
    p.add_argument("--results", type=Path, default=None, help="folder for the results (default: benchmarks/results)")
    p.add_argument("--quick", action="store_true", help="only the manifest's quick commits (label 'quick')")
    p.add_argument("--repos", default="", help="comma-separated repository names")
    p.add_argument("--commits", default="", help="comma-separated sha prefixes")
    p.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    p.add_argument("--seeds", nargs="+", type=int, default=[0])
    p.add_argument("--model", default="default")
    p.add_argument("--testbot-args", default="", help="extra options for testbot generate")
    p.add_argument("--kill-after", type=float, default=1800, help="seconds before a testbot run is killed")
    p.add_argument(
        "--mirrors",
        type=Path,
        default=Path("/work/.mirror"),
        help="folder of local bare mirrors (owner+name/repo); GitHub when absent",
    )
    p.add_argument("--limit", type=int, default=0, help="stop after this many new runs")
    p.add_argument("--redo-errors", action="store_true", help="run again what ended with an error")
    p.add_argument(
        "--keep",
        action="store_true",
        help="keep the worktrees (under $TESTBOT_PRS_RUNS or the temporary folder's testbot-prs-runs/)",
    )
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    label = args.label or ("quick" if args.quick else dt.date.today().isoformat())
    out = (args.results or RESULTS) / f"prs-{label}.json"
    repos = load_manifest(args.manifest)
    wanted_repos = set(filter(None, args.repos.split(",")))
    prefixes = list(filter(None, args.commits.split(",")))
    plan = []  # round-robin over repositories: a partial run still spans them
    for i in range(max((len(r.commits) for r in repos), default=0)):
        for repo in repos:
            if i < len(repo.commits) and (not wanted_repos or repo.name in wanted_repos):
                c = repo.commits[i]
                if (not args.quick or c.quick) and (not prefixes or any(c.sha.startswith(x) for x in prefixes)):
                    plan.append((repo, c))
    data = json.loads(out.read_text()) if out.exists() else {"records": []}
    data["meta"] = {
        "label": label,
        "date": dt.date.today().isoformat(),
        "model": args.model,
        "seeds": args.seeds,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "manifest_commits": sum(len(r.commits) for r in repos),
        "manifest_repos": len(repos),
        "command": "python -m benchmarks.prs " + " ".join(argv if argv is not None else sys.argv[1:]),
    }
    if args.redo_errors:
        data["records"] = [r for r in data["records"] if not r.get("error")]
    done = {(r["repo"], r["sha"], r["mode"], r["seed"], r["model"]) for r in data["records"]}
    new = 0
    for repo, c in plan:
        clone = ensure_clone(repo, args.mirrors)
        for mode in args.modes:
            for seed in args.seeds:
                if (repo.name, c.sha, mode, seed, args.model) in done:
                    continue
                if args.limit and new >= args.limit:
                    save(out, data)
                    return 0
                print(f"[prs] {repo.name} {c.sha[:8]} {mode} seed {seed}: {c.title[:60]}", flush=True)
                try:
                    record = run_one(args, repo, clone, c, mode, seed)
                except Exception as exc:  # noqa: BLE001 - one broken commit must not end the run
                    record = {
                        "repo": repo.name,
                        "sha": c.sha,
                        "mode": mode,
                        "seed": seed,
                        "model": args.model,
                        "error": f"{type(exc).__name__}: {exc}",
                    }
                    print(f"[prs]   failed: {record['error'][:300]}", flush=True)
                    data.setdefault("failed", []).append(record)
                    continue
                data["records"].append(record)
                new += 1
                print(
                    f"[prs]   {record['seconds']} s, kept {record['kept']}, f2p {record['f2p']}, mutants "
                    f"{record['mutation']['killed_suite']}+{record['mutation']['killed_by_testbot']}/"
                    f"{record['mutation']['mutants']}",
                    flush=True,
                )
                save(out, data)
    save(out, data)
    print(f"[prs] results: {out.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
