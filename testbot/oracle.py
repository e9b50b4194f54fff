"""Expected values taken from the code: a test whose only fault is a wrong expectation is repaired.

A small model often calls the code right and works out the result wrong (``assert mean([1, 2]) == 1``). Such
a test still runs the lines it was written for; with the value the code returns today it becomes a passing
regression test, the oracle search-based tools such as Pynguin use. The repair is narrow:

- only ``assert <expression> == <literal>`` (either way round), and ``assert <call>`` / ``assert not <call>``
  (a call, name, attribute or subscript: a truth check that failed becomes the other one, or ``== <value>``
  when the value is not a bool), in test functions or methods of test classes;
- the test is run once with each such assert replaced by a call that records ``repr`` of the expression, in
  the sandbox like any candidate; the run must reach the end of the test (any other failure: no repair);
- a value is used only when its ``repr`` is a literal (numbers, strings, bytes, None, booleans, and
  lists/tuples/dicts/sets of those), or built of literals and the standard library's value constructors
  (``Decimal('0.25')``, ``datetime.date(2008, 2, 28)``: their import goes in with it), and every pass of a loop
  saw the same one; a value of a subclass of
  one of those (a namedtuple, an OrderedDict, an IntEnum) is recorded as the plain value it equals;
- a check of a call whose value varies by nature (``hash``, ``id``, the clock, random numbers, the host name:
  :func:`varies`) is never given an observed value;
- the repaired test is then validated from scratch: it must pass, pass again on every re-run (each with a
  hash seed of its own, one with the clock years ahead, another time zone and locale: a time, a random number
  or a hash is caught there), and add coverage, like any other.

A test stopped by an exception that came through the code under test (not one its own call raised, such as a
wrong number of arguments) becomes a test that expects it: the statement that raised goes inside
``pytest.raises(<that exception>)`` and the statements after it, which never ran, are dropped.

A test stopped by a call that broke Python's argument binding (``f() missing 1 required positional argument:
'sep'``, an unexpected keyword, too many positional arguments) has that call mended to the signature the message
names (:func:`repair_bad_call`: the closest parameter name, a plain value for a left-out one, the surplus dropped),
so that it runs the code it was written for; its checks then take their values through the value repair above.

A test that expected an exception the code did not raise (pytest's "DID NOT RAISE") runs its ``pytest.raises``
block's statements bare, a bare call among them checked by the value repair above.

A test stopped by its own statement (the exception did not come through the code under test) loses that
statement when it is an ``assert`` the test cannot evaluate, or the wrongly built expected value of later
``assert A == expected`` checks (``expected = NamedTuple(a=1)``: those checks then take the value the code
returns, through the value repair above, run on the shortened test).

Kept tests that were repaired say so in their provenance comment. Observed values come back as text and are
only ever parsed (:func:`ast.literal_eval`, :func:`value_imports`), never run: a hostile test cannot turn them
into code.
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
import json
import re
import secrets
from collections.abc import Sequence
from typing import NamedTuple

from testbot import mutate
from testbot.explore import annotation_kinds  # (read the way explore reads them for its own calls)
from testbot.extract import Candidate, expects_raise
from testbot.shape import parsed

MAX_REPR = 200  # longer values are not worth a literal in a test (and would not fit the report)


def _is_literal(node: ast.AST) -> bool:
    try:
        ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False
    return True


TRUTH_CHECKED = (ast.Call, ast.Name, ast.Attribute, ast.Subscript)  # what `assert X` / `assert not X` may repair


def _checks(func: ast.FunctionDef | ast.AsyncFunctionDef) -> list[tuple[ast.Assert, ast.expr, ast.expr | None]]:
    """The function's ``assert A == B`` with exactly one literal side: (assert, observed side, literal side); and
    its truth checks ``assert X`` / ``assert not X``: (assert, X, None)."""
    out: list[tuple[ast.Assert, ast.expr, ast.expr | None]] = []
    for node in ast.walk(func):
        if not isinstance(node, ast.Assert) or node.msg is not None:
            continue
        test = node.test
        truth = test.operand if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not) else test
        if isinstance(truth, TRUTH_CHECKED):
            out.append((node, truth, None))
            continue
        if not (isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq)):
            continue
        left, right = test.left, test.comparators[0]
        if _is_literal(right) and not _is_literal(left):
            out.append((node, left, right))
        elif _is_literal(left) and not _is_literal(right):
            out.append((node, right, left))
    return out


def _indent(source: str, cand: Candidate) -> str:
    """A test's text as its module holds it: a method of a test class is indented one level (as extract does)."""
    if not cand.class_name:
        return source
    return "\n".join("    " + line if line.strip() else "" for line in source.splitlines())


def _shown(cand: Candidate) -> str:
    return _indent(cand.test_source, cand)


def _swap(cand: Candidate, source: str) -> str:
    """The candidate's module with its test replaced by ``source`` (a function, or a method unindented)."""
    return cand.code.replace(_shown(cand), _indent(source.rstrip("\n"), cand), 1)


def _function(source: str) -> ast.FunctionDef | None:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    if len(tree.body) != 1 or not isinstance(tree.body[0], ast.FunctionDef):
        return None
    return tree.body[0]


# A value of a subclass of a builtin (a namedtuple, an OrderedDict, an IntEnum) is recorded as that builtin's value:
# its repr is then a literal, and it still compares equal to it (`Point(1, 2) == (1, 2)`). Containers are
# converted all the way down. A subclass whose == differs fails the repaired test's validation.
BUILTIN_KINDS = "(int, float, complex, str, bytes, tuple, list, dict, set, frozenset)"
PLAIN = (
    "def _testbot_plain(value, depth=0):\n"
    f"    kinds = {BUILTIN_KINDS}\n"
    "    if depth > 20 or value is None or type(value) is bool:\n"
    "        return value\n"
    "    kind = next((k for k in kinds if isinstance(value, k)), None)\n"
    "    if kind is None:\n"
    "        return value\n"
    "    try:\n"
    "        if kind is dict:\n"
    "            return {_testbot_plain(k, depth + 1): _testbot_plain(v, depth + 1) for k, v in value.items()}\n"
    "        if kind in (tuple, list, set, frozenset):\n"
    "            return kind(_testbot_plain(v, depth + 1) for v in value)\n"
    "        return value if type(value) is kind else kind(value)\n"
    "    except Exception:\n"
    "        return value\n\n\n"
)


# An object whose repr is no literal (``<Docstring object at 0x...>``) is described by its public attributes:
# each one's repr (None when too long), and a container's length; the check becomes checks of those. A list or
# tuple of at most MAX_ITEM_OBJECTS such objects (`list(section.parse(text))`) is described by its length and
# each item's attributes (keys `len()`, `[0].snippet`, `len([0].items)`), as many as fit in MAX_ATTRS_TEXT.
MAX_ATTRS = 8
MAX_ATTRS_TEXT = 700
MAX_ITEM_OBJECTS = 3
ATTRS = (
    "def _testbot_attrs(value, items=True):\n"
    "    import json\n"
    f"    if items and isinstance(value, (list, tuple)) and 0 < len(value) <= {MAX_ITEM_OBJECTS}:\n"
    "        out = {'len()': repr(len(value))}\n"
    "        for i, item in enumerate(value):\n"
    "            seen = _testbot_attrs(item, False)\n"
    "            if not seen:\n"
    "                return ''\n"
    "            for key, text in json.loads(seen).items():\n"
    "                inner = key[4:-1] if key.startswith('len(') else key\n"
    "                out[('len([%d].%s)' if key.startswith('len(') else '[%d].%s') % (i, inner)] = text\n"
    f"        while len(out) > 1 and len(json.dumps(out)) > {MAX_ATTRS_TEXT}:\n"
    "            out.popitem()\n"
    "        return json.dumps(out, sort_keys=True)\n"
    "    if isinstance(value, type) or callable(value) or not hasattr(value, '__dict__'):\n"
    "        return ''\n"
    "    try:\n"
    "        items = dict(vars(value))\n"
    "    except TypeError:\n"
    "        return ''\n"
    "    out = {}\n"
    "    for key in sorted(items):\n"
    f"        if key.startswith('_') or len(out) >= {MAX_ATTRS}:\n"
    "            continue\n"
    "        item = items[key]\n"
    "        text = repr(_testbot_plain(item))\n"
    "        if len(text) <= 80:\n"
    "            out[key] = text\n"
    "        elif isinstance(item, (list, tuple, dict, set, frozenset, str)):\n"
    "            out['len(' + key + ')'] = repr(len(item))\n"
    "    return json.dumps(out, sort_keys=True)\n\n\n"
)


# A value with neither a literal repr nor public attributes is checked by its shape, the last resort of the value
# repair (search-based tools such as Pynguin check an object's type the same way): a one-shot iterator that a call
# in the check returned (a generator, ``filter``, ``map``) by its items, ``list(X) == [...]``, when there are at
# most MAX_ITEMS and their repr is a literal; a function or class by its ``__qualname__``; anything else by its
# type's ``__qualname__``. Only a call's fresh iterator is drained: a name bound to one is left alone.
MAX_ITEMS = 50
SHAPE = (
    "def _testbot_shape(value, fresh):\n"
    "    import io, itertools, json\n"
    f"    if value is None or isinstance(value, (bool,) + {BUILTIN_KINDS}):\n"
    "        return ''\n"
    "    try:\n"
    "        one_shot = iter(value) is value and not isinstance(value, io.IOBase)\n"
    "    except Exception:\n"
    "        one_shot = False\n"
    "    if fresh and one_shot:\n"
    "        try:\n"
    f"            items = list(itertools.islice(value, {MAX_ITEMS + 1}))\n"
    "        except Exception:\n"
    "            return ''\n"
    f"        if len(items) <= {MAX_ITEMS}:\n"
    "            return json.dumps({'list': repr(_testbot_plain(items))})\n"
    "        return ''\n"
    "    name = getattr(value, '__qualname__', None) if callable(value) else None\n"
    "    if isinstance(name, str):\n"
    "        return json.dumps({'qualname': repr(name)})\n"
    "    return json.dumps({'type': repr(type(value).__qualname__)})\n\n\n"
)


# An object whose repr rebuilds an equal object where the test runs (``Version(major=1, minor=2, patch=3)``,
# its class imported by the test) is checked by that repr: an exact value, where the attributes or the type's
# name are only parts of it. Evaluated in the sandboxed recording run, in the test module's own names.
REBUILT = (
    "def _testbot_rebuilt(value):\n"
    "    try:\n"
    "        text = repr(value)\n"
    f"        if len(text) > {MAX_REPR} or text.startswith('<'):\n"
    "            return ''\n"
    "        same = eval(text, dict(globals())) == value\n"
    "    except Exception:\n"
    "        return ''\n"
    "    return text if same is True else ''\n\n\n"
)


ATTR_KEY = r"(\[\d+\]\.)?[A-Za-z_]\w*|len\((\[\d+\]\.)?[A-Za-z_]\w*\)|len\(\)"  # (`note`, `len([0].items)`, `len()`)


def _attr_check(name: str, key: str) -> str:
    """The expression an attributes' key reads off the object bound to ``name``: `result.note`, `len(result)`,
    `len(result[0].items)`."""
    if key == "len()":
        return f"len({name})"
    inner = key[4:-1] if key.startswith("len(") else key
    got = f"{name}{inner}" if inner.startswith("[") else f"{name}.{inner}"
    return f"len({got})" if key.startswith("len(") else got


class Shape(NamedTuple):
    """A check of a value by its shape: ``template`` (``list({})``, ``{}.__qualname__``, ``type({}).__qualname__``)
    applied to the checked expression, compared with ``text`` (a literal)."""

    template: str
    text: str


SHAPE_TEMPLATES = {"list": "list({})", "qualname": "{}.__qualname__", "type": "type({}).__qualname__"}


def instrument(cand: Candidate) -> tuple[str, str] | None:
    """The candidate's test module with its checks recording what they saw, and the marker its report carries.

    The recording test fails on purpose at its end, with the values in the failure message (the sandboxed run's
    only channel back). None when the candidate has nothing to repair.
    """
    if _shown(cand) not in cand.code:
        return None
    func = _function(cand.test_source)
    if func is None:
        return None
    checks = _checks(func)
    if not checks:
        return None
    marker = "TESTBOT-OBSERVED-" + secrets.token_hex(6)
    numbered = {id(a): i for i, (a, _, _) in enumerate(checks)}

    class Record(ast.NodeTransformer):
        def visit_Assert(self, node: ast.Assert) -> ast.AST:
            i = numbered.get(id(node))
            if i is None:
                return node
            observed = next(o for a, o, _ in checks if a is node)
            fresh = ast.Constant(isinstance(observed, ast.Call))
            call = ast.Call(ast.Name("_testbot_observe", ast.Load()), [ast.Constant(i), observed, fresh], [])
            return ast.copy_location(ast.Expr(call), node)

    func = Record().visit(func)
    func.body.append(ast.parse(f"raise AssertionError({marker!r} + ' ' + _testbot_observed())").body[0])
    # The report keeps the last ~1500 characters of a failure: only single, short values go back, the message
    # kept under that.
    recorder = (
        "_TESTBOT_SEEN = {}\n\n\n"
        + PLAIN
        + ATTRS
        + SHAPE
        + REBUILT +
        "def _testbot_observe(i, value, fresh):\n"
        f"    _TESTBOT_SEEN.setdefault(str(i), set()).add(repr(_testbot_plain(value))[:{MAX_REPR + 1}])\n"
        "    _TESTBOT_SEEN.setdefault(str(i) + '=', set()).add(_testbot_rebuilt(value))\n"
        "    _TESTBOT_SEEN.setdefault(str(i) + '@', set()).add(_testbot_attrs(value))\n"
        "    _TESTBOT_SEEN.setdefault(str(i) + '#', set()).add(_testbot_shape(value, fresh))\n\n\n"
        "def _testbot_observed():\n"
        "    import json\n"
        "    out = {}\n"
        "    for key, values in _TESTBOT_SEEN.items():\n"
        f"        limit = {MAX_ATTRS_TEXT} if key.endswith('@') else {MAX_REPR + 20}"
        f" if key.endswith('#') else {MAX_REPR}\n"
        "        if len(values) == 1 and 0 < len(next(iter(values))) <= limit:\n"
        "            out[key] = sorted(values)\n"
        "            if len(json.dumps(out)) > 1000:\n"
        "                del out[key]\n"
        "    return json.dumps(out)\n"
    )
    return _near_top(_swap(cand, ast.unparse(ast.fix_missing_locations(func))), [recorder]), marker


def _near_top(code: str, blocks: list[str]) -> str:
    """``code`` with ``blocks`` inserted after its docstring and ``from __future__`` imports."""
    lines = code.splitlines()
    at = _after_future_imports(code)
    return "\n".join(lines[:at] + blocks + lines[at:]) + "\n"


def _after_future_imports(code: str) -> int:
    """The line index after a module's docstring and ``from __future__`` imports (where new code may go)."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return 0
    at = 0
    for i, node in enumerate(tree.body):
        doc = i == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
        if doc or (isinstance(node, ast.ImportFrom) and node.module == "__future__"):
            at = node.end_lineno or at
        else:
            break
    return at


def _message(detail: str, marker: str) -> object:
    """The JSON a recording run put after ``marker`` in its failure message (the rest of that line); None if none."""
    found = re.search(re.escape(marker) + r" (\{.*\})", detail)
    if not found:
        return None
    try:
        return json.loads(found.group(1))
    except ValueError:
        return None


# Standard-library value types whose repr is the call that builds them (``Decimal('0.25')``,
# ``datetime.date(2008, 2, 28)``), with the import line that call needs: a value built only of literals and these
# is as good as a literal for a test (it is parsed here, never run, like the literals).
CONSTRUCTORS = {"Decimal": "from decimal import Decimal", "Fraction": "from fractions import Fraction",
                "datetime": "import datetime"}
_VALUE_NODES = (ast.Expression, ast.Constant, ast.Tuple, ast.List, ast.Dict, ast.Set, ast.UnaryOp, ast.USub,
                ast.UAdd, ast.keyword, ast.Load, ast.Call, ast.Attribute, ast.Name)


def value_imports(text: str) -> list[str] | None:
    """The import lines a recorded value needs: [] for a literal, the lines for a repr made of literals and the
    standard library's value constructors (CONSTRUCTORS); None for anything else (an object's default repr)."""
    try:
        node = ast.parse(text, mode="eval")
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return None
    needs = set()
    for n in ast.walk(node):
        if not isinstance(n, _VALUE_NODES):
            return None
        root = n.func if isinstance(n, ast.Call) else n
        while isinstance(root, ast.Attribute):
            root = root.value
        if isinstance(n, ast.Call | ast.Attribute | ast.Name):
            if not isinstance(root, ast.Name) or root.id not in CONSTRUCTORS:
                return None
            if isinstance(n, ast.Attribute) and root.id != "datetime":
                return None  # (only the datetime module's names are reached through a dot)
            needs.add(CONSTRUCTORS[root.id])
    return sorted(needs)


Observed = str | dict[str, str] | Shape  # a value's repr, an object's attributes' reprs, or its shape


def _one_json(key: str, values: object) -> object:
    """The JSON value a check's '@' or '#' key recorded, when its number is an int and it saw one; else None."""
    if not (key[:-1].isdigit() and isinstance(values, list) and len(values) == 1 and isinstance(values[0], str)):
        return None
    try:
        return json.loads(values[0])
    except ValueError:
        return None


def observed_values(detail: str, marker: str) -> dict[int, Observed]:
    """What the recording run saw, by check number: only checks that saw one value, and only literal ones (or
    ones built with the standard library's value constructors, :func:`value_imports`); for an object with no
    such value, a fresh iterator's items (a :class:`Shape`), else its attributes that have one (``{"name": "'x'",
    "len(items)": "2"}``), else its qualified name or its type's (a :class:`Shape`)."""
    seen = _message(detail, marker)
    out: dict[int, Observed] = {}
    objects: dict[int, dict[str, str]] = {}
    shapes: dict[int, Shape] = {}
    rebuilt: dict[int, str] = {}
    for key, values in (seen.items() if isinstance(seen, dict) else ()):
        if key.endswith("="):  # a repr that rebuilds the object
            if (key[:-1].isdigit() and isinstance(values, list) and len(values) == 1 and isinstance(values[0], str)
                    and 0 < len(values[0]) <= MAX_REPR and _expression(values[0])):
                rebuilt[int(key[:-1])] = values[0]
            continue
        if key[-1:] in ("#", "@"):  # a shape or an object's attributes: one JSON text per check
            recorded = _one_json(key, values)
            if key.endswith("#") and isinstance(recorded, dict) and len(recorded) == 1:
                ((kind, text),) = recorded.items()
                if kind in SHAPE_TEMPLATES and isinstance(text, str) and value_imports(text) is not None:
                    shapes[int(key[:-1])] = Shape(SHAPE_TEMPLATES[kind], text)
            elif key.endswith("@") and isinstance(recorded, dict):
                good = {k: v for k, v in recorded.items() if isinstance(k, str) and isinstance(v, str)
                        and re.fullmatch(ATTR_KEY, k) and value_imports(v) is not None}
                if good:
                    objects[int(key[:-1])] = good
            continue
        if not (isinstance(values, list) and values and all(isinstance(v, str) for v in values)):
            continue
        if len(set(values)) != 1 or len(values[0]) > MAX_REPR or not key.isdigit():
            continue
        if value_imports(values[0]) is None:
            continue
        out[int(key)] = values[0]
    for key, shape in shapes.items():  # a fresh iterator's items, before the iterator's (empty) attributes
        if shape.template == SHAPE_TEMPLATES["list"]:
            out.setdefault(key, shape)
    for key, text in rebuilt.items():  # an object's repr that rebuilds it: its exact value
        out.setdefault(key, text)
    for key, attrs in objects.items():  # an object's attributes, where its own value was no use
        out.setdefault(key, attrs)
    for key, shape in shapes.items():  # the last resort: what the value is
        out.setdefault(key, shape)
    return out


def _expression(text: str) -> bool:
    try:
        ast.parse(text, mode="eval")
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return False
    return True


def _bound_otherwise(code: str, line: str) -> bool:
    """Whether ``code`` binds the name import ``line`` binds in another way (``from datetime import datetime``)."""
    try:
        tree = ast.parse(code)
        name = ast.parse(line).body[0].names[0]
    except (SyntaxError, IndexError, AttributeError):
        return True
    wanted = name.asname or name.name
    for n in ast.walk(tree):
        if isinstance(n, ast.Import | ast.ImportFrom) and ast.unparse(n) != line:
            if any((a.asname or a.name).split(".")[0] == wanted for a in n.names):
                return True
        elif isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store) and n.id == wanted:
            return True
        elif isinstance(n, ast.FunctionDef | ast.ClassDef) and n.name == wanted:
            return True
    return False


# Calls whose value differs between runs, interpreters or days by nature: a check of one is never given the value
# one run saw (a hash, an id or address, a process id, a random or time-based uuid, the clock, a random number)
VARYING_CALLS = frozenset({"hash", "__hash__", "id", "getpid", "getppid", "uuid1", "uuid4", "time", "time_ns",
                           "monotonic", "perf_counter", "process_time", "now", "utcnow", "today", "random", "randint",
                           "randrange", "choice", "shuffle", "getrandbits", "token_hex", "token_bytes", "urandom",
                           "gethostname", "getcwd", "getlogin", "getuser", "localtime", "gmtime", "ctime", "asctime"})


def varies(expr: ast.expr) -> bool:
    """Whether ``expr`` calls something whose value differs from run to run or day to day by nature
    (:data:`VARYING_CALLS`): ``hash(v)``, ``v.__hash__()``, ``id(v)``, ``datetime.now()``, ``time.time()``..."""
    for node in ast.walk(expr):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            if name in VARYING_CALLS:
                return True
    return False


def repair(cand: Candidate, values: dict[int, Observed]) -> Candidate | None:
    """The candidate with its checks' expected values replaced by the observed ones; None if nothing changes.

    The test's text is edited in place (comments and layout stay); only the literal side of a check changes,
    except for an object (a dict of its attributes' values): its check, a statement of the test's own, becomes
    ``result = <expression>`` and a check of each attribute (a list of objects: its length, and each item's); and for a value checked by its shape, the check
    becomes ``<shape of the expression> == <literal>`` (``list(X) == [1, 2]``, ``type(X).__qualname__ == 'P'``).
    """
    func = _function(cand.test_source)
    if func is None or not values:
        return None
    offset = mutate.offsets(cand.test_source)

    def source_of(node: ast.expr) -> str:
        return cand.test_source[offset(node.lineno, node.col_offset):offset(node.end_lineno, node.end_col_offset)]

    edits = []
    needed: dict[str, None] = {}
    for i, (check, observed, literal) in enumerate(_checks(func)):
        if i not in values or varies(observed):
            continue
        new = values[i]
        if isinstance(new, dict):  # an object: its attributes checked, where the check is a statement of its own
            if check not in func.body or (literal is None and check.test is not observed):
                continue
            pad = " " * check.col_offset
            if isinstance(observed, ast.Name):  # (an object the test holds already: `counter.add(2)` set it up)
                name, stmts = observed.id, []
            else:
                name = next(n for n in ("result", "result_1", "result_2", f"result_{i}_")
                            if not re.search(rf"\b{n}\b", cand.test_source))
                stmts = [f"{name} = {source_of(observed)}"]
            for attr, text in sorted(new.items(), key=lambda kv: (kv[0] != "len()", kv[0])):
                if any(_bound_otherwise(cand.code, line) for line in value_imports(text) or []):
                    continue
                needed.update(dict.fromkeys(value_imports(text) or []))
                got = _attr_check(name, attr)
                stmts.append(f"assert {got} is {text}" if text in ("None", "True", "False") else
                             f"assert {got} == {text}")
            if len(stmts) > (not isinstance(observed, ast.Name)):
                edits.append((offset(check.lineno, check.col_offset), offset(check.end_lineno, check.end_col_offset),
                              f"\n{pad}".join(stmts)))
            continue
        lines_for = value_imports(new.text if isinstance(new, Shape) else new) or []
        if any(_bound_otherwise(cand.code, line) for line in lines_for):
            continue  # (`datetime.date(...)` where the test's `datetime` is the class)
        if isinstance(new, Shape):
            if check.test is observed:
                continue  # (`assert X` of an object: it held)
            needed.update(dict.fromkeys(lines_for))
            text = source_of(observed) if isinstance(observed, TRUTH_CHECKED) else f"({source_of(observed)})"
            edits.append((offset(check.test.lineno, check.test.col_offset),
                          offset(check.test.end_lineno, check.test.end_col_offset),
                          f"{new.template.format(text)} == {new.text}"))
            continue
        if literal is None:  # a truth check: `assert X` or `assert not X`
            try:
                value = ast.literal_eval(new)
            except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                value = None  # an object built by a constructor: true, and not a bool
            if not lines_for and bool(value) == (check.test is observed):
                continue  # this check passed
            if lines_for and check.test is observed:
                continue  # (a constructor's value's truth is not read off its text: the check is left as it is)
            text = source_of(observed)
            needed.update(dict.fromkeys(lines_for))
            if isinstance(value, bool):
                new = text if value else f"not {text}"
            else:
                new = f"{text} == {new}"
            edits.append((offset(check.test.lineno, check.test.col_offset),
                          offset(check.test.end_lineno, check.test.end_col_offset), new))
            continue
        try:
            if ast.literal_eval(literal) == ast.literal_eval(new):
                continue  # this check passed
        except Exception:  # noqa: BLE001 - values that cannot even be compared: replace
            pass
        needed.update(dict.fromkeys(lines_for))
        edits.append((offset(literal.lineno, literal.col_offset), offset(literal.end_lineno, literal.end_col_offset),
                      new))
    if not edits:
        return None
    source = cand.test_source
    for start, end, new in sorted(edits, reverse=True):
        source = source[:start] + new + source[end:]
    if _function(source) is None:
        return None
    added = [line for line in needed if line not in cand.imports]
    code = _swap(cand, source)
    if added:  # the constructors' imports, with the test's own
        code = _near_top(code, added)
    return dataclasses.replace(cand, code=code, test_source=source, imports=cand.imports + tuple(added),
                               observed=True)


# -- an exception the code under test raised: the test becomes one that expects it


def instrument_raise(cand: Candidate, module: str) -> tuple[str, str] | None:
    """The candidate's test module with its body watched: which statement raised what, and whether the exception
    came through the code under test (``module``). The run fails on purpose with that in its message."""
    if _shown(cand) not in cand.code or not module:
        return None
    func = _function(cand.test_source)
    if func is None or not func.body:
        return None
    marker = "TESTBOT-RAISED-" + secrets.token_hex(6)
    body: list[ast.stmt] = []
    for i, stmt in enumerate(func.body):
        body.append(ast.parse(f"_testbot_at[0] = {i}").body[0])
        body.append(stmt)
    handler = ast.parse(
        "try:\n    pass\nexcept Exception as _testbot_error:\n"
        f"    raise AssertionError({marker!r} + ' ' + _testbot_where(_testbot_at[0], _testbot_error, {module!r}))\n"
    ).body[0]
    handler.body = body
    func.body = [ast.parse("_testbot_at = [0]").body[0], handler]
    watcher = (
        "def _testbot_where(at, error, module):\n"
        "    import json\n"
        "    names, tb = [], error.__traceback__\n"
        "    while tb is not None:\n"
        "        names.append(tb.tb_frame.f_globals.get('__name__'))\n"
        "        tb = tb.tb_next\n"
        "    kind = type(error)\n"
        "    try:\n"
        "        message = str(error)[:300]\n"
        "    except Exception:\n"
        "        message = ''\n"
        "    return json.dumps({'at': at, 'module': kind.__module__, 'name': kind.__qualname__,\n"
        "                       'inside': module in names[1:], 'message': message})\n"
    )
    return _near_top(_swap(cand, ast.unparse(ast.fix_missing_locations(func))), [watcher]), marker


def observed_error(detail: str, marker: str) -> dict | None:
    """Where the watched run raised: {'at': statement index, 'module', 'name', 'inside', 'message'}; None if
    unusable. ``inside``: the exception came through the code under test (else the test's own statement raised
    it); ``message``: the exception's text (at most 300 characters)."""
    seen = _message(detail, marker)
    if not (isinstance(seen, dict) and isinstance(seen.get("at"), int) and isinstance(seen.get("inside"), bool)
            and isinstance(seen.get("module"), str) and isinstance(seen.get("name"), str)):
        return None
    if not isinstance(seen.get("message"), str):
        seen["message"] = ""
    return seen


def stated_messages(texts: Sequence[str]) -> frozenset[str]:
    """The string literals of ``texts`` (the code under test's sources) that could be an exception's message: a
    message the code states word for word (``raise ValueError("lo must not exceed hi")``). The parts of an
    f-string are not: what fills it in at run time may vary, or be something the run read."""
    found: set[str] = set()
    for _, tree in parsed(texts):
        parts = {id(v) for n in ast.walk(tree) if isinstance(n, ast.JoinedStr) for v in n.values}
        found.update(n.value for n in ast.walk(tree)
                     if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in parts
                     and len(n.value) >= MESSAGE_MIN)
    return frozenset(found)


MESSAGE_MIN = 8  # a stated message this long at least is checked (shorter literals are keys and names, not text)


def _free_name(func: ast.FunctionDef, *names: str) -> str:
    """The first of ``names`` the test does not use already."""
    used = {n.id for n in ast.walk(func) if isinstance(n, ast.Name)} | {a.arg for a in ast.walk(func)
                                                                         if isinstance(a, ast.arg)}
    return next((n for n in names if n not in used), "")


def repair_error(cand: Candidate, seen: dict, stated: frozenset[str] = frozenset()) -> Candidate | None:
    """An exception the code under test raised is expected (:func:`repair_raise`), when a test can name its class
    simply (not a nested or odd one); one the test's own statement raised is taken out (:func:`repair_own_error`)."""
    if not seen["inside"]:
        return repair_own_error(cand, seen)
    if not seen["name"].isidentifier() or not all(part.isidentifier() for part in seen["module"].split(".")):
        return None
    return repair_raise(cand, seen, stated)


def repair_raise(cand: Candidate, seen: dict, stated: frozenset[str] = frozenset()) -> Candidate | None:
    """The candidate up to the statement that raised, that statement wrapped in ``pytest.raises``; the statements
    after it (which never ran) are dropped. None if the statement is not a plain line of the test's body. The
    message is checked too, exactly (``assert str(caught.value) == ...``), where the code states it word for word
    (``stated``: :func:`stated_messages`), so that a changed message is caught."""
    func = _function(cand.test_source)
    if func is None or not 0 <= seen["at"] < len(func.body):
        return None
    stmt = func.body[seen["at"]]
    if expects_raise(stmt):
        return None  # it expected another exception: that is a wrong test, not a missing expectation
    lines = cand.test_source.splitlines()
    indent = lines[stmt.lineno - 1][:stmt.col_offset]
    if indent.strip():
        return None  # shares its line with another statement
    name = seen["name"]
    imports = list(cand.imports)
    if seen["module"] != "builtins":
        imports.append(f"from {seen['module']} import {name}")
    if not any(re.match(r"import pytest\b", i.strip()) for i in imports):
        imports.insert(0, "import pytest")
    inner = ["    " + line if line.strip() else line for line in lines[stmt.lineno - 1: stmt.end_lineno]]
    if isinstance(stmt, ast.Assert) and stmt.lineno == stmt.end_lineno:  # `assert f(x) == 1` raised: call f(x)
        expr = ast.get_source_segment(cand.test_source, stmt.test)
        if isinstance(stmt.test, ast.Compare) and isinstance(stmt.test.ops[0], ast.Eq) and len(stmt.test.ops) == 1:
            sides = [stmt.test.left, stmt.test.comparators[0]]
            plain = [n for n in sides if not _is_literal(n)]
            if len(plain) == 1:
                expr = ast.get_source_segment(cand.test_source, plain[0])
        if expr and "\n" not in expr:
            inner = [f"{indent}    {expr}"]
    message = seen.get("message") or ""
    caught = _free_name(func, "caught", "raised") if message in stated and message.isprintable() else ""
    block = [f"{indent}with pytest.raises({name}){' as ' + caught if caught else ''}:", *inner]
    if caught:
        block.append(f"{indent}assert str({caught}.value) == {message!r}")
    source = "\n".join(lines[: stmt.lineno - 1] + block) + "\n"
    if _function(source) is None:
        return None
    added = [i for i in imports if i not in cand.imports]
    code = _swap(cand, source)
    if added:
        code = _near_top(code, added)
    return dataclasses.replace(cand, code=code, test_source=source, imports=tuple(imports), observed=True)


# -- an exception the test's own statement raised (a wrong way to build the expected value, a check that cannot
# be evaluated): the statement is taken out, the test keeps the rest


PLACEHOLDER = "None"  # stands for an expected value the test failed to build; the value repair then fills it in


def repair_own_error(cand: Candidate, seen: dict) -> Candidate | None:
    """The candidate without the statement of its body that raised (not through the code under test), when that
    is an ``assert`` (a check the test cannot evaluate, such as ``isinstance(x, typing.NamedTuple)``) or
    ``NAME = <expr>`` whose NAME is used later only as a whole side of ``assert A == NAME`` checks (the
    expected value, built wrongly: ``expected = NamedTuple(a=1)``). Those checks compare with
    ``PLACEHOLDER`` instead, for the value repair to fill in with what the code returns. The test must keep
    an ``assert``; None otherwise."""
    func = _function(cand.test_source)
    if func is None or not 0 <= seen["at"] < len(func.body):
        return None
    stmt = func.body[seen["at"]]
    lines = cand.test_source.splitlines()
    if (lines[stmt.lineno - 1].encode("utf-8")[:stmt.col_offset].strip()
            or lines[stmt.end_lineno - 1].encode("utf-8")[stmt.end_col_offset:].strip()):
        return None  # shares a line with another statement
    swaps: list[ast.Name] = []
    if isinstance(stmt, ast.Assign):
        if len(stmt.targets) != 1 or not isinstance(stmt.targets[0], ast.Name):
            return None
        name = stmt.targets[0].id
        later = func.body[seen["at"] + 1:]
        uses = [n for s in later for n in ast.walk(s) if isinstance(n, ast.Name) and n.id == name]
        for check in (n for s in later for n in ast.walk(s) if isinstance(n, ast.Assert)):
            test = check.test
            if (isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq)
                    and check.msg is None):
                swaps += [side for side in (test.left, test.comparators[0])
                          if isinstance(side, ast.Name) and side.id == name]
        if not uses or len(uses) != len(swaps):
            return None  # NAME is used some other way (or never): the test needs it
    elif not isinstance(stmt, ast.Assert):
        return None
    edits = [(n.lineno, n.col_offset, n.end_col_offset) for n in swaps]
    for lineno, start, end in sorted(edits, reverse=True):
        raw = lines[lineno - 1].encode("utf-8")
        lines[lineno - 1] = (raw[:start] + PLACEHOLDER.encode() + raw[end:]).decode("utf-8")
    del lines[stmt.lineno - 1: stmt.end_lineno]
    source = "\n".join(lines) + "\n"
    func = _function(source)
    if func is None or not func.body or not any(isinstance(n, ast.Assert) for n in ast.walk(func)):
        return None
    return dataclasses.replace(cand, code=_swap(cand, source), test_source=source, observed=True)


# -- an exception the test expected and the code did not raise ("DID NOT RAISE"): the block runs bare


def repair_no_raise(cand: Candidate) -> Candidate | None:
    """The candidate with its one ``with pytest.raises(...)`` block of the body replaced by the block's statements,
    a bare call among them checked against ``PLACEHOLDER`` (``assert f(x) == None``) for the value repair to fill
    in when the code returns something else. None when the body has no such block or more than one, when the block
    binds ``as`` a name, or shares its lines."""
    func = _function(cand.test_source)
    if func is None:
        return None
    blocks = [s for s in func.body if expects_raise(s)]
    if len(blocks) != 1 or len(blocks[0].items) != 1 or blocks[0].items[0].optional_vars is not None:
        return None
    block = blocks[0]
    lines = cand.test_source.splitlines()
    if lines[block.lineno - 1][:block.col_offset].strip() or block.body[0].lineno == block.lineno:
        return None
    pad = lines[block.lineno - 1][:block.col_offset]
    inner: list[str] = []
    for stmt in block.body:
        text = lines[stmt.lineno - 1: stmt.end_lineno]
        own = text[0][:stmt.col_offset]
        if own.strip() or lines[stmt.end_lineno - 1][stmt.end_col_offset:].strip() not in ("", ";"):
            return None  # two statements on a line
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call) and stmt.lineno == stmt.end_lineno:
            text = [f"{own}assert {ast.get_source_segment(cand.test_source, stmt.value)} == {PLACEHOLDER}"]
        inner += [pad + line[len(own):] if line.startswith(own) else line for line in text]
    source = "\n".join(lines[:block.lineno - 1] + inner + lines[block.end_lineno:]) + "\n"
    if _function(source) is None:
        return None
    return dataclasses.replace(cand, code=_swap(cand, source), test_source=source, observed=True)


# -- a value that changes from run to run (a duration, a random id): the repaired check failed on the next run, with
# a value of the same plain type; it checks the type instead (the test still runs the code, and a wrong type fails)
UNSTEADY_TYPES = (float, int, str, bytes)


def repair_unsteady(cand: Candidate, detail: str) -> Candidate | None:
    """The candidate with the check that failed (``assert X == <literal>``, pytest's ``>`` line in ``detail``)
    made ``assert isinstance(X, T)``, where the value pytest shows and the check's literal are both of the plain
    type T (float, int, str, bytes): what the code returned when observed is not what it returns now. For a check
    whose literal was observed (the caller's part). None for any other failure, or where the line is not one
    check of its own in the test."""
    func = _function(cand.test_source)
    shown = re.search(r"^E\s+(?:AssertionError: )?assert (.+) == (.+)$", detail, re.M)
    if func is None or shown is None:
        return None
    try:  # (pytest shortens long strings with "...": the value now is only read for its type)
        kind = type(ast.literal_eval(shown.group(1)))
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None
    if kind not in UNSTEADY_TYPES:
        return None
    failing = _failing_line(detail)
    lines = cand.test_source.splitlines()
    for stmt in ast.walk(func):
        if (isinstance(stmt, ast.Assert) and stmt.lineno == stmt.end_lineno
                and lines[stmt.lineno - 1].strip() == failing and isinstance(stmt.test, ast.Compare) and len(stmt.test.ops) == 1
                and isinstance(stmt.test.ops[0], ast.Eq)):
            try:
                literal = ast.literal_eval(stmt.test.comparators[0])
            except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
                continue
            if type(literal) is not kind:
                continue
            line = lines[stmt.lineno - 1]
            expr = ast.get_source_segment(cand.test_source, stmt.test.left)
            lines[stmt.lineno - 1] = f"{line[:stmt.col_offset]}assert isinstance({expr}, {kind.__name__})"
            source = "\n".join(lines) + "\n"
            if _function(source) is None:
                return None
            return dataclasses.replace(cand, code=_swap(cand, source), test_source=source, observed=True)
    return None


# -- a call with the wrong arguments (Python's own binding raised the TypeError): the call is mended to fit the
# signature, so that the test runs the code it was written for; its checks then go through the value repair

# A TypeError raised by Python's own argument binding: the test called something with the wrong arguments. Groups:
# the callable, then one of: the unknown keyword, the keyword given twice, the left-out names, (most, given)
BAD_CALL = re.compile(r"TypeError: ([\w.]+)\(\) (got an unexpected keyword argument '(\w+)'|got multiple values for "
                      r"(?:keyword )?argument '(\w+)'|missing \d+ required (?:positional|keyword-only) arguments?: "
                      r"(.+)|takes (?:from \d+ to )?(\d+) positional arguments? but (\d+) (?:was|were) given"
                      r"|takes no arguments)")
FILLER = {"str": '""', "int": "0", "float": "0.0", "bool": "False", "bytes": 'b""', "list": "[]", "tuple": "()",
          "set": "set()", "dict": "{}", "None": "None", "Callable": "str"}  # a left-out argument's value, by its
# annotation (a function: ``str``, which takes one value)


def _filler(arg: ast.arg, texts: Sequence[str] = ()) -> str:
    """A plain value for a required parameter the call left out: its annotation's empty value, else None. An
    annotation that is a type alias (``StrOrBytes``) is looked up as ``StrOrBytes = ...`` in ``texts``."""
    note = arg.annotation
    if isinstance(note, ast.Name):
        for text in texts:
            alias = re.search(rf"^[ \t]*{re.escape(note.id)}[ \t]*(?::[^=\n]*)?=[ \t]*(.+)$", text, re.M)
            if alias:
                try:
                    note = ast.parse(alias.group(1), mode="eval").body
                    break
                except SyntaxError:
                    continue
    return next((FILLER[k] for k in annotation_kinds(note) if k in FILLER), "None")


def _failing_line(detail: str) -> str:
    """The test's line pytest marked with ``>`` where the error surfaced (the last such line), stripped."""
    marked = [line[1:].strip() for line in detail.splitlines() if line.startswith(">")]
    return marked[-1] if marked else ""


def repair_bad_call(cand: Candidate, detail: str, signature: str, texts: Sequence[str] = ()) -> Candidate | None:
    """The candidate with the one call that broke Python's argument binding mended to fit ``signature`` (the
    ``def`` header of the callable the TypeError names): an unknown keyword takes the closest free parameter's name
    or goes, a keyword given twice goes, left-out required parameters get a plain value by name (their annotation's
    empty value ``""``/``0``/``[]``, else None), surplus positional arguments go from the end. The call must be in
    the one statement pytest marked, be the only call of that name there, and have no ``*``/``**`` arguments. None
    when any of that fails or the message is not a binding error. ``texts``: where type aliases are defined."""
    found = BAD_CALL.findall(detail)
    func = _function(cand.test_source)
    if not found or func is None:
        return None
    qual, _, unknown, twice, missing, most, given = found[-1]
    parts = qual.split(".")
    name = parts[-2] if parts[-1] in ("__init__", "__new__") and len(parts) > 1 else parts[-1]
    try:
        header = ast.parse(signature.strip() + "\n    pass\n").body[0]
    except (SyntaxError, IndexError):
        return None
    if not isinstance(header, (ast.FunctionDef, ast.AsyncFunctionDef)) or header.name != parts[-1]:
        return None
    line = _failing_line(detail)
    stmts = [s for s in ast.walk(func) if isinstance(s, ast.stmt) and s is not func
             and line and cand.test_source.splitlines()[s.lineno - 1].strip() == line]
    if len(stmts) != 1:
        return None
    calls = [n for n in ast.walk(stmts[0]) if isinstance(n, ast.Call)
             and (n.func.id if isinstance(n.func, ast.Name) else getattr(n.func, "attr", None)) == name]
    if len(calls) != 1:
        return None
    call = calls[0]
    if any(isinstance(a, ast.Starred) for a in call.args) or any(k.arg is None for k in call.keywords):
        return None
    a = header.args
    positional = a.posonlyargs + a.args
    skip = 1 if positional and (parts[-1] in ("__init__", "__new__") or
                                (isinstance(call.func, ast.Attribute) and positional[0].arg in ("self", "cls"))) else 0
    params = positional[skip:] + a.kwonlyargs
    new = ast.Call(func=call.func, args=list(call.args), keywords=list(call.keywords))
    if unknown or twice:
        word = unknown or twice
        spot = next((k for k in new.keywords if k.arg == word), None)
        if spot is None:
            return None
        taken = {p.arg for p in params[:len(new.args)]} | {k.arg for k in new.keywords}
        free = [p.arg for p in params if p.arg not in taken and p not in a.posonlyargs]
        close = difflib.get_close_matches(word, free, n=1, cutoff=0.6) if unknown else []
        if close:
            spot.arg = close[0]
        else:
            new.keywords.remove(spot)
    elif missing:
        names = re.findall(r"'(\w+)'", missing)
        by_name = {p.arg: p for p in params}
        if not names or any(n not in by_name or by_name[n] in a.posonlyargs for n in names):
            return None
        new.keywords += [ast.keyword(arg=n, value=ast.parse(_filler(by_name[n], texts), mode="eval").body)
                         for n in names]
    elif most:
        surplus = int(given) - int(most)
        if not 0 < surplus <= len(new.args):
            return None
        new.args = new.args[:len(new.args) - surplus]
    else:  # takes no arguments
        new.args, new.keywords = [], []
    offset = mutate.offsets(cand.test_source)
    begin, end = offset(call.lineno, call.col_offset), offset(call.end_lineno, call.end_col_offset)
    source = cand.test_source[:begin] + ast.unparse(new) + cand.test_source[end:]
    if _function(source) is None:
        return None
    return dataclasses.replace(cand, code=_swap(cand, source), test_source=source, observed=True)


__all__ = ["instrument", "instrument_raise", "observed_error", "observed_values", "repair", "repair_bad_call",
           "repair_error", "repair_no_raise", "repair_own_error", "repair_raise"]
