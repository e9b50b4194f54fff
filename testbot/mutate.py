"""Mutants of Python source: small edits of one expression or statement, each a fault a good test notices.

A mutant is one edit of a node that starts on a chosen line: a comparison flipped at its boundary or negated (``<``
to ``<=``, ``==`` to ``!=``, ``in`` to ``not in``), an arithmetic operator swapped (``+`` to ``-``, ``*`` to ``/``),
``and`` to ``or``, a ``not`` dropped, a constant changed (``n`` to ``n + 1``, a string wrapped in ``XX``, ``True`` to
``False``), a returned or assigned value replaced by ``None``, a condition that is not a comparison negated,
``break`` to ``continue``. Docstrings, type annotations and f-string parts are never mutated. The edit replaces the
node's own source segment, so the rest of the file keeps its text and line numbers.

Standard library only, and importable by Python 3.8 (the search and the pytest plugin run it under the project's
interpreter, copied next to them as ``testbot_mutate``; making mutants needs 3.9's ``ast.unparse``).

The pipeline uses them as a signal (:mod:`testbot.mutants`: of two tests that cover the same lines, the one that
notices more of them is the better test); the benchmarks score kept tests with them (``benchmarks/diff_mutation.py``).
"""

from __future__ import annotations

import ast
import contextlib
import types
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

# Each comparison and its negation (``==`` and ``!=``, ``in`` and ``not in``, ``is`` and ``is not``)
NEGATED = {
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
}
# A comparison's mutants: flipped at its boundary, or negated
_COMPARE = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, **NEGATED}
_BINOP = {
    ast.Add: ast.Sub,
    ast.Sub: ast.Add,
    ast.Mult: ast.Div,
    ast.Div: ast.Mult,
    ast.FloorDiv: ast.Div,
    ast.Mod: ast.Mult,
    ast.Pow: ast.Mult,
    ast.BitAnd: ast.BitOr,
    ast.BitOr: ast.BitAnd,
    ast.LShift: ast.RShift,
    ast.RShift: ast.LShift,
}


@dataclass(frozen=True)
class Mutant:
    path: str  # relative to the checkout
    line: int
    description: str
    text: str  # the whole mutated file
    start: int = 0  # the edit: characters start..end of the original file ...
    end: int = 0
    new: str = ""  # ... replaced by this


def offsets(source: str) -> Callable[[int, int], int]:
    """A function from an ast position (line, column) in ``source`` to its index in the string (ast columns count
    UTF-8 bytes)."""
    lines = source.splitlines(keepends=True)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))

    def offset(lineno: int, col: int) -> int:
        return starts[lineno - 1] + len(lines[lineno - 1].encode()[:col].decode(errors="replace"))

    return offset


def _skipped_nodes(tree: ast.AST) -> set[int]:
    """ids of nodes never mutated: docstrings, annotations, f-string parts and everything inside them."""
    skip: set[int] = set()

    def mark(node: ast.AST | None) -> None:
        if node is not None:
            skip.update(id(n) for n in ast.walk(node))

    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if (
                body
                and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)
            ):
                mark(body[0])
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            mark(node.returns)
            for a in [
                *node.args.posonlyargs,
                *node.args.args,
                *node.args.kwonlyargs,
                node.args.vararg,
                node.args.kwarg,
            ]:
                if a is not None:
                    mark(a.annotation)
        elif isinstance(node, ast.AnnAssign):
            mark(node.annotation)
        elif isinstance(node, ast.JoinedStr):
            mark(node)
    return skip


def _variants(node: ast.AST) -> Iterator[tuple[str, str]]:
    """(description, replacement source) for each mutant of ``node``."""
    if isinstance(node, ast.Compare) and len(node.ops) == 1:
        new = _COMPARE.get(type(node.ops[0]))
        if new:
            yield (
                f"{type(node.ops[0]).__name__} -> {new.__name__}",
                "(" + ast.unparse(ast.Compare(node.left, [new()], node.comparators)) + ")",
            )
    elif isinstance(node, ast.BinOp):
        new_op = _BINOP.get(type(node.op))
        if new_op:
            yield (
                f"{type(node.op).__name__} -> {new_op.__name__}",
                "(" + ast.unparse(ast.BinOp(node.left, new_op(), node.right)) + ")",
            )
    elif isinstance(node, ast.BoolOp):
        other = ast.Or() if isinstance(node.op, ast.And) else ast.And()
        yield (
            f"{type(node.op).__name__} -> {type(other).__name__}",
            "(" + ast.unparse(ast.BoolOp(other, node.values)) + ")",
        )
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.Not, ast.USub)):
        yield f"drop {type(node.op).__name__}", "(" + ast.unparse(node.operand) + ")"
    elif isinstance(node, ast.Constant):
        v = node.value
        if isinstance(v, bool):
            yield f"{v} -> {not v}", f"({not v})"
        elif isinstance(v, (int, float)):
            yield f"{v!r} -> {v + 1!r}", f"({v + 1!r})"
        elif isinstance(v, str):
            yield "string changed", repr("XX" + v + "XX")
        elif isinstance(v, bytes):
            yield "bytes changed", repr(b"XX" + v + b"XX")
    elif (
        isinstance(node, ast.Return)
        and node.value is not None
        and not (isinstance(node.value, ast.Constant) and node.value.value is None)
    ):
        yield "return None", "return None"
    elif isinstance(node, ast.Assign) and not (isinstance(node.value, ast.Constant) and node.value.value is None):
        yield "assign None", " = ".join(ast.unparse(t) for t in node.targets) + " = None"
    elif isinstance(node, ast.AugAssign):
        new_op = _BINOP.get(type(node.op))
        if new_op:
            yield (
                f"{type(node.op).__name__}= -> {new_op.__name__}=",
                ast.unparse(ast.AugAssign(node.target, new_op(), node.value)),
            )
    elif isinstance(node, ast.Break):
        yield "break -> continue", "continue"
    elif isinstance(node, ast.Continue):
        yield "continue -> break", "break"


def _conditions(tree: ast.AST) -> set[int]:
    """ids of if/while/ternary/assert conditions that are not comparisons (they get a negated mutant)."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.If, ast.While, ast.IfExp, ast.Assert)):
            if not isinstance(node.test, (ast.Compare, ast.BoolOp, ast.UnaryOp, ast.Constant)):
                out.add(id(node.test))
    return out


def mutants(path: str, source: str, lines: Iterable[int]) -> list[Mutant]:
    """Every mutant of ``source`` on a node starting on one of ``lines`` (1-based), in file order."""
    wanted = set(lines)
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    offset = offsets(source)
    skip = _skipped_nodes(tree)
    negatable = _conditions(tree)
    out: list[Mutant] = []
    for node in ast.walk(tree):
        if (
            id(node) in skip
            or getattr(node, "lineno", None) not in wanted
            or getattr(node, "end_col_offset", None) is None
        ):
            continue
        if isinstance(node, ast.expr) and not isinstance(getattr(node, "ctx", ast.Load()), ast.Load):
            continue
        variants = list(_variants(node))
        if id(node) in negatable:
            variants.append(("negate condition", "(not " + ast.unparse(node) + ")"))
        for description, replacement in variants:
            start = offset(node.lineno, node.col_offset)
            end = offset(node.end_lineno or node.lineno, node.end_col_offset or 0)
            text = source[:start] + replacement + source[end:]
            try:
                ast.parse(text)
            except SyntaxError:
                continue
            out.append(Mutant(path, node.lineno, description, text, start, end, replacement))
    out.sort(key=lambda m: (m.line, m.description))
    return out


def spread(found: list[Mutant], limit: int) -> list[Mutant]:
    """At most ``limit`` of ``found``, each line's first mutant before any line's second, in file order."""
    by_line: dict[int, list[Mutant]] = {}
    for m in found:
        by_line.setdefault(m.line, []).append(m)
    out: list[Mutant] = []
    depth = 0
    while len(out) < limit and any(len(ms) > depth for ms in by_line.values()):
        out += [ms[depth] for _, ms in sorted(by_line.items()) if len(ms) > depth]
        depth += 1
    return sorted(out[:limit], key=lambda m: (m.line, m.description))


# -- putting a mutant in place in a running process (the search and the pytest plugin, in the sandbox)


def live_functions(module: object, qualname: str, first: int) -> list:
    """The plain function objects ``qualname`` names in ``module`` that start on line ``first`` (decorators
    included): through a property's getter, setter and deleter, staticmethod, classmethod and wrapping
    decorators (``__wrapped__``)."""
    obj = module
    for part in qualname.split("."):
        space = getattr(obj, "__dict__", {})
        if part not in space:
            return []
        obj = space[part]
    found: list = []
    todo = [obj]
    while todo and len(found) < 8:
        item = todo.pop()
        if isinstance(item, property):
            todo.extend(f for f in (item.fget, item.fset, item.fdel) if f is not None)
        elif isinstance(item, (staticmethod, classmethod)):
            todo.append(item.__func__)
        elif isinstance(item, types.FunctionType):
            found.append(item)
            if getattr(item, "__wrapped__", None) is not None:
                todo.append(item.__wrapped__)
        elif getattr(item, "__wrapped__", None) is not None:
            todo.append(item.__wrapped__)
        elif isinstance(getattr(item, "__func__", None), types.FunctionType):
            todo.append(item.__func__)
    return [f for f in found if f.__code__.co_firstlineno == first]


def mutated_code(source: str, filename: str, start: int, end: int, new: str, name: str, first: int):
    """The code object of the function ``name`` (starting on line ``first``) in ``source`` with characters
    start..end replaced by ``new``; None where it does not compile or is not found."""
    try:
        compiled = compile(source[:start] + new + source[end:], filename, "exec", dont_inherit=True)
    except (SyntaxError, ValueError):
        return None
    todo = [compiled]
    while todo:
        c = todo.pop()
        if c.co_name == name and c.co_firstlineno == first:
            return c
        todo.extend(k for k in c.co_consts if isinstance(k, types.CodeType))
    return None


@contextlib.contextmanager
def in_place(func, code) -> Iterator[None]:
    """``func`` runs ``code`` inside the block (every reference to it: ``from m import f`` too)."""
    original = func.__code__
    func.__code__ = code
    try:
        yield
    finally:
        func.__code__ = original
