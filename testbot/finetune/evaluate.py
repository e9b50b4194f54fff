"""``testbot eval``: models side by side on held-out functions, through the real generate pipeline.

    testbot eval --heldout benchmarks/finetune/data/heldout.jsonl --sdists benchmarks/finetune/.work/sdists \\
        --model base=small --model tuned=runs/smollm2/model-q8_0.gguf --samples 4 --targets 20

Held-out functions come from a pairs file (testbot.finetune.data; packages never trained on). Each one's
package is unpacked from its sdist (``provenance["sdist"]`` in ``--sdists``) into a scratch project that
holds only the package (no tests: the baseline is what importing the module covers), and
:class:`testbot.pipeline.Pipeline` runs on it with ``--dry-run`` (nothing is written), k samples and no
repair rounds, once per model. Per model:

- kept@k: share of targets with at least one kept test (passes every run and adds coverage) from k samples
- pass rate: tests that passed their first run / tests generated (unusable completions count as one)
- coverage gain: mean over targets of (lines + branches gained) / (lines + branches of the target)
- seconds per target: the pipeline's wall time per target, model and test runs included
- what became of the tests: each test the model wrote, by outcome (:func:`candidate_kind`)

A model is ``[LABEL=]MODEL[+ADAPTER]``: ``small``, ``default``, ``stock``, a .gguf path, ``fake:FILE``, a base and
a LoRA adapter folder (the transformers backend), e.g. ``tuned=small+runs/smollm2/adapter``, or a base and an
adapter GGUF (llama.cpp), e.g. ``tuned=stock+runs/qwen/adapter-f16.gguf``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import platform
import re
import shutil
import subprocess
import sys
import tarfile
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from testbot.errors import FatalError

if TYPE_CHECKING:
    from testbot.config import Settings
    from testbot.report import Report
    from testbot.targets import Target

PYPROJECT = """[project]
name = "eval-{name}"
version = "0"

[tool.pytest.ini_options]
addopts = "-p no:hypothesispytest -p no:benchmark -p no:cacheprovider"
"""


@dataclass(frozen=True)
class ModelSpec:
    label: str
    model: str
    adapter: str = ""

    @classmethod
    def parse(cls, text: str) -> ModelSpec:
        label, sep, rest = text.partition("=")
        if not sep:
            label, rest = "", text
        model, _, adapter = rest.partition("+")
        if not model:
            raise FatalError(f"--model {text!r}: expected [LABEL=]MODEL[+ADAPTER]")
        if adapter.lower().endswith(".gguf"):  # a llama.cpp adapter GGUF: llama.cpp applies it (--model BASE+FILE)
            return cls(label or rest, rest)
        return cls(label or (f"{model}+{Path(adapter).parent.name}" if adapter else model), model, adapter)


@dataclass(frozen=True)
class EvalTarget:
    package: str
    module: str
    function: str
    sdist: str


@dataclass(frozen=True)
class TargetResult:
    target: str  # package:module.function
    kept: int
    generated: int
    passed: int
    gain: float  # (lines + branches gained) / (lines + branches of the target)
    seconds: float
    completions: int
    note: str
    outcomes: dict = dataclasses.field(default_factory=dict)  # what became of each test: see candidate_kind
    # reviewer-grade: kept tests the model wrote (not the search) with no shape a reviewer rejects (testbot.shape)
    graded: int = 0
    mutants: int = 0  # mutants of the function put in place (testbot.mutants.of_function)
    caught: int = 0  # of them, caught by the reviewer-grade tests

    @property
    def reviewer_grade(self) -> bool:
        """The model kept a reviewer-grade test here, and its tests catch a fault of the function (where one
        could be made): a test people would keep, not one that checks nothing."""
        return self.graded > 0 and (self.caught > 0 or self.mutants == 0)


@dataclass(frozen=True)
class ModelResult:
    label: str
    model: str
    targets: tuple[TargetResult, ...]
    load_seconds: float

    @property
    def measured(self) -> list[TargetResult]:
        return [
            t for t in self.targets if not t.note.startswith(("already fully covered", "nothing to cover", "not found"))
        ]

    def summary(self) -> dict:
        m = self.measured
        n = max(1, len(m))
        generated = sum(t.generated for t in m)
        return {
            "label": self.label,
            "model": self.model,
            "targets": len(m),
            "kept_at_k": round(sum(1 for t in m if t.kept) / n, 3),
            "targets_with_kept": sum(1 for t in m if t.kept),
            "kept_tests": sum(t.kept for t in m),
            "pass_rate": round(sum(t.passed for t in m) / max(1, generated), 3),
            "coverage_gain": round(sum(t.gain for t in m) / n, 3),
            "seconds_per_target": round(sum(t.seconds for t in m) / n, 1),
            "targets_reviewer_grade": sum(1 for t in m if t.reviewer_grade),
            "reviewer_grade_tests": sum(t.graded for t in m),
            # mean over targets of the share of the function's mutants the reviewer-grade tests catch (0: none)
            "mutation_score": round(sum(t.caught / t.mutants for t in m if t.mutants) / n, 3),
            "load_seconds": round(self.load_seconds, 1),
        }


_RAISED = re.compile(r"^E\s+([A-Za-z_][\w.]*)(?::|$)", re.M)


def candidate_kind(c) -> str:
    """What became of one candidate test (a report's CandidateResult), for the per-outcome breakdown: "kept",
    "passed, added coverage" (not chosen), "passed, no new coverage", "flaky", "error: TypeError" (the exception
    a failing test raised), or the sandbox's outcome (assertion_failure, syntax_error, import_error, ...). A
    copy the oracle repaired with observed values is told apart: "repaired: ..."."""
    from testbot import validate as v

    if c.kept:
        kind = "kept"
    elif c.outcome == v.PASSED:
        kind = (
            "flaky"
            if not c.stable
            else "passed, added coverage"
            if c.gain_lines or c.gain_branches
            else "passed, no new coverage"
        )
    elif c.outcome == v.ERROR:
        raised = _RAISED.findall(c.detail)
        kind = f"error: {raised[-1].rsplit('.', 1)[-1]}" if raised else "error"
    else:
        kind = c.outcome
    return f"repaired: {kind}" if c.name.endswith("(observed values)") else kind


def outcome_counts(candidates) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for c in candidates:
        counts[candidate_kind(c)] += 1
    return dict(sorted(counts.items()))


def only_tests(file_source: str, names: list[str]) -> str:
    """``file_source`` (a test module) with every test but ``names`` (``test_x`` or ``Class::test_x``) left
    out; imports, fixtures and helpers stay."""
    import ast

    tree = ast.parse(file_source)
    wanted = set(names)

    def is_test(node: ast.stmt) -> bool:
        return isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test")

    body: list[ast.stmt] = []
    for node in tree.body:
        if is_test(node):
            if node.name in wanted:  # type: ignore[attr-defined]
                body.append(node)
        elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            node.body = [n for n in node.body if not is_test(n) or f"{node.name}::{n.name}" in wanted]  # type: ignore[attr-defined]
            if any(is_test(n) for n in node.body):
                body.append(node)
        else:
            body.append(node)
    tree.body = body
    return ast.unparse(tree) + "\n"


def graded(report: Report, module_source: str) -> list[tuple[list[str], str]]:
    """The kept tests of ``report`` that the model wrote (not the search) and that have no shape a reviewer
    rejects (:func:`testbot.shape.problems`, copied doctests and errors ``module_source`` never states
    included): per test file, their names and a test module holding just them."""
    from testbot import shape
    from testbot.pipeline import EXPLORE_MODEL

    facts = shape.module_facts(module_source)
    out = []
    for f in report.files:
        authors = f.authors if len(f.authors) == len(f.tests) else ("",) * len(f.tests)
        names = [
            name
            for name, author in zip(f.tests, authors)
            if author and author != EXPLORE_MODEL
            for source in shape.tests_in(f.text, [name])
            if not shape.problems(source, facts)
        ]
        if names:
            out.append((names, only_tests(f.text, names)))
    return out


MUTATION_SECONDS = 60.0  # per target, for putting the function's mutants in place under its graded tests


def mutation(root: Path, target: Target, text: str, modules: list[str], settings: Settings) -> tuple[int, int]:
    """(caught, ran): the mutants of ``target`` (:func:`testbot.mutants.of_function`, every line of it; ``text``:
    its file's source) put in place one by one, in one sandboxed pytest process, under the test ``modules``;
    caught when one fails."""
    from testbot import mutants
    from testbot import validate as v

    found = mutants.of_function(target, text, target.lines)
    if not found or not modules:
        return 0, 0
    with v.Workspace(root, settings.python, v.candidate_limits(settings)) as ws:
        folder = ws.scratch_path(root / "tests")
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        for n, module in enumerate(modules):
            path = folder / f"test_eval_graded_{n}.py"
            path.write_text(module, encoding="utf-8")
            paths.append(path)
        names = [p.name for p in paths]
        spec = {
            "module": target.module,
            "file": str(ws.scratch_path(target.file)),
            "mutants": [mutants.spec_entry(i, target, m, (), names, []) for i, m in enumerate(found)],
            "seconds": MUTATION_SECONDS,
            "per_test": mutants.PER_TEST,
        }
        answer = ws.run_mutants(paths, import_root=target.import_root, spec=spec, timeout=MUTATION_SECONDS + 10)
    ran = [r for r in (answer or {}).get("ran", {}).values() if isinstance(r, dict)]
    return sum(1 for r in ran if r.get("caught")), len(ran)


def select_targets(heldout: Path, n: int) -> list[EvalTarget]:
    """Up to ``n`` distinct functions, taken in turn from each package (stable order: by pair id)."""
    from testbot.finetune.data import read_pairs

    if not heldout.is_file():
        raise FatalError(f"--heldout {heldout}: no such file")
    by_package: dict[str, list[EvalTarget]] = defaultdict(list)
    seen = set()
    for p in sorted(read_pairs(heldout), key=lambda p: p.id):
        key = (p.package, p.module, p.function)
        if key in seen or p.source == "augmented" or "sdist" not in p.provenance:
            continue
        seen.add(key)
        by_package[p.package].append(EvalTarget(p.package, p.module, p.function, p.provenance["sdist"]))
    out: list[EvalTarget] = []
    queues = [by_package[k] for k in sorted(by_package)]
    while len(out) < n and any(queues):
        for q in queues:
            if q and len(out) < n:
                out.append(q.pop(0))
    return out


def make_project(sdist: Path, module: str, dest: Path) -> tuple[Path, Path]:
    """A scratch project with the top-level package of ``module`` from ``sdist``; (root, import root)."""
    work = dest.with_name(dest.name + ".unpack")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    with tarfile.open(sdist) as tar:
        tar.extractall(work, filter="data")
    tops = [p for p in work.iterdir() if p.is_dir()]
    src = tops[0] if len(tops) == 1 else work
    src = src / "src" if (src / "src").is_dir() else src
    top = module.split(".")[0]
    package = src / top if (src / top).is_dir() else src / f"{top}.py"
    if not package.exists():
        raise FatalError(f"{sdist.name}: no package or module '{top}' in it")
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    if package.is_dir():
        shutil.copytree(package, dest / top, ignore=shutil.ignore_patterns("tests", "test", "__pycache__"))
    else:
        shutil.copy2(package, dest / package.name)
    shutil.rmtree(work)
    (dest / "pyproject.toml").write_text(PYPROJECT.format(name=top))
    (dest / "tests").mkdir()
    subprocess.run(["git", "init", "-q"], cwd=dest, check=True)
    return dest, dest


def module_file(root: Path, module: str) -> Path | None:
    base = root.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def run_eval(
    targets: list[EvalTarget],
    models: list[ModelSpec],
    *,
    sdists: Path,
    work: Path,
    settings,
    log=lambda line: None,
    explore: bool = False,
) -> list[ModelResult]:
    """Every model on every target; the model is loaded once and kept across targets. ``explore``: the whole
    pipeline, the search first and the model writing from its evidence (else the model alone)."""
    from testbot.config import replace
    from testbot.generate import load_backend_for
    from testbot.pipeline import Pipeline
    from testbot.targets import find_targets

    projects: dict[str, Path] = {}
    for t in targets:
        if t.package not in projects:
            sdist = sdists / t.sdist
            if not sdist.is_file():
                raise FatalError(f"sdist {t.sdist} of held-out package {t.package} is not in {sdists}")
            projects[t.package] = make_project(sdist, t.module, work / t.package)[0]
    results = []
    for spec in models:
        # (without explore: the tests must all be the model's; explored calls need none)
        s = replace(
            settings,
            model=spec.model,
            adapter=spec.adapter,
            dry_run=True,
            json=True,
            progress=False,
            cache=False,
            explore=explore,
        )
        began = time.monotonic()
        backend = load_backend_for(s)
        load_seconds = time.monotonic() - began
        rows = []
        for t in targets:
            root = projects[t.package]
            name = f"{t.package}:{t.module}.{t.function}"
            file = module_file(root, t.module)
            found = find_targets([f"{file}::{t.function}"], root, include_private=True) if file else []
            if not found:
                rows.append(TargetResult(name, 0, 0, 0, 0.0, 0.0, 0, "not found in the sdist"))
                continue
            report = Pipeline(root, s, backend=backend).run(found[:1])
            r = report.targets[0]
            total = r.lines_total + r.branches_total
            gain = (r.gain_lines + r.gain_branches) / total if total else 0.0
            text = found[0].file.read_text(encoding="utf-8")
            grade = graded(report, text)
            caught, ran = mutation(root, found[0], text, [module for _, module in grade], s) if grade else (0, 0)
            rows.append(
                TargetResult(
                    name,
                    len(r.kept),
                    r.funnel.generated,
                    r.funnel.passed,
                    round(gain, 3),
                    # (with the search, phases run per file before the target's own turn: the whole run's time)
                    round(report.seconds, 1) if explore else r.seconds,
                    r.completions,
                    r.note,
                    outcome_counts(r.candidates),
                    sum(len(names) for names, _ in grade),
                    ran,
                    caught,
                )
            )
            log(
                f"{spec.label}: {name}  kept {len(r.kept)} ({rows[-1].graded} reviewer-grade, {caught}/{ran} "
                f"mutants), passed {r.funnel.passed}/{r.funnel.generated}, +{100 * gain:.0f} % coverage, "
                f"{rows[-1].seconds:.1f} s" + (f"  [{r.note}]" if r.note else "")
            )
        results.append(ModelResult(spec.label, getattr(backend, "name", spec.model), tuple(rows), load_seconds))
    return results


def to_markdown(results: list[ModelResult], meta: dict) -> str:
    k = meta["settings"]["samples"]
    lines = [
        f"# testbot eval: held-out functions, {meta['date']}",
        "",
        f"{meta['targets']} held-out functions"
        + (f" (the first {meta['skipped']} of the selection left out)" if meta.get("skipped") else "")
        + f" from {', '.join(meta['packages'])} (packages never trained on); "
        f"k = {k} samples, {meta['settings']['repair_rounds']} repair rounds, "
        f"prompt budget {meta['settings']['prompt_tokens']} tokens, temperature "
        f"{meta['settings']['temperature']}, max {meta['settings']['max_tokens']} tokens, "
        f"{meta['settings']['target_seconds']:g} s per target"
        + (
            ", the whole pipeline (the search first, the model writing from its evidence)"
            if meta["settings"].get("explore")
            else ""
        )
        + (f", {meta['settings']['budget']:g} s in all per target" if meta["settings"].get("budget") else "")
        + f"; {meta['machine']}."
        + (
            f" Combined from separate runs: {', '.join(f'`{f}`' for f in meta['combined_from'])}."
            if meta.get("combined_from")
            else ""
        ),
        "",
        f"| model | targets | kept@{k} | targets with a kept test | kept tests | reviewer-grade targets | "
        "reviewer-grade tests | mutation score | pass rate | coverage gain | s / target |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        s = r.summary()
        lines.append(
            f"| {s['label']} ({s['model']}) | {s['targets']} | {100 * s['kept_at_k']:.0f} % | "
            f"{s['targets_with_kept']} | {s['kept_tests']} | {s['targets_reviewer_grade']} | "
            f"{s['reviewer_grade_tests']} | {100 * s['mutation_score']:.1f} % | {100 * s['pass_rate']:.0f} % | "
            f"{100 * s['coverage_gain']:.1f} % | {s['seconds_per_target']:.1f} |"
        )
    lines += [
        "",
        "Targets covered by importing the module alone are not counted. Reviewer-grade: kept tests the model "
        "wrote (not the search) with none of the shapes a reviewer rejects (testbot.shape: numbered names, "
        "dunder calls, type-name-only checks, placeholder inputs, varying values, copied doctests); a target "
        "counts when it has one and they catch at least one of the function's mutants (where any could be "
        "made). Mutation score: mean over targets of the share of the function's mutants (testbot.mutants) "
        "those tests catch, 0 where there are none.",
        "",
    ]
    kinds = sorted({kind for r in results for t in r.measured for kind in t.outcomes})
    if kinds:
        lines += [
            "## What became of the tests",
            "",
            "Every test the model wrote, over the counted targets (a test that failed only on its expected "
            "value or on an exception the code raised is also tried once repaired by the oracle: "
            '"repaired"; the failed original is counted too).',
            "",
            "| outcome | " + " | ".join(r.label for r in results) + " |",
            "|---|" + "---|" * len(results),
        ]
        counted = [any(t.outcomes for t in r.measured) for r in results]  # runs before this breakdown have none
        for kind in kinds:
            lines.append(
                f"| {kind} | "
                + " | ".join(
                    str(sum(t.outcomes.get(kind, 0) for t in r.measured)) if has else "-"
                    for r, has in zip(results, counted)
                )
                + " |"
            )
        if not all(counted):
            lines.append('\n"-": that model\'s run predates this breakdown.')
        lines.append("")
    lines += [
        "## Per target",
        "",
        "| target | " + " | ".join(r.label for r in results) + " |",
        "|---|" + "---|" * len(results),
    ]
    for i, t in enumerate(results[0].targets if results else ()):
        cells = []
        for r in results:
            row = r.targets[i]
            cells.append(
                row.note
                if row.note.startswith(("already", "nothing", "not found"))
                else f"kept {row.kept}, passed {row.passed}/{row.generated}, +{100 * row.gain:.0f} %, "
                + (f"graded {row.graded} ({row.caught}/{row.mutants} mutants), " if row.graded else "")
                + f"{row.seconds:.0f} s"
            )
        lines.append(f"| {t.target} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def combine(files: list[Path], labels: list[str] | None = None) -> tuple[list[ModelResult], dict]:
    """Results of runs taken apart as one: runs of other models on the same targets (one model each, say), and
    runs of a model on further targets (``--skip``), joined in the order given. Settings and machine must be
    the same, and in the end every model must have the same targets, else refused. ``labels`` keeps only
    those models (a model run on the first targets only can be left out)."""
    parts = [json.loads(Path(f).read_text()) for f in files]
    first = parts[0]
    for f, part in zip(files[1:], parts[1:]):
        if part["settings"] != first["settings"] or part["machine"] != first["machine"]:
            raise FatalError(f"cannot combine {f} with {files[0]}: different settings or machine")
    rows: dict[str, list[TargetResult]] = {}
    names: dict[str, str] = {}
    load: dict[str, float] = {}
    for f, part in zip(files, parts):
        for m in part["models"]:
            label = m["label"]
            if labels and label not in labels:
                continue
            have = {t.target for t in rows.get(label, [])}
            new = [TargetResult(**t) for t in part["per_target"][label]]
            twice = sorted(have & {t.target for t in new})
            if twice:
                raise FatalError(f"cannot combine {f}: model {label} has target {twice[0]} in two runs")
            rows.setdefault(label, []).extend(new)
            names.setdefault(label, m["model"])
            load[label] = max(load.get(label, 0.0), m.get("load_seconds", 0.0))
    missing = sorted(set(labels or ()) - set(rows))
    if missing:
        raise FatalError(f"--labels {', '.join(missing)}: no such model in {', '.join(map(str, files))}")
    lists = {label: [t.target for t in r] for label, r in rows.items()}
    if len({tuple(v) for v in lists.values()}) > 1:
        counts = ", ".join(f"{label} {len(v)}" for label, v in lists.items())
        raise FatalError(
            f"cannot combine {', '.join(map(str, files))}: the models have different targets "
            f"({counts}); leave some out with --labels"
        )
    results = [ModelResult(label, names[label], tuple(r), load[label]) for label, r in rows.items()]
    meta = {k: first[k] for k in ("heldout", "machine", "settings")}
    return results, {
        **meta,
        "date": max(p["date"] for p in parts),
        "targets": len(next(iter(lists.values()), [])),
        "packages": sorted({pkg for p in parts for pkg in p["packages"]}),
        "combined_from": [str(f) for f in files],
    }


def write(results: list[ModelResult], meta: dict, prefix: Path) -> None:
    data = {
        **meta,
        "models": [r.summary() for r in results],
        "per_target": {r.label: [dataclasses.asdict(t) for t in r.targets] for r in results},
    }
    prefix.parent.mkdir(parents=True, exist_ok=True)
    Path(f"{prefix}.json").write_text(json.dumps(data, indent=2) + "\n")
    Path(f"{prefix}.md").write_text(to_markdown(results, meta))


def add_arguments(parser) -> None:
    parser.add_argument(
        "--combine",
        nargs="+",
        metavar="JSON",
        default=None,
        help="run nothing: join result files of eval runs taken apart (same targets and settings)",
    )
    parser.add_argument(
        "--labels", nargs="+", metavar="LABEL", default=None, help="with --combine: keep only these models"
    )
    parser.add_argument("--heldout", metavar="FILE", help="held-out pairs (JSONL) to take functions from")
    parser.add_argument("--sdists", metavar="DIR", help="folder with the held-out packages' sdists")
    parser.add_argument(
        "--model",
        action="append",
        metavar="[LABEL=]MODEL[+ADAPTER]",
        help="a model to evaluate (repeatable): small, default, stock, a .gguf path, fake:FILE, "
        "BASE+ADAPTER_DIR for the transformers backend, or BASE+ADAPTER.gguf for llama.cpp",
    )
    parser.add_argument("--targets", type=int, default=20, help="held-out functions to use (default: 20)")
    parser.add_argument(
        "--skip",
        type=int,
        default=0,
        help="leave out the first N of the selected targets, to run more targets later and join "
        "the runs with --combine (default: 0)",
    )
    parser.add_argument(
        "--explore",
        action="store_true",
        help="the whole pipeline: the search runs first and the model writes tests from its evidence (the write "
        "prompt); the search's own tests may be kept too, reviewer-grade counts only the model's (default: off, "
        "the model alone)",
    )
    parser.add_argument("--samples", type=int, default=4, help="k: samples per target (default: 4)")
    parser.add_argument("--repair-rounds", type=int, default=0, help="repair rounds (default: 0: exactly k samples)")
    parser.add_argument("--temperature", type=float, default=0.3, help="sampling temperature (default: 0.3)")
    parser.add_argument("--max-tokens", type=int, default=384, help="tokens per completion (default: 384)")
    parser.add_argument(
        "--prompt-tokens",
        type=int,
        default=1500,
        help="prompt budget (default: 1500; use the --prompt-tokens a model was trained with)",
    )
    parser.add_argument("--target-seconds", type=float, default=300.0, help="time budget per target (default: 300)")
    parser.add_argument(
        "--budget",
        type=float,
        default=0.0,
        help="seconds for the whole pipeline on one target, every phase included (testbot generate's --budget; "
        "with --explore, the fair way to give each model the same time); default: 0, no limit",
    )
    parser.add_argument("--runs", type=int, default=3, help="fresh runs a passing test must pass (default: 3)")
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="base seed: the k samples are seeded SEED..SEED+k-1, so an independent second draw "
        "needs SEED + k or more (default: 0)",
    )
    parser.add_argument("--device", default="cpu", help="device for the transformers backend (default: cpu)")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads for the model (default: 0, all cores)")
    parser.add_argument("--work", default="", help="scratch folder for the projects (default: a temporary folder)")
    parser.add_argument(
        "--out",
        default="",
        metavar="PREFIX",
        help="write PREFIX.md and PREFIX.json (default: benchmarks/results/finetune-eval-DATE)",
    )


def command(args) -> int:
    import tempfile

    from testbot.config import Settings

    if args.combine:
        results, meta = combine([Path(f) for f in args.combine], args.labels)
        prefix = Path(args.out or f"benchmarks/results/finetune-eval-{meta['date']}")
        write(results, meta, prefix)
        print(f"wrote {Path(f'{prefix}.md')} and {Path(f'{prefix}.json')}")
        return 0
    missing = [
        flag
        for flag, value in (("--heldout", args.heldout), ("--sdists", args.sdists), ("--model", args.model))
        if not value
    ]
    if missing:
        raise FatalError(f"testbot eval needs {', '.join(missing)} (or --combine JSON...)")
    models = [ModelSpec.parse(m) for m in args.model]
    if len({m.label for m in models}) != len(models):
        raise FatalError("two --model entries have the same label: name them LABEL=MODEL")
    if args.skip < 0 or args.skip >= args.targets:
        raise FatalError(f"--skip {args.skip}: must be at least 0 and less than --targets {args.targets}")
    targets = select_targets(Path(args.heldout), args.targets)
    if not targets:
        raise FatalError(f"{args.heldout}: no held-out pairs with an sdist in their provenance")
    if len(targets) <= args.skip:
        raise FatalError(f"--skip {args.skip}: {args.heldout} has only {len(targets)} targets")
    targets = targets[args.skip :]
    settings = Settings(
        samples=args.samples,
        repair_rounds=args.repair_rounds,
        temperature=args.temperature,
        max_tokens=args.max_tokens,
        prompt_tokens=args.prompt_tokens,
        target_seconds=args.target_seconds,
        runs=args.runs,
        seed=args.seed,
        device=args.device,
        threads=args.threads,
        include_private=True,
        explore=args.explore,
        budget=args.budget,
    )
    date = dt.date.today().isoformat()
    prefix = Path(args.out or f"benchmarks/results/finetune-eval-{date}")
    with tempfile.TemporaryDirectory(prefix="testbot-eval-") as tmp:
        work = Path(args.work) if args.work else Path(tmp)
        results = run_eval(
            targets,
            models,
            sdists=Path(args.sdists),
            work=work,
            settings=settings,
            log=lambda line: print(line, file=sys.stderr, flush=True),
            explore=args.explore,
        )
    meta = {
        "date": date,
        "targets": len(targets),
        **({"skipped": args.skip} if args.skip else {}),
        "packages": sorted({t.package for t in targets}),
        "heldout": str(args.heldout),
        "machine": f"{platform.machine()}, {__import__('os').cpu_count()} CPUs",
        "settings": {
            k: getattr(settings, k)
            for k in (
                "samples",
                "repair_rounds",
                "temperature",
                "top_p",
                "max_tokens",
                "prompt_tokens",
                "target_seconds",
                "runs",
                "seed",
                "explore",
                "budget",
            )
        },
    }
    write(results, meta, prefix)
    for r in results:
        s = r.summary()
        print(
            f"{s['label']}: kept@{args.samples} {100 * s['kept_at_k']:.0f} % ({s['targets_with_kept']}/{s['targets']}), "
            f"pass rate {100 * s['pass_rate']:.0f} %, coverage gain {100 * s['coverage_gain']:.1f} %, "
            f"{s['seconds_per_target']:.1f} s/target"
        )
    print(f"wrote {Path(f'{prefix}.md')} and {Path(f'{prefix}.json')}")
    return 0
