"""Mine (focal function, test) pairs from a project's own test suite, matched by coverage.

For a repository or an unpacked sdist: run its test suite once in the sandbox under coverage.py with a
context per test function (``dynamic_context = test_function``); for each passing test, score every
function of the package it ran by how specifically the test exercises it (TF-IDF: the share of the
function's lines the test runs, times ``log(1 + tests / tests that run the function)``, plus a bonus when
the names match, ``test_parse_x`` <-> ``parse``); the best-scoring function the test names in its code is
its focal function. The test is cut out of its file as a self-contained module (its imports, the helpers
and fixtures of its own file; see :func:`testbot.extract.split_tests`), and every such module is run
again, alone in a fresh folder, so a test that needs a conftest.py fixture or anything else it lost is
dropped. Why something was dropped is counted in ``MineResult.dropped``.
"""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import math
import re
import shutil
import tarfile
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from testbot import sandbox
from testbot.context import build_context
from testbot.extract import split_tests
from testbot.finetune.data import MAX_EXAMPLE_CHARS, Pair, context_fields, pair_id, split_completion
from testbot.prompt import _cut_tests
from testbot.targets import SKIP_DIRS, SourceFile, Target, functions_in, is_test_file

SUITE_SECONDS = 300.0  # one package's whole suite under coverage; past it, file by file (suite/4 each, 2x in all)
VERIFY_SECONDS = 180.0  # re-running the self-contained tests of one package
MAX_COMPLETION_CHARS = 1800  # a test longer than this does not fit generation's max_tokens (384)
MAX_PER_FUNCTION = 5  # at most this many mined tests per focal function: no function dominates
MIN_SCORE = 0.05  # below this the test hardly runs the function
TEST_DIRS = ("tests", "test", "testing", "t")
NOTE = Callable[[str], None]


@dataclass
class MineResult:
    pairs: list[Pair] = field(default_factory=list)
    dropped: Counter = field(default_factory=Counter)  # reason -> count of tests (or "package: reason")
    tests_run: int = 0
    tests_passed: int = 0
    seconds: float = 0.0


@dataclass(frozen=True)
class Source:
    """A project to mine: its folder, and where it came from."""

    root: Path
    package: str
    provenance: dict  # {"sdist": name, "sha256": ...} or {"repo": path}


# -- inputs


def unpack_sdist(path: Path, into: Path) -> Source:
    """Unpack a ``.tar.gz`` sdist (members that would land outside ``into`` are refused)."""
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    with tarfile.open(path) as tar:
        tar.extractall(into, filter="data")
    tops = [p for p in into.iterdir() if p.is_dir()]
    root = tops[0] if len(tops) == 1 else into
    name = re.sub(r"-[0-9][^-]*$", "", path.name.removesuffix(".tar.gz").removesuffix(".zip"))
    return Source(root, name.lower().replace("_", "-"), {"sdist": path.name, "sha256": digest})


def import_root_of(root: Path) -> Path:
    return root / "src" if (root / "src").is_dir() else root


def package_files(root: Path) -> list[Path]:
    """The project's importable, non-test Python files."""
    base = import_root_of(root)
    files = []
    for path in sorted(base.rglob("*.py")):
        rel = path.relative_to(base)
        if any(
            p in SKIP_DIRS or p.startswith(".") or p in ("docs", "doc", "examples", "benchmarks", "scripts")
            for p in rel.parts[:-1]
        ):
            continue
        if len(rel.parts) == 1 and rel.name in (
            "setup.py",
            "conftest.py",
            "tests.py",
            "test.py",
            "noxfile.py",
            "tasks.py",
            "fabfile.py",
        ):
            continue
        if is_test_file(rel) or any(p in TEST_DIRS for p in rel.parts[:-1]):
            continue
        if len(rel.parts) > 1 and not (base / rel.parts[0] / "__init__.py").is_file():
            continue  # a folder that is not a package
        files.append(path)
    return files


def test_paths(root: Path) -> list[Path]:
    found = [root / d for d in TEST_DIRS if (root / d).is_dir()]
    found += [root / f for f in ("tests.py", "test.py") if (root / f).is_file()]  # one file at the top
    if not found:  # tests inside the package (pkg/tests) or beside the code (test_x.py)
        found = sorted(
            {
                p.parent
                for p in import_root_of(root).rglob("test_*.py")
                if not any(part.startswith(".") for part in p.parts)
            }
        )
    return found


# -- running the suite


def _coveragerc(folder: Path, include: Path) -> Path:
    rc = folder / "coveragerc-mine"
    rc.write_text(
        f"[run]\nbranch = False\ndynamic_context = test_function\ninclude = {include}/*\n"
        "omit =\n    */tests/*\n    */test/*\n    */testing/*\n    */test_*.py\n    */tests.py\n"
        "    */conftest.py\n"
    )
    return rc


def _test_key(nodeid: str) -> tuple[str, str]:
    """("tests/test_x.py", "TestX.test_y") from a node id (parameters dropped)."""
    path, _, rest = nodeid.partition("::")
    rest = re.sub(r"\[.*\]$", "", rest)
    return path, rest.replace("::", ".")


def _passing(data: dict | None) -> tuple[set[tuple[str, str]], int]:
    """Tests with a passing parametrization and no failing one (skipped ones, e.g. for a C extension that
    is not built, do not count), and how many tests ran."""
    if not data:
        return set(), 0
    passed: set[tuple[str, str]] = set()
    failed: set[tuple[str, str]] = set()
    for t in data.get("tests", []):
        key = _test_key(t["nodeid"])
        if t["outcome"] == "passed":
            passed.add(key)
        elif t["outcome"] != "skipped":
            failed.add(key)
    return passed - failed, len(data.get("tests", []))


# -- matching tests to functions


def _words(name: str) -> set[str]:
    return {w for w in re.split(r"[_\W]+|(?<=[a-z])(?=[A-Z])", name.lower()) if w and w != "test"}


def _names_in(code: str) -> set[str]:
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return set()
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            names.add(node.id)
        elif isinstance(node, ast.Attribute):
            names.add(node.attr)
        elif isinstance(node, ast.alias):
            names.add((node.asname or node.name).split(".")[-1])
    return names


def _mentions(target: Target, names: set[str]) -> bool:
    if target.name == "__init__" and target.class_name:
        return target.class_name.split(".")[-1] in names
    if target.name.startswith("__") and target.name.endswith("__"):
        return False  # other special methods are reached through operators: too vague to pair
    return target.name in names


def score(
    lines_hit: int, lines_total: int, tests_total: int, tests_on_function: int, test_name: str, target: Target
) -> float:
    """How specifically a test exercises a function (TF-IDF like, plus a name bonus)."""
    tf = lines_hit / max(1, lines_total)
    idf = math.log(1 + tests_total / max(1, tests_on_function))
    words, test_words = _words(target.name.strip("_")), _words(test_name.rsplit(".", 1)[-1])
    bonus = 0.0
    if words and words <= test_words:
        bonus = 1.0
    elif words & test_words:
        bonus = 0.3
    elif target.class_name and _words(target.class_name) & _words(test_name):
        bonus = 0.2
    return tf * idf + bonus


def _body_lines(target: Target) -> set[int]:
    """The function's executable lines after the ``def`` line (a test must run the body, not the def)."""
    return set(range(target.def_line + 1, target.end + 1))


def _contexts_by_test(data, files: dict[Path, list[Target]], scratch_of: Callable[[Path], Path]):
    """{context label: {target id: lines hit}} from the coverage data."""
    hits: dict[str, dict[str, int]] = defaultdict(dict)
    for file, targets in files.items():
        by_line = data.contexts_by_lineno(str(scratch_of(file)))
        if not by_line:
            continue
        for t in targets:
            count: Counter = Counter()
            for line in _body_lines(t):
                for ctx in by_line.get(line, ()):
                    if ctx:
                        count[ctx] += 1
            for ctx, n in count.items():
                hits[ctx][t.id] = n
    return hits


def _label_for(key: tuple[str, str], labels: dict[tuple[str, str], str]) -> str | None:
    path, qual = key
    stem = Path(path).stem
    return labels.get((stem, qual))


def _index_labels(labels: list[str]) -> dict[tuple[str, str], str]:
    """Coverage labels look like ``tests.test_x.TestX.test_y``: key them by (file stem, qualname)."""
    out = {}
    for label in labels:
        parts = label.split(".")
        for i in range(len(parts) - 1):
            if parts[i].startswith("test") or parts[i].endswith("_test") or parts[i] == "tests":
                stem, qual = parts[i], ".".join(parts[i + 1 :])
                if qual:
                    out.setdefault((stem, qual), label)
    return out


def _without_test(text: str, qual: str) -> str:
    """The test file with one test taken out (the example tests a prompt shows, minus the answer)."""
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return ""
    lines = text.splitlines()
    parts = qual.split(".")
    body = tree.body
    node = None
    for part in parts:
        node = next(
            (
                n
                for n in body
                if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and n.name == part
            ),
            None,
        )
        if node is None:
            return text
        body = node.body
    start = min([node.lineno] + [d.lineno for d in node.decorator_list])
    out = lines[: start - 1] + lines[node.end_lineno :]
    return "\n".join(out).strip() + "\n"


# -- the whole thing


def mine(
    src: Source,
    *,
    python: str,
    note: NOTE = lambda s: None,
    suite_seconds: float = SUITE_SECONDS,
    verify_seconds: float = VERIFY_SECONDS,
) -> MineResult:
    """Mine one project. Never raises for a broken suite: the reason lands in ``dropped``."""
    from coverage import CoverageData

    from testbot import validate as v

    began = time.monotonic()
    result = MineResult()
    root = src.root.resolve()
    import_root = import_root_of(root)
    tests = test_paths(root)
    if not tests:
        result.dropped["package: ships no tests"] += 1
        return result
    files: dict[Path, list[Target]] = {}
    for path in package_files(root):
        try:
            text = path.read_text(encoding="utf-8")
            tree = ast.parse(text)
        except (OSError, UnicodeDecodeError, SyntaxError, ValueError):
            continue
        found = [
            t for t in functions_in(SourceFile(path, text, tree), root, include_private=False) if t.end > t.def_line
        ]
        if found:
            files[path.resolve()] = found
    if not files:
        result.dropped["package: no public functions"] += 1
        return result
    by_id = {t.id: t for ts in files.values() for t in ts}
    limits = sandbox.Limits(wall_seconds=suite_seconds, memory_bytes=4 * 1024**3)
    with v.Workspace(root, python, limits) as ws:
        rc = _coveragerc(ws.support, ws.scratch_path(import_root))
        run = _run_suite(ws, rc, import_root, tests, suite_seconds)
        runs = [run]
        if run.proc.timed_out:
            # One hanging test must not cost the whole package: run file by file, each with its own limit.
            note(f"{src.package}: the suite ran past {suite_seconds:g} s; running its test files one by one")
            deadline = time.monotonic() + 2 * suite_seconds
            runs = []
            for file in _test_files(tests):
                left = deadline - time.monotonic()
                if left < 5:
                    result.dropped["test file not run: time spent"] += 1
                    continue
                one = _run_suite(ws, rc, import_root, [file], min(left, max(10.0, suite_seconds / 4)))
                if one.proc.timed_out:
                    result.dropped["test file hangs or is too slow"] += 1
                runs.append(one)
        merged = {"tests": [t for r in runs for t in (r.data or {}).get("tests", [])]}
        passing, result.tests_run = _passing(merged)
        result.tests_passed = len(passing)
        if not passing:
            out = runs[-1].proc.output.strip() if runs else run.proc.output.strip()
            tail = out.splitlines()[-3:] if out else []
            result.dropped["package: no passing tests (" + " / ".join(tail)[-200:] + ")"] += 1
            return result
        data = CoverageData(str(ws.runs / "mined.coverage"))
        for r in runs:
            if r.data_file.exists():
                part = CoverageData(str(r.data_file))
                part.read()
                data.update(part)
        if not data.measured_files():
            result.dropped["package: no coverage data"] += 1
            return result
        hits = _contexts_by_test(data, files, ws.scratch_path)
        labels = _index_labels(list(hits))
        tests_total = len(hits)
        tests_on: Counter = Counter()
        for per in hits.values():
            for tid in per:
                tests_on[tid] += 1
        # Each passing test: its focal function and its self-contained module.
        chosen: list[tuple[str, str, Target, float, str]] = []  # (test file, test qualname, target, score, code)
        texts: dict[str, str] = {}
        candidates_by_file: dict[str, dict[str, object]] = {}
        for key in sorted(passing):
            path, qual = key
            label = _label_for(key, labels)
            if label is None:
                result.dropped["test ran no package function"] += 1
                continue
            if path not in texts:
                try:
                    texts[path] = (ws.project / path).read_text(encoding="utf-8")
                except (OSError, UnicodeDecodeError):
                    texts[path] = ""
                ex = split_tests(texts[path], target_id="", protected=set()) if texts[path] else None
                candidates_by_file[path] = {c.name.replace("::", "."): c for c in (ex.candidates if ex else ())}
            cand = candidates_by_file[path].get(qual)
            if cand is None:
                result.dropped["test not found in its file (generated or nested)"] += 1
                continue
            names = _names_in("\n\n".join([*cand.helpers, cand.class_prelude, cand.test_source]))  # not imports
            best: tuple[float, Target] | None = None
            for tid, n in hits[label].items():
                t = by_id[tid]
                if not _mentions(t, names):
                    continue
                s = score(n, len(_body_lines(t)), tests_total, tests_on[tid], qual, t)
                if best is None or s > best[0] or (s == best[0] and t.id < best[1].id):
                    best = (s, t)
            if best is None or best[0] < MIN_SCORE:
                result.dropped["no function the test names is run by it"] += 1
                continue
            if any(f.startswith(".") for f in _relative_imports(cand.code)):
                result.dropped["relative import in the test file"] += 1
                continue
            chosen.append((path, qual, best[1], best[0], with_prefill_imports(cand.code, best[1])))
        # Too long for one completion: generation could never write it.
        fitting = []
        for item in chosen:
            if (
                len(split_completion(item[4], f"```python\nimport pytest\n\n{_import_line(item[2])}\n"))
                > MAX_COMPLETION_CHARS
            ):
                result.dropped["test too long for one completion"] += 1
            else:
                fitting.append(item)
        # Re-run each self-contained module, in a folder of its own (no conftest.py of the tests applies).
        folder = ws.project / "_testbot_mined"
        folder.mkdir(exist_ok=True)
        written: dict[str, tuple] = {}
        for i, item in enumerate(sorted(fitting, key=lambda i: (i[0], i[1]))):
            name = f"test_mined_{i}.py"
            (folder / name).write_text(item[4], encoding="utf-8")
            written[name] = item
        check = _run_files(ws, folder, import_root, verify_seconds)
        ok_files = _passing_files(check.data)
        if check.proc.timed_out:
            note(f"{src.package}: re-running the self-contained tests took over {verify_seconds:g} s")
        per_fn: dict[str, list] = defaultdict(list)
        for name, item in written.items():
            if name in ok_files:
                per_fn[item[2].id].append(item)
            else:
                result.dropped["fails when self-contained (conftest fixture or lost helper)"] += 1
        # Not too many tests for one function: the most specific ones win.
        for items in per_fn.values():
            items.sort(key=lambda i: (-i[3], i[0], i[1]))
            result.dropped["over the per-function limit"] += max(0, len(items) - MAX_PER_FUNCTION)
            for path, qual, target, s, code in sorted(items[:MAX_PER_FUNCTION], key=lambda i: (i[0], i[1])):
                ctx = build_context(target, root)
                example = _without_test(texts.get(path, ""), qual) if ctx.example_path == path else ctx.example_tests
                ctx = dataclasses.replace(
                    ctx,
                    example_tests=_cut_tests(example, MAX_EXAMPLE_CHARS) if example.strip() else "",
                    example_path=ctx.example_path if example.strip() else "",
                )
                prov = {**src.provenance, "test_file": path, "test_name": qual, "context_score": round(s, 4)}
                key = f"{path}::{qual}"  # one test name can live in two files
                result.pairs.append(
                    Pair(
                        pair_id(src.package, target.module, target.qualname, key, "mined"),
                        "mined",
                        src.package,
                        target.module,
                        target.qualname,
                        target.source,
                        code,
                        prov,
                        context_fields(ctx),
                    )
                )
        result.pairs.sort(key=lambda p: (p.module, p.function, p.provenance["test_name"]))
    result.seconds = time.monotonic() - began
    return result


def _test_files(tests: list[Path]) -> list[Path]:
    files = []
    for path in tests:
        if path.is_file():
            files.append(path)
            continue
        files.extend(p for p in sorted(path.rglob("*.py")) if p.name.startswith("test") or p.name.endswith("_test.py"))
    return files


def _import_line(target: Target) -> str:
    return f"from {target.module} import {target.qualname.split('.')[0]}"


def _run_suite(ws, rc: Path, import_root: Path, tests: list[Path], seconds: float):
    return _sandboxed_pytest(
        ws,
        ["-m", "coverage", "run", f"--rcfile={rc}", "--data-file={data_file}"],
        [str(ws.scratch_path(p)) for p in tests],
        import_root,
        seconds,
    )


def _run_files(ws, folder: Path, import_root: Path, seconds: float):
    return _sandboxed_pytest(ws, [], [str(folder)], import_root, seconds)


def _sandboxed_pytest(ws, prefix: list[str], paths: list[str], import_root: Path, seconds: float):
    from testbot.validate import PYTEST

    limits = sandbox.Limits(
        wall_seconds=seconds, cpu_seconds=int(seconds * 2) + 5, memory_bytes=4 * 1024**3, processes=256
    )
    args = [
        ws.python,
        *prefix,
        *PYTEST,
        "-o",
        "addopts=",
        "-o",
        "console_output_style=classic",
        "--continue-on-collection-errors",
        "-p",
        "no:randomly",
        *paths,
    ]
    return ws._sandboxed(args, import_root, limits)


def _passing_files(data: dict | None) -> set[str]:
    """Files all of whose tests passed."""
    status: dict[str, bool] = {}
    for t in (data or {}).get("tests", []):
        name = t["nodeid"].split("::", 1)[0].rsplit("/", 1)[-1]
        status[name] = status.get(name, True) and t["outcome"] == "passed"
    for e in (data or {}).get("collect_errors", []):
        status[e["nodeid"].rsplit("/", 1)[-1]] = False
    return {n for n, ok in status.items() if ok}


def prune_imports(code: str) -> str:
    """Drop the names an import statement binds that the code never uses (a test file's shared imports)."""
    tree = ast.parse(code)
    used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    lines = code.splitlines()
    for node in reversed(tree.body):
        if not isinstance(node, ast.Import | ast.ImportFrom):
            continue
        keep = [
            a
            for a in node.names
            if a.name == "*" or (a.asname or a.name).split(".")[0] in used or (a.asname or a.name) == "pytest"
        ]
        if len(keep) == len(node.names):
            continue
        new = ""
        if keep:
            node.names = keep
            new = ast.unparse(node)
        lines[node.lineno - 1 : node.end_lineno] = [new] if new else []
    return "\n".join(lines).strip("\n") + "\n"


def with_prefill_imports(code: str, target: Target) -> str:
    """The test module as generation's prefill starts it (``import pytest``, then the import line of the
    focal function), followed by the test's own imports and code. Importing the focal name first and the
    test's own imports after it leaves the test's meaning as it was."""
    top = target.qualname.split(".")[0]
    head = f"import pytest\n\n{_import_line(target)}\n"
    body = [
        line
        for line in prune_imports(code).splitlines()
        if line.strip() not in ("import pytest", f"from {target.module} import {top}")
    ]
    return head + "\n".join(body).strip("\n") + "\n"


def _relative_imports(code: str) -> list[str]:
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return []
    return ["." * n.level + (n.module or "") for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level]


def sources_from(paths: list[Path], workdir: Path) -> list[Source]:
    """Repos, unpacked sdists and ``.tar.gz`` sdists (unpacked under ``workdir``)."""
    out = []
    for i, path in enumerate(paths):
        if path.is_file() and path.name.endswith((".tar.gz", ".tgz")):
            into = workdir / f"{i}-{path.name.removesuffix('.tar.gz')}"
            into.mkdir(parents=True, exist_ok=True)
            out.append(unpack_sdist(path, into))
        elif path.is_dir():
            name = path.resolve().name
            out.append(
                Source(path.resolve(), re.sub(r"-[0-9][^-]*$", "", name).lower().replace("_", "-"), {"repo": name})
            )
    return out


def mine_paths(
    paths: list[Path],
    *,
    python: str,
    note: NOTE = lambda s: None,
    suite_seconds: float = SUITE_SECONDS,
    augment: bool = False,
    copies: int = 1,
    seed: int = 0,
) -> tuple[list[Pair], dict[str, MineResult]]:
    """Mine every repo or sdist in ``paths``; ``.jsonl`` files are ``--record`` files (distilled pairs).
    With ``augment``, renamed copies of each project's mined pairs are added (verified in its source tree)."""
    from testbot.finetune import augment as aug
    from testbot.finetune.data import pairs_from_records

    pairs: list[Pair] = []
    results: dict[str, MineResult] = {}
    work = Path(tempfile.mkdtemp(prefix="testbot-mine-"))
    try:
        for rec in (p for p in paths if p.suffix == ".jsonl"):
            got = pairs_from_records(rec)
            note(f"{rec}: {len(got)} distilled pairs")
            pairs.extend(got)
        for src in sources_from([p for p in paths if p.suffix != ".jsonl"], work):
            note(f"{src.package}: running its tests under coverage ...")
            res = mine(src, python=python, note=note, suite_seconds=suite_seconds)
            results[src.package] = res
            why = ", ".join(f"{k} x{n}" for k, n in res.dropped.most_common(4))
            note(
                f"{src.package}: {res.tests_passed}/{res.tests_run} tests passed, {len(res.pairs)} pairs"
                + (f" (dropped: {why})" if why else "")
                + f", {res.seconds:.0f} s"
            )
            pairs.extend(res.pairs)
            if augment and res.pairs:
                kept, dropped = aug.augment(res.pairs, src.root, python=python, seed=seed, copies=copies)
                for reason, n in dropped.items():
                    res.dropped[f"augment: {reason}"] += n
                note(f"{src.package}: {len(kept)} augmented pairs")
                res.pairs.extend(kept)
                pairs.extend(kept)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return pairs, results


def command(args) -> int:
    """``testbot finetune --mine PATH... [--augment]``: write the pairs to ``--data``."""
    import sys

    from testbot.errors import EXIT_OK, FatalError
    from testbot.finetune.data import dedupe, read_pairs, write_pairs

    paths = [Path(p) for p in args.mine]
    for p in paths:
        if not p.exists():
            raise FatalError(
                f"{p}: no such file or folder (give a repository, an unpacked sdist, a .tar.gz sdist "
                "or a --record .jsonl file)"
            )
    out = Path(args.data)
    pairs, results = mine_paths(
        paths,
        python=args.python or sys.executable,
        note=lambda s: print(f"testbot: {s}", file=sys.stderr, flush=True),
        suite_seconds=args.suite_timeout,
        augment=args.augment,
        copies=args.copies,
        seed=args.augment_seed,
    )
    old = read_pairs(out) if args.append and out.is_file() else []
    pairs = dedupe(old + pairs)
    write_pairs(out, pairs)
    by_source = Counter(p.source for p in pairs)
    print(f"wrote {out}: {len(pairs)} pairs (" + ", ".join(f"{n} {k}" for k, n in sorted(by_source.items())) + ")")
    return EXIT_OK
