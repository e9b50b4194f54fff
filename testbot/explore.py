"""Tests written without the model: calls of the target with argument values read off its code (``--explore``).

A search-based tool such as Pynguin reaches much of a string-processing module with no model at all: it calls the
code with many inputs and pins down what comes back. This module does a cheap, deterministic piece of that:

- argument values for each parameter come from its annotation (``str``, ``int``, ``Optional[...]``, ...), its
  default, its name (``width`` is a number, ``text`` a string) and the constants the function compares with or
  passes around (``if kind == "major"``, ``s.startswith("0x")``, ``n > 10``);
- a first call uses each parameter's most ordinary value; the next ones change one parameter at a time;
- each call becomes one test ``assert f(...) == None``: the oracle (:mod:`testbot.oracle`, ``--observe``) puts in
  the value the code returns, or ``pytest.raises`` for an exception raised inside the code, and the tests then go
  through the same validation as the model's (pass every fresh run, add coverage, else dropped).

Functions, static and class methods, methods and properties of classes that can be built from such values are
tried; async functions and generators are not (their values are not literals). The tests say in their comment
that the values were observed, and their model is named ``explore``.
"""

from __future__ import annotations

import ast
import re
from itertools import zip_longest

from testbot.context import find_node
from testbot.targets import Target

MAX_CALLS = 12  # tests per target: one pytest batch, repaired in one more
MAX_CONSTANTS = 6  # constants of the function's own code per type

STRINGS = ["hello world", "", "Hello, World! 123", "42", "-3.5", "a_b-c.d/e", "  padded  ", "x" * 40]
INTS = [3, 0, -1, 1, 100]
FLOATS = [1.5, 0.0, -2.25]
BOOLS = [True, False]
POOLS: dict[str, list[object]] = {
    "str": STRINGS, "int": INTS, "float": FLOATS, "bool": BOOLS, "bytes": [b"hello", b""],
    "list": [[1, 2, 3], [], ["a", "b"]], "tuple": [(1, 2), ()], "set": [{1, 2}, set()],
    "dict": [{"a": 1, "b": 2}, {}], "None": [None],
}
ALIASES = {"List": "list", "Sequence": "list", "Iterable": "list", "Collection": "list", "MutableSequence": "list",
           "Tuple": "tuple", "Set": "set", "FrozenSet": "set", "AbstractSet": "set", "Dict": "dict",
           "Mapping": "dict", "MutableMapping": "dict", "Text": "str", "AnyStr": "str", "complex": "float"}
UNKNOWN = ["hello world", 3, None, [1, 2, 3], ""]  # a parameter nothing tells about
NUMBER_NAME = re.compile(r"(^|_)(n|num|number|count|width|height|size|len|length|index|idx|i|j|k|pos|position|"
                         r"level|depth|times|indent|max|min|limit|offset|start|end|stop|step|year|month|day|hour|"
                         r"minute|second|seconds|days|weeks|amount|total|precision|digits|base|x|y|z|lo|hi|low|high|lower|upper)s?($|_)")
STRING_NAME = re.compile(r"(^|_)(s|text|txt|string|str|name|word|line|lines|prefix|suffix|sep|separator|char|"
                         r"chars|pattern|path|input|fmt|format|msg|message|url|email|title|key|label|version|"
                         r"encoding|value|val|content|source|src|template|delimiter|query)($|_)")
BOOL_NAME = re.compile(r"^(is|has|use|allow|enable|ignore|keep|strict|verbose|reverse|force|raise|check)(_|$)|"
                       r"(^|_)(flag|strict|reverse|raw|quiet|verbose|recursive)$")


def _annotation_kinds(node: ast.expr | None) -> list[str]:
    """The pool names an annotation allows, most specific first; [] when it says nothing usable."""
    if node is None:
        return []
    if isinstance(node, ast.Constant) and isinstance(node.value, str):  # "str", a forward reference
        try:
            return _annotation_kinds(ast.parse(node.value, mode="eval").body)
        except SyntaxError:
            return []
    if isinstance(node, ast.Constant) and node.value is None:
        return ["None"]
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):  # X | Y
        return _annotation_kinds(node.left) + _annotation_kinds(node.right)
    if isinstance(node, ast.Subscript):
        if isinstance(node.value, ast.Name) and node.value.id in ("Optional", "Union"):
            inner = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
            kinds = [k for part in inner for k in _annotation_kinds(part)]
            return kinds + (["None"] if node.value.id == "Optional" else [])
        return _annotation_kinds(node.value)  # List[int]: a list
    name = node.attr if isinstance(node, ast.Attribute) else node.id if isinstance(node, ast.Name) else None
    if name is None:
        return []
    name = ALIASES.get(name, name)
    return [name] if name in POOLS else []


def _kind_of(value: object) -> str | None:
    """The pool a literal's exact type names (a subclass names none)."""
    if value is None:
        return "None"
    return type(value).__name__ if type(value).__name__ in POOLS else None


def _constants(func: ast.AST) -> dict[str, list[object]]:
    """String and number constants the function's own code uses (its docstring left out), by pool name."""
    doc = None
    body = getattr(func, "body", [])
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        doc = body[0].value
    found: dict[str, list[object]] = {"str": [], "int": [], "float": []}
    for node in ast.walk(func):
        if node is doc or not isinstance(node, ast.Constant) or isinstance(node.value, bool):
            continue
        kind = _kind_of(node.value)
        if kind == "str" and len(node.value) > 40:
            continue
        if kind in found and node.value not in found[kind] and len(found[kind]) < MAX_CONSTANTS:
            found[kind].append(node.value)
    for n in list(found["int"]):  # a bound is crossed one step either side
        for m in (n - 1, n + 1):
            if m not in found["int"] and len(found["int"]) < 2 * MAX_CONSTANTS:
                found["int"].append(m)
    return found


def _pool(arg: ast.arg, default: ast.expr | None, consts: dict[str, list[object]]) -> list[object]:
    """Values to try for one parameter, the most ordinary first."""
    kinds = _annotation_kinds(arg.annotation)
    if not kinds and default is not None:
        try:
            kind = _kind_of(ast.literal_eval(default))
        except (ValueError, TypeError, SyntaxError):
            kind = None
        kinds = [kind] if kind not in (None, "None") else []
    if not kinds:
        name = arg.arg.lower()
        kinds = (["bool"] if BOOL_NAME.search(name) else ["int"] if NUMBER_NAME.search(name)
                 else ["str"] if STRING_NAME.search(name) else [])
    values: list[object] = []
    for kind in kinds:
        first = POOLS[kind][:1]
        values += [v for v in first + consts.get(kind, []) + POOLS[kind][1:] if v not in values or v is None]
    if not values:
        values = list(UNKNOWN) + [c for c in consts["str"][:2] + consts["int"][:2] if c not in UNKNOWN]
    out: list[object] = []
    for v in values:  # (1 == True: compare with the type too)
        if not any(type(v) is type(o) and v == o for o in out):
            out.append(v)
    return out


def _calls(func: ast.FunctionDef, skip_first: bool) -> list[str]:
    """Argument lists as source text: the ordinary values first, then one parameter changed at a time."""
    a = func.args
    positional = a.posonlyargs + a.args
    defaults = [None] * (len(positional) - len(a.defaults)) + list(a.defaults)
    consts = _constants(func)
    params: list[tuple[str, list[object], bool, bool]] = []  # (name, pool, required, keyword)
    for arg, default in list(zip(positional, defaults))[1 if skip_first else 0:]:
        params.append((arg.arg, _pool(arg, default, consts), default is None, False))
    for arg, default in zip(a.kwonlyargs, a.kw_defaults):
        params.append((arg.arg, _pool(arg, default, consts), default is None, True))

    def render(values: dict[int, object]) -> str:
        parts, skipped = [], False
        for i, (name, _, required, keyword) in enumerate(params):
            if i not in values:
                skipped = True  # an optional one left out: the ones after it go by name
                continue
            parts.append(f"{name}={values[i]!r}" if keyword or skipped else repr(values[i]))
        return ", ".join(parts)

    base = {i: pool[0] for i, (_, pool, required, _) in enumerate(params) if required}
    variations = []
    # One parameter changed at a time, taking turns, so that a short list still varies each of them.
    columns = [[(i, v) for v in (pool[1:] if required else pool)] for i, (_, pool, required, _) in enumerate(params)]
    for row in zip_longest(*columns):
        for cell in row:
            if cell is not None:
                variations.append(render({**base, cell[0]: cell[1]}))
    return [render(base), *variations]


def _constructor(cls: ast.ClassDef) -> str:
    """``C(args)`` with each required parameter's most ordinary value."""
    init = next((n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"), None)
    if init is None:
        fields = [n for n in cls.body if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)
                  and n.value is None]  # a dataclass / NamedTuple's required fields
        values = []
        for f in fields:
            pool = _pool(ast.arg(arg=f.target.id, annotation=f.annotation), None, {"str": [], "int": [], "float": []})
            values.append(repr(pool[0]))
        return f"{cls.name}({', '.join(values)})"
    return f"{cls.name}({_calls(init, skip_first=True)[0]})"


def explore_tests(target: Target, text: str, limit: int = MAX_CALLS) -> str:
    """Test functions calling the target with values read off its code (empty when it cannot be called so)."""
    if target.is_async:
        return ""
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return ""
    parts = target.qualname.split(".")
    func = find_node(tree, target.qualname)
    if len(parts) > 2 or not isinstance(func, ast.FunctionDef):  # (a nested class's name is not importable)
        return ""
    if any(isinstance(n, ast.Yield | ast.YieldFrom) for n in ast.walk(func)):
        return ""
    top = parts[0]
    if len(parts) == 1:
        callee, skip_first = func.name, False
    else:
        cls = find_node(tree, parts[0])
        if not isinstance(cls, ast.ClassDef):
            return ""
        if target.kind == "staticmethod":
            callee, skip_first = f"{cls.name}.{func.name}", False
        elif target.kind == "classmethod":
            callee, skip_first = f"{cls.name}.{func.name}", True
        else:
            callee, skip_first = f"{_constructor(cls)}.{func.name}", True
    module = target.module
    head = f"from {module} import {top}\n" if module else f"import {target.file.stem}\n"
    if not module:
        callee = f"{target.file.stem}.{callee}"
    if target.kind == "property":
        expr = [callee]
    else:
        expr = [f"{callee}({args})" for args in _calls(func, skip_first)]
    tests = [f"\n\ndef test_{target.name.strip('_') or 'call'}_explored_{n}():\n    assert {e} == None\n"
             for n, e in enumerate(list(dict.fromkeys(expr))[:limit], 1)]
    return head + "".join(tests)
