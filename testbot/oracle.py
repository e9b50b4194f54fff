"""Expected values taken from the code: a test whose only fault is a wrong expected value is repaired.

A small model often calls the code right and works out the result wrong (``assert mean([1, 2]) == 1``). Such
a test still runs the lines it was written for; with the value the code returns today it becomes a passing
regression test, the oracle search-based tools such as Pynguin use. The repair is narrow:

- only plain test functions, and only ``assert <expression> == <literal>`` (either way round);
- the test is run once with each such assert replaced by a call that records ``repr`` of the expression, in
  the sandbox like any candidate; the run must reach the end of the test (any other failure: no repair);
- a value is used only when its ``repr`` is a literal (numbers, strings, bytes, None, booleans, and
  lists/tuples/dicts/sets of those) and every pass of a loop saw the same one;
- the repaired test is then validated from scratch: it must pass, pass again on every re-run (a time or a
  random number is caught there), and add coverage, like any other.

Kept tests that were repaired say so in their provenance comment. Observed values come back as text and are
only ever parsed with :func:`ast.literal_eval`: a hostile test cannot turn them into code.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import re
import secrets

from testbot.extract import Candidate

MAX_REPR = 200  # longer values are not worth a literal in a test (and would not fit the report)


def _is_literal(node: ast.AST) -> bool:
    try:
        ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False
    return True


def _checks(func: ast.FunctionDef | ast.AsyncFunctionDef) -> list[tuple[ast.Assert, ast.expr, ast.expr]]:
    """The function's ``assert A == B`` with exactly one literal side: (assert, observed side, literal side)."""
    out = []
    for node in ast.walk(func):
        if not isinstance(node, ast.Assert) or node.msg is not None:
            continue
        test = node.test
        if not (isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq)):
            continue
        left, right = test.left, test.comparators[0]
        if _is_literal(right) and not _is_literal(left):
            out.append((node, left, right))
        elif _is_literal(left) and not _is_literal(right):
            out.append((node, right, left))
    return out


def _function(source: str) -> ast.FunctionDef | None:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    if len(tree.body) != 1 or not isinstance(tree.body[0], ast.FunctionDef):
        return None
    return tree.body[0]


def instrument(cand: Candidate) -> tuple[str, str] | None:
    """The candidate's test module with its checks recording what they saw, and the marker its report carries.

    The recording test fails on purpose at its end, with the values in the failure message (the sandboxed run's
    only channel back). None when the candidate has nothing to repair.
    """
    if cand.class_name or cand.test_source not in cand.code:
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
            call = ast.Call(ast.Name("_testbot_observe", ast.Load()), [ast.Constant(i), observed], [])
            return ast.copy_location(ast.Expr(call), node)

    func = Record().visit(func)
    func.body.append(ast.parse(f"raise AssertionError({marker!r} + ' ' + _testbot_observed())").body[0])
    # The report keeps the last ~1500 characters of a failure: only single, short values go back, the message
    # kept under that.
    recorder = (
        "_TESTBOT_SEEN = {}\n\n\n"
        "def _testbot_observe(i, value):\n"
        f"    _TESTBOT_SEEN.setdefault(str(i), set()).add(repr(value)[:{MAX_REPR + 1}])\n\n\n"
        "def _testbot_observed():\n"
        "    import json\n"
        "    out = {}\n"
        "    for key, values in _TESTBOT_SEEN.items():\n"
        f"        if len(values) == 1 and len(next(iter(values))) <= {MAX_REPR}:\n"
        "            out[key] = sorted(values)\n"
        "            if len(json.dumps(out)) > 1000:\n"
        "                del out[key]\n"
        "    return json.dumps(out)\n"
    )
    code = cand.code.replace(cand.test_source, ast.unparse(ast.fix_missing_locations(func)), 1)
    lines = code.splitlines()
    at = _after_future_imports(code)
    code = "\n".join(lines[:at] + [recorder] + lines[at:]) + "\n"
    return code, marker


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


def observed_values(detail: str, marker: str) -> dict[int, str]:
    """What the recording run saw, by check number: only checks that saw one value, and only literal ones."""
    found = re.search(re.escape(marker) + r" (\{.*\})", detail)
    if not found:
        return {}
    try:
        seen = json.loads(found.group(1))
    except ValueError:
        return {}
    out = {}
    for key, values in (seen.items() if isinstance(seen, dict) else ()):
        if not (isinstance(values, list) and values and all(isinstance(v, str) for v in values)):
            continue
        if len(set(values)) != 1 or len(values[0]) > MAX_REPR or not key.isdigit():
            continue
        try:
            ast.literal_eval(values[0])
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            continue
        out[int(key)] = values[0]
    return out


def repair(cand: Candidate, values: dict[int, str]) -> Candidate | None:
    """The candidate with its checks' expected values replaced by the observed ones; None if nothing changes.

    The test's text is edited in place (comments and layout stay); only the literal side of a check changes.
    """
    func = _function(cand.test_source)
    if func is None or not values:
        return None
    lines = cand.test_source.splitlines(keepends=True)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))

    def offset(lineno: int, col: int) -> int:  # ast columns count UTF-8 bytes
        line = lines[lineno - 1]
        return starts[lineno - 1] + len(line.encode("utf-8")[:col].decode("utf-8", "ignore"))

    edits = []
    for i, (_, _, literal) in enumerate(_checks(func)):
        if i not in values:
            continue
        new = values[i]
        try:
            if ast.literal_eval(literal) == ast.literal_eval(new):
                continue  # this check passed
        except Exception:  # noqa: BLE001 - values that cannot even be compared: replace
            pass
        edits.append((offset(literal.lineno, literal.col_offset), offset(literal.end_lineno, literal.end_col_offset),
                      new))
    if not edits:
        return None
    source = cand.test_source
    for start, end, new in sorted(edits, reverse=True):
        source = source[:start] + new + source[end:]
    if _function(source) is None:
        return None
    return dataclasses.replace(cand, code=cand.code.replace(cand.test_source, source, 1), test_source=source,
                               observed=True)


__all__ = ["instrument", "observed_values", "repair"]
