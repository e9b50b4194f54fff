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
- ``copied-doctest``: a check that repeats an example the project's docstrings already run as doctests;
- ``accidental-error``: an expected built-in exception the code never states: no ``raise`` of it by name in the
  code under test and its neighbours, no docstring naming it (``pytest.raises(TypeError)`` for ``slugify(True)``,
  an ``IndexError`` from popping an empty list): it pins what misuse happens to do, not a contract. A class that
  defines a protocol's special method states that protocol's error (``__getattr__``: ``AttributeError``);
- ``mistyped-input``: a literal argument of a kind the parameter's annotation rules out (``strict=3`` for
  ``strict: bool``, a string where ``Iterable[tuple[str, str]]`` goes; :mod:`testbot.inputs`), in a test that
  expects no error.

``problems`` gives the codes for one test; ``count`` tallies them over many (the benchmarks report it).
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import dataclasses
import doctest
import functools
import io
import re
import tokenize
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from textwrap import dedent

from testbot import inputs, mutate

NUMBERED_NAME = "numbered-name"
DUNDER_CALL = "dunder-call"
TYPE_NAME_ONLY = "type-name-only"
PLACEHOLDER = "placeholder-input"
VARYING = "varying-value"
COPIED_DOCTEST = "copied-doctest"
ACCIDENTAL_ERROR = "accidental-error"
MISTYPED = "mistyped-input"
CODES = (
    NUMBERED_NAME,
    DUNDER_CALL,
    TYPE_NAME_ONLY,
    PLACEHOLDER,
    VARYING,
    COPIED_DOCTEST,
    ACCIDENTAL_ERROR,
    MISTYPED,
)

_NUMBERED = re.compile(r"^test_\d+(_|$)|_\d+$|_explored(_|$)")
# Filler text passed as an input: the search's stock strings glued to something, a letter repeated, lorem ipsum.
# ("hello world" alone is left alone: for a text function it is what a user would pass.)
PLACEHOLDER_PATTERN = (
    r"(?i)(hello[\s,_-]*world.|.hello[\s,_-]*world|hello, world! 123|\s\spadded\s\s|a_b-c\.d/e|([a-z])\2{7,}"
    r"|lorem ipsum)"
)
_PLACEHOLDER = re.compile(PLACEHOLDER_PATTERN)
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


@functools.lru_cache(maxsize=16)  # (a run asks for the same few files' pairs at every choice)
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


# An exception's name as a docstring or a comment mentions it (`Raises: ValueError`, ":raises KeyError:").
_ERROR_WORD = re.compile(r"\b([A-Z]\w*(?:Error|Exception|Warning|Exit|Interrupt)|StopIteration)\b")


# The built-in exceptions: what misuse raises on its own (a project's own exception class exists to be raised, so a
# test expecting one is never an accident, wherever the raise is).
_BUILTIN_ERRORS = frozenset(
    n for n, v in vars(builtins).items() if isinstance(v, type) and issubclass(v, BaseException)
)


def _error_name(node: ast.expr | None) -> str | None:
    """The class name a ``raise`` names (``ValueError``, ``errors.ParseError(...)``: ``ParseError``); None when
    it is not a class by name (``raise self._error(x)``, ``raise make_error()``, a variable)."""
    if isinstance(node, ast.Call):
        node = node.func
    name = node.attr if isinstance(node, ast.Attribute) else node.id if isinstance(node, ast.Name) else ""
    return name if name[:1].isupper() else None


def parsed(texts: Iterable[str]) -> Iterator[tuple[str, ast.Module]]:
    """Each source of ``texts`` that parses, with its tree."""
    for text in texts:
        try:
            yield text, ast.parse(text)
        except (SyntaxError, ValueError):
            continue


# The errors a protocol's special methods raise by contract: a class defining one states its error.
_PROTOCOL_ERRORS = {
    "__getattr__": ("AttributeError",),
    "__getattribute__": ("AttributeError",),
    "__delattr__": ("AttributeError",),
    "__getitem__": ("KeyError", "IndexError"),
    "__delitem__": ("KeyError", "IndexError"),
    "__missing__": ("KeyError",),
    "__next__": ("StopIteration",),
    "__anext__": ("StopAsyncIteration",),
}


def _prose(tree: ast.AST, text: str) -> Iterator[str]:
    """The docstrings and comments of a module's source."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            doc = ast.get_docstring(node, clean=False)
            if doc:
                yield doc
    with contextlib.suppress(tokenize.TokenError, SyntaxError):
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if tok.type == tokenize.COMMENT:
                yield tok.string


@functools.lru_cache(maxsize=16)
def stated_errors(texts: tuple[str, ...]) -> frozenset[str] | None:
    """The exception names the code states in ``texts`` (the module under test and its neighbours): raised by
    name (``raise ValueError(...)``), re-raised from an ``except`` that names them, or named in a docstring or
    comment (``Raises: KeyError``). None where some ``raise`` hides what it raises (``raise self._error(x)``, a
    variable not bound by an ``except``): then nothing is known to be accidental. A class that defines a
    protocol's special method states its error (``__getitem__``: ``KeyError``, ``IndexError``)."""
    found: set[str] = set()
    for text, tree in parsed(texts):
        found.update(_ERROR_WORD.findall("\n".join(_prose(tree, text))))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name in _PROTOCOL_ERRORS:
                found.update(_PROTOCOL_ERRORS[node.name])
        caught: set[str] = set()  # names bound by `except ... as name`
        for node in ast.walk(tree):
            if isinstance(node, ast.ExceptHandler):
                kinds = node.type.elts if isinstance(node.type, ast.Tuple) else [node.type] if node.type else []
                names = [n for n in map(_error_name, kinds) if n]
                if node.name:
                    caught.add(node.name)
                if any(
                    isinstance(r, ast.Raise)
                    and (r.exc is None or isinstance(r.exc, ast.Name) and r.exc.id == node.name)
                    for r in ast.walk(node)
                ):
                    found.update(names)  # (`raise` or `raise err` again: what the handler caught)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Raise) or node.exc is None:
                continue
            name = _error_name(node.exc)
            if name:
                found.add(name)
            elif not (isinstance(node.exc, ast.Name) and node.exc.id in caught):
                return None
    return frozenset(found)


_CONSTRUCTION = frozenset({"__init__", "__new__", "__post_init__"})


def _made(cls: ast.ClassDef) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    """A class's methods that run when it is called: ``__init__`` and its kin."""
    return [f for f in cls.body if isinstance(f, ast.FunctionDef | ast.AsyncFunctionDef) and f.name in _CONSTRUCTION]


@functools.lru_cache(maxsize=512)
def reached_errors(text: str, qualname: str, depth: int = 3) -> frozenset[str] | None:
    """The exception names that the function ``qualname`` of the module ``text`` states (:func:`stated_errors`)
    together with the module's functions it names (``helper(x)``, ``self.helper(x)``, a property ``self.size``, a
    class's ``__init__`` for ``Box(3)`` or ``self.__class__(3)``, every method of its class where it calls
    ``super()``: the base may call any of them), to ``depth`` calls deep: what a call of it raises on purpose.
    None when not known (no such function, a raise that hides what it raises)."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return None
    defs: dict[str, list[ast.FunctionDef | ast.AsyncFunctionDef]] = {}
    owner: dict[int, ast.ClassDef] = {}  # a method's class
    start = None
    stack: list[tuple[ast.AST, str]] = [(tree, "")]
    while stack:
        node, prefix = stack.pop()
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef):
                stack.append((child, prefix + child.name + "."))
                defs.setdefault(child.name, []).extend(_made(child))  # (`Box(3)`: its `__init__`)
            elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                defs.setdefault(child.name, []).append(child)
                if isinstance(node, ast.ClassDef):
                    owner[id(child)] = node
                if prefix + child.name == qualname:
                    start = child
    if start is None:
        return None
    lines = text.splitlines()
    seen = {id(start)}
    todo, texts = [start], []
    for _ in range(depth + 1):
        called: list[ast.FunctionDef | ast.AsyncFunctionDef] = []
        for func in todo:
            first = min([func.lineno, *(d.lineno for d in func.decorator_list)])
            texts.append(dedent("\n".join(lines[first - 1 : func.end_lineno])))
            cls = owner.get(id(func))
            for node in ast.walk(func):
                name = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else ""
                near: list[ast.FunctionDef | ast.AsyncFunctionDef] = []
                if cls is not None and name == "super":  # (the base's method may call any this class overrides)
                    near = [f for f in cls.body if isinstance(f, ast.FunctionDef | ast.AsyncFunctionDef)]
                elif cls is not None and name in ("cls", "__class__", "type"):  # (`self.__class__(...)`)
                    near = _made(cls)
                for d in [*defs.get(name, []), *near]:
                    if id(d) not in seen:
                        seen.add(id(d))
                        called.append(d)
        todo = called
    return stated_errors(tuple(texts))


def expected_errors(func: ast.AST) -> list[str]:
    """The exception names a test expects (``pytest.raises(E)``, ``self.assertRaises(E)``, a tuple of them)."""
    out: list[str] = []
    for node in ast.walk(func):
        if not (isinstance(node, ast.Call) and node.args):
            continue
        callee = ast.unparse(node.func)
        if callee.endswith("raises") or callee.startswith("self.assertRaises"):
            first = node.args[0]
            for kind in first.elts if isinstance(first, ast.Tuple) else [first]:
                name = _error_name(kind)
                if name:
                    out.append(name)
    return out


@dataclass(frozen=True)
class ModuleFacts:
    """What the module under test says that a test's shape is judged by."""

    doctests: frozenset[tuple[str, str]] = frozenset()  # its docstring examples (:func:`doctest_examples`)
    errors: frozenset[str] | None = None  # the exceptions the code states (:func:`stated_errors`; None: unknown)
    signatures: inputs.Signatures = ()  # its callables' parameters (:func:`inputs.signatures`)
    text: str = ""  # its source, where it is one module: what each of its functions reaches (:meth:`of`)

    def of(self, target_id: str) -> ModuleFacts:
        """The facts for the tests of one function (``"pkg/m.py::Box.fill"``): the errors stated are those its
        code and the module's code it calls state (:func:`reached_errors`), where that is known; a ``TypeError``
        that another function raises on purpose is an accident in a test of this one."""
        if not self.text or self.errors is None:
            return self
        reached = reached_errors(self.text, target_id.split("::")[-1])
        return self if reached is None else dataclasses.replace(self, errors=reached)


NO_FACTS = ModuleFacts()


def module_facts(text: str, neighbours: tuple[str, ...] = ()) -> ModuleFacts:
    """The facts of a module's source ``text``; ``neighbours``: the sources of the modules beside it (a helper
    there may raise what the module's functions let through)."""
    return ModuleFacts(doctest_examples(text), stated_errors((text, *neighbours)), inputs.signatures(text), text)


def merged(facts: Iterable[ModuleFacts]) -> ModuleFacts:
    """The facts of several modules as one (a change over several files): their examples and callables together,
    the errors any of them states (unknown when one's are)."""
    facts = list(facts)
    errors = [f.errors for f in facts]
    return ModuleFacts(
        frozenset().union(*(f.doctests for f in facts)),
        None if not errors or None in errors else frozenset().union(*errors),  # type: ignore[arg-type]
        inputs.unambiguous(pair for f in facts for pair in f.signatures),
    )


def problems(test_source: str, facts: ModuleFacts = NO_FACTS) -> list[str]:
    """The shape codes one test (a function's source) has, in the order of :data:`CODES`; [] for a clean one.
    ``facts``: what the module under test says (:func:`module_facts`): its docstring examples (a copy of one), the
    exceptions its code states (None: not known, no test's error is accidental), its callables' parameters."""
    func = _function(test_source)
    if func is None:
        return []
    found: set[str] = set()
    errors, doctests = facts.errors, facts.doctests
    expected = expected_errors(func)
    if errors is not None and any(n in _BUILTIN_ERRORS and n not in errors for n in expected):
        found.add(ACCIDENTAL_ERROR)
    if facts.signatures and not expected and inputs.mistyped(func, facts.signatures):
        found.add(MISTYPED)
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


def count(sources: Iterable[str], facts: ModuleFacts = NO_FACTS) -> dict[str, int]:
    """How many of ``sources`` have each shape (every code present, zeros included), and how many are clean."""
    tally: Counter[str] = Counter()
    clean = 0
    for source in sources:
        found = problems(source, facts)
        tally.update(found)
        clean += not found
    return {**{c: tally[c] for c in CODES}, "clean": clean}


def check_count(test_source: str) -> int:
    """How many checks a test makes: its asserts and its expected errors (a parametrized test's once)."""
    func = _function(test_source)
    return 0 if func is None else len(_checks(func)) + len(_raises(func))


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
            # (with its decorators: a parametrized test's inputs are in them)
            start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            lines = file_source.splitlines(keepends=True)[start - 1 : node.end_lineno]
            segment = dedent("".join(lines))
            if segment.strip():
                out.append(segment)
    return out


# -- mending: what a reviewer asks for, done without a model where the shape alone says how

_BINARY = {
    "__add__": ast.Add,
    "__sub__": ast.Sub,
    "__mul__": ast.Mult,
    "__truediv__": ast.Div,
    "__floordiv__": ast.FloorDiv,
    "__mod__": ast.Mod,
    "__pow__": ast.Pow,
    "__and__": ast.BitAnd,
    "__or__": ast.BitOr,
    "__xor__": ast.BitXor,
    "__lshift__": ast.LShift,
    "__rshift__": ast.RShift,
    "__matmul__": ast.MatMult,
}
_COMPARE = {
    "__eq__": ast.Eq,
    "__ne__": ast.NotEq,
    "__lt__": ast.Lt,
    "__le__": ast.LtE,
    "__gt__": ast.Gt,
    "__ge__": ast.GtE,
}
# (``__div__``: Python 2's name, kept by classes as ``__truediv__ = __div__``; a class without that alias fails
# the run as ``a / b`` and the test is not kept)
_BINARY["__div__"] = ast.Div
_REFLECTED = {"__r" + name[2:]: op for name, op in _BINARY.items()}  # `a.__radd__(b)` is `b + a`
_UNARY = {"__neg__": ast.USub, "__pos__": ast.UAdd, "__invert__": ast.Invert}
_BUILTIN = {
    "__len__": "len",
    "__str__": "str",
    "__repr__": "repr",
    "__bool__": "bool",
    "__iter__": "iter",
    "__next__": "next",
    "__abs__": "abs",
    "__int__": "int",
    "__float__": "float",
    "__hash__": "hash",
    "__format__": "format",
    "__reversed__": "reversed",
    "__round__": "round",
    "__bytes__": "bytes",
    "__nonzero__": "bool",
}


# Special methods of the pickling protocol: a test pickles and unpickles the object instead.
_PICKLING = {"__getstate__", "__setstate__", "__reduce__", "__reduce_ex__", "__getnewargs__", "__getnewargs_ex__"}


class _Operators(ast.NodeTransformer):
    def visit_Expr(self, node: ast.Expr) -> ast.AST:
        """``d.__setitem__(k, v)`` and ``d.__delitem__(k)`` as statements: ``d[k] = v``, ``del d[k]``."""
        self.generic_visit(node)
        call = node.value
        if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)) or call.keywords:
            return node
        obj, name, args = call.func.value, call.func.attr, call.args
        if any(isinstance(a, ast.Starred) for a in args):
            return node
        if name == "__setitem__" and len(args) == 2:
            new: ast.stmt = ast.Assign([ast.Subscript(obj, args[0], ast.Store())], args[1])
        elif name == "__delitem__" and len(args) == 1:
            new = ast.Delete([ast.Subscript(obj, args[0], ast.Del())])
        else:
            return node
        return ast.copy_location(new, node)

    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        func = node.func
        if not isinstance(func, ast.Attribute) or node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
            return node
        obj, name, args = func.value, func.attr, node.args
        if isinstance(obj, ast.Call) and isinstance(obj.func, ast.Name) and obj.func.id == "super":
            return node
        new: ast.expr | None = None
        if name in _COMPARE and len(args) == 1:
            new = ast.Compare(obj, [_COMPARE[name]()], [args[0]])
        elif name in _BINARY and len(args) == 1:
            new = ast.BinOp(obj, _BINARY[name](), args[0])
        elif name in _REFLECTED and len(args) == 1:
            new = ast.BinOp(args[0], _REFLECTED[name](), obj)
        elif name in ("__getattr__", "__getattribute__") and len(args) == 1:
            new = ast.Call(ast.Name("getattr", ast.Load()), [obj, args[0]], [])
        elif name in ("__setattr__", "__delattr__") and len(args) == (2 if name == "__setattr__" else 1):
            new = ast.Call(ast.Name(name.strip("_"), ast.Load()), [obj, *args], [])
        elif name in _UNARY and not args:
            new = ast.UnaryOp(_UNARY[name](), obj)
        elif name in _BUILTIN and (not args or (name in ("__format__", "__round__") and len(args) == 1)):
            new = ast.Call(ast.Name(_BUILTIN[name], ast.Load()), [obj, *args], [])
        elif name == "__getitem__" and len(args) == 1:
            new = ast.Subscript(obj, args[0], ast.Load())
        elif name == "__contains__" and len(args) == 1:
            new = ast.Compare(args[0], [ast.In()], [obj])
        elif name == "__call__":
            new = ast.Call(obj, list(args), [])
        elif name in ("__copy__", "__deepcopy__") and len(args) == (0 if name == "__copy__" else 1):
            new = ast.Call(ast.Attribute(ast.Name("copy", ast.Load()), name.strip("_"), ast.Load()), [obj, *args], [])
        elif name in _PICKLING and len(args) <= 1:
            # (what pickling calls them for: a round trip, which runs both halves of the protocol)
            dumps = ast.Call(ast.Attribute(ast.Name("pickle", ast.Load()), "dumps", ast.Load()), [obj], [])
            new = ast.Call(ast.Attribute(ast.Name("pickle", ast.Load()), "loads", ast.Load()), [dumps], [])
        return ast.copy_location(new, node) if new is not None else node


def operators(code: str) -> str:
    """``code`` (an expression or statements) with special methods called the way Python calls them:
    ``v.__eq__(w)`` -> ``v == w``, ``d.__getitem__(4)`` -> ``d[4]``, ``x.__len__()`` -> ``len(x)``,
    ``x.__copy__()`` -> ``copy.copy(x)``, ``x.__getstate__()`` -> ``pickle.loads(pickle.dumps(x))`` (the
    modules they need: :func:`operator_imports`). Unchanged when nothing is called so (or it does not parse)."""
    if "__" not in code:
        return code
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return code
    before = ast.dump(tree)
    tree = ast.fix_missing_locations(_Operators().visit(tree))
    return code if ast.dump(tree) == before else ast.unparse(tree)


def _is_constant(node: ast.expr, value: object) -> bool:
    return isinstance(node, ast.Constant) and node.value is value


def _plain_check(test: ast.expr, none: bool) -> ast.expr | None:
    """``X == True`` -> ``X``, ``X == False`` -> ``not X``, ``X == None`` -> ``X is None`` (and ``!=``); None
    when the check is not one of those."""
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq | ast.NotEq)):
        return None
    left, right, equal = test.left, test.comparators[0], isinstance(test.ops[0], ast.Eq)
    if isinstance(left, ast.Constant) and not isinstance(right, ast.Constant):
        left, right = right, left
    if isinstance(left, ast.Constant):
        return None
    if _is_constant(right, None):
        if not none:
            return None
        return ast.Compare(left, [ast.Is() if equal else ast.IsNot()], [right])
    if _is_constant(right, True) or _is_constant(right, False):
        truth = _is_constant(right, True) == equal
        return left if truth else ast.UnaryOp(ast.Not(), left)
    return None


def plain_checks(test_source: str, none: bool = True) -> str:
    """A test's ``assert X == True`` written ``assert X``, ``== False`` as ``assert not X``, ``== None`` as ``is
    None``: the checks a reviewer writes (ruff's E711/E712). Only the asserted expressions change; the rest of
    the source keeps its text. ``none=False`` leaves ``== None`` (a test of ``__eq__`` itself)."""
    if "True" not in test_source and "False" not in test_source and "None" not in test_source:
        return test_source
    try:
        tree = ast.parse(test_source)
    except SyntaxError:
        return test_source
    offset = mutate.offsets(test_source)
    edits = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Assert) and node.test.end_lineno is not None:
            new = _plain_check(node.test, none)
            if new is not None:
                start = offset(node.test.lineno, node.test.col_offset)
                end = offset(node.test.end_lineno, node.test.end_col_offset or 0)
                edits.append((start, end, ast.unparse(new)))
    out = test_source
    for start, end, text in sorted(edits, reverse=True):
        out = out[:start] + text + out[end:]
    try:
        ast.parse(out)
    except SyntaxError:
        return test_source
    return out


def operator_imports(before: str, after: str) -> list[str]:
    """The import lines that :func:`operators` made ``after`` need (``import pickle``), where ``before`` had no
    use of those modules."""
    out = []
    for module in ("copy", "pickle"):
        if re.search(rf"\b{module}\.\w+\(", after) and not re.search(rf"\b{module}\b", before):
            out.append(f"import {module}")
    return out


_SYMBOLS = {
    "-": "dash",
    ".": "dot",
    "/": "slash",
    "\\": "backslash",
    "*": "star",
    "_": "underscore",
    ",": "comma",
    ":": "colon",
    ";": "semicolon",
    "#": "hash",
    "@": "at",
    "!": "bang",
    "?": "question",
    "+": "plus",
    "=": "equals",
    "%": "percent",
    "&": "ampersand",
    "|": "pipe",
    "^": "caret",
    "~": "tilde",
    "$": "dollar",
    "(": "paren",
    ")": "paren",
    "[": "bracket",
    "]": "bracket",
    "{": "brace",
    "}": "brace",
    "<": "lt",
    ">": "gt",
    "'": "quote",
    '"': "quote",
    " ": "space",
    "\n": "newline",
    "\t": "tab",
}
_SMALL = ("zero one two three four five six seven eight nine ten eleven twelve").split()
_WORD = re.compile(r"[A-Za-z0-9]+")
NAME_WORDS = 6  # words a value contributes to a name, at most
NAME_CHARS = 72  # a generated name's length, at most (then cut at a word)


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def _number_words(n: int | float) -> list[str]:
    if isinstance(n, bool):
        return ["true" if n else "false"]
    sign = ["minus"] if n < 0 else []
    n = abs(n)
    if isinstance(n, int) and n < len(_SMALL):
        return sign + [_SMALL[n]]
    return sign + [str(n).replace(".", "_").replace("e", "e_").replace("+", "")]


def _symbol_words(text: str) -> list[str]:
    """Words for a string of symbols: its first three kinds of character, a run of one kind in the plural
    (``'--'``: dashes, ``'#!'``: hash bang, ``'«»'``: symbols)."""
    words: list[str] = []
    for ch in text:
        word = _SYMBOLS.get(ch, "symbol")
        plural = word if word == "equals" else word + "es" if word.endswith(("s", "sh", "ch", "x")) else word + "s"
        if words and words[-1] in (word, plural):
            words[-1] = plural
        elif len(words) < 3:
            words.append(word)
        else:
            break
    return words


def _value_words(node: ast.expr) -> list[str]:
    """Words that say what a value in a test is: ``'--'`` -> dashes, ``[]`` -> empty list, ``3`` -> three."""
    if (
        isinstance(node, ast.UnaryOp)
        and isinstance(node.op, ast.USub)
        and isinstance(node.operand, ast.Constant)
        and isinstance(node.operand.value, int | float)
        and not isinstance(node.operand.value, bool)
    ):
        return _number_words(-node.operand.value)
    if isinstance(node, ast.Constant):
        v = node.value
        if v is None:
            return ["none"]
        if isinstance(v, bool | int | float):
            return _number_words(v)
        if isinstance(v, str | bytes):
            text = v.decode("latin-1") if isinstance(v, bytes) else v
            if not text:
                return ["empty", "bytes" if isinstance(v, bytes) else "string"]
            words = [w.lower() for w in _WORD.findall(text)]
            if not words:
                words = _symbol_words(text.strip() or text)
            return words[:NAME_WORDS]
        return []
    if isinstance(node, ast.List | ast.Tuple | ast.Set):
        kind = {ast.List: "list", ast.Tuple: "tuple", ast.Set: "set"}[type(node)]
        if not node.elts:
            return ["empty", kind]
        return [w for e in node.elts[:2] for w in _value_words(e)][:NAME_WORDS] or [kind]
    if isinstance(node, ast.Dict):
        return ["empty", "dict"] if not node.keys else ["dict"]
    if isinstance(node, ast.Name):
        return [_snake(node.id)]
    if isinstance(node, ast.Attribute):
        return [_snake(node.attr)]
    if isinstance(node, ast.Call):
        callee = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        inner = [w for a in node.args[:1] for w in _value_words(a)]
        return ([_snake(callee)] if callee else []) + inner[:3]
    return []


def _target_call(tree: ast.AST, name: str) -> ast.Call | ast.Attribute | None:
    """The test's call of the function ``name`` (or its read of the property ``name``), outermost first."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            if (isinstance(f, ast.Name) and f.id == name) or (isinstance(f, ast.Attribute) and f.attr == name):
                return node
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr == name:
            return node
    return None


def _outcome_words(func: ast.AST) -> list[str]:
    """What the test's first check says happens: raises the error, returns the value, is true or false."""
    for call in _raises(func):
        if call.args:
            return ["raises", *_value_words(call.args[0])]
    called = any(isinstance(s, ast.Expr) and isinstance(s.value, ast.Call) for s in getattr(func, "body", []))
    for check in _checks(func):
        if isinstance(check, ast.Compare) and len(check.ops) == 1:
            op, right = check.ops[0], check.comparators[0]
            if (
                called
                and isinstance(op, ast.Is | ast.Eq)
                and isinstance(check.left, ast.Attribute)
                and isinstance(check.left.value, ast.Name)
            ):  # (`tally.add(3)`, then `tally.total == 3`)
                return ["sets", _snake(check.left.attr), "to", *(_value_words(right) or ["expected", "value"])]
            if isinstance(op, ast.Is | ast.Eq) and isinstance(right, ast.Constant) and right.value is None:
                return ["returns", "none"]
            if isinstance(op, ast.Eq):
                if isinstance(right, ast.Constant) and isinstance(right.value, bool):
                    return ["is", "true" if right.value else "false"]
                words = _value_words(right)
                return ["returns", *words] if words else ["returns", "expected", "value"]
            if isinstance(op, ast.IsNot | ast.NotEq):
                return ["is", "not", *_value_words(right)]
            if isinstance(op, ast.In | ast.NotIn):  # (`'x' not in cart.items`: has no x)
                return ["has", *(["no"] if isinstance(op, ast.NotIn) else []), *_value_words(check.left)]
        if isinstance(check, ast.UnaryOp) and isinstance(check.op, ast.Not):
            return ["is", "false"]
        return ["is", "true"]
    return []


def input_words(test_source: str, limit: int = 4, keywords: bool = False) -> list[str]:
    """Words for the values a test passes (the constants of its first check or call, in order, at most ``limit``):
    what sets it apart from a test of the same behaviour on other inputs. With ``keywords``, a value passed by
    keyword comes with its keyword's name (``Duration(weeks=0)``: weeks zero)."""
    func = _function(test_source)
    if func is None:
        return []
    words: list[str] = []
    for stmt in func.body:
        # (of a check, the side that calls: `f("a-b", 2) == 3` says "a b two", not "three")
        part = stmt.test.left if isinstance(stmt, ast.Assert) and isinstance(stmt.test, ast.Compare) else stmt
        found = [
            n
            for n in ast.walk(part)
            if isinstance(n, ast.Constant) and n.value is not None and not isinstance(n.value, bool)
        ]
        named = {id(k.value): k.arg for k in ast.walk(part) if keywords and isinstance(k, ast.keyword) and k.arg}
        for node in sorted(found, key=lambda n: (n.lineno, n.col_offset)):
            words += ([_snake(named[id(node)])] if id(node) in named else []) + _value_words(node)[:2]
        if words:
            break
    return [w for w in words if w][:limit]


def behaviour_name(test_source: str, function: str) -> str:
    """A name for a test that says what it shows of ``function``: the inputs it passes and what happens,
    ``test_validate_comment_raises_value_error_for_dashes``, ``test_ordinal_returns_1st_for_one``.

    For tests written without a model (the search's calls): they get the name from what they do, not a number.
    The name never ends in a number (a reviewer reads that as numbering). The test's own name when it does not
    parse."""
    func = _function(test_source)
    if func is None:
        return ""
    call = _target_call(func, function)
    args: list[str] = []
    if isinstance(call, ast.Call):
        for a in [*call.args, *(k.value for k in call.keywords)][:3]:
            args += _value_words(a)[:3]
    outcome = _outcome_words(func)
    words = [_snake(function.strip("_")) or "call", *outcome]
    if args:
        words += ["for", *args]
    elif not outcome:
        words += ["runs"]
    name = re.sub(r"_+", "_", "test_" + "_".join(w for w in words if w)).strip("_")
    name = re.sub(r"[^0-9A-Za-z_]", "", name)
    if len(name) > NAME_CHARS:
        name = name[:NAME_CHARS].rsplit("_", 1)[0]
    if re.search(r"_\d+$", name):
        name += "_exactly" if outcome and outcome[0] == "returns" and not args else "_given"
    return name


# Words a name may end with that say nothing of the behaviour (`test_parse_works`).
_EMPTY_WORDS = {"test", "tests", "works", "basic", "simple", "general", "function", "method", "case", "cases"}


def readable_name(test_source: str, function: str) -> str:
    """A model-written test's name put right where it says too little (``""``: it is fine as it is).

    ``test_Compose_returns`` -> ``test_compose_returns``, ``test_Duration__add__`` -> ``test_duration_add`` (snake
    case); a bare ``test_<function>`` (or ``..._works``) of a single check gets :func:`behaviour_name`'s name. A
    name without the function's is left alone: in a class of the project's tests of that function, or a file of
    them, ``test_ignores_empty_string`` is what a maintainer writes."""
    func = _function(test_source)
    if func is None or not func.name.startswith("test_"):
        return ""
    fn = _snake(function.strip("_"))
    # snake case, as Python names tests (test_Compose_x, test_Duration__add__: a class's or a special method's)
    words = re.sub(r"_+", "_", _snake(func.name[len("test_") :])).strip("_") or func.name[len("test_") :]
    name = "test_" + words
    if len(name) > NAME_CHARS:
        name = name[:NAME_CHARS].rsplit("_", 1)[0]
    rest = [w for w in words[len(fn) :].split("_") if w] if fn and words.startswith(fn) else None
    if rest is not None and all(w in _EMPTY_WORDS for w in rest) and len(_checks(func)) + len(_raises(func)) == 1:
        # (not cut again: behaviour_name's own name ends in a word, cut it and `..._2020_given` ends in a number)
        name = behaviour_name(test_source, function) or name
    return name if name != func.name else ""


def _raises(func: ast.AST) -> list[ast.Call]:
    """The test's ``with pytest.raises(...)`` calls, in order."""
    return [
        item.context_expr
        for node in ast.walk(func)
        if isinstance(node, ast.With)
        for item in node.items
        if isinstance(item.context_expr, ast.Call) and ast.unparse(item.context_expr.func).endswith("raises")
    ]


def call_equals(stmt: ast.stmt) -> tuple[ast.Call, ast.expr] | None:
    """(call, expected) of a plain ``assert f(...) == value``; None for any other statement."""
    if (
        isinstance(stmt, ast.Assert)
        and isinstance(stmt.test, ast.Compare)
        and len(stmt.test.ops) == 1
        and isinstance(stmt.test.ops[0], ast.Eq)
        and isinstance(stmt.test.left, ast.Call)
    ):
        return stmt.test.left, stmt.test.comparators[0]
    return None


def _bound(stmt: ast.stmt) -> set[str]:
    """The local names a statement binds (assignment targets, ``with ... as x``, loop variables, imports)."""
    names = {n.id for n in ast.walk(stmt) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store | ast.Del)}
    for n in ast.walk(stmt):
        if isinstance(n, ast.Import | ast.ImportFrom):
            names |= {(a.asname or a.name).split(".")[0] for a in n.names}
        elif isinstance(n, ast.ExceptHandler) and n.name:
            names.add(n.name)
        elif isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(n.name)
    return names


def _is_error_check(stmts: list[ast.stmt]) -> bool:
    return any(
        isinstance(s, ast.With | ast.AsyncWith)
        and any(
            isinstance(i.context_expr, ast.Call) and ast.unparse(i.context_expr.func) == "pytest.raises"
            for i in s.items
        )
        for s in stmts
    )


def _subject(func: ast.FunctionDef, function: str) -> str:
    """What a test tests: ``function`` where it calls it, else the callable its name starts with
    (``test_slugify_...`` calling ``slugify``), else the first it calls in a check."""
    called = [
        n.func.id if isinstance(n.func, ast.Name) else n.func.attr
        for n in ast.walk(func)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name | ast.Attribute)
    ]
    if function in called:
        return function
    words = _snake(func.name[len("test_") :]).strip("_")
    named = [c for c in called if words.startswith(_snake(c.strip("_")))]
    if named:
        return max(named, key=len)
    skip = {"str", "repr", "len", "raises", "isinstance", "type", "list", "dict", "set", "tuple", "int", "float"}
    return next((c for c in called if c not in skip), function)


def _acted_on(func: ast.FunctionDef, function: str) -> str:
    """What a part of a test does last before it checks: the callable it calls last (by where the call ends:
    ``isoparser().isoparse(s)`` is isoparse; ``cart.add(x); cart.remove(x)`` is remove), not a built-in and not
    on an expected value's side of a check; ``function`` where it calls none."""
    calls: list[ast.Call] = []
    for stmt in func.body:
        part = stmt.test.left if isinstance(stmt, ast.Assert) and isinstance(stmt.test, ast.Compare) else stmt
        calls += [n for n in ast.walk(part) if isinstance(n, ast.Call)]
    names = [
        (c.end_lineno or 0, c.end_col_offset or 0, c.func.id if isinstance(c.func, ast.Name) else c.func.attr)
        for c in calls
        if isinstance(c.func, ast.Name | ast.Attribute)
    ]
    names = [n for n in names if not hasattr(builtins, n[2]) and n[2] not in ("raises", "approx", "warns")]
    return max(names)[2] if names else function


def behaviours(test_source: str, function: str) -> list[tuple[str, str]]:
    """A model's test that checks several behaviours of ``function``, split into tests of one behaviour each:
    its value checks together (keeping the test's name when that says more than the function's), and each
    error it expects in a test of its own (``with pytest.raises(E)`` with the statements that use what it
    caught), named by :func:`behaviour_name`. Statements that use a name an earlier one binds stay with it, so
    every part runs on its own. Returns (name, source) per part, in the test's order, or [] when the test is one
    behaviour already, or is not a plain test function (a decorated one, a method, one taking arguments)."""
    func = _function(test_source)
    if (
        func is None
        or isinstance(func, ast.AsyncFunctionDef)
        or func.decorator_list
        or func.args.args
        or func.args.vararg
        or func.args.kwonlyargs
        or not func.name.startswith("test_")
    ):
        return []
    body = list(func.body)
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]  # (a docstring says what the whole test is about: no part keeps it)
    if len(body) < 2:
        return []
    # statements joined into units: each with every earlier statement that binds a name it reads
    root = list(range(len(body)))

    def find(i: int) -> int:
        while root[i] != i:
            i = root[i]
        return i

    binder: dict[str, int] = {}
    for i, stmt in enumerate(body):
        for name in {n.id for n in ast.walk(stmt) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}:
            if name in binder:
                root[find(binder[name])] = find(i)
        for name in _bound(stmt):
            binder[name] = i
    units: dict[int, list[int]] = {}
    for i in range(len(body)):
        units.setdefault(find(i), []).append(i)
    values: list[int] = []
    errors: dict[str, list[int]] = {}  # by the error and its message check: the same behaviour on other inputs
    for members in sorted(units.values()):
        stmts = [body[i] for i in members]
        if _is_error_check(stmts):
            caught = next(s for s in stmts if isinstance(s, ast.With | ast.AsyncWith))
            key = (
                ast.unparse(caught.items[0].context_expr)
                + "|"
                + "|".join(ast.unparse(s) for s in stmts if s is not caught)
            )
            errors.setdefault(key, []).extend(members)
        else:
            values.extend(members)
    parts = ([sorted(values)] if values else []) + [sorted(m) for m in errors.values()]
    if len(parts) < 2:
        return []
    lines = dedent(test_source).splitlines()
    # the def line(s) only: from the function's first line up to its body's first statement, docstring left out
    def_lines = lines[func.lineno - 1 : func.body[0].lineno - 1]
    while len(def_lines) > 1 and (not def_lines[-1].strip() or def_lines[-1].strip().startswith("#")):
        def_lines.pop()
    if not def_lines:  # (`def test_x(): stmt` on one line)
        return []

    def text_of(i: int) -> str:
        stmt = body[i]
        start = (body[i - 1].end_lineno or body[i - 1].lineno) if i else stmt.lineno - 1
        chunk = lines[start : stmt.end_lineno]
        while chunk and not chunk[0].strip():
            chunk = chunk[1:]
        return "\n".join(chunk)

    function = _subject(func, function)
    fn = _snake(function.strip("_"))
    words = re.sub(r"_+", "_", _snake(func.name[len("test_") :])).strip("_")
    says_more = not (fn and words.startswith(fn) and all(w in _EMPTY_WORDS for w in words[len(fn) :].split("_") if w))
    out: list[tuple[str, str]] = []
    taken: set[str] = set()
    for members in parts:
        source_body = "\n".join(text_of(i) for i in members)
        probe = f"def {func.name}():\n" + source_body + "\n"
        error = members is not parts[0] or not values
        part = _function(probe)
        subject = _acted_on(part, function) if isinstance(part, ast.FunctionDef) else function
        name = func.name if (not error and says_more) else behaviour_name(probe, subject)
        if not name or name in taken:
            return []  # (two parts a name cannot tell apart: the test stays whole)
        taken.add(name)
        first_def = def_lines[0].replace(f"def {func.name}", f"def {name}", 1)
        out.append((name, "\n".join([first_def, *def_lines[1:], source_body]) + "\n"))
    return out
