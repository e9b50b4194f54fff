"""Training pairs: the dataclass, JSONL in and out, and the chat example the model is trained on.

A :class:`Pair` is one focal function and one self-contained pytest test for it, with enough of the
generation-time context (``context``) to rebuild the very prompt ``testbot generate`` shows the model
for that function. :func:`to_example` does that with the same builders generation uses
(:func:`testbot.prompt.build_prompt` over a :class:`testbot.context.Context`), so the model is trained on
what it will see. The loss covers ``Example.completion`` only: the test after the pre-filled prefix.
"""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from testbot.context import Context, Related
from testbot.prompt import OPENING, build_prompt, estimate_tokens
from testbot.targets import Target

SOURCES = ("mined", "distilled", "augmented", "explored")
END = "\n```"  # what closes the answer: the first stop sequence of testbot.generate.STOP
MAX_EXAMPLE_CHARS = 2000  # example tests kept per pair (the prompt builder shortens them further to fit)


@dataclass(frozen=True)
class Pair:
    id: str  # stable hash of (package, module, function, test_name, source)
    source: str  # "mined" | "distilled" | "augmented" | "explored"
    package: str  # distribution name, e.g. "toolz": the split key
    module: str  # dotted module of the focal function, e.g. "toolz.itertoolz"
    function: str  # qualname of the focal function
    focal_code: str  # source of the focal function
    test_code: str  # one self-contained pytest test (imports included at the top)
    provenance: dict  # sdist, sha256, test_file, test_name, context_score, ...
    context: dict = field(default_factory=dict)  # the generation-time Context, see context_fields()


@dataclass(frozen=True)
class Example:
    messages: list[dict]  # [{"role": "system", ...}, {"role": "user", ...}] as generation sends them
    prefill: str  # the start of the assistant's answer that generation pre-fills (not trained on)
    completion: str  # the rest of the answer: the test code and the closing fence (trained on)


# Marks of a search test (testbot.explore, no model) that called its function with stand-in values rather than ones
# the function is meant for: the search's placeholder string, an escaped newline, `== None` of a call made for its
# side effect, or a TypeError/AttributeError the code raised on a wrong type. In r16's file 295 of 508 explored
# pairs had one; a student trained on them wrote `f('hello world') == None` for held-out functions (r18).
PLACEHOLDER_MARKS = re.compile(r"hello world|==\s*None\b|\\n|pytest\.raises\((?:TypeError|AttributeError)\b")


def placeholder_test(test_code: str) -> bool:
    """Whether a search-written test bears a mark of stand-in values (PLACEHOLDER_MARKS)."""
    return bool(PLACEHOLDER_MARKS.search(test_code))


def pair_id(package: str, module: str, function: str, test_name: str, source: str) -> str:
    key = "\0".join((package, module, function, test_name, source))
    return hashlib.sha256(key.encode()).hexdigest()[:16]


# -- the context a prompt is built from, stored with each pair


def context_fields(ctx: Context) -> dict:
    """What :func:`context_from` needs to rebuild ``ctx`` without the project's files."""
    t = ctx.target
    return {
        "rel": t.rel,
        "kind": t.kind,
        "is_async": t.is_async,
        "import_line": ctx.import_line,
        "module_imports": ctx.module_imports,
        "class_outline": ctx.class_outline,
        "related": [asdict(r) for r in ctx.related],
        "usages": list(ctx.usages),
        "example_tests": ctx.example_tests,
        "example_path": ctx.example_path,
        "fixtures": list(ctx.fixtures),
    }


def context_from(pair: Pair) -> Context:
    c = pair.context
    top = pair.function.split(".")[0]
    target = Target(
        file=Path(c.get("rel", pair.module.replace(".", "/") + ".py")),
        rel=c.get("rel", pair.module.replace(".", "/") + ".py"),
        module=pair.module,
        import_root=Path("."),
        qualname=pair.function,
        kind=c.get("kind", "method" if "." in pair.function else "function"),
        is_async=bool(c.get("is_async", False)),
        start=0,
        def_line=0,
        end=0,
        lines=frozenset(),
        source=pair.focal_code,
    )
    return Context(
        target=target,
        import_line=c.get("import_line") or f"from {pair.module} import {top}",
        module_imports=c.get("module_imports", ""),
        class_outline=c.get("class_outline", ""),
        related=tuple(Related(**r) for r in c.get("related", ())),
        usages=tuple(c.get("usages", ())),
        example_tests=c.get("example_tests", ""),
        example_path=c.get("example_path", ""),
        fixtures=tuple(c.get("fixtures", ())),
    )


# -- formatting


def split_completion(test_code: str, prefill: str) -> str:
    """The part of ``test_code`` the model writes after ``prefill``: the prefill's own lines (the
    opening fence, ``import pytest``, the import line of the code under test) are taken out of the test's
    leading import block (a repeat of them too), the rest is kept as it is."""
    wanted = [line for line in prefill.splitlines() if line.strip() and not line.startswith("```")]
    lines = test_code.strip("\n").splitlines()
    head = 0
    while head < len(lines) and (not lines[head].strip() or lines[head].startswith(("import ", "from ", "#"))):
        head += 1
    kept_head = [line for line in lines[:head] if line not in wanted]
    body = "\n".join(kept_head + lines[head:]).strip("\n")
    return body + END


def to_example(pair: Pair, *, budget: int = 1500, count: Callable[[str], int] = estimate_tokens) -> Example:
    """The chat example for ``pair``: the round-0 prompt generation builds for the focal function, the
    prefill it starts the answer with, and the test as the completion. ``budget`` and ``count`` are the
    generation settings (``prompt_tokens``, the backend's token counter): pass the same ones."""
    prompt = build_prompt(context_from(pair), budget=budget, count=count)
    messages = [{"role": "system", "content": prompt.system}, {"role": "user", "content": prompt.user}]
    return Example(messages, *_continued(prompt.prefill, split_completion(pair.test_code, prompt.prefill)))


def _continued(prefill: str, completion: str) -> tuple[str, str]:
    """The prefill and completion of one example. Generation's prefill opens the first test function
    (``OPENING``); a test that starts that way continues it, and one that starts with something else (a
    helper import, a fixture, a test class) is trained after the imports alone."""
    head = OPENING.lstrip("\n")
    if not prefill.endswith(OPENING):
        return prefill, completion
    if completion.startswith(head):
        return prefill, completion[len(head) :]
    return prefill.removesuffix(OPENING), completion


def _head_and_body(test_code: str) -> tuple[list[str], str]:
    """A test module's leading import lines and the rest (helpers and the test itself)."""
    lines = test_code.strip("\n").splitlines()
    head = 0
    while head < len(lines) and (not lines[head].strip() or lines[head].startswith(("import ", "from "))):
        head += 1
    return [line for line in lines[:head] if line.strip()], "\n".join(lines[head:]).strip("\n")


def _checks(stmt: ast.stmt) -> bool:
    """An ``assert`` or a ``with`` block (``pytest.raises`` and the like): where a behaviour's check ends."""
    return isinstance(stmt, (ast.Assert, ast.With))


def _names(nodes: Iterable[ast.AST], ctx: type) -> set[str]:
    """Names used in that context; for ``ast.Load``, also those ``x += ...`` and ``del x`` read."""
    found = {n.id for node in nodes for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ctx)}
    if ctx is ast.Load:
        found |= {
            n.target.id
            for node in nodes
            for n in ast.walk(node)
            if isinstance(n, ast.AugAssign) and isinstance(n.target, ast.Name)
        }
        found |= _names(nodes, ast.Del)
    return found


def _free(stmts: list[ast.stmt]) -> set[str]:
    """Names the statements read before they assign them (an assignment's value is read first)."""
    assigned: set[str] = set()
    free: set[str] = set()
    for stmt in stmts:
        free |= _names([stmt], ast.Load) - assigned
        assigned |= _names([stmt], ast.Store)
    return free


def split_test_functions(test_code: str) -> str:
    """One test function per checked behaviour, where that changes nothing the test does.

    A distilled or mined test often checks several behaviours in one function (``# empty`` ``assert ...``
    ``# two dicts`` ``assert ...``). Its body is cut after each ``assert`` or ``with`` block; a piece that reads a
    local name an earlier piece assigned is joined to that piece. The pieces become ``test_NAME``,
    ``test_NAME_2``, ... in the same order, with their comments, so the file runs the same statements in the
    same order (a module-level side effect of one piece is still seen by the next). Functions with
    parameters (fixtures), decorators, ``global``/``nonlocal``, a class around them, or one piece only are
    left as they are; so is code that does not parse. Returns the (possibly) rewritten module.
    """
    try:
        tree = ast.parse(test_code)
    except SyntaxError:
        return test_code
    lines = test_code.splitlines()
    taken = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    edits = []  # (first line index, last line index, replacement lines), bottom-up later
    for fn in tree.body:
        if (
            not isinstance(fn, ast.FunctionDef)
            or not fn.name.startswith("test")
            or fn.decorator_list
            or fn.args.args
            or fn.args.vararg
            or fn.args.kwarg
            or fn.args.kwonlyargs
            or fn.args.posonlyargs
        ):
            continue
        body = list(fn.body)
        if (
            body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            body = body[1:]  # a docstring stays with the first piece
        if any(isinstance(n, (ast.Global, ast.Nonlocal)) for n in ast.walk(fn)) or fn.body[0].lineno == fn.lineno:
            continue
        pieces: list[list[ast.stmt]] = []
        current: list[ast.stmt] = []
        for stmt in body:
            current.append(stmt)
            if _checks(stmt):
                pieces.append(current)
                current = []
        if current:  # statements after the last check belong to it
            if not pieces:
                continue
            pieces[-1] += current
        merged: list[list[ast.stmt]] = []
        for piece in pieces:
            merged.append(piece)
            # a piece that reads a name an earlier piece assigned joins it (and so on back)
            while len(merged) > 1 and _free(merged[-1]) & _names([s for m in merged[:-1] for s in m], ast.Store):
                last = merged.pop()
                merged[-1] += last
        if len(merged) < 2:
            continue
        out: list[str] = []
        start = fn.lineno - 1  # (decorated tests were left out above)
        header_end = fn.body[0].lineno - 1  # lines of the def (may span lines) before the body
        for k, piece in enumerate(merged):
            first = header_end if k == 0 else piece[0].lineno - 1
            if k:
                while first - 1 > merged[k - 1][-1].end_lineno - 1 and lines[first - 1].strip().startswith("#"):
                    first -= 1  # the comments just above a piece go with it
            if k == 0:
                out += lines[start:header_end]  # the def line(s) as they were
            else:
                name = f"{fn.name}_{k + 1}"
                while name in taken:
                    name += "_"
                taken.add(name)
                out += ["", "", f"def {name}():"]
            out += lines[first : piece[-1].end_lineno]
        edits.append((start, fn.end_lineno - 1, out))
    for start, end, out in reversed(edits):
        lines[start : end + 1] = out
    text = "\n".join(lines) + ("\n" if test_code.endswith("\n") else "")
    try:
        ast.parse(text)
    except SyntaxError:  # never trade a test for broken code
        return test_code
    return text


def shape_for_training(
    pairs: Sequence[Pair], *, max_test_lines: int = 0, tests_per_example: int = 1, split_tests: bool = False
) -> list[Pair]:
    """Make the completions look like what the prompt asks for: short tests, several to an answer.

    Mined tests are whatever a project's suite holds (a median of 16 lines here, some of 100): trained on
    them as they are, a small model learns to write one long test and to repeat asserts, which the prompt's
    rules ("3 to 6 short test functions") forbid. ``max_test_lines`` drops tests longer than that (0: no
    limit), except distilled ones (the default model's answers to the very prompt). ``tests_per_example``
    joins up to that many tests of the same function (same package, module, function and source) into one
    completion: their import lines once, then each test. Pairs keep their order; a joined pair keeps its
    first pair's prompt context and lists the ids it joined. ``split_tests`` cuts each test into one test
    function per checked behaviour first (:func:`split_test_functions`; the line limit is checked before).
    """
    kept = [
        p
        for p in pairs
        if not max_test_lines
        or p.source == "distilled"
        or len(_head_and_body(p.test_code)[1].splitlines()) <= max_test_lines
    ]
    if split_tests:
        kept = [dataclasses.replace(p, test_code=split_test_functions(p.test_code)) for p in kept]
    if tests_per_example <= 1:
        return kept
    groups: dict[tuple[str, str, str, str], list[list[Pair]]] = {}
    order: list[list[Pair]] = []
    for p in kept:
        chunks = groups.setdefault((p.package, p.module, p.function, p.source), [])
        if not chunks or len(chunks[-1]) >= tests_per_example:
            chunks.append([])
            order.append(chunks[-1])
        chunks[-1].append(p)
    out = []
    for chunk in order:
        if len(chunk) == 1:
            out.append(chunk[0])
            continue
        imports: list[str] = []
        bodies = []
        for p in chunk:
            head, body = _head_and_body(p.test_code)
            imports += [line for line in head if line not in imports]
            bodies.append(body)
        first = chunk[0]
        joined = "\n".join(imports) + "\n\n\n" + "\n\n\n".join(bodies) + "\n"
        out.append(
            Pair(
                pair_id(first.package, first.module, first.function, "+".join(p.id for p in chunk), first.source),
                first.source,
                first.package,
                first.module,
                first.function,
                first.focal_code,
                joined,
                {**first.provenance, "joined": [p.id for p in chunk]},
                first.context,
            )
        )
    return out


# -- JSONL


def write_pairs(path: str | Path, pairs: Iterable[Pair]) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        for p in pairs:
            f.write(json.dumps(asdict(p), ensure_ascii=False, sort_keys=True) + "\n")


def read_pairs(path: str | Path) -> list[Pair]:
    pairs = []
    with Path(path).open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
                pairs.append(Pair(**data))
            except (ValueError, TypeError) as exc:
                raise ValueError(f"{path}:{n}: not a pair ({exc})") from None
    return pairs


def dedupe(pairs: Iterable[Pair]) -> list[Pair]:
    seen: set[str] = set()
    out = []
    for p in pairs:
        if p.id not in seen:
            seen.add(p.id)
            out.append(p)
    return out


# -- distillation records (``testbot generate --record FILE``)


def record_for(target: Target, ctx: Context, prompt, test_code: str, model: str) -> dict:
    """One JSONL record for a kept test: the target, the exact prompt and prefill, the kept test."""
    return {
        "target": target.id,
        "module": target.module,
        "function": target.qualname,
        "focal_code": target.source,
        "messages": [{"role": "system", "content": prompt.system}, {"role": "user", "content": prompt.user}],
        "prefill": prompt.prefill,
        "round": prompt.round,
        "test_code": test_code,
        "model": model,
        "context": context_fields(ctx),
    }


def _merged_imports(test_code: str) -> str:
    """The leading import block with each ``import`` once and one ``from M import ...`` line per module (names
    in the order first seen, unused ones left out): the search's tests import a name once for the call and again
    with the module's other classes for its values."""
    head, body = _head_and_body(test_code)
    plain: list[str] = []
    froms: dict[str, list[str]] = {}
    for line in head:
        m = re.fullmatch(r"from (\S+) import ([\w, ]+)", line.strip())
        if m is None:
            if line not in plain:
                plain.append(line)
            continue
        names = froms.setdefault(m.group(1), [])
        names += [n for n in (x.strip() for x in m.group(2).split(",")) if n and n not in names]
    used = set(re.findall(r"\w+", body))
    plain = [line for line in plain if not re.fullmatch(r"import (\w+)", line.strip()) or line.split()[1] in used]
    lines = plain + [
        f"from {mod} import {', '.join(kept)}"
        for mod, names in froms.items()
        if (kept := [n for n in names if n.split(" as ")[-1] in used])
    ]
    return "\n".join(lines) + "\n\n\n" + body + "\n"


def pairs_from_records(path: str | Path, package: str = "") -> list[Pair]:
    """Pairs from a ``--record`` file: "distilled" (a model's tests) or "explored" (the tests of ``--explore``'s
    calls, named like a person would: ``test_f_2``, not ``test_f_explored_2``). The package is the top of the
    module's dotted name unless given."""
    pairs = []
    with Path(path).open(encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            r = json.loads(line)
            pkg = package or r["module"].split(".")[0]
            test_name, code = r.get("test_name", ""), r["test_code"]
            source = "explored" if r.get("model", "").startswith("explore") else "distilled"
            if source == "explored":
                test_name = re.sub(r"_explored_(\d+)$", r"_\1", test_name)
                code = _merged_imports(re.sub(r"(def test_\w*?)_explored_(\d+)\(", r"\1_\2(", code))
            prov = {
                "record": Path(path).name,
                "target": r["target"],
                "test_name": test_name,
                "model": r.get("model", ""),
                "round": r.get("round", 0),
                "messages": r["messages"],
                "prefill": r["prefill"],
                "kept": r.get("kept", True),
            }
            pairs.append(
                Pair(
                    pair_id(pkg, r["module"], r["function"], test_name + code, source),
                    source,
                    pkg,
                    r["module"],
                    r["function"],
                    r["focal_code"],
                    code,
                    prov,
                    r.get("context", {}),
                )
            )
    return pairs
