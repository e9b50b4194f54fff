"""What a reviewer rejects in a test, found by reading it: the shapes ``../STYLE`` names, as codes.

A kept test should read as if a careful maintainer wrote it. These checks find the shapes that make a reviewer
send one back, without running anything:

- ``numbered-name``: a name that numbers instead of saying the behaviour (``test_emit_explored_12``,
  ``test_1_loads_empty_string``);
- ``dunder-call``: a special method called by name (``v.__eq__(w)``, ``d.__getitem__(4)``) where an operator
  or a built-in says it (``v == w``, ``d[4]``);
- ``type-name-only``: every check of the test is about a type (``type(x).__qualname__ == "Version"``,
  ``isinstance(x, Version)``), none about the value;
- ``placeholder-input``: an input no user would pass (``"hello world.0"`` as a version, ``"xxxxxxxxxxxx"``);
- ``varying-value``: a check on what changes between interpreters or runs (``hash(x)``, ``id(x)``);
- ``copied-doctest``: a check that repeats an example the project's docstrings already run as doctests.

``problems`` gives the codes for one test; ``count`` tallies them over many (the benchmarks report it).
"""

from __future__ import annotations

import ast
import doctest
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from textwrap import dedent

NUMBERED_NAME = "numbered-name"
DUNDER_CALL = "dunder-call"
TYPE_NAME_ONLY = "type-name-only"
PLACEHOLDER = "placeholder-input"
VARYING = "varying-value"
COPIED_DOCTEST = "copied-doctest"
CODES = (NUMBERED_NAME, DUNDER_CALL, TYPE_NAME_ONLY, PLACEHOLDER, VARYING, COPIED_DOCTEST)

_NUMBERED = re.compile(r"^test_\d+(_|$)|_\d+$|_explored(_|$)")
# Filler text passed as an input: the search's stock strings glued to something, a letter repeated, lorem ipsum.
# ("hello world" alone is left alone: for a text function it is what a user would pass.)
_PLACEHOLDER = re.compile(
    r"(?i)(hello[\s,_-]*world.|.hello[\s,_-]*world|hello, world! 123|\s\spadded\s\s|a_b-c\.d/e|([a-z])\2{7,}"
    r"|lorem ipsum)"
)
# Special methods a test has good reason to call by name: construction, and the context manager protocol
# when that is what is tested.
_DUNDER_OK = {"__init__", "__new__", "__enter__", "__exit__", "__aenter__", "__aexit__", "__init_subclass__"}
_VARYING_CALLS = {"hash", "id"}


def _function(source: str) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    try:
        tree = ast.parse(dedent(source))
    except SyntaxError:
        return None
    return next((n for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)), None)


def _is_type_check(node: ast.expr) -> bool:
    """``isinstance(x, T)``, ``type(x) is T``, ``type(x).__name__ == "T"`` and the like."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("isinstance", "issubclass"):
        return True
    if isinstance(node, ast.Compare):
        parts = [node.left, *node.comparators]
        return any(_mentions_type(p) for p in parts)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return _is_type_check(node.operand)
    return False


def _mentions_type(node: ast.expr) -> bool:
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "type":
        return True
    if isinstance(node, ast.Attribute) and node.attr in ("__name__", "__qualname__", "__class__"):
        return True
    return False


def _checks(func: ast.AST) -> list[ast.expr]:
    """The expressions the test asserts on (``assert`` statements and ``self.assert*`` calls)."""
    out: list[ast.expr] = []
    for node in ast.walk(func):
        if isinstance(node, ast.Assert):
            out.append(node.test)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr.startswith("assert")
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "self"
        ):
            if node.func.attr in ("assertIsInstance", "assertNotIsInstance"):
                out.append(ast.Call(ast.Name("isinstance", ast.Load()), list(node.args[:2]), []))
            elif node.args:
                out.append(
                    ast.Compare(node.args[0], [ast.Eq()], list(node.args[1:2])) if len(node.args) > 1 else node.args[0]
                )
    return out


def docstring_examples(tree: ast.AST) -> Iterator[list[doctest.Example]]:
    """The ``>>>`` examples of each docstring in a parsed module (the module's, its classes', its functions')."""
    parser = doctest.DocTestParser()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        doc = ast.get_docstring(node, clean=True)
        if not doc or ">>>" not in doc:
            continue
        try:
            yield parser.get_examples(doc)
        except ValueError:
            continue


def doctest_examples(module_source: str) -> frozenset[tuple[str, str]]:
    """(call, expected) of every docstring example of a module, both normalised as code."""
    try:
        tree = ast.parse(module_source)
    except SyntaxError:
        return frozenset()
    found: set[tuple[str, str]] = set()
    for examples in docstring_examples(tree):
        for ex in examples:
            call, want = _normal(ex.source), _normal(ex.want)
            if call and want:
                found.add((call, want))
    return frozenset(found)


def _normal(code: str) -> str:
    try:
        return ast.unparse(ast.parse(code.strip(), mode="eval"))
    except SyntaxError:
        return ""


def problems(test_source: str, doctests: frozenset[tuple[str, str]] = frozenset()) -> list[str]:
    """The shape codes one test (a function's source) has, in the order of :data:`CODES`; [] for a clean one."""
    func = _function(test_source)
    if func is None:
        return []
    found: set[str] = set()
    if _NUMBERED.search(func.name):
        found.add(NUMBERED_NAME)
    for node in ast.walk(func):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            name = node.func.attr
            if name.startswith("__") and name.endswith("__") and name not in _DUNDER_OK:
                if not (isinstance(node.func.value, ast.Call) and ast.unparse(node.func.value.func) == "super"):
                    found.add(DUNDER_CALL)
        if isinstance(node, ast.Call) and any(
            isinstance(c, ast.Constant) and isinstance(c.value, str) and _PLACEHOLDER.search(c.value)
            for arg in [*node.args, *(k.value for k in node.keywords)]
            for c in ast.walk(arg)
        ):
            found.add(PLACEHOLDER)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _VARYING_CALLS:
            found.add(VARYING)
    checks = _checks(func)
    if checks and all(_is_type_check(c) for c in checks):
        found.add(TYPE_NAME_ONLY)
    if doctests:
        for c in checks:
            if isinstance(c, ast.Compare) and len(c.ops) == 1 and isinstance(c.ops[0], ast.Eq):
                pair = (ast.unparse(c.left), ast.unparse(c.comparators[0]))
                if pair in doctests or pair[::-1] in doctests:
                    found.add(COPIED_DOCTEST)
    return [c for c in CODES if c in found]


def count(sources: Iterable[str], doctests: frozenset[tuple[str, str]] = frozenset()) -> dict[str, int]:
    """How many of ``sources`` have each shape (every code present, zeros included), and how many are clean."""
    tally: Counter[str] = Counter()
    clean = 0
    for source in sources:
        found = problems(source, doctests)
        tally.update(found)
        clean += not found
    return {**{c: tally[c] for c in CODES}, "clean": clean}


def tests_in(file_source: str, names: Iterable[str]) -> list[str]:
    """The sources of the tests ``names`` (``test_x`` or ``Class::test_x``) in a test file."""
    try:
        tree = ast.parse(file_source)
    except SyntaxError:
        return []
    out = []
    for name in names:
        cls, _, method = name.rpartition("::")
        body = tree.body
        if cls:
            holder = next((n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == cls), None)
            body = holder.body if holder else []
        node = next(
            (n for n in body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name == method), None
        )
        if node is not None:
            segment = ast.get_source_segment(file_source, node)
            if segment:
                out.append(segment)
    return out
