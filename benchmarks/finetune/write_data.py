"""Training examples in the write prompt's format: the search's evidence in, tests a reviewer keeps out.

    python benchmarks/finetune/write_data.py --out benchmarks/finetune/data/write-train.jsonl

Generation asks the model to turn the search's observed calls into named tests (``prompt.build_write_prompt``).
This script builds that very prompt from the stored records and pairs of ``benchmarks/finetune/data`` and gives
it an answer worth imitating:

- the prompt: each function's code and, as "Observed" facts, the search's kept calls for it (the explore records,
  filler-text ones last, as ``keep.evidence`` orders them); where the search never reached a function, the plain
  ``assert call == value`` checks of its verified tests stand in for them (the same kind of fact);
- the answer, per function, best first: tests the default model wrote and the pipeline verified (distilled records)
  and the maintainers' own tests (mined pairs), when they have no shape problem (``shape.problems``) and no mark of
  stand-in values; else the search's tests themselves, named by their behaviour, special methods as operators,
  plain checks of True/False/None. At most three tests a function.

Functions of one file go two or three to a prompt, as generation groups them. Packages that any benchmark or
``testbot eval``'s held-out set uses stay out (``HELD_OUT``). Each line of the output is one example
(``messages``, ``prefill``, ``completion``), which ``testbot finetune --train`` reads as it is.
"""

from __future__ import annotations

import argparse
import ast
import json
import random
import re
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from textwrap import dedent

import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from testbot import keep, shape  # noqa: E402
from testbot.finetune.data import Pair, context_from, placeholder_test, split_completion  # noqa: E402
from testbot.prompt import OPENING, build_write_prompt  # noqa: E402

DATA = ROOT / "benchmarks" / "finetune" / "data"
# testbot eval's held-out packages (heldout.jsonl, heldout4.jsonl), the projects kept for independent checks, and
# every benchmark's packages (read from the manifests, so a new benchmark repository can never reach training).
EVAL_AND_KEPT = {
    "itsdangerous",
    "natsort",
    "parse",
    "slugify",
    "python-slugify",
    "cachetools",
    "pluggy",
    "semver",
    "humanize",
    "inflection",
    "boltons",
    "more_itertools",
}


def benchmark_packages(root: Path = ROOT) -> set[str]:
    """Import and distribution names of every package the modules track and the PR track measure."""
    names: set[str] = set()
    for manifest in (root / "benchmarks" / "modules.yaml", root.parent / "shared" / "bench" / "modules.yaml"):
        if manifest.is_file():
            for m in yaml.safe_load(manifest.read_text())["modules"]:
                names.add(m["id"].split(".")[0])
                names.add(m["dist"].split("==")[0].replace("-", "_"))
    prs = root / "benchmarks" / "prs.yaml"
    if prs.is_file():
        for repo in yaml.safe_load(prs.read_text())["repos"]:
            names.add(repo["name"])
            names.add(Path(repo["package"]).name.removesuffix(".py"))
    return names


HELD_OUT = EVAL_AND_KEPT | benchmark_packages()
PER_FUNCTION = 3  # tests in one function's answer, as the write prompt asks ("one to three")
MAX_TEST_LINES = 25  # longer maintainer tests are whole scenarios, not the short tests the prompt asks for


@dataclass
class Function:
    module: str
    qualname: str
    focal_code: str
    context: dict
    facts: list[str] = field(default_factory=list)  # the search's calls: test bodies
    placeholder_facts: list[str] = field(default_factory=list)
    imports: list[str] = field(default_factory=list)
    answers: list[tuple[int, str]] = field(default_factory=list)  # (rank, test module source)


def top(module: str) -> str:
    return module.split(".")[0]


def body_of(test_code: str) -> tuple[str, str] | None:
    """(name, body) of the first test function in a test module."""
    try:
        tree = ast.parse(dedent(test_code))
    except SyntaxError:
        return None
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test"):
            return node.name, "\n".join(ast.unparse(s) for s in node.body)
    return None


def import_lines(test_code: str) -> list[str]:
    out = []
    for line in test_code.splitlines():
        if line.startswith(("import ", "from ")) and line.strip() != "import pytest":
            out.append(line.strip())
        elif line.startswith("def "):
            break
    return out


def test_functions(test_code: str) -> list[str]:
    """Each top-level test function's source in a module."""
    try:
        tree = ast.parse(dedent(test_code))
    except SyntaxError:
        return []
    lines = dedent(test_code).splitlines()
    out = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test"):
            start = min([node.lineno] + [d.lineno for d in node.decorator_list]) - 1
            out.append("\n".join(lines[start : node.end_lineno]))
    return out


def clean(test_source: str) -> bool:
    return not shape.problems(test_source) and not placeholder_test(test_source)


def polished(test_source: str, function: str) -> str:
    """A search test as a reviewer wants it: behaviour name, operators, plain checks."""
    src = shape.plain_checks(shape.operators(test_source))
    func = shape._function(src)
    if func is None:
        return src
    name = shape.behaviour_name(src, function) or func.name
    return re.sub(rf"\bdef {re.escape(func.name)}\(", f"def {name}(", src, count=1)


def fact_lines(test_source: str, function: str) -> list[str]:
    """The plain `assert call == value` checks of a verified test that call ``function``: stand-in facts."""
    got = body_of(test_source)
    if got is None:
        return []
    out = []
    for stmt in ast.parse(got[1]).body:
        pinned = shape.call_equals(stmt)
        if pinned is not None and function in ast.unparse(pinned[0]):
            out.append(ast.unparse(stmt))
    return out


def load(data: Path) -> dict[tuple[str, str], Function]:
    funcs: dict[tuple[str, str], Function] = {}

    def get(module: str, qualname: str, focal: str, context: dict) -> Function:
        key = (module, qualname)
        if key not in funcs:
            funcs[key] = Function(module, qualname, focal, context)
        return funcs[key]

    for name in ("explore-records.jsonl", "explore-records-2.jsonl"):
        for line in (data / name).read_text().splitlines():
            r = json.loads(line)
            if not r.get("kept") or top(r["module"]) in HELD_OUT:
                continue
            f = get(r["module"], r["function"], r["focal_code"], r["context"])
            got = body_of(r["test_code"])
            if got is None:
                continue
            fact = shape.operators(got[1])
            (f.placeholder_facts if placeholder_test(r["test_code"]) else f.facts).append(fact)
            f.imports += [i for i in import_lines(r["test_code"]) if i != r["context"].get("import_line")]
            if clean(polished(test_functions(r["test_code"])[0], r["function"].split(".")[-1])):
                f.answers.append((3, r["test_code"]))
    for line in (data / "distill-records.jsonl").read_text().splitlines():
        r = json.loads(line)
        if r.get("kept") is False or top(r["module"]) in HELD_OUT:
            continue
        f = get(r["module"], r["function"], r["focal_code"], r["context"])
        f.answers.append((1, r["test_code"]))
    for line in (data / "train.jsonl").read_text().splitlines():
        p = Pair(**json.loads(line))
        if p.source not in ("mined", "distilled") or p.package in HELD_OUT or top(p.module) in HELD_OUT:
            continue
        f = get(p.module, p.function, p.focal_code, p.context)
        f.answers.append((1 if p.source == "distilled" else 2, p.test_code))
    return funcs


def answer(f: Function) -> tuple[list[str], list[str]]:
    """(tests, extra import lines) for one function: the best few, each a clean, short test."""
    short = f.qualname.split(".")[-1]
    tests: list[str] = []
    imports: list[str] = []
    seen: set[str] = set()
    for rank, code in sorted(f.answers, key=lambda a: a[0]):
        for t in test_functions(code):
            if rank == 3:
                t = polished(t, short)
            if len(t.splitlines()) > MAX_TEST_LINES or not clean(t):
                continue
            name = shape._function(t).name
            if name in seen:
                continue
            seen.add(name)
            tests.append(t)
            imports += import_lines(code)
            break  # one test from each source module: variety over repeats
        if len(tests) >= PER_FUNCTION:
            break
    return tests, imports


def examples(funcs: dict[tuple[str, str], Function], seed: int, budget: int) -> list[dict]:
    by_file: dict[str, list[Function]] = defaultdict(list)
    for f in funcs.values():
        by_file[f.context.get("rel", f.module)].append(f)
    rng = random.Random(seed)
    out = []
    for rel in sorted(by_file):
        group = sorted(by_file[rel], key=lambda f: f.qualname)
        rng.shuffle(group)
        items = []
        for f in group:
            tests, extra = answer(f)
            if not tests:
                continue
            facts = f.facts + f.placeholder_facts
            if not facts:
                facts = [fl for t in tests for fl in fact_lines(t, f.qualname.split(".")[-1])]
            if not facts:
                continue
            pair = Pair("", "write", top(f.module), f.module, f.qualname, f.focal_code, "", {}, f.context)
            items.append((context_from(pair), keep.capped(facts), tests, list(dict.fromkeys(f.imports + extra))))
        while items:
            take = items[: rng.choice((1, 2, 2, 3))]
            items = items[len(take) :]
            imports = list(dict.fromkeys(i for it in take for i in it[3]))
            prompt, chosen = build_write_prompt([(c, facts) for c, facts, _, _ in take], budget=budget, imports=imports)
            used = [it for it in take if it[0] in chosen]
            items = [it for it in take if it[0] not in chosen] + items
            if not used:
                break
            body = "\n\n\n".join(t for it in used for t in it[2])
            module = "\n".join(["import pytest", "", *imports, "", "", body])
            completion = split_completion(module, prompt.prefill)
            head = OPENING.lstrip("\n")
            prefill = prompt.prefill
            if completion.startswith(head):
                completion = completion[len(head) :]
            else:
                prefill = prefill.removesuffix(OPENING)
            out.append(
                {
                    "messages": [
                        {"role": "system", "content": prompt.system},
                        {"role": "user", "content": prompt.user},
                    ],
                    "prefill": prefill,
                    "completion": completion,
                    "functions": [f"{c.target.module}::{c.target.qualname}" for c, *_ in used],
                }
            )
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(DATA))
    ap.add_argument("--out", default=str(DATA / "write-train.jsonl"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--groupings",
        type=int,
        default=3,
        help="build the examples N times, grouped and ordered by seeds seed..seed+N-1",
    )
    ap.add_argument("--budget", type=int, default=1500, help="prompt tokens, as generation's prompt_tokens")
    args = ap.parse_args(argv)
    funcs = load(Path(args.data))
    rows = [row for k in range(args.groupings) for row in examples(funcs, args.seed + k, args.budget)]
    with open(args.out, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row) + "\n")
    packages = defaultdict(int)
    for row in rows:
        for fn in row["functions"]:
            packages[top(fn.split("::")[0])] += 1
    print(f"{len(rows)} examples, {sum(packages.values())} functions: {dict(sorted(packages.items()))} -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
