"""Tests written without the model: calls of the target with argument values read off its code (``--explore``).

A search-based tool such as Pynguin reaches much of a string-processing module with no model at all: it calls the
code with many inputs and pins down what comes back. This module does a cheap, deterministic piece of that:

- argument values for each parameter come from its annotation (``str``, ``int``, ``Optional[...]``, ``date``,
  ``Decimal``, ``Callable``...), its default, its name (``width`` is a number, ``text`` a string) and the
  constants the function compares with or passes around (``if kind == "major"``, ``s.startswith("0x")``,
  ``n > 10``); a parameter nothing types also gets objects of the module's classes and of the standard
  library's value types the module names (``timedelta``, ``OrderedDict``, ``namedtuple``...);
- the search (:mod:`testbot._search`) first tries the calls of the module's own docstring examples (``>>>``
  lines, their variables put in: ``f(start=date(2008, 2, 1))``) and grows their argument values too;
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
import builtins
import functools
import re
import typing
from itertools import zip_longest

from testbot.context import find_node
from testbot.shape import docstring_examples
from testbot import shape
from testbot.targets import Target

MAX_CALLS = 12  # tests per target: one pytest batch, repaired in one more
MAX_CONSTANTS = 6  # constants of the function's own code per type
CHANGING = re.compile(r"\b(today|now|utcnow|time|random|randint|uuid\d?|urandom|getpid)\(")  # not for a test to pin
MAX_SEARCHED = 20  # tests per target from the search: the calls that reached new lines or branches first, then
# those that catch mutants the others miss

class Source:
    """A value given as source text rather than a literal (a builtin function for a ``Callable`` parameter, a
    ``date(2024, 2, 29)``), with the import line it needs."""

    def __init__(self, text: str, imports: str = "") -> None:
        self.text, self.imports = text, imports

    def __repr__(self) -> str:
        return self.text


def _made(imports: str, *texts: str) -> list[Source]:
    return [Source(t, imports) for t in texts]


# Two dataclasses as expressions (a test's call cannot define a class), one with generic and optional fields.
POINT = "make_dataclass('Point', [('x', int), ('y', str)])"
ITEM = "make_dataclass('Item', [('when', datetime), ('tags', List[str]), ('note', Optional[str], None)])"
# Objects of the standard library's value types, by the name a module uses for the type. A parameter annotated
# with one gets them; one nothing types gets those its module mentions (a module that says ``timedelta`` is
# likely to take one): a search reaches the date arithmetic, the Decimal and OrderedDict branches with them.
STDLIB: dict[str, list[Source]] = {
    "date": _made("from datetime import date", "date(2020, 1, 31)", "date(2024, 2, 29)", "date(1999, 12, 31)"),
    "datetime": _made("from datetime import datetime", "datetime(2020, 1, 31, 12, 30, 15)",
                      "datetime(2024, 2, 29, 23, 59, 59, 999999)", "datetime(2000, 1, 1)"),
    "timedelta": _made("from datetime import timedelta", "timedelta(days=1, hours=2)", "timedelta(0)",
                       "timedelta(days=-3, seconds=30)"),
    "time": _made("from datetime import time", "time(12, 30, 15)", "time(0, 0)"),
    "timezone": _made("from datetime import timezone, timedelta", "timezone.utc", "timezone(timedelta(hours=-5))"),
    "Decimal": _made("from decimal import Decimal", "Decimal('1.5')", "Decimal('0')", "Decimal('-2.25')"),
    "Fraction": _made("from fractions import Fraction", "Fraction(1, 3)", "Fraction(-5, 2)"),
    "OrderedDict": _made("from collections import OrderedDict", "OrderedDict([('b', 1), ('a', 2)])", "OrderedDict()"),
    "SimpleNamespace": _made("from types import SimpleNamespace", "SimpleNamespace(a=1, b='x')"),
    "namedtuple": _made("from collections import namedtuple", "namedtuple('Pair', 'a b')(1, 2)",
                        "namedtuple('Empty', '')()"),
    "Path": _made("from pathlib import Path", "Path('a/b.txt')", "Path('.')"),
    "UUID": _made("from uuid import UUID", "UUID('12345678-1234-5678-1234-567812345678')"),
    "Enum": _made("from enum import Enum", "Enum('Colour', 'RED GREEN').GREEN"),  # (a member of an Enum made here)
    # Types, for a parameter that takes one (`Type`, `type_`, `field_type`, `cls`) and in a module that reads them
    # (`get_type_hints`, `get_origin`): builtins, generic aliases to take apart, and a dataclass to look into.
    "Type": [Source("int"), Source("str"), Source("List[int]", "from typing import List"),
             Source("Optional[str]", "from typing import Optional"),
             Source("Dict[str, int]", "from typing import Dict"), Source("Union[int, str]", "from typing import Union"),
             Source("Tuple[int, str]", "from typing import Tuple"),
             Source("Set[str]", "from typing import Set"), Source("datetime", "from datetime import datetime"),
             Source("Decimal", "from decimal import Decimal"), Source("UUID", "from uuid import UUID"),
             Source(POINT, "from dataclasses import make_dataclass"),
             Source(ITEM, "from dataclasses import make_dataclass\nfrom datetime import datetime\n"
                          "from typing import List\nfrom typing import Optional"),
             Source("float"), Source("bool"), Source("list"), Source("dict"), Source("type(None)")],
    # Dataclass objects, classes and dicts of their fields, in a module that looks into dataclasses (`is_dataclass`).
    "dataclass": [Source(f"{POINT}(1, 'a')", "from dataclasses import make_dataclass"),
                  Source(POINT, "from dataclasses import make_dataclass"), Source("{'x': 1, 'y': 'a'}"),
                  Source(f"{ITEM}(datetime(2020, 1, 31), ['a', 'b'], None)",
                         "from dataclasses import make_dataclass\nfrom datetime import datetime\n"
                         "from typing import List\nfrom typing import Optional"),
                  Source("{'when': 1580428800.0, 'tags': ['a', 'b'], 'note': 'x'}")],
}
STDLIB_ALIASES = {"NamedTuple": "namedtuple", "DateTime": "datetime", "Date": "date", "TimeDelta": "timedelta",
                  "Timedelta": "timedelta", "PurePath": "Path", "PathLike": "Path", "tzinfo": "timezone",
                  "get_type_hints": "Type", "get_origin": "Type", "get_args": "Type", "__origin__": "Type",
                  "is_dataclass": "dataclass", "asdict": "dataclass", "astuple": "dataclass",
                  "make_dataclass": "dataclass"}


# Texts of the same types, in the forms a parser of them reads (ISO 8601 mostly): a module that names `date` or
# `timezone` is likely to parse them from strings too (dateutil's isoparser: week dates, 24:00, offsets).
STDLIB_TEXTS: dict[str, list[str]] = {
    "date": ["2020-01-31", "20200131", "2020-W05-3", "2020-031"],
    "datetime": ["2020-01-31T12:30:15", "2024-02-29T23:59:59.999999+05:30"],
    "time": ["12:30:15.250", "24:00", "T1230"],
    "timezone": ["+05:30", "-0800", "Z"],
    "timedelta": ["P1DT2H30M", "1 day, 2:00:00"],
    "Decimal": ["1.50", "-0.001"],
    "UUID": ["12345678-1234-5678-1234-567812345678"],
}


STDLIB_TEXT_REPRS = {repr(t) for texts in STDLIB_TEXTS.values() for t in texts}


def mentioned_objects(text: str) -> list[Source]:
    """Standard-library objects of the value types a module's code names (its imports, annotations, checks)."""
    # (not by the names `Type` and `dataclass` themselves: `Type[Rule]` wants Rule's classes, and a module that
    # makes its own dataclasses does not look into others)
    kinds = _mentioned_kinds(text)
    return [v for kind in STDLIB if kind in kinds for v in STDLIB[kind]]


def _mentioned_kinds(text: str) -> set[str]:
    """The names a module's text uses, as :data:`STDLIB` kinds (aliases resolved; `Type` and `dataclass` left out)."""
    return {STDLIB_ALIASES.get(n, n) for n in set(re.findall(r"\b[A-Za-z_]\w*\b", text)) - {"Type", "dataclass"}}


def _bound(imports: str) -> set[str]:
    """The names import lines bind."""
    try:
        tree = ast.parse(imports)
    except SyntaxError:
        return set()
    return {(a.asname or a.name).split(".")[0] for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)
            for a in n.names}


def _defined(tree: ast.Module) -> set[str]:
    """The names a module defines itself (its imports left out): a test may import any of them."""
    names = set()
    for n in tree.body:
        if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(n.name)
        elif isinstance(n, ast.Assign | ast.AnnAssign):
            for t in n.targets if isinstance(n, ast.Assign) else [n.target]:
                names |= {x.id for x in ast.walk(t) if isinstance(x, ast.Name)}
    return names


def _rebinds(head: str, more: str) -> bool:
    """Whether import lines ``more`` bind a name ``head`` binds by another import line."""
    lines = set(head.splitlines())
    return bool(_bound(head) & _bound("\n".join(line for line in more.splitlines() if line not in lines)))


def _clashes(value: object, taken: set[str], head: str = "") -> bool:
    """Whether an object's import would rebind a name the test already imports (a module's own ``Path``); an
    import line ``head`` already has binds nothing anew."""
    if not isinstance(value, Source):
        return False
    lines = set(head.splitlines())
    return bool(_bound("\n".join(line for line in value.imports.splitlines() if line not in lines)) & taken)


def imports_of(values: list[object], head: str = "") -> str:
    """The import lines the ``Source`` values among ``values`` need, less those ``head`` already has."""
    have = set(head.splitlines())
    lines = dict.fromkeys(line for v in values if isinstance(v, Source) for line in v.imports.splitlines())
    return "".join(f"{line}\n" for line in lines if line not in have)


STRINGS = ["hello world", "", "Hello, World! 123", "42", "-3.5", "a_b-c.d/e", "  padded  ", "x" * 40, "naïve café"]
INTS = [3, 0, -1, 1, 100]
FLOATS = [1.5, 0.0, -2.25]
BOOLS = [True, False]
POOLS: dict[str, list[object]] = {
    "str": STRINGS, "int": INTS, "float": FLOATS, "bool": BOOLS, "bytes": [b"hello", b""],
    "list": [[1, 2, 3], [], ["a", "b"]], "tuple": [(1, 2), ()], "set": [{1, 2}, set()],
    "dict": [{"a": 1, "b": 2}, {}], "None": [None],
    "Callable": [Source("str"), Source("len"), Source("print")],
}
ALIASES = {"List": "list", "Sequence": "list", "Iterable": "list", "Collection": "list", "MutableSequence": "list",
           "Tuple": "tuple", "Set": "set", "FrozenSet": "set", "AbstractSet": "set", "Dict": "dict",
           "Mapping": "dict", "MutableMapping": "dict", "Text": "str", "AnyStr": "str", "complex": "float",
           "type": "Type"}
UNKNOWN = ["hello world", 3, None, [1, 2, 3], "", {"a": 1}, (1, 2)]  # a parameter nothing tells about
NUMBER_NAME = re.compile(r"(^|_)(n|num|number|count|width|height|size|len|length|index|idx|i|j|k|pos|position|"
                         r"level|depth|times|indent|max|min|limit|offset|start|end|stop|step|year|month|day|hour|"
                         r"minute|second|seconds|days|weeks|amount|total|precision|digits|base|x|y|z|lo|hi|low|high|lower|upper)s?($|_)")
STRING_NAME = re.compile(r"(^|_)(s|text|txt|string|str|name|word|line|lines|prefix|suffix|sep|separator|char|"
                         r"chars|pattern|path|input|fmt|format|msg|message|url|email|title|key|label|version|"
                         r"encoding|value|val|content|source|src|template|delimiter|query)($|_)|"
                         r"[a-z](str|string)$")  # (`datestr`, `tzstr`, `docstring`)
# (a name, where nothing else tells, for a parameter that takes a type; not `content_type`: a string)
TYPE_NAME = re.compile(r"^(cls|klass|kls|typ|tp|type_|type_hint|hint|annotation)$|"
                       r"^(field|key|value|item|elem|element|base|target|expected|return|arg|origin|generic|declared|"
                       r"annotated|member|param)_type_?$")
BOOL_NAME = re.compile(r"^(is|has|use|allow|enable|ignore|keep|strict|verbose|reverse|force|raise|check)(_|$)|"
                       r"(^|_)(flag|strict|reverse|raw|quiet|verbose|recursive)$")


def _annotation_names(node: ast.expr | None, generic: bool) -> list[str]:
    """The names an annotation is made of, most specific first: a forward reference read, `X | Y`, `Optional[X]`
    and `Union[X, Y]` taken apart (`Optional` adds "None"), any other subscript by its outer name (`List[int]`:
    `List`) where ``generic``, else by none."""
    if node is None:
        return []
    if isinstance(node, ast.Constant) and isinstance(node.value, str):  # "str", a forward reference
        try:
            return _annotation_names(ast.parse(node.value, mode="eval").body, generic)
        except SyntaxError:
            return []
    if isinstance(node, ast.Constant) and node.value is None:
        return ["None"]
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):  # X | Y
        return _annotation_names(node.left, generic) + _annotation_names(node.right, generic)
    if isinstance(node, ast.Subscript):
        outer = node.value.attr if isinstance(node.value, ast.Attribute) else getattr(node.value, "id", "")
        if outer in ("Optional", "Union"):  # (typing.Union too)
            inner = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
            names = [n for part in inner for n in _annotation_names(part, generic)]
            return names + (["None"] if outer == "Optional" else [])
        if outer in ("Type", "type") and any(_class_name(n) for n in _annotation_names(node.slice, False)):
            return []  # (`Type[Rule]` wants Rule and its subclasses: no pool has them)
        return _annotation_names(node.value, generic) if generic else []
    name = _name_of(node)
    return [name] if name else []


def annotation_kinds(node: ast.expr | None) -> list[str]:
    """The pool names an annotation allows, most specific first (`List[int]`: a list); [] when it says nothing
    usable."""
    kinds = []
    for name in _annotation_names(node, generic=True):
        name = ALIASES.get(name, name)
        name = STDLIB_ALIASES.get(name, name)
        if name in POOLS or name in STDLIB:
            kinds.append(name)
    return kinds


def _kind_of(value: object) -> str | None:
    """The pool a literal's exact type names (a subclass names none)."""
    if value is None:
        return "None"
    return type(value).__name__ if type(value).__name__ in POOLS else None


def _constants(func: ast.AST) -> dict[str, list[object]]:
    """String and number constants the function's own code uses (its docstring and the messages of what it raises
    left out), by pool name."""
    doc = None
    body = getattr(func, "body", [])
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        doc = body[0].value
    found: dict[str, list[object]] = {"str": [], "int": [], "float": []}
    messages = _messages(func)
    for node in ast.walk(func):
        if node is doc or not isinstance(node, ast.Constant) or isinstance(node.value, bool) or id(node) in messages:
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


def _passed_on_constants(func: ast.FunctionDef, tree: ast.Module, skip_first: bool) -> dict[str, list[object]]:
    """The function's own constants (:func:`_constants`), then those of the module's functions it hands a parameter
    on to: a wrapper `roman_encode(number)` that returns `_Roman.encode(number)` never names the bounds 1 and 3999
    that its callee checks. A callee is found by its name: a method of the class the call names, else the one
    function or method of the module with that name (a class's `__init__` for a class)."""
    consts = _constants(func)
    a = func.args
    params = [x.arg for x in (a.posonlyargs + a.args)[1 if skip_first else 0:] + a.kwonlyargs]
    params += [x.arg for x in (a.vararg, a.kwarg) if x is not None]
    defs: dict[str, list[ast.FunctionDef]] = {}
    classes: dict[str, ast.ClassDef] = {}
    for n in ast.walk(tree):
        if isinstance(n, ast.FunctionDef):
            defs.setdefault(n.name, []).append(n)
        elif isinstance(n, ast.ClassDef):
            classes[n.name] = n
    done = {id(func)}
    for call in ast.walk(func):
        if not isinstance(call, ast.Call) or not any(isinstance(x, ast.Name) and x.id in params
                                                     for x in call.args + [k.value for k in call.keywords]):
            continue
        f = call.func
        callee = None
        if isinstance(f, ast.Name) and f.id in classes:
            callee = next((m for m in classes[f.id].body if isinstance(m, ast.FunctionDef) and m.name == "__init__"),
                          None)
        elif isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and f.value.id in classes:
            callee = next((m for m in classes[f.value.id].body if isinstance(m, ast.FunctionDef) and m.name == f.attr),
                          None)
        else:
            name = _name_of(f)
            callee = defs[name][0] if name in defs and len(defs[name]) == 1 else None
        if callee is None or id(callee) in done:
            continue
        done.add(id(callee))
        for kind, values in _constants(callee).items():
            consts[kind] += [v for v in values if v not in consts[kind]]
    return consts


def _pool(arg: ast.arg, default: ast.expr | None, consts: dict[str, list[object]]) -> list[object]:
    """Values to try for one parameter, the most ordinary first."""
    kinds = annotation_kinds(arg.annotation)
    if not kinds and default is not None:
        try:
            kind = _kind_of(ast.literal_eval(default))
        except (ValueError, TypeError, SyntaxError):
            kind = None
        kinds = [kind] if kind not in (None, "None") else []
    if not kinds:
        name = arg.arg.lower()
        kinds = (["Type"] if TYPE_NAME.search(name) else ["bool"] if BOOL_NAME.search(name)
                 else ["int"] if NUMBER_NAME.search(name)
                 else ["str"] if STRING_NAME.search(name) else [])
    values: list[object] = []
    for kind in kinds:
        pool = POOLS.get(kind) or STDLIB[kind]
        values += [v for v in pool[:1] + consts.get(kind, []) + pool[1:] if v not in values or v is None]
    if not values:
        values = list(UNKNOWN) + [c for c in consts["str"][:2] + consts["int"][:2] if c not in UNKNOWN]
    out: list[object] = []
    for v in values:  # (1 == True: compare with the type too)
        if not any(type(v) is type(o) and v == o for o in out):
            out.append(v)
    return out


Param = tuple[str, list[object], bool, bool]  # (name, values to try, required, keyword-only)
# (``*args`` is a parameter named "*args", optional and positional: given, it takes one value here, and one to
# three in the search; left out, it takes none)


def _params(func: ast.FunctionDef, skip_first: bool, consts: dict[str, list[object]] | None = None) -> list[Param]:
    """The parameters to fill, each with its values (the most ordinary first)."""
    a = func.args
    positional = a.posonlyargs + a.args
    defaults = [None] * (len(positional) - len(a.defaults)) + list(a.defaults)
    consts = _constants(func) if consts is None else consts
    params: list[Param] = []
    for arg, default in list(zip(positional, defaults))[1 if skip_first else 0:]:
        params.append((arg.arg, _pool(arg, default, consts), default is None, False))
    if a.vararg is not None:  # (`fg(42)`, `fg(10, 42, 255)`: what a call passes decides its branch)
        params.append(("*" + a.vararg.arg, _pool(a.vararg, None, consts), False, False))
    for arg, default in zip(a.kwonlyargs, a.kw_defaults):
        params.append((arg.arg, _pool(arg, default, consts), default is None, True))
    return params


def render(params: list[Param], values: dict[int, object]) -> str:
    """An argument list as source text: the values given by index, the parameters left out take their defaults."""
    parts, skipped = [], False
    for i, (name, _, required, keyword) in enumerate(params):
        if i not in values:
            skipped = True  # an optional one left out: the ones after it go by name
            continue
        if name.startswith("*"):  # (no values by position after one left out)
            if not skipped:
                parts.append(repr(values[i]))
            continue
        parts.append(f"{name}={values[i]!r}" if keyword or skipped else repr(values[i]))
    return ", ".join(parts)


def _ordinary(params: list[Param]) -> dict[int, object]:
    """Each required parameter's most ordinary value (the optional ones left to their defaults)."""
    return {i: pool[0] for i, (_, pool, required, _) in enumerate(params) if required}


def _arg_lists(params: list[Param]) -> list[str]:
    """Argument lists as source text: the ordinary values first, then one parameter changed at a time."""
    base = _ordinary(params)
    variations = []
    # One parameter changed at a time, taking turns, so that a short list still varies each of them.
    columns = [[(i, v) for v in (pool[1:] if required else pool)] for i, (_, pool, required, _) in enumerate(params)]
    for row in zip_longest(*columns):
        for cell in row:
            if cell is not None:
                variations.append(render(params, {**base, cell[0]: cell[1]}))
    return [render(params, base), *variations]


def _is_record(cls: ast.ClassDef) -> bool:
    """A dataclass, attrs class or NamedTuple: its annotated class attributes are its constructor's parameters."""
    names = {n.id if isinstance(n, ast.Name) else n.attr if isinstance(n, ast.Attribute) else ""
             for d in cls.decorator_list for n in [d.func if isinstance(d, ast.Call) else d]}
    bases = {b.id if isinstance(b, ast.Name) else b.attr if isinstance(b, ast.Attribute) else "" for b in cls.bases}
    return bool(names & {"dataclass", "dataclasses", "define", "frozen", "attrs", "s", "mutable"}) or "NamedTuple" in bases


def _field_default(value: ast.expr | None) -> tuple[bool, ast.expr | None]:
    """Whether a record's field is a constructor parameter, and its default (None: required)."""
    if isinstance(value, ast.Call) and isinstance(value.func, ast.Name | ast.Attribute):
        name = value.func.id if isinstance(value.func, ast.Name) else value.func.attr
        if name in ("field", "ib", "attrib"):
            kw = {k.arg: k.value for k in value.keywords}
            if isinstance(kw.get("init"), ast.Constant) and kw["init"].value is False:
                return False, None
            default = kw.get("default")
            return True, default if default is not None else (
                ast.Constant(None) if "default_factory" in kw or "factory" in kw else None)
    return True, value


def _init(cls: ast.ClassDef, tree: ast.Module | None = None, depth: int = 0) -> tuple[ast.FunctionDef | None, list[Param]]:
    """A class's ``__init__`` (None for a dataclass / NamedTuple) and the parameters that build one; a class with
    neither takes its first base's of the same module (``tree``), as Python would. A record's (dataclass,
    NamedTuple) fields with defaults are optional parameters that a search may set."""
    init = next((n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"), None)
    init = init or next((n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "__new__"), None)
    if init is not None:  # (`__new__(cls, *rules, value="")` builds a `str` subclass)
        return init, _params(init, skip_first=True)
    record = _is_record(cls)
    fields = []
    for n in cls.body:
        if not isinstance(n, ast.AnnAssign) or not isinstance(n.target, ast.Name):
            continue
        if "ClassVar" in ast.unparse(n.annotation) or (n.value is not None and not record):
            continue
        is_param, default = _field_default(n.value)
        if is_param:
            fields.append((n, default))
    if not fields and tree is not None and depth < 5:
        for b in cls.bases:
            base = find_node(tree, b.id) if isinstance(b, ast.Name) else None
            if isinstance(base, ast.ClassDef) and base is not cls:
                return _init(base, tree, depth + 1)
    empty: dict[str, list[object]] = {"str": [], "int": [], "float": []}
    # (after an optional field the others go by name: render does that for the parameters left out)
    return None, [(f.target.id, _pool(ast.arg(arg=f.target.id, annotation=f.annotation), d, empty), d is None, False)
                  for f, d in fields]


def _constructor(cls: ast.ClassDef, tree: ast.Module | None = None) -> str:
    """``C(args)`` with each required parameter's most ordinary value."""
    params = _init(cls, tree)[1]
    return f"{cls.name}({render(params, _ordinary(params))})"


Part = tuple[str, "list[Param] | None"]  # source text, then the call's parameters (None: no call, a property)
# The import line, the call's parts, and what wraps the call: "list" for a generator (its items are what a test
# checks, and its code runs only as they are drawn), else "".
Shape = tuple[str, list[Part], str]


@functools.lru_cache(maxsize=4)
def _parse(text: str) -> ast.Module | None:
    """The module's tree, parsed once for all its targets (read only: callers share it); None if it does not parse."""
    try:
        return ast.parse(text)
    except SyntaxError:
        return None


def _own_nodes(func: ast.AST):
    """The nodes of a function's own body: not those of functions, lambdas or classes defined in it."""
    todo = list(ast.iter_child_nodes(func))
    while todo:
        node = todo.pop()
        yield node
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.ClassDef):
            todo.extend(ast.iter_child_nodes(node))


def _generator(func: ast.FunctionDef) -> str | None:
    """"list" for a generator function that looks finite, "" for a plain function, None for a generator with a
    `while True:` loop (drawing all its items might never end)."""
    own = list(_own_nodes(func))
    if not any(isinstance(n, ast.Yield | ast.YieldFrom) for n in own):
        return ""
    endless = any(isinstance(n, ast.While) and isinstance(n.test, ast.Constant) and n.test.value for n in own)
    return None if endless else "list"


MUTATORS = frozenset({"append", "extend", "insert", "remove", "pop", "popitem", "clear", "update", "add", "discard",
                      "setdefault", "sort", "reverse", "__setattr__", "__setitem__", "__delitem__"})


def _self_root(node: ast.expr) -> bool:
    """Whether an attribute or item expression starts at `self` (`self.a`, `self.a[k]`, `self.a.b`)."""
    while isinstance(node, ast.Attribute | ast.Subscript):
        node = node.value
        if isinstance(node, ast.Name) and node.id == "self":
            return True
    return False


def _mutates(func: ast.FunctionDef) -> bool:
    """Whether a method changes its object: it sets or deletes an attribute or item under `self`, calls a list's,
    dict's or set's changing method on one (`self.items.append(x)`), or `setattr(self, ...)` /
    `super().__setattr__(...)`. Its calls set an object up for the other methods' calls in the search."""
    for node in _own_nodes(func):
        if isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign | ast.Delete):
            targets = node.targets if isinstance(node, ast.Assign | ast.Delete) else [node.target]
            if any(_self_root(t) for t in targets):
                return True
        elif isinstance(node, ast.Call):
            f = node.func
            if isinstance(f, ast.Name) and f.id in ("setattr", "delattr") and node.args and isinstance(
                    node.args[0], ast.Name) and node.args[0].id == "self":
                return True
            if isinstance(f, ast.Attribute) and f.attr in MUTATORS and (
                    _self_root(f.value) or f.attr == "__setattr__"):
                return True
    return False


def _shape(target: Target, text: str) -> Shape | None:
    """How to reach the target from a test: the import line, the parts of the call expression (``Box`` with
    the constructor's parameters, then ``.grow`` with the method's) and its wrapper (``list`` for a generator);
    None when it cannot be called with literal values (async, an endless generator, a nested class)."""
    tree = _parse(text)
    if target.is_async or tree is None:
        return None
    names = target.qualname.split(".")
    func = find_node(tree, target.qualname)
    if len(names) > 2 or not isinstance(func, ast.FunctionDef):  # (a nested class's name is not importable)
        return None
    wrap = _generator(func)
    if wrap is None:
        return None
    prefix = "" if target.module else f"{target.file.stem}."
    head = f"from {target.module} import {names[0]}\n" if target.module else f"import {target.file.stem}\n"
    skip_first = len(names) > 1 and target.kind != "staticmethod"
    call = (None if target.kind == "property"
            else _params(func, skip_first, _passed_on_constants(func, tree, skip_first)))
    if len(names) == 1:
        parts = [(prefix + func.name, call)]
    else:
        cls = find_node(tree, names[0])
        if not isinstance(cls, ast.ClassDef):
            return None
        if func.name == "__new__":  # (called through the class: `Style(*rules)`)
            parts = [(prefix + cls.name, call)]
        elif target.kind in ("staticmethod", "classmethod"):
            parts = [(f"{prefix}{cls.name}.{func.name}", call)]
        else:
            parts = [(prefix + cls.name, _init(cls, tree)[1]), (f".{func.name}", call)]
    # (the imports of the values that are objects: `from datetime import date`, unless they rebind a name)
    taken = _bound(head) | _defined(tree)
    parts = [(source, None if params is None else [(n, [v for v in pool if not _clashes(v, taken)] or list(UNKNOWN), r, k)
                                                    for n, pool, r, k in params]) for source, params in parts]
    made = _producers(func, tree, target.module) if target.module else {}
    if made and parts[-1][1]:  # (the module's own functions: no clash with its names)
        parts[-1] = (parts[-1][0], [(n, made.get(n, []) + pool, r, k) for n, pool, r, k in parts[-1][1]])
    return head + imports_of([v for _, params in parts for p in params or [] for v in p[1]]), parts, wrap


def _chain(node: ast.expr) -> list[ast.expr] | None:
    """The parts of the search's call on an object another call set up, `(box := Box(3), box.fill('x'),
    box.grow(1))[-1]`: the binding, the set-up calls, the call (None for any other expression). The last part
    may be the object itself, checked after a call that returned None: `(box := Box(3), box.fill('x'), box)[-1]`."""
    if (isinstance(node, ast.Subscript) and isinstance(node.value, ast.Tuple) and len(node.value.elts) >= 3
            and isinstance(node.value.elts[0], ast.NamedExpr) and isinstance(node.value.elts[0].target, ast.Name)
            and all(isinstance(e, ast.Call) for e in node.value.elts[1:-1])
            and (isinstance(node.value.elts[-1], ast.Call) or (isinstance(node.value.elts[-1], ast.Name)
                                                                and node.value.elts[-1].id == node.value.elts[0].target.id))
            and isinstance(node.slice, ast.UnaryOp) and ast.unparse(node.slice) == "-1"):
        return node.value.elts
    return None


def _lines(expr: str) -> str:
    """A test's body for one call: its assert, after the object's line and set-up calls for a chain."""
    body = ast.parse(expr, mode="eval").body
    parts = _chain(body)
    if parts is None:
        if isinstance(body, ast.Compare | ast.BoolOp | ast.IfExp | ast.Lambda | ast.NamedExpr) or (
                isinstance(body, ast.UnaryOp) and isinstance(body.op, ast.Not)):
            expr = f"({expr})"  # (`a != b` checked against a value: not a chained comparison)
        return f"    assert {expr} == None\n"
    first, *steps, last = parts
    return "".join(f"    {line}\n" for line in [f"{first.target.id} = {ast.unparse(first.value)}",
                                                  *map(ast.unparse, steps), f"assert {ast.unparse(last)} == None"])


def _tests(target: Target, head: str, exprs: list[str]) -> str:
    return head + "".join(f"\n\ndef test_{target.name.strip('_') or 'call'}_explored_{n}():\n{_lines(e)}"
                          for n, e in enumerate(dict.fromkeys(exprs), 1))


def _fixed_calls(shape: Shape) -> list[str]:
    """The call expressions of ``explore_tests``: an object built with ordinary values where one is needed, then
    the target's argument lists (or, for a property, the attribute read once); a generator's calls in list()."""
    _, parts, wrap = shape
    *receiver, (source, params) = parts
    callee = "".join(f"{s}({render(p, _ordinary(p))})" for s, p in receiver) + source
    exprs = [callee] if params is None else [f"{callee}({args})" for args in _arg_lists(params)]
    return list(dict.fromkeys(f"{wrap}({e})" if wrap else e for e in exprs))


def explore_tests(target: Target, text: str, limit: int = MAX_CALLS) -> str:
    """Test functions calling the target with values read off its code (empty when it cannot be called so)."""
    shape = _shape(target, text)
    return "" if shape is None else _tests(target, shape[0], _fixed_calls(shape)[:limit])


def explored_tests(target: Target, head: str, exprs: list[str], limit: int = MAX_SEARCHED) -> str:
    """Test functions for the call expressions the search kept (each checked to be one call expression, or a call
    on an object set up by others, :func:`_chain`)."""
    good = []
    for e in exprs:
        try:
            node = ast.parse(e, mode="eval").body
        except (SyntaxError, ValueError):
            continue
        if isinstance(node, ast.Call | ast.Attribute) or _chain(node) is not None:
            good.append(shape.operators(e))  # (`a == b`, not `a.__eq__(b)`: validated as written)
            head += "".join(f"{line}\n" for line in shape.operator_imports(head + e, good[-1]) if line not in head)
    return _tests(target, head, good[:limit]) if good else ""


def _objects(target: Target, text: str, limit: int = 4) -> tuple[str, list[str]]:
    """Objects of the module's own classes, built from ordinary values (``Duration(3)``), as values a search
    passes where a parameter says nothing of its type: the import line they need, and their expressions."""
    tree = _parse(text)
    if tree is None:
        return "", []
    prefix = "" if target.module else f"{target.file.stem}."
    names, exprs = [], []
    for node in tree.body:
        if not isinstance(node, ast.ClassDef) or node.name.startswith("_") or len(exprs) >= limit:
            continue
        bases = {b.id if isinstance(b, ast.Name) else b.attr if isinstance(b, ast.Attribute) else "" for b in node.bases}
        if any(b.endswith(("Error", "Exception", "Warning")) or b in ("Enum", "IntEnum", "Protocol", "ABC", "TypedDict")
               for b in bases):
            continue
        init = _init(node, tree)[0]
        if init is not None and init.args.kwarg:  # (`Style(*rules)` is built bare: `Style()`)
            continue
        names.append(node.name)
        exprs.append(prefix + _constructor(node, tree))
    if not names:
        return "", []
    head = f"from {target.module} import {', '.join(names)}\n" if target.module else ""
    return head, exprs


def _class_name(name: str) -> bool:
    """Whether an annotation's name names a class (not `Any`, `Callable`, `Self` or a type variable `T`)."""
    return name[:1].isupper() and len(name) > 1 and name != "None" and name not in typing.__all__


def _type_names(node: ast.expr | None) -> list[str]:
    """The class names an annotation names: `Docstring`, `common.Docstring`, `Optional[Docstring]`, `"Docstring"`,
    `Docstring | None` all name `Docstring`; `List[Docstring]` names none."""
    return [n for n in _annotation_names(node, generic=False) if _class_name(n)]


def _makers(func: ast.FunctionDef, tree: ast.Module) -> dict[str, list[ast.FunctionDef]]:
    """For each parameter of ``func`` annotated with a class that public functions of the same module return
    (`compose(docstring: Docstring)` and `def parse(text) -> Docstring`), those functions."""
    a = func.args
    wanted = {arg.arg: names for arg in a.posonlyargs + a.args + a.kwonlyargs if (names := _type_names(arg.annotation))}
    if not wanted:  # (most targets: no walk over the module's functions)
        return {}
    makers: dict[str, list[ast.FunctionDef]] = {}
    for node in tree.body:
        if (isinstance(node, ast.FunctionDef) and node is not func and not node.name.startswith("_")
                and _generator(node) == ""):
            for name in _type_names(node.returns):
                makers.setdefault(name, []).append(node)
    out: dict[str, list[ast.FunctionDef]] = {}
    for arg, names in wanted.items():
        for name in names:
            out.setdefault(arg, []).extend(makers.get(name, []))
    return {arg: found for arg, found in out.items() if found}


def _producers(func: ast.FunctionDef, tree: ast.Module, module: str, limit: int = 3) -> dict[str, list[Source]]:
    """For each parameter of ``func`` that :func:`_makers` finds functions for, calls of those functions with
    ordinary values (`parse('hello world')`): an object of the very type, built the way the module builds it."""
    out: dict[str, list[Source]] = {}
    for arg, found in _makers(func, tree).items():
        for maker in found:
            calls = _fixed_calls(("", [(maker.name, _params(maker, skip_first=False))], ""))[:limit]
            out.setdefault(arg, []).extend(_made(f"from {module} import {maker.name}", *calls))
    return out


def _string_makers(target: Target, text: str) -> dict[str, list[str]]:
    """For each parameter of the target's call, the makers (:func:`_makers`) whose first parameter takes a
    string (`parse(text)`): the search calls them on the strings its kept calls used (a whole numpydoc block that
    reached ``parse``'s sections makes a `Docstring` with sections for ``compose``)."""
    tree = _parse(text)
    func = find_node(tree, target.qualname) if tree is not None and target.module else None
    if not isinstance(func, ast.FunctionDef):
        return {}
    out = {}
    for arg, found in _makers(func, tree).items():
        names = []
        for maker in found:
            params = _params(maker, skip_first=False)
            if params and "str" in {_kind_of(v) for v in params[0][1]} and all(not r for _, _, r, _ in params[1:]):
                names.append(maker.name)
        if names:
            out[arg] = names
    return out


def search_spec(target: Target, text: str, module_strings: list[str], calls=None,
                more_imports: dict[str, str] | None = None) -> dict | None:
    """What the search (:mod:`testbot._search`) needs to call the target: the import lines, the call's parts with
    each parameter's values as source text (literals, and objects of the module's classes where the parameter
    says nothing of its type; ``makers`` where a function of the module makes the parameter's class from a string,
    :func:`_string_makers`), the calls to try first (the docstring examples', or ``calls`` when given, then
    the fixed calls), and the marks the module underlines headings with (:func:`underline_marks`); None when it
    cannot be called."""
    shape = _shape(target, text)
    if shape is None:
        return None
    head, parts, wrap = shape
    doc_head, docs = doc_calls(target, text, calls=calls, more_imports=more_imports)
    if _rebinds(head, doc_head):  # (`import datetime` for the examples, `from datetime import datetime` for a value)
        doc_head, docs = "", []
    seeds = docs + _fixed_calls(shape)[:MAX_CALLS]  # the module's own examples first
    examples = _example_args(docs, parts)
    objects_head, objects = _objects(target, text)
    have = head + doc_head + objects_head
    taken = _bound(have) | _defined(_parse(text))
    stdlib = [v for v in mentioned_objects(text) if not _clashes(v, taken, have)]
    objects_head += imports_of(stdlib, have)
    objects = objects + [repr(v) for v in stdlib]
    unknown = {repr(v) for v in UNKNOWN}
    makers = _string_makers(target, text)
    out = []
    for n_part, (source, params) in enumerate(parts):
        if params is None:
            out.append({"source": source, "params": None})
            continue
        ps = []
        for name, pool, required, keyword in params:
            kinds = {_kind_of(v) for v in pool}
            extra = [repr(v) for v in module_strings if v not in pool] if "str" in kinds else []
            if unknown <= {repr(v) for v in pool}:  # nothing said of its type: objects, not the types' texts
                extra = [e for e in extra if e not in STDLIB_TEXT_REPRS] + objects
            own = [repr(v) for v in pool]
            ps.append({"name": name, "pool": own + [e for e in examples.get((source, name), []) if e not in own] + extra,
                       "required": required, "keyword": keyword})
            if n_part == len(parts) - 1 and makers.get(name):  # (as in _shape: the target's own parameters)
                ps[-1]["makers"] = makers[name]
        out.append({"source": source, "params": ps})
    head += doc_head + objects_head  # (the search may pass an object to any parameter: a wrong type reaches the checks)
    func = find_node(_parse(text), target.qualname)
    return {"id": target.id, "head": head, "parts": out, "seeds": seeds, "wrap": wrap,
            "underline": underline_marks(text), "qualname": target.qualname, "first": target.start,
            "last": target.end,
            "body": sorted(n for n in target.lines if target.def_line < n <= target.end),  # (a change's: its lines)
            "mutates": len(parts) == 2 and func.name != "__init__" and _mutates(func)}


@functools.lru_cache(maxsize=8)
def underline_marks(text: str) -> str:
    """The characters a module repeats to the length of a text (`"-" * len(title)`, not spaces): it reads or writes
    headings underlined so (numpydoc, reStructuredText), and the search underlines its strings' last lines with
    them."""
    tree = _parse(text)
    marks = set()
    for node in ast.walk(tree) if tree is not None else ():
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
            for mark, times in ((node.left, node.right), (node.right, node.left)):
                if (isinstance(mark, ast.Constant) and isinstance(mark.value, str) and len(mark.value) == 1
                        and not mark.value.isspace() and not mark.value.isalnum() and isinstance(times, ast.Call)
                        and isinstance(times.func, ast.Name) and times.func.id == "len"):
                    marks.add(mark.value)
    return "".join(sorted(marks))


def _example_args(calls: list[str], parts: list[Part]) -> dict[tuple[str, str], list[str]]:
    """The argument values of the examples' calls, as source text, by (part, parameter name): the search tries
    them, and grows them, like the values read off the code."""
    out: dict[tuple[str, str], list[str]] = {}
    source, params = parts[0] if len(parts) == 1 or parts[1][0] == ".__init__" else parts[-1]
    if not params:
        return out
    for text in calls:
        call = ast.parse(text, mode="eval").body
        if not isinstance(call, ast.Call):
            continue
        given = [(params[i][0], a) for i, a in enumerate(call.args[:len(params)]) if not isinstance(a, ast.Starred)]
        given += [(k.arg, k.value) for k in call.keywords if k.arg]
        for name, value in given:
            values = out.setdefault((source, name), [])
            if ast.unparse(value) not in values:
                values.append(ast.unparse(value))
    return out


def module_strings(text: str, limit: int = 40) -> list[str]:
    """The short string constants of a whole module, values a search mixes into strings: its ASCII bytes constants
    as text too (a parser of bytes compares with `b'T'`), docstrings, the messages of what it raises or warns and
    the names it spells as strings (:func:`_spelled_names`) left out; first, texts of the standard library's types
    it names (:data:`STDLIB_TEXTS`: `'2020-W05-3'` where it names `date`)."""
    tree = _parse(text)
    if tree is None:
        return []
    docs = {id(n.body[0].value) for n in ast.walk(tree)
            if isinstance(n, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and n.body
            and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
    docs |= _messages(tree) | _spelled_names(tree)
    kinds = _mentioned_kinds(text)
    found = [t for kind, texts in STDLIB_TEXTS.items() if kind in kinds for t in texts]
    for n in ast.walk(tree):
        value = n.value if isinstance(n, ast.Constant) and id(n) not in docs else None
        if isinstance(value, bytes):
            try:
                value = value.decode("ascii")
            except UnicodeDecodeError:
                continue
        if isinstance(value, str) and 0 < len(value) <= 40 and value not in found:
            found.append(value)
    return found[:limit]


def _messages(tree: ast.AST) -> set[int]:
    """The ids of the constants in what a function or module raises or warns: its messages (`raise
    ValueError('Invalid week: {}'.format(w))`, `warnings.warn(...)`), no value a call should take."""
    out: set[int] = set()
    for n in ast.walk(tree):
        warns = isinstance(n, ast.Call) and _name_of(n.func) == "warn"
        call = n.exc if isinstance(n, ast.Raise) else n if warns else None
        if isinstance(call, ast.Call):
            out |= {id(c) for a in call.args + [k.value for k in call.keywords] for c in ast.walk(a)
                    if isinstance(c, ast.Constant)}
    return out


_NAME_CALLS = {"getattr", "hasattr", "setattr", "delattr"}


def _spelled_names(tree: ast.AST) -> set[int]:
    """The ids of the constants that spell a name, not a value: what a module assigns to a special name
    (`__all__ = ['isoparse', 'isoparser']`, `__slots__`, `__version__`) and the attribute names it passes to
    `getattr` and its kin. Glued into a call's text they make inputs no user passes (`'2024-02-29T, isoparser'`)."""
    out: set[int] = set()
    for n in ast.walk(tree):
        if isinstance(n, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = n.targets if isinstance(n, ast.Assign) else [n.target]
            if n.value is not None and any(
                isinstance(t, ast.Name) and t.id.startswith("__") and t.id.endswith("__") for t in targets
            ):
                out |= {id(c) for c in ast.walk(n.value) if isinstance(c, ast.Constant)}
        elif isinstance(n, ast.Call) and _name_of(n.func) in _NAME_CALLS and len(n.args) >= 2:
            out |= {id(c) for c in ast.walk(n.args[1]) if isinstance(c, ast.Constant)}
    return out


def _name_of(func: ast.expr) -> str | None:
    """A callee's last name: `warn` for `warnings.warn`."""
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None


def _import_line(alias: ast.alias, base: str | None = None) -> str:
    """``import a`` (no ``base``) or ``from base import a``, with the alias's ``as`` name."""
    line = f"from {base} import {alias.name}" if base is not None else f"import {alias.name}"
    return line + (f" as {alias.asname}" if alias.asname else "")


def _module_imports(tree: ast.Module, module: str) -> dict[str, str]:
    """The names a module's own top-level imports bind, each with an import line a test can use (a relative
    import made absolute from ``module``'s package)."""
    out: dict[str, str] = {}
    package = module.rsplit(".", 1)[0] if "." in module else ""
    for node in tree.body:
        if isinstance(node, ast.Import):
            for a in node.names:
                out[(a.asname or a.name).split(".")[0]] = _import_line(a)
        elif isinstance(node, ast.ImportFrom) and not any(a.name == "*" for a in node.names):
            base = node.module or ""
            if node.level:
                parts = package.split(".") if package else []
                if node.level - 1 > len(parts):
                    continue
                parts = parts[:len(parts) - (node.level - 1)]
                base = ".".join(parts + ([node.module] if node.module else []))
            if not base:
                continue
            for a in node.names:
                out[a.asname or a.name] = _import_line(a, base)
    return out


class _Inline(ast.NodeTransformer):
    """Names replaced by the expressions an example assigned to them earlier."""

    def __init__(self, env: dict[str, ast.expr]) -> None:
        self.env = env

    def visit_Name(self, node: ast.Name) -> ast.AST:
        return self.env.get(node.id, node) if isinstance(node.ctx, ast.Load) else node


def _inlined(stmts: list[ast.stmt], env: dict[str, ast.expr], found: list[tuple[ast.Call, frozenset[str]]]) -> None:
    """The calls of a run of statements (an example's lines, a test's body, ``with`` blocks entered), the
    variables assigned before each put in."""
    for s in stmts:
        if isinstance(s, ast.Assign) and len(s.targets) == 1:
            value = _Inline(env).visit(s.value)
            t = s.targets[0]
            if isinstance(t, ast.Name):
                env[t.id] = value
            elif isinstance(t, ast.Tuple) and isinstance(value, ast.Tuple) and len(t.elts) == len(value.elts):
                env.update({e.id: v for e, v in zip(t.elts, value.elts) if isinstance(e, ast.Name)})
            else:
                continue
            expr = value
        elif isinstance(s, ast.Expr | ast.Assert):
            expr = _Inline(env).visit(s.value if isinstance(s, ast.Expr) else s.test)
        elif isinstance(s, ast.With):
            _inlined(s.body, env, found)
            continue
        else:
            continue
        for call in ast.walk(expr):
            if isinstance(call, ast.Call):
                found.append((call, frozenset(n.id for n in ast.walk(call) if isinstance(n, ast.Name))))


@functools.lru_cache(maxsize=4)
def _doc_examples(text: str) -> tuple[tuple[ast.Call, frozenset[str]], ...]:
    """Every call in a module's docstring examples (``>>>`` lines), the variables the examples assigned before it
    put in (``start = date(2020, 1, 1)`` then ``f(start)``: ``f(date(2020, 1, 1))``), with the names it uses."""
    tree = _parse(text)
    if tree is None:
        return ()
    found: list[tuple[ast.Call, frozenset[str]]] = []
    for examples in docstring_examples(tree):
        stmts = []
        for ex in examples:
            try:
                stmts += ast.parse(ex.source).body
            except SyntaxError:
                continue
        _inlined(stmts, {}, found)
    return tuple(found)


def calls_in_tests(codes: list[str]) -> tuple[list[tuple[ast.Call, frozenset[str]]], dict[str, str], list[str]]:
    """What tests (the model's, passing or not) offer a search: their calls, each test's variables put in, the
    names their own imports bind (with the import line), and their string constants."""
    found: list[tuple[ast.Call, frozenset[str]]] = []
    imports: dict[str, str] = {}
    strings: list[str] = []
    for code in codes:
        try:
            tree = ast.parse(code)
        except SyntaxError:
            continue
        for node in tree.body:
            if isinstance(node, ast.Import | ast.ImportFrom) and not any(a.name == "*" for a in node.names):
                base = "." * node.level + (node.module or "") if isinstance(node, ast.ImportFrom) else None
                for a in node.names:
                    imports.setdefault((a.asname or a.name).split(".")[0], _import_line(a, base))
            elif isinstance(node, ast.FunctionDef):
                _inlined(node.body, {}, found)
        strings += [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
                    and 0 < len(n.value) <= 400 and n.value not in strings]
    return found, imports, strings


def doc_calls(target: Target, text: str, limit: int = MAX_CALLS, calls=None,
              more_imports: dict[str, str] | None = None) -> tuple[str, list[str]]:
    """The target's calls in its module's docstring examples (or in ``calls``, :func:`calls_in_tests`'), as call
    expressions, and the import lines they need (the names come from the module, as its own code sees them, or
    from ``more_imports``); ("", []) when there are none."""
    tree = _parse(text)
    if tree is None or not target.module or target.is_async:
        return "", []
    names = target.qualname.split(".")
    defined = _defined(tree)
    imports = {**(more_imports or {}), **_module_imports(tree, target.module)}
    owners = [c.name for c in tree.body if isinstance(c, ast.ClassDef)
              and any(isinstance(f, ast.FunctionDef) and f.name == names[-1] for f in c.body)]
    lines: dict[str, None] = {}
    exprs: list[str] = []
    for call, used in _doc_examples(text) if calls is None else calls:
        f = call.func
        if len(names) == 1 or names[1] == "__init__":  # a function, or the class called
            ours = isinstance(f, ast.Name) and f.id == names[0]
        else:  # a method: called on the class, an object of it, or (one class has it) on anything
            ours = isinstance(f, ast.Attribute) and f.attr == names[1] and (
                names[0] in {n.id for n in ast.walk(f.value) if isinstance(n, ast.Name)} or owners == [names[0]])
        if not ours or CHANGING.search(ast.unparse(call)):
            continue
        need = []
        for n in sorted(used):
            if n in defined:
                need.append(f"from {target.module} import {n}")
            elif n in imports:
                need.append(imports[n])
            elif not hasattr(builtins, n):
                break  # a name the example made some other way (a loop variable): the call cannot stand alone
        else:
            source = ast.unparse(call)
            if source not in exprs:
                exprs.append(source)
                lines.update(dict.fromkeys(need))
        if len(exprs) >= limit:
            break
    return "".join(f"{line}\n" for line in lines), exprs
