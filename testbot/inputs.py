"""Whether a test passes a function an input of the kind its parameter says it takes.

A reviewer sends back a test that calls ``url("http://a.b", strict_query=3)`` where the parameter reads
``strict_query: bool = True``, or ``unique_pairs("ab")`` where it reads ``pairs: Iterable[tuple[str, str]]``: the
input is of the wrong kind, and what the code does with it is an accident, not a contract. Read without running
anything:

- :func:`signatures`: the parameters of a module's functions, methods and classes (by ``__init__``), by name, with
  each parameter's annotation and default as source text;
- :func:`mistyped`: whether a test's call of one of those names passes a literal (a number, a string, a list, a
  lambda...) that its parameter's annotation rules out, or a non-boolean scalar where the default is a boolean;
  without an annotation that decides, whether the literal lacks what the body uses of the parameter: an attribute
  it reads (a string as ``content_handler`` where the body calls ``content_handler.startElement``), items that
  unpack into pairs (``for char, xlate in pairs``: a string, or a list of strings). A parameter the function asks
  the kind of (``isinstance(value, int)``, ``hasattr(value, "keys")``) is not judged: the code means to take other
  kinds; nor is one the body binds again.

Only literals are judged, and only against annotations this module understands (built-in types, ``typing`` and
``collections.abc`` names, ``Optional``/``Union``/``|``, ``Literal``, element types of containers); anything else
(a class of the project, a ``TypeVar``, a name the test built) is taken as fitting. ``None`` is never judged.
"""

from __future__ import annotations

import ast
import functools
import types
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

__all__ = ["Param", "Signatures", "mistyped", "signatures", "unambiguous"]


@dataclass(frozen=True)
class Param:
    name: str
    annotation: str = ""  # its source text, "" when it has none
    default: str = ""  # the source text of its default, "" when it has none
    positional: bool = True  # it can be passed by position
    keyword: bool = True  # it can be passed by keyword
    checked: bool = False  # the body asks what kind it is (`isinstance(p, ...)`): any kind may be meant
    # how the body uses it, where it never rebinds the name: the attributes it reads (`p.startElement`), and the
    # size of the tuples its items are unpacked into (`for char, xlate in p`, or `for item in p: a, b = item`)
    attributes: tuple[str, ...] = ()
    pairs: int = 0


# a callable's name and its parameters (self or cls left out), per name
Signatures = tuple[tuple[str, tuple[Param, ...]], ...]


# calls that ask what kind a value is: a parameter they ask about may be given other kinds on purpose
_KIND_CHECKS = {"isinstance", "issubclass", "type", "callable", "hasattr"}


def _params(func: ast.FunctionDef | ast.AsyncFunctionDef, bound: bool) -> tuple[Param, ...]:
    a = func.args

    def text(node: ast.expr | None) -> str:
        return ast.unparse(node) if node is not None else ""

    checked = {
        arg.id
        for node in ast.walk(func)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _KIND_CHECKS
        for arg in node.args[:1]
        if isinstance(arg, ast.Name)
    }
    uses = _uses(func)
    positional = [*a.posonlyargs, *a.args]
    defaults = [None] * (len(positional) - len(a.defaults)) + list(a.defaults)
    out = [
        Param(p.arg, text(p.annotation), text(d), True, i >= len(a.posonlyargs), p.arg in checked, *uses(p.arg))
        for i, (p, d) in enumerate(zip(positional, defaults))
    ]
    out += [
        Param(p.arg, text(p.annotation), text(d), False, True, p.arg in checked, *uses(p.arg))
        for p, d in zip(a.kwonlyargs, a.kw_defaults)
    ]
    if bound and out and out[0].positional:
        out = out[1:]
    return tuple(out)


def _uses(func: ast.FunctionDef | ast.AsyncFunctionDef) -> Callable[[str], tuple[tuple[str, ...], int]]:
    """How ``func``'s body uses each parameter (:class:`Param`'s ``attributes`` and ``pairs``): nothing for a name
    the body binds again (``value = str(value)``: what it held before is not what is used)."""
    body = [n for stmt in func.body for n in ast.walk(stmt)]
    bound = {n.id for n in body if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load)}
    unpacked = {  # `a, b = item`: the name item, unpacked into 2
        n.value.id: len(n.targets[0].elts)
        for n in body
        if isinstance(n, ast.Assign)
        and len(n.targets) == 1
        and isinstance(n.targets[0], ast.Tuple)
        and not any(isinstance(e, ast.Starred) for e in n.targets[0].elts)
        and isinstance(n.value, ast.Name)
    }

    def uses(name: str) -> tuple[tuple[str, ...], int]:
        if name in bound:
            return (), 0
        attributes = sorted({n.attr for n in body if isinstance(n, ast.Attribute) and _is(n.value, name)})
        pairs = 0
        for n in body:
            if isinstance(n, ast.For | ast.comprehension) and _is(n.iter, name):
                t = n.target
                if isinstance(t, ast.Tuple) and not any(isinstance(e, ast.Starred) for e in t.elts):
                    pairs = len(t.elts)
                elif isinstance(t, ast.Name) and t.id in unpacked:
                    pairs = unpacked[t.id]
        return tuple(attributes), pairs

    return uses


def _is(node: ast.expr, name: str) -> bool:
    return isinstance(node, ast.Name) and node.id == name


def _decorators(func: ast.FunctionDef | ast.AsyncFunctionDef) -> set[str]:
    return {ast.unparse(d.func if isinstance(d, ast.Call) else d).rsplit(".", 1)[-1] for d in func.decorator_list}


@functools.lru_cache(maxsize=16)
def signatures(module_source: str) -> Signatures:
    """The parameters of the module's functions, its classes' methods, and its classes (their ``__init__``), by
    the name a test calls them by. A name defined twice with different parameters is left out (which one a test
    calls is not known); so are functions under another decorator than ``staticmethod``/``classmethod`` (a
    decorator may change what the function takes)."""
    try:
        tree = ast.parse(module_source)
    except (SyntaxError, ValueError):
        return ()
    found: dict[str, set[tuple[Param, ...]]] = {}

    def add(name: str, func: ast.FunctionDef | ast.AsyncFunctionDef, bound: bool) -> None:
        decorators = _decorators(func)
        if decorators - {"staticmethod", "classmethod"}:
            return
        found.setdefault(name, set()).add(_params(func, bound and "staticmethod" not in decorators))

    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            add(node.name, node, False)
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                    if item.name == "__init__" and not node.decorator_list:
                        add(node.name, item, True)
                    elif not item.name.startswith("__"):
                        add(item.name, item, True)
    return unambiguous((name, params) for name, s in found.items() for params in s)


def unambiguous(pairs: Iterable[tuple[str, tuple[Param, ...]]]) -> Signatures:
    """The names of ``pairs`` with one set of parameters, sorted: a name defined with two is left out (which one a
    test calls is not known)."""
    found: dict[str, set[tuple[Param, ...]]] = {}
    for name, params in pairs:
        found.setdefault(name, set()).add(params)
    return tuple(sorted((name, next(iter(s))) for name, s in found.items() if len(s) == 1))


# Methods of the built-in types: `d.get(...)` in a test is most likely a dict's, whatever the module defines.
_BUILTIN_METHODS = frozenset(
    name for kind in (str, bytes, list, tuple, dict, set, frozenset, int, float) for name in dir(kind)
)


def _kind(node: ast.expr) -> str | None:
    """What kind of value a literal is (``"int"``, ``"str"``, ``"list"``, ``"callable"``...); None for anything
    that is not a literal, and for ``None``."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        node = node.operand
        if not (isinstance(node, ast.Constant) and type(node.value) in (int, float, complex)):
            return None
    if isinstance(node, ast.Constant):
        value = node.value
        return type(value).__name__ if isinstance(value, bool | int | float | complex | str | bytes) else None
    kinds = {
        ast.JoinedStr: "str",
        ast.List: "list",
        ast.ListComp: "list",
        ast.Tuple: "tuple",
        ast.Dict: "dict",
        ast.DictComp: "dict",
        ast.Set: "set",
        ast.SetComp: "set",
        ast.Lambda: "callable",
    }
    return next((k for t, k in kinds.items() if isinstance(node, t)), None)


_ITERABLE = {"list", "tuple", "dict", "set", "str", "bytes"}
_NUMBERS = {"bool": {"bool"}, "int": {"bool", "int"}, "float": {"bool", "int", "float"}}
# annotation name -> the literal kinds it takes
_TAKES: dict[str, set[str]] = {
    **_NUMBERS,
    "complex": {"bool", "int", "float", "complex"},
    "str": {"str"},
    "Text": {"str"},
    "bytes": {"bytes"},
    "AnyStr": {"str", "bytes"},
    "list": {"list"},
    "List": {"list"},
    "MutableSequence": {"list"},
    "tuple": {"tuple", "list"},  # (a list where a pair goes reads the same)
    "Tuple": {"tuple", "list"},
    "dict": {"dict"},
    "Dict": {"dict"},
    "Mapping": {"dict"},
    "MutableMapping": {"dict"},
    "set": {"set"},
    "Set": {"set"},
    "MutableSet": {"set"},
    "AbstractSet": {"set"},
    "Sequence": {"list", "tuple", "str", "bytes"},
    "Iterable": _ITERABLE,
    "Collection": _ITERABLE,
    "Container": _ITERABLE,
    "Sized": _ITERABLE,
    "Reversible": {"list", "tuple", "dict", "str", "bytes"},
    "Hashable": {"bool", "int", "float", "complex", "str", "bytes", "tuple"},
    "Callable": {"callable"},
}
_ANYTHING = {"Any", "object"}


def _elements(node: ast.expr) -> Iterator[ast.expr]:
    """The literal elements of a list, tuple or set literal, and a string literal's characters (each a string)."""
    if isinstance(node, ast.List | ast.Tuple | ast.Set):
        yield from (e for e in node.elts if not isinstance(e, ast.Starred))
    elif isinstance(node, ast.Constant) and isinstance(node.value, str):
        yield from (ast.Constant(ch) for ch in node.value[:8])


def _all(results: Iterator[bool | None]) -> bool | None:
    """False when any is False; else None when any is unknown; else True."""
    out: bool | None = True
    for r in results:
        if r is False:
            return False
        if r is None:
            out = None
    return out


def _any(results: list[bool | None]) -> bool | None:
    if any(r is True for r in results):
        return True
    return False if results and all(r is False for r in results) else None


def fits(node: ast.expr, annotation: ast.expr) -> bool | None:
    """Whether the literal ``node`` is of a kind ``annotation`` takes: True, False, or None when not known."""
    kind = _kind(node)
    if kind is None:
        return None
    if isinstance(annotation, ast.Constant):
        if annotation.value is None:
            return False
        if not isinstance(annotation.value, str):
            return None
        try:
            annotation = ast.parse(annotation.value, mode="eval").body  # (a forward reference)
        except SyntaxError:
            return None
        return fits(node, annotation)
    if isinstance(annotation, ast.BinOp) and isinstance(annotation.op, ast.BitOr):
        return _any([fits(node, annotation.left), fits(node, annotation.right)])
    base, args = annotation, []
    if isinstance(annotation, ast.Subscript):
        base = annotation.value
        args = list(annotation.slice.elts) if isinstance(annotation.slice, ast.Tuple) else [annotation.slice]
    name = base.attr if isinstance(base, ast.Attribute) else base.id if isinstance(base, ast.Name) else ""
    if name in _ANYTHING:
        return True
    if name == "Optional" and args:
        return fits(node, args[0])
    if name == "Union":
        return _any([fits(node, a) for a in args])
    if name == "Annotated" and args:
        return fits(node, args[0])
    if name == "Literal":
        return any(_kind(a) == kind for a in args) if all(_kind(a) for a in args) else None
    takes = _TAKES.get(name)
    if takes is None:
        return None
    if kind not in takes:
        return False
    if not args or name == "Callable":
        return True
    if name in ("tuple", "Tuple") and isinstance(node, ast.Tuple | ast.List):
        if len(args) == 2 and isinstance(args[1], ast.Constant) and args[1].value is Ellipsis:
            return _all(fits(e, args[0]) for e in _elements(node))
        return _all(fits(e, a) for e, a in zip(_elements(node), args))
    if isinstance(node, ast.Dict):
        if name in ("dict", "Dict", "Mapping", "MutableMapping") and len(args) == 2:
            pairs = [(k, v) for k, v in zip(node.keys, node.values) if k is not None]
            return _all(r for k, v in pairs for r in (fits(k, args[0]), fits(v, args[1])))
        return None
    if len(args) == 1:
        return _all(fits(e, args[0]) for e in _elements(node))
    return None


_TYPES: dict[str, type] = {
    "bool": bool,
    "int": int,
    "float": float,
    "complex": complex,
    "str": str,
    "bytes": bytes,
    "list": list,
    "tuple": tuple,
    "dict": dict,
    "set": set,
    "callable": types.FunctionType,
}


def _fits_use(node: ast.expr, p: Param) -> bool | None:
    """Whether the literal ``node`` has what the body uses of ``p``: its attributes, items that unpack."""
    kind = _kind(node)
    if kind is None:
        return None
    if any(not hasattr(_TYPES[kind], a) for a in p.attributes):
        return False
    if p.pairs:
        if kind in ("str", "bytes") or kind in ("bool", "int", "float", "complex"):
            return False  # (a string's characters, a number: nothing there unpacks into a tuple)
        items = [e for e in _elements(node) if _kind(e) is not None]
        if any(_kind(e) not in ("list", "tuple") for e in items):
            return False
    return None


def _fits_param(node: ast.expr, p: Param) -> bool | None:
    if p.checked:
        return None
    found: bool | None = None
    if p.annotation:
        try:
            found = fits(node, ast.parse(p.annotation, mode="eval").body)
        except SyntaxError:
            found = None
    elif p.default in ("True", "False"):  # (no annotation: a flag takes a flag, not a number or a string)
        kind = _kind(node)
        found = True if kind == "bool" else False if kind in ("int", "float", "complex", "str", "bytes") else None
    return found if found is not None else _fits_use(node, p)


def _name(call: ast.Call) -> str:
    if isinstance(call.func, ast.Name):
        return call.func.id
    if isinstance(call.func, ast.Attribute) and call.func.attr not in _BUILTIN_METHODS:
        return call.func.attr
    return ""


def mistyped(test: str | ast.AST, known: Signatures) -> list[str]:
    """The arguments of the ``known`` callables' calls in ``test`` (its source or its tree) that their parameters
    rule out, each as ``"name(param=value)"``; [] when every literal fits (or none is judged)."""
    try:
        tree = ast.parse(test) if isinstance(test, str) else test
    except SyntaxError:
        return []
    by_name = dict(known)
    out = []
    for call in ast.walk(tree):
        if not isinstance(call, ast.Call) or _name(call) not in by_name:
            continue
        params = by_name[_name(call)]
        if any(isinstance(a, ast.Starred) for a in call.args) or any(k.arg is None for k in call.keywords):
            continue  # (`*args`, `**kwargs`: which value goes where is not read here)
        positional = [p for p in params if p.positional]
        pairs = [(positional[i], a) for i, a in enumerate(call.args) if i < len(positional)]
        named = {p.name: p for p in params if p.keyword}
        pairs += [(named[k.arg], k.value) for k in call.keywords if k.arg in named]
        for p, value in pairs:
            if _fits_param(value, p) is False:
                out.append(f"{_name(call)}({p.name}={ast.unparse(value)})")
    return out
