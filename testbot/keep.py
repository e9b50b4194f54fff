"""Which tests are kept, and in what shape: the choose step of the pipeline, without any I/O.

A candidate that passed every run is an :class:`Outcome` (the test, its result, what it covers). :func:`choose`
keeps, greedily by coverage gain, the ones that add something and are fit for a reviewer (never a check of a
type name alone, of a value that varies or of an exception the code never states, nor an input of a kind the
parameter rules out, :data:`UNFIT`; filler input, a special method by name or a copy of a docstring example only for
what nothing else reaches, :data:`LAST`); :func:`owner` gives a test of a
several-function prompt to its function; :func:`polished` names and merges kept tests the way a reviewer wants
them; :func:`readable` writes special methods as operators before a test runs; :func:`evidence` turns the
search's tests into facts for a write prompt.
"""

from __future__ import annotations

import ast
import dataclasses
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from testbot import inputs, shape
from testbot import validate as v
from testbot.extract import Candidate, dedent
from testbot.integrate import rename_def
from testbot.measure import Covered, Gain, Measurable, gain, greedy_keep
from testbot.report import CandidateResult, Funnel
from testbot.targets import Target

# Round number of the tests --explore writes (no model: recorded for no prompt).
EXPLORE_ROUND = -2
# The "model" of the tests --explore writes.
EXPLORE_MODEL = "explore (calls with values from the code, no model)"


@dataclass(frozen=True)
class Outcome:
    candidate: Candidate
    result: CandidateResult
    covered: Covered


def owner(o: Outcome, group: Sequence[tuple[Target, Measurable, Covered]]) -> Target:
    """The function of a several-function prompt a test belongs to: the one it adds most to over what it has,
    else the one it names, else the first."""
    gains = [gain(o.covered, have, meas).size if o.result.stable else 0 for _, meas, have in group]
    if max(gains, default=0) > 0:
        return group[gains.index(max(gains))][0]
    return next(
        (t for t, _, _ in group if re.search(rf"\b{re.escape(t.name)}\b", o.candidate.test_source)), group[0][0]
    )


def choose(
    outcomes: list[Outcome],
    have: Covered,
    meas: Measurable,
    record: Measurable | None = None,
    facts: shape.ModuleFacts = shape.NO_FACTS,
) -> tuple[list[Outcome], list[Outcome], Funnel]:
    """Keep, greedily by coverage gain over ``have``, the stable candidates among ``outcomes`` (in their order:
    ties go to the first). Returns the outcomes with each stable one's gain and kept mark filled in, the kept
    ones in the order chosen, and the funnel counts (passed, stable, added coverage). With ``record``, the gain
    written down is the part on ``record``'s code (chosen by the file's, credited to the target's own), or the
    file's where it adds nothing there (an overload no target names): a kept test never says "+0".
    ``facts``: what the module says (:func:`shape.module_facts`): its docstring examples, so that a copy of one is
    kept only for what no other test covers, and the exceptions it states, so that a test never expects another
    (the exceptions each function's own code states: :meth:`shape.ModuleFacts.of`)."""
    passed = [o for o in outcomes if o.result.outcome == v.PASSED]
    stable = [o for o in passed if o.result.stable]
    # A test that checks nothing but a type's name, a value that changes between runs, or an exception the code
    # never states is not kept: its coverage is no use to a reviewer. One with filler input or a special method
    # called by name is kept only for what no other test covers (realistic inputs first); so is a copy of a
    # docstring example.
    shapes = [set(shape.problems(o.candidate.test_source, facts.of(o.candidate.target_id))) for o in stable]
    gains = [gain(o.covered, have, meas) if not UNFIT & found else Gain() for o, found in zip(stable, shapes)]
    last = [bool(LAST & found) for found in shapes]
    chosen = greedy_keep([Gain() if odd else g for g, odd in zip(gains, last)])
    already = Gain()
    for i in chosen:
        already = already | gains[i]
    chosen += greedy_keep([g if odd else Gain() for g, odd in zip(gains, last)], already)
    marked = {}
    for i, o in enumerate(stable):
        g = gains[i] if record is None else (gain(o.covered, have, record) or gains[i])
        res = CandidateResult(
            **{
                **o.result.__dict__,
                "gain_lines": tuple(sorted(g.lines)),
                "gain_branches": tuple(sorted(g.branches)),
                "kept": i in chosen,
            }
        )
        marked[id(o)] = Outcome(o.candidate, res, o.covered)
    counted = Funnel(passed=len(passed), stable=len(stable), added_coverage=sum(1 for g in gains if g))
    return [marked.get(id(o), o) for o in outcomes], [marked[id(stable[i])] for i in chosen], counted


UNFIT = frozenset({shape.TYPE_NAME_ONLY, shape.VARYING, shape.ACCIDENTAL_ERROR, shape.MISTYPED})  # shapes never kept
# shapes kept only for what no other test covers
LAST = frozenset({shape.PLACEHOLDER, shape.DUNDER_CALL, shape.COPIED_DOCTEST})


def unfit(cand: Candidate, facts: shape.ModuleFacts = shape.NO_FACTS) -> bool:
    return bool(UNFIT & set(shape.problems(cand.test_source, facts.of(cand.target_id))))


def gain_of(o: Outcome) -> Gain:
    """What a chosen candidate was recorded to add."""
    return Gain(frozenset(o.result.gain_lines), frozenset(o.result.gain_branches))


def gains_of(kept: list[Outcome]) -> Gain:
    """What chosen candidates add together."""
    gained = Gain()
    for o in kept:
        gained = gained | gain_of(o)
    return gained


def union(have: Covered, outcomes: list[Outcome], meas: Measurable) -> Covered:
    """``have`` plus what every stable candidate so far covers of the target."""
    for o in outcomes:
        if o.result.stable:
            have = have | o.covered.within(meas)
    return have


def missing(meas: Measurable, have: Covered) -> bool:
    return bool((meas.lines - have.lines) or (meas.branches - have.arcs))


EVIDENCE_MAX = 10  # the search's calls shown to the model as evidence, at most ...
EVIDENCE_CHARS = 1800  # ... and in at most this many characters


def evidence(explored: list[Outcome], facts: shape.ModuleFacts = shape.NO_FACTS) -> tuple[str, ...]:
    """The search's kept tests as facts for the model: each test's body (its call and the observed value or
    error), without the numbered name, special methods written as operators. The plain facts first, since the
    model copies what it is shown and reads them in order: calls that return a value before calls that raise,
    short before long, filler text last. ``facts``: what the module says (:func:`shape.module_facts`); a call that
    gives a parameter a value its signature rules out (another parameter's string as a date) or that expects an
    error the function's code never states (:meth:`shape.ModuleFacts.of`) is left out: a test built from it is one
    a reviewer rejects."""
    ranked: list[tuple[tuple[bool, bool, int], str]] = []
    for o in explored:
        try:
            func = ast.parse(dedent(o.candidate.test_source)).body[0]
        except (SyntaxError, IndexError):
            continue
        if not (isinstance(func, ast.FunctionDef) and func.body):
            continue
        codes = shape.problems(o.candidate.test_source, facts.of(o.candidate.target_id))
        if shape.ACCIDENTAL_ERROR in codes or (facts.signatures and inputs.mistyped(func, facts.signatures)):
            continue
        raised = shape.expected_errors(func)
        body = shape.operators("\n".join(ast.unparse(stmt) for stmt in func.body))
        ranked.append(((shape.PLACEHOLDER in codes, bool(raised), len(body)), body))
    return capped(body for _, body in sorted(ranked, key=lambda r: r[0]))


def capped(facts: Iterable[str]) -> tuple[str, ...]:
    """The first facts, at most EVIDENCE_MAX of them in at most EVIDENCE_CHARS characters (the first always)."""
    out: list[str] = []
    size = 0
    for fact in facts:
        if size + len(fact) > EVIDENCE_CHARS and out:
            break
        out.append(fact)
        size += len(fact)
        if len(out) >= EVIDENCE_MAX:
            break
    return tuple(out)


def evidence_imports(explored: list[Outcome]) -> tuple[str, ...]:
    """The import lines the search's tests use (``from datetime import date`` for a fact that passes a date): the
    model's answer starts with them, so a test it builds from a fact runs."""
    lines = (line.strip() for o in explored for imp in o.candidate.imports for line in imp.splitlines())
    return tuple(dict.fromkeys(line for line in lines if line and line != "import pytest"))


def readable(cands: Sequence[Candidate]) -> list[Candidate]:
    """Candidates with special methods called the way Python calls them (``a == b``, ``len(x)``), before they
    are validated: a reviewer sends ``a.__eq__(b)`` back. A model's test of several behaviours comes as one test
    per behaviour (:func:`split`)."""
    out = []
    for c in split(cands):
        source = shape.operators(c.test_source)
        extra = [line for line in shape.operator_imports(c.test_source, source) if line not in c.imports]
        c = with_source(c, source)
        if extra:  # (`pickle.loads(pickle.dumps(x))` for `x.__getstate__()`)
            c = dataclasses.replace(c, imports=c.imports + tuple(extra), code="\n".join(extra) + "\n" + c.code)
        out.append(c)
    return out


def split(cands: Sequence[Candidate]) -> list[Candidate]:
    """A model's tests, each of one behaviour (:func:`testbot.shape.behaviours`): a test that checks values and
    errors comes as its value checks and one test per error, each validated, measured and kept on its own (one
    wrong check then loses its part, not the whole test). The search's tests and test classes stay as they are."""
    out: list[Candidate] = []
    for c in cands:
        function = c.target_id.split("::")[-1].split(".")[-1]
        parts = (
            shape.behaviours(c.test_source, function)
            if c.round != EXPLORE_ROUND and not c.class_name and "::" not in c.name and not c.observed
            else []
        )
        out += [with_source(c, source, name) for name, source in parts] if parts else [c]
    return out


def with_source(c: Candidate, source: str, name: str = "") -> Candidate:
    """``c`` with its test's source (and name) replaced, in its module too."""
    if source == c.test_source and (not name or name == c.name):
        return c
    return dataclasses.replace(
        c, name=name or c.name, test_source=source, code=c.code.replace(c.test_source, source, 1)
    )


def polished(target: Target, kept: list[Outcome]) -> list[Outcome]:
    """Kept tests as a reviewer wants them, without a model: a numbered name (the search's, or a model's
    ``test_1_...``) replaced by one that says the behaviour (:func:`testbot.shape.behaviour_name`), a model's name
    that says too little put right (:func:`testbot.shape.readable_name`), checks of ``True``, ``False`` and
    ``None`` written plainly (:func:`testbot.shape.plain_checks`), the search's calls of one shape grouped into a
    parametrized test (:func:`grouped`), a model's test of many checks of one call shape made one too
    (:func:`tabled`), and the search's tests that would get
    the same name merged into one test (related checks together)."""
    out: list[Outcome] = []
    by_name: dict[str, int] = {}
    for o in grouped(target, kept):
        c = o.candidate
        plain = not c.class_name and "::" not in c.name
        numbered = shape.NUMBERED_NAME in shape.problems(c.test_source)
        name = (shape.behaviour_name(c.test_source, target.name) if plain and numbered else "") or c.name
        if plain and not numbered and c.round != EXPLORE_ROUND:  # a model's name that says too little
            name = shape.readable_name(c.test_source, target.name) or c.name
            if name in by_name:
                name = c.name
        # (`assert x` for `assert x == True`: a test of `__eq__` keeps its `== None`)
        source = shape.plain_checks(c.test_source, none=target.name not in ("__eq__", "__ne__"))
        if plain and c.round != EXPLORE_ROUND and (table := tabled(target, source)):
            source = table
            # (a name made from the first case's values says nothing of the others: the table's own name)
            if name == shape.behaviour_name(c.test_source, target.name):
                generic = _table_name(target)
                name = generic if generic not in by_name else name
            if "import pytest" not in c.imports:
                c = dataclasses.replace(c, imports=("import pytest", *c.imports), code="import pytest\n" + c.code)
        if name != c.name or source != c.test_source:
            c = with_source(c, rename_def(source, c.name, name), name)
        if (
            plain
            and name in by_name
            and c.round == EXPLORE_ROUND
            and out[by_name[name]].candidate.round == c.round
            and c.test_source.startswith("def ")
            and out[by_name[name]].candidate.test_source.startswith("def ")
        ):
            out[by_name[name]] = merged(out[by_name[name]], Outcome(c, o.result, o.covered))
            continue
        by_name.setdefault(name, len(out))
        out.append(
            Outcome(c, dataclasses.replace(o.result, name=name) if name != o.result.name else o.result, o.covered)
        )
    return out


GROUP_MIN = 3  # the search's tests of one call shape grouped into one parametrized test, from this many


def _pin(source: str) -> tuple[str, ast.Call, ast.expr | None, str, tuple[str, str]] | None:
    """A search test that is one call and its outcome: ``assert f(a, b) == v`` or ``with pytest.raises(E): f(a)``,
    the latter with its message checked after it or not (``with pytest.raises(E) as caught: f(a)`` then ``assert
    str(caught.value) == 'message'``). Returns (what groups it: the callee and its outcome's kind, the call, the
    expected value or None, the error's source, and the name the error is caught as with the message check's
    source, or ("", "")), or None for any other test."""
    try:
        func = ast.parse(dedent(source)).body[0]
    except (SyntaxError, IndexError):
        return None
    if not isinstance(func, ast.FunctionDef) or not 1 <= len(func.body) <= 2 or func.decorator_list or func.args.args:
        return None
    stmt = func.body[0]
    call, expected, error, message, name = None, None, "", "", ""
    if len(func.body) == 1 and (pinned := shape.call_equals(stmt)) is not None:
        call, expected = pinned
    elif (
        isinstance(stmt, ast.With)
        and len(stmt.items) == 1
        and len(stmt.body) == 1
        and isinstance(stmt.body[0], ast.Expr)
        and isinstance(stmt.body[0].value, ast.Call)
    ):
        ctx, caught = stmt.items[0].context_expr, stmt.items[0].optional_vars
        if (
            isinstance(ctx, ast.Call)
            and ast.unparse(ctx.func) == "pytest.raises"
            and len(ctx.args) == 1
            and not ctx.keywords
            and (caught is None) == (len(func.body) == 1)
        ):
            call, error = stmt.body[0].value, ast.unparse(ctx.args[0])
            if caught is not None:
                name = ast.unparse(caught)
                message = _message_check(func.body[1], name)
                if not message:
                    return None
    if call is None or call.keywords or not call.args or any(isinstance(a, ast.Starred) for a in call.args):
        return None
    if any(isinstance(n, ast.NamedExpr | ast.Lambda) for n in ast.walk(call)):
        return None
    kind = f"{ast.unparse(call.func)}/{len(call.args)}/{'raises ' + error + ' ' + message if error else 'returns'}"
    return kind, call, expected, error, (name, message)


def _message_check(stmt: ast.stmt, caught: str) -> str:
    """``assert str(<caught>.value) == 'message'`` as source, or "" for any other statement."""
    if not (
        isinstance(stmt, ast.Assert)
        and isinstance(stmt.test, ast.Compare)
        and len(stmt.test.ops) == 1
        and isinstance(stmt.test.ops[0], ast.Eq)
        and ast.unparse(stmt.test.left) == f"str({caught}.value)"
        and isinstance(stmt.test.comparators[0], ast.Constant)
        and isinstance(stmt.test.comparators[0].value, str)
    ):
        return ""
    return ast.unparse(stmt)


def _parameters(target: Target, count: int) -> list[str] | None:
    """The names of the target's first ``count`` parameters (after self or cls), None where it has fewer."""
    try:
        node = ast.parse(dedent(target.source)).body[0]
    except (SyntaxError, IndexError):
        return None
    if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        return None
    names = [a.arg for a in node.args.posonlyargs + node.args.args]
    if target.class_name and target.kind != "staticmethod" and names:
        names = names[1:]
    return names[:count] if len(names) >= count and "expected" not in names[:count] else None


def _calls_target(callee: str, target: Target) -> bool:
    """Whether a call's callee (its source: ``isoparser().isoparse``) names the target."""
    return callee.split(".")[-1].split("(")[0] == target.name


def _table_name(target: Target) -> str:
    """The name of a parametrized test of the target's values, one name for whatever cases it holds."""
    return f"test_{shape._snake(target.name.strip('_'))}_returns_the_expected_value"


def _parametrized(params: Sequence[str], rows: Sequence[str], name: str, body: str) -> str:
    """A ``pytest.mark.parametrize`` test: ``rows`` (each a value or a tuple's source) over ``params``."""
    table = "".join(f"        {row},\n" for row in rows)
    return (
        f'@pytest.mark.parametrize(\n    "{", ".join(params)}",\n    [\n{table}    ],\n)\n'
        f"def {name}({', '.join(params)}):\n{body}"
    )


def tabled(target: Target, source: str) -> str | None:
    """A model's test that is nothing but GROUP_MIN or more checks ``assert f(a, b) == v`` of the target, called
    the same way each time (as many arguments, none by keyword), as one parametrized test under its own name,
    its parameters named by the target's (``@pytest.mark.parametrize("version, expected", [...])``): a reviewer
    reads a table of cases, not a grab-bag. None for any other test."""
    if target.name.startswith("__") or target.is_async:
        return None
    try:
        func = ast.parse(dedent(source)).body[0]
    except (SyntaxError, IndexError):
        return None
    if not isinstance(func, ast.FunctionDef) or func.decorator_list or func.args.args or len(func.body) < GROUP_MIN:
        return None
    pins = [shape.call_equals(stmt) for stmt in func.body]
    if any(p is None for p in pins):
        return None
    calls = [p for p in pins if p is not None]
    callee, arity = ast.unparse(calls[0][0].func), len(calls[0][0].args)
    if not _calls_target(callee, target) or not arity:
        return None
    for call, expected in calls:
        if (
            ast.unparse(call.func) != callee
            or len(call.args) != arity
            or call.keywords
            or any(isinstance(a, ast.Starred) for a in call.args)
            or any(isinstance(n, ast.NamedExpr | ast.Lambda | ast.Await) for n in ast.walk(call))
            or any(isinstance(n, ast.NamedExpr | ast.Lambda | ast.Await) for n in ast.walk(expected))
        ):
            return None
    names = _parameters(target, arity)
    if names is None:
        return None
    first = calls[0][0]
    call = ast.Call(first.func, [ast.Name(n, ast.Load()) for n in names], [])
    rows = [f"({', '.join([*(ast.unparse(a) for a in c.args), ast.unparse(e)])})" for c, e in calls]
    out = _parametrized([*names, "expected"], rows, func.name, f"    assert {ast.unparse(call)} == expected\n")
    try:
        ast.parse(out)
    except SyntaxError:
        return None
    return out


def grouped(target: Target, kept: list[Outcome]) -> list[Outcome]:
    """The search's tests that call the target the same way (same callee, as many arguments, the same outcome:
    a value, or the same error) grouped into one ``pytest.mark.parametrize`` test, named by the target's own
    parameters (``@pytest.mark.parametrize("dt_str, expected", [...])``), where there are GROUP_MIN or more of
    them: one behaviour over several inputs reads as one test. Other tests stay as they are."""
    if target.name.startswith("__") or target.is_async:
        return kept
    groups: dict[str, list[tuple[int, ast.Call, ast.expr | None, str, tuple[str, str]]]] = {}
    for i, o in enumerate(kept):
        c = o.candidate
        if c.round != EXPLORE_ROUND or c.class_name or "::" in c.name or c.helpers:
            continue
        pin = _pin(c.test_source)
        if pin is not None and _calls_target(ast.unparse(pin[1].func), target):
            groups.setdefault(pin[0], []).append((i, *pin[1:]))
    out: dict[int, Outcome] = {}
    dropped: set[int] = set()
    for members in groups.values():
        names = _parameters(target, len(members[0][1].args))
        if len(members) < GROUP_MIN or names is None:
            continue
        first = members[0]
        error, (caught, message) = first[3], first[4]
        call = ast.Call(first[1].func, [ast.Name(n, ast.Load()) for n in names], [])
        rows = []
        for _, c, expected, *_ in members:
            values = [ast.unparse(a) for a in c.args] + ([] if error else [ast.unparse(expected)])
            rows.append(values[0] if len(values) == 1 else f"({', '.join(values)})")
        params = names + ([] if error else ["expected"])
        fn = shape._snake(target.name.strip("_"))
        if error:
            what = re.sub(r"_+", "_", shape._snake(error.split(".")[-1])).strip("_")
            name = f"test_{fn}_raises_{what}"
            body = f"    with pytest.raises({error}){' as ' + caught if caught else ''}:\n        {ast.unparse(call)}\n"
            body += f"    {message}\n" if message else ""
        else:
            name = _table_name(target)
            body = f"    assert {ast.unparse(call)} == expected\n"
        source = _parametrized(params, rows, name, body)
        try:
            ast.parse(source)
        except SyntaxError:
            continue
        olds = [kept[i] for i, *_ in members]
        imports = tuple(dict.fromkeys(["import pytest", *(imp for o in olds for imp in o.candidate.imports)]))
        cand = dataclasses.replace(
            olds[0].candidate,
            name=name,
            test_source=source,
            imports=imports,
            code="\n".join(imports) + "\n\n\n" + source,
        )
        out[members[0][0]] = _joined(cand, olds)
        dropped.update(i for i, *_ in members[1:])
    if not out:
        return kept
    return [out.get(i, o) for i, o in enumerate(kept) if i not in dropped]


def merged(first: Outcome, second: Outcome) -> Outcome:
    """One test running both tests' statements (same name: the same behaviour on other inputs)."""
    a, b = first.candidate, second.candidate
    body = "\n".join(line for line in b.test_source.splitlines()[1:])
    source = a.test_source.rstrip("\n") + "\n" + body.rstrip("\n") + "\n"
    extra = [i for i in b.imports if i not in a.imports]
    helpers = [h for h in b.helpers if h not in a.helpers]
    code = a.code.replace(a.test_source, "\n\n".join([*helpers, source]) if helpers else source, 1)
    if extra:
        code = "\n".join(extra) + "\n" + code
    cand = dataclasses.replace(
        a, test_source=source, code=code, imports=a.imports + tuple(extra), helpers=a.helpers + tuple(helpers)
    )
    return _joined(cand, [first, second])


def _joined(cand: Candidate, parts: Sequence[Outcome]) -> Outcome:
    """``cand``, one test made of ``parts``: with what they add and cover together (the first one's result
    otherwise)."""
    result = dataclasses.replace(
        parts[0].result,
        name=cand.name,
        gain_lines=tuple(sorted({n for o in parts for n in o.result.gain_lines})),
        gain_branches=tuple(sorted({b for o in parts for b in o.result.gain_branches})),
    )
    covered = parts[0].covered
    for o in parts[1:]:
        covered = covered | o.covered
    return Outcome(cand, result, covered)


def spare(
    outcomes: Sequence[Outcome], kept: Sequence[Outcome], facts: shape.ModuleFacts = shape.NO_FACTS
) -> list[Outcome]:
    """The tests among ``outcomes`` that passed every run but were not kept (fit for a reviewer, by what the
    module states, ``facts``; each test once): what the mutants phase chooses from."""
    seen = {o.candidate.code for o in kept}
    out = []
    for o in outcomes:
        if (
            o.result.outcome == v.PASSED
            and o.result.stable
            and o.candidate.code not in seen
            and not unfit(o.candidate, facts)
        ):
            seen.add(o.candidate.code)
            out.append(o)
    return out
