"""Pull test code out of a completion and split it into single-test candidates.

Each candidate is a standalone test module: the imports, fixtures and helpers that one test
needs, and that test. One broken test then cannot sink its siblings.
"""

from __future__ import annotations

import ast
import builtins
import re
import sys
from dataclasses import dataclass

# pytest's own fixtures: a completion that redefines one (say ``tmp_path`` returning Path("tmp")) would
# make its tests write into the user's folders, so such definitions are dropped and the real one is used.
PYTEST_FIXTURES = frozenset(
    {
        "tmp_path",
        "tmpdir",
        "tmp_path_factory",
        "tmpdir_factory",
        "monkeypatch",
        "capsys",
        "capsysbinary",
        "capfd",
        "capfdbinary",
        "caplog",
        "request",
        "recwarn",
        "pytestconfig",
        "cache",
        "record_property",
        "record_testsuite_property",
        "record_xml_attribute",
        "doctest_namespace",
        "testdir",
        "pytester",
    }
)

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[ \t]*\n(.*?)(?:\n[ \t]*```|\Z)", re.DOTALL)


@dataclass(frozen=True)
class Candidate:
    target_id: str
    name: str  # "test_x", or "TestX::test_y" for a method of a test class
    code: str  # a complete test module holding just this test
    test_source: str  # the test itself (for a class method: the method, unindented from the class)
    class_name: str  # the test class it belongs to, "" for a plain function
    class_prelude: str  # the class's non-test members (setup, fixtures), "" if none
    imports: tuple[str, ...]  # import statements it needs
    helpers: tuple[str, ...]  # fixtures, helper functions, constants it needs, in file order
    round: int
    sample: int  # which completion it came from (0 = best ranked)
    mean_logprob: float
    observed: bool = False  # expected values taken from the code's behaviour (testbot.oracle), not the model


@dataclass(frozen=True)
class Extraction:
    candidates: tuple[Candidate, ...]
    error: str  # why nothing could be parsed, "" if parsing worked


# A test's name broken by a space after the prefill's `def test_` (`def test_ Duration__add__():`, a token with a
# leading space): the name is joined again.
_SPLIT_NAME = re.compile(r"^([ \t]*(?:async[ \t]+)?def[ \t]+test_)[ \t]+(?=[A-Za-z_])", re.MULTILINE)


def code_from_completion(text: str) -> str:
    """The Python code in a completion: the fenced block(s) if any, else the raw text."""
    blocks = [body for lang, body in _FENCE.findall(text) if lang.lower() in ("", "python", "py", "python3")]
    code = "\n\n".join(blocks) if blocks else text.replace("```", "")
    return _SPLIT_NAME.sub(r"\1", code)


def _parse_longest_prefix(code: str) -> tuple[ast.Module | None, str, str]:
    """Parse ``code``; if generation stopped mid-statement, drop lines from the end until it parses."""
    try:
        return ast.parse(code), code, ""
    except SyntaxError as exc:
        first_error = f"line {exc.lineno}: {exc.msg}"
    lines = code.splitlines()
    for end in range(len(lines) - 1, 0, -1):
        prefix = "\n".join(lines[:end])
        try:
            tree = ast.parse(prefix)
        except SyntaxError:
            continue
        # A cut inside the last test (an answer stopped by its token limit) keeps that test's finished statements
        # if they already check something; one cut before its first check is dropped.
        last = tree.body[-1] if tree.body else None
        inside = lines[end].startswith((" ", "\t")) and lines[end - 1].strip() != ""
        if inside and isinstance(last, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and not _checks(last):
            continue
        return tree, prefix, ""
    return None, code, first_error


def _checks(node: ast.AST) -> bool:
    """Whether a (possibly cut) test asserts anything: an assert, or a ``with pytest.raises(...)``."""
    return any(isinstance(n, ast.Assert) or expects_raise(n) for n in ast.walk(node))


def expects_raise(node: ast.AST) -> bool:
    """Whether ``node`` is a ``with pytest.raises(...)`` block (or another ``with`` that expects an exception)."""
    return isinstance(node, ast.With | ast.AsyncWith) and any(
        "raises" in ast.unparse(i.context_expr) for i in node.items
    )


def _bound_names(node: ast.stmt) -> set[str]:
    if isinstance(node, ast.Import):
        return {(a.asname or a.name).split(".")[0] for a in node.names}
    if isinstance(node, ast.ImportFrom):
        return {a.asname or a.name for a in node.names}
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return {node.name}
    if isinstance(node, ast.Assign):
        return {n.id for t in node.targets for n in ast.walk(t) if isinstance(n, ast.Name)}
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return {node.target.id}
    return set()


def _used_names(node: ast.AST) -> set[str]:
    used = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
    for sub in ast.walk(node):  # fixtures are requested by parameter name
        if isinstance(sub, ast.FunctionDef | ast.AsyncFunctionDef):
            used |= {a.arg for a in sub.args.args + sub.args.kwonlyargs}
        if isinstance(sub, ast.Attribute) and isinstance(sub.value, ast.Name):
            used.add(sub.value.id)
    return used


def _is_test_function(node: ast.stmt) -> bool:
    return isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test")


def _is_test_class(node: ast.stmt) -> bool:
    return isinstance(node, ast.ClassDef) and node.name.startswith("Test")


def _segment(code_lines: list[str], node: ast.stmt) -> str:
    start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
    return "\n".join(code_lines[start - 1 : node.end_lineno])


def dedent(text: str) -> str:
    """Remove the indentation all non-blank lines share (a method lifted out of its class)."""
    lines = text.splitlines()
    indents = [len(line) - len(line.lstrip()) for line in lines if line.strip()]
    cut = min(indents) if indents else 0
    return "\n".join(line[cut:] for line in lines)


# Names small models use without importing them, and where they come from.
KNOWN_IMPORTS = {
    "mock": "from unittest import mock",
    "Mock": "from unittest.mock import Mock",
    "MagicMock": "from unittest.mock import MagicMock",
    "patch": "from unittest.mock import patch",
    "call": "from unittest.mock import call",
    "ANY": "from unittest.mock import ANY",
    "Path": "from pathlib import Path",
    "datetime": "import datetime",
    "date": "from datetime import date",
    "timedelta": "from datetime import timedelta",
    "Decimal": "from decimal import Decimal",
    "Fraction": "from fractions import Fraction",
    "namedtuple": "from collections import namedtuple",
    "OrderedDict": "from collections import OrderedDict",
    "defaultdict": "from collections import defaultdict",
    "dataclass": "from dataclasses import dataclass",
    "pytest": "import pytest",
}


def free_names(code: str) -> set[str]:
    """Names a module reads but never binds (flow-insensitive), builtins excluded."""
    tree = ast.parse(code)
    bound: set[str] = set(dir(builtins))
    loaded: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (loaded if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.alias):
            bound.add((node.asname or node.name).split(".")[0])
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
        elif isinstance(node, ast.Global | ast.Nonlocal):
            bound.update(node.names)
    return loaded - bound


def top_level_names(source: str) -> frozenset[str]:
    """Names a module binds at its top level (and so can be imported from it)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return frozenset()
    names: set[str] = set()
    for node in tree.body:
        names |= _bound_names(node)
    return frozenset(n for n in names if n != "*")


def missing_imports(code: str, module: str, module_names: set[str]) -> list[str]:
    """Import lines for names the code uses but never imported: names of the module under test
    (``from module import Name``), the standard library's modules, and a few common classes."""
    lines = []
    for name in sorted(free_names(code)):
        if name in module_names:
            lines.append(f"from {module} import {name}")
        elif name in KNOWN_IMPORTS:
            lines.append(KNOWN_IMPORTS[name])
        elif name in sys.stdlib_module_names and not name.startswith("_"):
            lines.append(f"import {name}")
    return lines


def split_tests(
    text: str,
    *,
    target_id: str,
    protected: set[str],
    round: int = 0,
    sample: int = 0,
    mean_logprob: float = 0.0,
    module: str = "",
    module_names: frozenset[str] | set[str] = frozenset(),
) -> Extraction:
    """Split a completion into candidates. ``protected`` are names of the code under test: a completion
    that redefines them (pastes a copy of the function) has those definitions removed, so the tests
    run against the real code that they import. Names a test uses without importing them are imported
    from ``module`` when it defines them (``module_names``), or from the standard library."""
    code = code_from_completion(text)
    tree, code, error = _parse_longest_prefix(code)
    if tree is None:
        return Extraction((), f"syntax error: {error}")
    lines = code.splitlines()
    imports: list[tuple[set[str], str]] = []
    helpers: list[tuple[set[str], ast.stmt, str]] = []
    tests: list[ast.stmt] = []
    for node in tree.body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            imports.append((_bound_names(node), _segment(lines, node)))
        elif _is_test_function(node) or _is_test_class(node):
            tests.append(node)
        elif isinstance(node, ast.If) and "__name__" in ast.unparse(node.test):
            continue  # a script entry point, never part of a test module
        elif _bound_names(node) & protected:
            continue  # a pasted copy of the code under test: the tests must use the real one
        elif _bound_names(node) & PYTEST_FIXTURES:
            continue  # a home-made tmp_path, monkeypatch, ...: pytest's real fixture is safer
        elif isinstance(node, ast.Expr):
            continue  # stray strings and calls at module level
        else:
            helpers.append((_bound_names(node), node, _segment(lines, node)))

    def closure(used: set[str]) -> tuple[list[str], list[str]]:
        needed = set(used)
        changed = True
        while changed:  # helpers that use other helpers
            changed = False
            for bound, node, _ in helpers:
                if bound & needed:
                    extra = _used_names(node) - needed
                    if extra:
                        needed |= extra
                        changed = True
        chosen_helpers = [src for bound, _, src in helpers if bound & needed]
        chosen_imports = [src for bound, src in imports if bound & needed or "*" in bound or bound == {"pytest"}]
        return chosen_imports, chosen_helpers

    units: list[tuple[str, str, str, str, set[str]]] = []  # (name, test source, class name, class prelude, used)
    for node in tests:
        if isinstance(node, ast.ClassDef):
            members = [m for m in node.body if not _is_test_function(m)]
            prelude = "\n".join(dedent(_segment(lines, m)) for m in members if not isinstance(m, ast.Expr))
            for method in (m for m in node.body if _is_test_function(m)):
                used = _used_names(method) | set().union(*[_used_names(m) for m in members] or [set()])
                used |= {n.id for b in node.bases for n in ast.walk(b) if isinstance(n, ast.Name)}
                units.append((f"{node.name}::{method.name}", dedent(_segment(lines, method)), node.name, prelude, used))
        else:
            units.append((node.name, _segment(lines, node), "", "", _used_names(node)))
    candidates = []
    seen_names: dict[str, int] = {}
    for name, source, class_name, prelude, used in units:
        count = seen_names.get(name, 0)
        seen_names[name] = count + 1
        if count:  # the model wrote two tests with one name: the first would be shadowed, keep both
            old = name.rsplit("::", 1)[-1]
            new = f"{old}_{count + 1}"
            source = re.sub(rf"\bdef {re.escape(old)}\b", f"def {new}", source, count=1)
            name = name.replace(old, new) if not class_name else f"{class_name}::{new}"
        chosen_imports, chosen_helpers = closure(used)
        if class_name:
            body = "\n\n".join(p for p in (prelude, source) if p.strip())
            test_block = f"class {class_name}:\n" + "\n".join(
                "    " + line if line.strip() else "" for line in body.splitlines()
            )
        else:
            test_block = source
        body_code = "\n\n\n".join(chosen_helpers + [test_block]) + "\n"
        try:
            extra = missing_imports("\n".join(chosen_imports) + "\n" + body_code, module, set(module_names))
        except SyntaxError:
            extra = []
        chosen_imports = chosen_imports + extra
        module_code = "\n".join(chosen_imports) + "\n\n\n" + body_code
        candidates.append(
            Candidate(
                target_id,
                name,
                module_code.lstrip("\n"),
                source,
                class_name,
                prelude,
                tuple(chosen_imports),
                tuple(chosen_helpers),
                round,
                sample,
                mean_logprob,
            )
        )
    if not candidates:
        return Extraction((), "no test functions in the completion")
    return Extraction(tuple(candidates), "")
