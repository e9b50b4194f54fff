"""Turn a Context into a structured prompt that fits a token budget."""

from __future__ import annotations

import ast
import difflib
import re
import textwrap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from testbot.context import Context
from testbot.oracle import BAD_CALL
from testbot.targets import is_private

SYSTEM = (
    "You are an expert Python developer who writes small, correct pytest unit tests. "
    "You import the code under test from its module and never copy or redefine it."
)

RULES = (
    "## Rules\n"
    "- Write 3 to 6 short test functions, each checking one behaviour with plain assert; name each for the "
    "behaviour it checks (test_parse_reads_iso_dates), never with a number.\n"
    "- Pin exact values (`assert f(x) == [1, 2]`), not only a type; use operators and built-ins (`a == b`, "
    "`len(x)`, `x[0]`, `str(x)`), never a special method called by name (`x.__eq__(y)`).\n"
    "- Pass inputs a user of the code would pass, of the type each parameter's annotation or default says.\n"
    "- No @pytest.mark.parametrize and no long lists of cases: an answer cut short keeps only whole tests.\n"
    "- Cover every branch: typical input, edge cases, and each error path (with pytest.raises).\n"
    "- Only assert values you are sure of: work them out step by step from the code.\n"
    "- No network, no sleeping; write files only under pytest's tmp_path.\n"
    "- Answer with one ```python code block and nothing else."
)

# The prefill ends by opening the first test function. Without it the 1.5B model often starts with a
# @pytest.mark.parametrize list despite the rule above, and an answer cut by its token limit inside that
# list holds no test at all (HumanEval 0-4: four answers, no test function in any).
OPENING = "\n\ndef test_"


# How Python calls a special method: tests must go through this, or they never reach its lines.
DUNDER_HINTS = {
    "__init__": "it runs when an instance is created: `{cls}(...)`",
    "__post_init__": "it runs right after the dataclass `{cls}(...)` is created",
    "__enter__": "it runs when a `with {cls}(...) as x:` block starts",
    "__exit__": "it runs when a `with {cls}(...):` block ends (normally or with an exception)",
    "__aenter__": "it runs when an `async with {cls}(...)` block starts",
    "__aexit__": "it runs when an `async with {cls}(...)` block ends",
    "__call__": "it runs when an instance is called like a function: `{cls}(...)(args)`",
    "__iter__": "it runs in `for item in obj` and `list(obj)`",
    "__next__": "it runs on `next(obj)`",
    "__len__": "it runs on `len(obj)`",
    "__getitem__": "it runs on `obj[key]`",
    "__setitem__": "it runs on `obj[key] = value`",
    "__delitem__": "it runs on `del obj[key]`",
    "__contains__": "it runs on `item in obj`",
    "__eq__": "it runs on `a == b`",
    "__ne__": "it runs on `a != b`",
    "__lt__": "it runs on `a < b`",
    "__le__": "it runs on `a <= b`",
    "__gt__": "it runs on `a > b`",
    "__ge__": "it runs on `a >= b`",
    "__hash__": "it runs on `hash(obj)` and when obj is a dict key or set member",
    "__bool__": "it runs on `bool(obj)` and `if obj:`",
    "__repr__": "it runs on `repr(obj)`",
    "__str__": "it runs on `str(obj)` and f-strings",
    "__add__": "it runs on `a + b`",
    "__radd__": "it runs on `b + a` when b does not handle it",
    "__sub__": "it runs on `a - b`",
    "__rsub__": "it runs on `b - a` when b does not handle it",
    "__mul__": "it runs on `a * b`",
    "__rmul__": "it runs on `b * a` when b does not handle it",
    "__truediv__": "it runs on `a / b`",
    "__neg__": "it runs on `-a`",
    "__abs__": "it runs on `abs(a)`",
}


@dataclass(frozen=True)
class Feedback:
    """What a repair round tells the model about the previous round."""

    failures: tuple[tuple[str, str], ...] = ()  # (test source, error output)
    uncovered: tuple[tuple[int, str], ...] = ()  # (line number, line text) still not run by any kept test
    kept_tests: tuple[str, ...] = ()  # tests already kept, so the model writes different ones
    # Calls the search made and what the code did (the snippets' values are observed, so exact): facts to write
    # named tests from. Never shown as tests to imitate.
    evidence: tuple[str, ...] = ()
    imports: tuple[str, ...] = ()  # the import lines the evidence uses: the answer starts with them


@dataclass(frozen=True)
class Prompt:
    key: str  # the target id, so fakes and caches know what the prompt is for
    round: int  # 0 for the first round, 1.. for repair rounds
    system: str
    user: str
    prefill: str  # the start of the assistant's answer; the completion continues it
    tokens: int  # estimated prompt size
    dropped: tuple[str, ...] = ()  # sections left out to fit the budget


def estimate_tokens(text: str) -> int:
    """Rough count for code (~3.5 characters a token) when no tokenizer is at hand."""
    return max(1, int(len(text) / 3.5))


def _fence(code: str) -> str:
    return f"```python\n{code.rstrip()}\n```"


def _cut_tests(text: str, max_chars: int) -> str:
    """Keep whole top-level statements of an example test file up to ``max_chars``."""
    if len(text) <= max_chars:
        return text
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return text[:max_chars]
    lines = text.splitlines()
    kept: list[str] = []
    size = 0
    for node in tree.body:
        start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
        chunk = "\n".join(lines[start - 1 : node.end_lineno])
        if size + len(chunk) > max_chars:
            if isinstance(node, ast.Import | ast.ImportFrom):
                continue
            break
        kept.append(chunk)
        size += len(chunk) + 2
    return "\n\n".join(kept) + "\n# ... more tests ..."


def call_signature(error: str, texts: Sequence[str]) -> str:
    """The ``def`` line(s) of the callable a wrong-arguments TypeError names, found in ``texts``; "" if none.

    The model sees the code under test in its prompt and still invents keyword arguments; pointing at the one
    signature the failed call broke is a sharper hint than the whole source again.
    """
    found = BAD_CALL.findall(error)
    if not found:
        return ""
    parts = found[-1][0].split(".")  # the innermost frame's message is the last one
    name, owner = parts[-1], (parts[-2] if len(parts) > 1 else "")
    return next((header for text in texts if (header := _find_def(text, name, owner))), "")


def signature_texts(ctx: Context) -> list[str]:
    """Where :func:`call_signature` looks, in order: the code under test, its class's outline, the code it uses."""
    return [ctx.target.source, ctx.class_outline, *(r.text for r in ctx.related)]


def _find_def(text: str, name: str, owner: str = "") -> str:
    """The header of ``def name`` in ``text`` (inside ``class owner`` when that class is in it); "" if none. An
    ``__init__`` is only looked for inside its class: another class's constructor is the wrong signature."""
    start, end = 0, len(text)
    if owner:
        cls = re.search(rf"^([ \t]*)class {re.escape(owner)}\b", text, re.M)
        if cls:  # only inside that class: the next definition at its indentation or less ends it (not any line:
            # a docstring's lines can start at the margin)
            start = cls.end()
            after = re.compile(rf"^[ \t]{{0,{len(cls.group(1))}}}(?:class |def |async def |@)", re.M).search(
                text, start
            )
            end = after.start() if after else len(text)
        elif name in ("__init__", "__new__"):
            return ""
    match = re.compile(rf"^[ \t]*(?:async[ \t]+)?def {re.escape(name)}[ \t]*\(", re.M).search(text, start, end)
    return _def_header(text, match.start()) if match else ""


def constructor_stub(class_outline: str, related: Sequence[str] = ()) -> str:
    """The class line and the header of the ``__init__`` that builds it: its own, else the first base's found in
    ``related`` (the code the target uses), else a dataclass's fields; "" when nothing says how to build one.

    A few dozen tokens where the whole outline does not fit the budget: without it a method's prompt shows no
    constructor, and a model writes ``Cache().clear()`` for a class that needs ``Cache(maxsize)``.
    """
    head = re.search(r"^class (\w+)(?:\((.*?)\))?:[ \t]*$", class_outline, re.M)
    if head is None:
        return ""
    decorators = class_outline[: head.start()].strip()
    name, bases = head.group(1), [b.strip().split(".")[-1] for b in (head.group(2) or "").split(",") if b.strip()]
    # Its own (a method of the outline sits four spaces in; the docstring's lines can start anywhere), else a base's.
    own = re.search(r"^    def (__init__|__new__)\(", class_outline, re.M)
    init = _def_header(class_outline, own.start()) if own else ""
    init = init or next(
        (
            f"# {base}.{method}, which {name} inherits\n{header}"
            for base in bases
            for method in ("__init__", "__new__")
            for text in related
            if (header := _find_def(text, method, base))
        ),
        "",
    )
    if init:
        body = "\n".join("    " + line for line in init.splitlines()) + " ..."
    elif "dataclass" in decorators:
        fields = re.findall(r"^    (\w+: .+)$", class_outline, re.M)
        body = "\n".join("    " + f for f in fields[:12])
    else:
        return ""
    return "\n".join(x for x in (decorators, head.group(0), body) if x)


def _def_header(text: str, start: int) -> str:
    """From a ``def`` at ``start`` to the colon that ends its header (parentheses balanced)."""
    depth = 0
    for i in range(text.index("(", start), len(text)):
        ch = text[i]
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == ":" and depth == 0:
            lines = text[start : i + 1].splitlines()
            indent = len(lines[0]) - len(lines[0].lstrip())
            return "\n".join(line[indent:] if line[:indent].isspace() else line for line in lines)
    return ""


def short_docstrings(source: str) -> str:
    """`source` with each docstring of several lines cut to its first line (the code itself unchanged), for a
    function too long for the model's context: tabulate's `tabulate` and attrs' `define` are mostly docstring.
    `source` unchanged where it does not parse or holds no such docstring."""
    plain = textwrap.dedent(source)
    try:
        tree = ast.parse(plain)
    except SyntaxError:
        return source
    at = plain.splitlines()
    cuts = []  # (first line, last line, summary), 1-based
    for node in ast.walk(tree):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        doc = node.body[0]
        if not (isinstance(doc, ast.Expr) and isinstance(doc.value, ast.Constant) and isinstance(doc.value.value, str)):
            continue
        first, last = doc.lineno, doc.end_lineno or doc.lineno
        # Only a docstring on lines of its own: `def f(): """..."""` or `"""..."""; x = 1` stay as they are.
        if last == first or at[first - 1][: doc.col_offset].strip() or at[last - 1][doc.end_col_offset :].strip():
            continue
        summary = next((line.strip() for line in doc.value.value.splitlines() if line.strip()), "")
        cuts.append((first, last, summary if '"' not in summary and "\\" not in summary else ""))
    lines = source.splitlines()
    for first, last, summary in sorted(cuts, reverse=True):
        indent = lines[first - 1][: len(lines[first - 1]) - len(lines[first - 1].lstrip())]
        lines[first - 1 : last] = [f'{indent}"""{summary} (docstring shortened)"""']
    return "\n".join(lines) + ("\n" if source.endswith("\n") else "")


def build_prompt(
    ctx: Context,
    *,
    budget: int = 1500,
    feedback: Feedback | None = None,
    round: int = 0,
    count: Callable[[str], int] = estimate_tokens,
    limit: int | None = None,
) -> Prompt:
    """The prompt for `ctx.target`. `budget` is what the optional sections may fill (the essentials stay over
    it); `limit`, the most the model's context holds: a prompt over it shows the code with short docstrings."""
    t = ctx.target
    top = t.qualname.split(".")[0]
    what = f"the method `{t.qualname}`" if t.class_name else f"the function `{t.name}`"
    if t.kind == "property":
        what = f"the property `{t.qualname}`"
    header = f"Write pytest unit tests for {what} from module `{t.module}` (file {t.rel})."
    if t.name in DUNDER_HINTS and t.class_name:
        header += f" Call it the way Python does: {DUNDER_HINTS[t.name].format(cls=t.class_name.split('.')[-1])}."
    if t.is_async:
        header += " It is a coroutine: drive it with asyncio.run(...) inside plain (non-async) test functions."
    # Layout: what every target of the file (or of the class) shares comes first, then the target, then the
    # feedback. llama.cpp reuses the longest cached prefix of the previous prompt, so the next function of the
    # same file or class only pays for reading its own part (reading runs at ~70 tokens/s on 2 cores: a class
    # outline is ~10 s a target otherwise).
    intro = f"We are testing module `{t.module}` (file {t.rel})."
    shared_opt: list[tuple[str, str]] = []  # (name, text): the same for every target of the file or class
    target_opt: list[tuple[str, str]] = []  # this target's own
    if ctx.class_outline:
        shared_opt.append(("class", f"## The class `{t.class_name}` (outline)\n" + _fence(ctx.class_outline)))
    if ctx.related:
        body = "\n\n".join(f"# from {r.origin}\n{r.text}" for r in ctx.related)
        target_opt.append(("related", "## Code it uses (signatures and docs)\n" + _fence(body)))
    if ctx.example_tests.strip():
        shared_opt.append(
            (
                "examples",
                f"## Existing tests in this project ({ctx.example_path}): follow their style "
                "and reuse their fixtures, but do not repeat them\n" + _fence(ctx.example_tests),
            )
        )
    if ctx.fixtures:
        shared_opt.append(("fixtures", "## Fixtures available from conftest.py\n" + ", ".join(ctx.fixtures)))
    if ctx.module_imports:
        shared_opt.append(("imports", "## The module imports\n" + _fence(ctx.module_imports)))
    if ctx.usages:
        target_opt.append(("usages", "## How it is called elsewhere\n" + _fence("\n".join(ctx.usages))))
    # Dropped to fit the budget from the least important end of this ranking.
    rank = ("class", "related", "examples", "fixtures", "imports", "usages")
    required = [
        "## " + header,
        "## Code under test\n" + _fence(t.source),  # the same in every round, so llama.cpp reuses the prefix
        "## Import it like this\n"
        + _fence(ctx.import_line)
        + f"\nImport `{top}` from `{t.module}` exactly like this. Never copy, paste or redefine `{top}` or any other "
        "code from the module in the test file: the tests must run the real code.",
    ]
    repair: list[str] = []
    if feedback:
        if feedback.kept_tests:
            repair.append("## Tests already written (do not repeat them)\n" + _fence("\n\n".join(feedback.kept_tests)))
        for source, error in feedback.failures[:2]:
            signature = call_signature(error, signature_texts(ctx))
            fix = (
                "Fix the call: the signature is\n" + _fence(signature) + "\nPass only these parameters."
                if signature
                else "Fix the mistake: check the expected values against the code above."
            )
            repair.append(
                "## A previous test failed\n"
                + _fence(source)
                + "\nError:\n```\n"
                + error.strip()[-1200:]
                + "\n```\n"
                + fix
            )
        if feedback.evidence:
            shown = "\n\n".join(feedback.evidence)
            repair.append(
                "## What the code did when called (observed by running it)\nEach snippet ran and passed; its values "
                "are exact.\n" + _fence(shown) + "\nTurn these facts into tests a maintainer would write: each test "
                "named for the behaviour it shows, related checks together, the exact values above. Where an input "
                "looks like filler text, use one a user would pass instead."
            )
        if feedback.uncovered:
            listing = "\n".join(f"{n:>4}| {text}" for n, text in feedback.uncovered[:30])
            repair.append(
                "## Lines not covered yet\nNo test runs these lines of the code under test:\n```\n"
                + listing
                + "\n```\nWrite new tests whose inputs make exactly these lines run."
            )
    closing = f"Now write the tests for {what}: one ```python code block and nothing else."

    def assemble(keep: set[str], examples: str | None = None) -> str:
        shared = [examples if name == "examples" and examples else text for name, text in shared_opt if name in keep]
        own = [text for name, text in target_opt if name in keep]
        return "\n\n".join([intro, RULES, *shared, *required, *own, *repair, closing])

    keep = {name for name, _ in shared_opt + target_opt}
    examples: str | None = None
    dropped: list[str] = []
    fixed: set[str] = set()  # sections that stay whatever the budget
    user = assemble(keep)
    while count(SYSTEM) + count(user) > budget and keep - fixed:
        # Shrink the example tests before dropping anything; then drop from the least important end.
        if "examples" in keep and examples is None and len(ctx.example_tests) > 700:
            cut = _cut_tests(ctx.example_tests, max(400, len(ctx.example_tests) // 2))
            examples = f"## Existing tests in this project ({ctx.example_path}): follow their style\n" + _fence(cut)
            user = assemble(keep, examples)
            continue
        name = [n for n in rank if n in keep - fixed][-1]
        # The outline does not fit: its constructor stays, over the budget if need be (a few dozen tokens), since
        # without it no call of a method can be right (a constructor's own code is the code under test).
        built = (
            constructor_stub(ctx.class_outline, [r.text for r in ctx.related])
            if name == "class" and t.name not in ("__init__", "__post_init__")
            else ""
        )
        if built:
            stub = f"## How to build a `{t.class_name}`\n" + _fence(built)
            shared_opt = [(n, stub if n == "class" else text) for n, text in shared_opt]
            fixed.add("class")
            dropped.append("class outline (its constructor kept)")
            user = assemble(keep, examples)
            continue
        keep.discard(name)
        dropped.append(name)
        user = assemble(keep, examples)
    lines = _with_lines(ctx.import_line, feedback.imports if feedback else ())
    prefill = f"```python\nimport pytest\n\n{lines}\n{OPENING}"
    tokens = count(SYSTEM) + count(user) + count(prefill)
    if limit is not None and tokens > limit:
        shorter = short_docstrings(t.source)
        if shorter != t.source:
            required[1] = "## Code under test\n" + _fence(shorter)
            dropped.append("docstrings")
            user = assemble(keep, examples)
            tokens = count(SYSTEM) + count(user) + count(prefill)
    return Prompt(t.id, round, SYSTEM, user, prefill, tokens, tuple(dropped))


def build_group_prompt(
    ctxs: Sequence[Context],
    *,
    budget: int = 1500,
    count: Callable[[str], int] = estimate_tokens,
    most: int = 6,
) -> tuple[Prompt, tuple[Context, ...]]:
    """One prompt for several functions of one file: a short test or two for each (``--group``).

    Reading a prompt costs about as much as writing a fifth of it on a CPU, and the import, rules and
    framing are the same for every function of a file: one prompt for all of them buys each function its
    first test for a fraction of the time. Functions whose code does not fit the budget are left out (they
    get their own prompt afterwards), and so are those past ``most`` (a long answer is cut by the time
    budget: better several prompts). Public functions come first. Returns the prompt and the contexts it
    covers.
    """
    first = ctxs[0].target
    rules = (
        "## Rules\n"
        "- For each function above write one or two short test functions named test_<function>_..., each "
        "checking one behaviour with plain assert.\n"
        "- Only assert values you are sure of: work them out step by step from the code above.\n"
        "- No network, no sleeping; write files only under pytest's tmp_path.\n"
        "- Answer with one ```python code block and nothing else."
    )
    chosen: list[Context] = []
    tops: list[str] = []
    for ctx in sorted(ctxs, key=lambda c: any(is_private(part) for part in c.target.qualname.split("."))):
        if len(chosen) >= most:
            break
        top = ctx.target.qualname.split(".")[0]
        names = tops + ([top] if top not in tops else [])
        trial = [*chosen, ctx]
        user = _group_user(trial, _group_imports(trial, names), rules)
        if chosen and count(SYSTEM) + count(user) > budget:
            continue
        chosen, tops = trial, names
    imports = _group_imports(chosen, tops)
    user = _group_user(chosen, imports, rules)
    prefill = f"```python\nimport pytest\n\n{imports}\n{OPENING}"
    key = f"{first.rel}::*group*"
    return (Prompt(key, 0, SYSTEM, user, prefill, count(SYSTEM) + count(user) + count(prefill)), tuple(chosen))


def _with_lines(imports: str, more: Sequence[str]) -> str:
    """``imports`` (lines) with the lines of ``more`` it lacks after them."""
    have = imports.splitlines()
    return "\n".join([*have, *(line for line in dict.fromkeys(more) if line not in have)])


def _group_imports(ctxs: Sequence[Context], tops: Sequence[str]) -> str:
    """The import line of a group prompt: every function's top-level name from the one module."""
    module = ctxs[0].target.module
    return f"from {module} import {', '.join(tops)}" if module else ctxs[0].import_line


def _group_user(ctxs: Sequence[Context], imports: str, rules: str) -> str:
    first = ctxs[0].target
    what = ", ".join(f"`{c.target.qualname}`" for c in ctxs)
    parts = [f"Write pytest unit tests for these functions from module `{first.module}` (file {first.rel}): {what}."]
    for c in ctxs:
        t = c.target
        hint = ""
        if t.name in DUNDER_HINTS and t.class_name:
            hint = f" ({DUNDER_HINTS[t.name].format(cls=t.class_name.split('.')[-1])})"
        parts.append(f"## `{t.qualname}`{hint}\n" + _fence(t.source))
    parts.append(
        "## Import them like this\n" + _fence(imports) + "\nNever copy, paste or redefine any code from the "
        "module in the test file: the tests must run the real code."
    )
    if ctxs[0].module_imports:
        parts.append("## The module imports\n" + _fence(ctxs[0].module_imports))
    parts.append(rules)
    return "\n\n".join(parts)


WRITE_CODE_LINES = 30  # a function longer than this is shown by its header and docstring's first line


def _brief(source: str) -> str:
    """A function's code for a write prompt: whole when short, else its header and the docstring's summary."""
    plain = textwrap.dedent(source)
    if len(plain.splitlines()) <= WRITE_CODE_LINES:
        return short_docstrings(plain)
    try:
        node = ast.parse(plain).body[0]
    except (SyntaxError, IndexError):
        return "\n".join(plain.splitlines()[:WRITE_CODE_LINES])
    header = _def_header(plain, plain.index("def ")) if "def " in plain else plain.splitlines()[0]
    doc = ast.get_docstring(node) if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) else None
    summary = next((line.strip() for line in (doc or "").splitlines() if line.strip()), "")
    decorators = "\n".join("@" + ast.unparse(d) for d in getattr(node, "decorator_list", []))
    body = f'    """{summary}"""\n    ...' if summary and '"""' not in summary else "    ..."
    return "\n".join(x for x in (decorators, header, body) if x)


def build_write_prompt(
    items: Sequence[tuple[Context, Sequence[str]]],
    *,
    budget: int = 1500,
    count: Callable[[str], int] = estimate_tokens,
    most: int = 6,
    imports: Sequence[str] | Mapping[str, Sequence[str]] = (),
) -> tuple[Prompt, tuple[Context, ...]]:
    """One prompt for several functions of a file whose calls the search observed (``--write``): each function's
    code (short) and the calls with what they returned or raised, as facts; the model turns them into named tests.

    What it writes per function is short (a few tests built from given values), so the answer is the cost: one
    prompt for several functions saves reading the rules and imports, and each function's own long prompt.
    Functions past ``most`` or over ``budget`` are left for the next prompt. ``imports``: the lines the facts use
    (``from datetime import date``), shown with the module's and starting the answer; by target id, only the
    chosen functions' are shown (each line costs reading). Returns the prompt and the contexts it covers."""

    def lines_for(trial: Sequence[tuple[Context, Sequence[str]]], tops: Sequence[str]) -> str:
        more = (
            [line for c, _ in trial for line in imports.get(c.target.id, ())]
            if isinstance(imports, Mapping)
            else list(imports)
        )
        module = trial[0][0].target.module
        # (`from m import f` says again what the line naming every function of the prompt says)
        more = [line for line in more if not any(line == f"from {module} import {top}" for top in tops)]
        return _with_lines(_group_imports([c for c, _ in trial], tops), more)

    rules = (
        "## Rules\n"
        "- For each function above write one to three short test functions, each named "
        "test_<function>_<behaviour>, where <behaviour> says in a few words what the test shows the function "
        "does (never a number). Plain assert.\n"
        "- Build them from the observed facts: the same calls (or ones a user would more likely make, such as a "
        "real word where a fact passes filler text like 'hello world'), and the exact values shown. Checks of one "
        "behaviour go in one test; an error goes in a test of its own.\n"
        "- Use operators and built-ins (`a == b`, `len(x)`, `x[0]`), never a special method called by name.\n"
        "- Answer with one ```python code block and nothing else."
    )
    chosen: list[tuple[Context, Sequence[str]]] = []
    tops: list[str] = []
    for ctx, facts in items:
        if len(chosen) >= most:
            break
        top = ctx.target.qualname.split(".")[0]
        names = tops + ([top] if top not in tops else [])
        trial = [*chosen, (ctx, facts)]
        user = _write_user(trial, lines_for(trial, names), rules)
        if chosen and count(SYSTEM) + count(user) > budget:
            continue
        chosen, tops = trial, names
    ctxs = [c for c, _ in chosen]
    lines = lines_for(chosen, tops)
    user = _write_user(chosen, lines, rules)
    prefill = f"```python\nimport pytest\n\n{lines}\n{OPENING}"
    key = f"{ctxs[0].target.rel}::*write*"
    return Prompt(key, 0, SYSTEM, user, prefill, count(SYSTEM) + count(user) + count(prefill)), tuple(ctxs)


def _write_user(items: Sequence[tuple[Context, Sequence[str]]], imports: str, rules: str) -> str:
    first = items[0][0].target
    what = ", ".join(f"`{c.target.qualname}`" for c, _ in items)
    parts = [
        f"Write pytest unit tests for these functions from module `{first.module}` (file {first.rel}): {what}. "
        "Each was called, and what it did is shown (observed by running it: the values are exact)."
    ]
    if items[0][0].class_outline and all(c.target.class_name == first.class_name for c, _ in items):
        parts.append(
            f"## How to build a `{first.class_name}`\n"
            + _fence(constructor_stub(items[0][0].class_outline) or items[0][0].class_outline)
        )
    for ctx, facts in items:
        t = ctx.target
        hint = ""
        if t.name in DUNDER_HINTS and t.class_name:
            hint = f" ({DUNDER_HINTS[t.name].format(cls=t.class_name.split('.')[-1])})"
        parts.append(
            f"## `{t.qualname}`{hint}\n" + _fence(_brief(t.source)) + "\nObserved:\n" + _fence("\n\n".join(facts))
        )
    parts.append(
        "## Import them like this\n" + _fence(imports) + "\nNever copy, paste or redefine any code from the "
        "module in the test file: the tests must run the real code."
    )
    parts.append(rules)
    return "\n\n".join(parts)


AIM_CODE_LINES = 60  # a function longer than this (docstrings cut short) is shown around the faulty lines only
AIM_AROUND = 8  # lines shown either side of a faulty line in a long function
AIM_FAULTS = 6  # faults shown, at most


def _numbered(text: str, first: int, last: int, wanted: Sequence[int]) -> str:
    """Lines ``first``..``last`` of ``text`` with their numbers, docstrings cut to their first line; when more than
    AIM_CODE_LINES are left, the ``def`` line and the lines around ``wanted`` only."""
    lines = text.splitlines()
    shown = set(range(first, last + 1))
    try:
        tree = ast.parse(textwrap.dedent("\n".join(lines[first - 1 : last])))
    except (SyntaxError, ValueError):
        tree = None
    for node in ast.walk(tree) if tree is not None else ():
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and node.body:
            doc = node.body[0]
            if isinstance(doc, ast.Expr) and isinstance(doc.value, ast.Constant) and isinstance(doc.value.value, str):
                shown -= set(
                    range(first + doc.lineno, first + (doc.end_lineno or doc.lineno))
                )  # (its first line stays)
    if len(shown) > AIM_CODE_LINES:
        around = {n for w in wanted for n in range(w - AIM_AROUND, w + AIM_AROUND + 1)}
        shown = {n for n in shown if n == first or n in around}
    out, previous = [], first - 1
    for n in sorted(shown):
        if n - previous > 1:
            out.append("    ...")
        out.append(f"{n:>4}| {lines[n - 1]}" if n <= len(lines) else "")
        previous = n
    return "\n".join(out)


def change_diff(before: str, after: str) -> str:
    """A function's change as a unified diff (``before`` -> ``after``, both its source), without file headers."""
    lines = difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=3)
    return "\n".join(line for line in lines if not line.startswith(("---", "+++")))


def build_aim_prompt(
    ctx: Context,
    text: str,
    faults: Sequence[tuple[int, str, str]],
    *,
    change: str = "",
    imports: Sequence[str] = (),
    budget: int = 1500,
    count: Callable[[str], int] = estimate_tokens,
) -> Prompt:
    """The prompt for tests that catch faults no test catches yet: ``faults`` are (line number, the line as it
    is, the line with a small fault in it) in ``ctx.target``'s file (``text``), each one a fault (a mutant) that
    every test lets through; ``change``: the function's change as a diff (:func:`change_diff`) when the code
    before it passes every test too. The model sees the code with line numbers (around the faulty and changed
    lines when the function is long), the change, the faults, and the project's tests as its style (not the
    search's observed calls: they are the tests that already missed these faults, and a small model copies them);
    it writes tests that pass on the code and fail on each fault and on the code before the change. A test it gets
    a value wrong in is repaired by the oracle afterwards: what it must get right is the input that tells the two
    versions apart."""
    t = ctx.target
    top = t.qualname.split(".")[0]
    what = f"the method `{t.qualname}`" if t.class_name else f"the function `{t.name}`"
    faults = list(faults)[:AIM_FAULTS]
    code = _numbered(text, t.start, t.end, [n for n, _, _ in faults] + (sorted(t.lines) if change else []))
    diffs = "\n".join(
        f"@@ line {n} @@\n"
        + "\n".join("-" + x for x in old.splitlines())
        + "\n"
        + "\n".join("+" + x for x in new.splitlines())
        for n, old, new in faults
    )
    parts = [
        f"Write pytest unit tests for {what} from module `{t.module}` (file {t.rel}).",
        "## Code under test (line numbers on the left)\n```\n" + code + "\n```",
        "## Import it like this\n"
        + _fence(ctx.import_line)
        + f"\nImport `{top}` exactly like this; never copy or redefine code from the module.",
    ]
    if change:
        parts.append(
            "## The change no test notices\nThe function was just changed as below, and every existing test "
            "passes on the code before the change too:\n```diff\n" + change.rstrip() + "\n```"
        )
    if faults:
        parts.append(
            "## Bugs the tests miss\nEach diff below is a small bug someone could make in the code above. "
            "With any one of them in place, every existing test still passes:\n```diff\n" + diffs + "\n```"
        )
    what_fails = " or ".join(
        x
        for x in ("on the code before the change" if change else "", "with any one of the bugs above" if faults else "")
        if x
    )
    rules = (
        "## Rules\n"
        f"- Write one to four short test functions that pass on the code as it is and fail {what_fails}: each calls "
        "the code with an input for which the two versions give different results, and asserts the exact result "
        "of the code as it is.\n"
        "- Name each test_<function>_<behaviour>, for the behaviour it checks (never a number). Plain assert; "
        "pytest.raises only for an error the code raises.\n"
        "- Inputs a user of the code would pass, of the type each parameter says; use operators and built-ins, "
        "never a special method by name.\n"
        "- Answer with one ```python code block and nothing else."
    )
    closing = f"Now write the tests for {what}."
    examples = ""
    if ctx.example_tests.strip():
        examples = (
            f"## Existing tests in this project ({ctx.example_path}): follow their style and fixtures, "
            "but do not repeat them\n"
        )
        room = max(0, budget - count(SYSTEM) - count("\n\n".join([*parts, rules, closing])))
        cut = _cut_tests(ctx.example_tests, int(room * 3.5) - len(examples))
        examples = examples + _fence(cut) if room > 150 and "def " in cut else ""
    user = "\n\n".join(x for x in (parts[0], examples, *parts[1:], rules, closing) if x)
    lines = _with_lines(ctx.import_line, imports)
    prefill = f"```python\nimport pytest\n\n{lines}\n{OPENING}"
    return Prompt(f"{t.id}::*aim*", 0, SYSTEM, user, prefill, count(SYSTEM) + count(user) + count(prefill))
