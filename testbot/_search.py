"""The search behind ``--explore``: calls of a file's targets with sampled values, kept when they reach new code.

Runs inside the sandbox (:meth:`testbot.validate.Workspace.search`), never in testbot's own process: the calls
run the project's code. It is standard library only and runs on Python 3.7 and later, so that the project's
Python (``--python``) can run it.

Input (argv[1], a JSON file): the file to trace, the seconds to spend, a seed, the file's statements and branch
arcs as coverage.py counts them, the lines and steps already covered (a second search starts from what the kept
tests run), and per target its import lines,
the parts of its call expression with each parameter's values as source text (literals), and fixed calls to try
first (:func:`testbot.explore.search_spec`).

The search, a small piece of what Pynguin does with much more machinery:

- the fixed calls first (a kept one's literal arguments join its parameters' kept values, as a sampled call's
  do), then rounds over the targets, one sampled call each: every parameter takes a value of
  its own list, or one of them changed (a string grown by a piece or two of the list, joined by ":", a newline,
  an indent..., or its last line underlined as a heading where the module underlines headings; a number moved
  a step), a value of another parameter's list (a wrong type reaches the checks for one), or, most useful for
  parsers, a value of a call already kept, grown the same way (so a string that reached a heading grows towards
  what follows one); an optional parameter is often left out, and ``*args`` takes one to three values;
- each call runs under ``sys.settrace`` restricted to the file, with a time limit (a SIGALRM); a call that
  reached a statement or took a branch (a step out of a line with several ways on) nothing before it reached
  is kept, the others are forgotten;
- a parameter typed with a class that a function of the module makes from a string (``makers``: `parse` for
  `compose(docstring: Docstring)`) also gets that function called on a string some kept call of the file used,
  half the time grown like a kept value (a whole docstring that reached `parse`'s sections becomes a
  `Docstring` with sections);
- a method is called, one time in ten (one in fifty once 10 such calls kept none), on an object that a kept call
  of a method changing its object (the spec's ``mutates``: `mute()` setting `self.is_muted`) set up first:
  `(register := Register(), register.mute(), register(42))[-1]`, written as three lines of a test
  (:func:`testbot.explore.explored_tests`);
- a parameter that takes strings (or bytes) gets, one time in ten, a string a kept call of the file returned
  (`decompress` reaches its body only on what `compress` made);
- a parameter that takes strings gets, one time in ten, a string that one of the file's regular expressions
  matches (a compiled pattern the file names, its own or imported, or a literal passed to ``re.search`` and the
  like), made by walking the parsed pattern; such strings are also glued into grown ones, so that `prettify`
  meets a text with a URL in it;
- a target that has gone many calls without a new step is tried less often.

Output: the result file named by the hand-off (as the pytest plugin's), rewritten after every kept call so that a
run stopped by its time limit still says what it found: ``{"nonce", "finished", "calls": {id: [expression]}}``.
At the end the calls are cut to few that cover all the kept ones cover (a greedy set cover: a call kept early for
one new line is often run again by a later one), so fewer redundant tests are validated.
The kept expressions are only candidates: the caller turns them into tests that the oracle and the validation
judge like any other.
"""

from __future__ import annotations

import ast
import contextlib
import io
import json
import keyword
import os
import random
import re
import signal
import sys
import time

CALL_SECONDS = 1.0  # one call's limit: a call that hangs costs this, and is not kept
STALE = 200  # calls without a new step after which a target is tried one round in four
GLUE = ["", " ", "\n", ":", ", ", "\n    ", "-", ".", "\n\n", "=", " ("]  # what joins strings into longer ones
MAX_STRING = 400
MAX_FOUND = 50  # kept values per parameter that later calls grow
MAX_SHARED = 200  # strings of the file's kept calls, for the makers
MAX_RESULTS = 50  # strings and bytes the file's kept calls returned, that later calls pass on
RESULT = 0.1  # how often a parameter that takes strings (bytes) gets one a kept call returned
STEP = 0.1  # how often a method is called on an object that a kept call of another method has set up first
STEP_TRIES = 10  # chains of a target without one kept, after which it chains one call in fifty
MAX_STEPS = 50  # kept method calls per class that later calls may set their object up with
MATCH = 0.1  # how often a string parameter gets (or a string grows by) a string one of the file's patterns matches
MAX_MATCHES = 80  # such strings per file
MATCHES_PER_PATTERN = 3
# The end of the search (with the spec's ``mutants``): calls that catch mutants the kept calls miss
HELPERS_WAIT = 0.5  # of the search's time: a private helper gets turns only after this, where public functions exist
MUTANT_SHARE = 0.25  # of the seconds: the mutant round at the end
PLAIN_SHARE = 0.05  # of the seconds, before it: kept calls passing filler text tried with plain text instead
# The words filler text's words become, by length (a word as long as the one it replaces: widths stay the same)
PLAIN_WORDS = {1: ("a",), 2: ("an", "of"), 3: ("one", "two", "six"), 4: ("four", "five", "nine"),
               5: ("three", "seven", "eight"), 6: ("eleven", "twelve"), 7: ("fifteen", "seventy"),
               8: ("thirteen", "eighteen"), 9: ("seventeen", "nineteen")}
ALPHABET = "abcdefghijklmnopqrstuvwxyz"
MUTANTS_PER_TARGET = 40
CATCHERS = 4  # calls kept per target for the mutants they catch, at most
MAX_TRIED = 300  # calls tried per target that the mutant round chooses from
MUTANT_CALL_SECONDS = 0.25  # one call's limit in the mutant round (a mutant that loops is caught by it)
RE_CALLS = {"compile", "match", "search", "fullmatch", "sub", "subn", "split", "findall", "finditer"}


class _Late(BaseException):
    """Raised by the alarm inside a call that ran past CALL_SECONDS."""


def _handoff() -> dict:
    fd = os.environ.pop("TESTBOT_HANDOFF_FD", "")
    if not fd:
        return {}
    with os.fdopen(int(fd), "rb") as f:
        return json.loads(f.read() or b"{}")


class _Tracer:
    """Lines and line-to-line steps of one file, as coverage.py's arcs (entry and exit with the negated first line)."""

    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.hits: set[tuple[int, int]] = set()
        self._ours: dict[str, bool] = {}

    def __call__(self, frame, event, arg):
        name = frame.f_code.co_filename
        ours = self._ours.get(name)
        if ours is None:
            ours = self._ours[name] = os.path.realpath(name) == self.filename
        if not ours:
            return None
        first = frame.f_code.co_firstlineno
        last = [-first]
        hits = self.hits

        def local(frame, event, arg):
            if event == "line":
                hits.add((last[0], frame.f_lineno))
                last[0] = frame.f_lineno
            elif event == "return":
                hits.add((last[0], -first))
            return local

        return local


class _Expr:
    """A value that is not a literal (an object of the module's class): its source text, used as it is."""

    def __init__(self, source: str) -> None:
        self.source = source

    def __repr__(self) -> str:
        return self.source


try:  # (the parser of the re module: `re._parser` since 3.11, `sre_parse` before)
    import re._parser as _sre  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - Python before 3.11
    import sre_parse as _sre  # type: ignore[no-redef]

_PATTERN = type(re.compile(""))
_CHARS = "a1 Z-_.@/:\t!,é"  # characters tried for a class that a pattern negates or names by category
_CATEGORIES = {
    "CATEGORY_DIGIT": str.isdigit, "CATEGORY_NOT_DIGIT": lambda c: not c.isdigit(),
    "CATEGORY_SPACE": str.isspace, "CATEGORY_NOT_SPACE": lambda c: not c.isspace(),
    "CATEGORY_WORD": lambda c: c.isalnum() or c == "_", "CATEGORY_NOT_WORD": lambda c: not (c.isalnum() or c == "_"),
}


def _name(op: object) -> str:
    return getattr(op, "name", str(op))


def _in_class(ch: str, items: list) -> bool:
    for op, av in items:
        kind = _name(op)
        if (kind == "LITERAL" and ord(ch) == av or kind == "RANGE" and av[0] <= ord(ch) <= av[1]
                or kind == "CATEGORY" and _CATEGORIES.get(_name(av), lambda c: False)(ch)):
            return True
    return False


def _class_char(rnd: random.Random, items: list) -> str:
    """A character of a ``[...]`` class (parsed)."""
    if items and _name(items[0][0]) == "NEGATE":
        return next((c for c in _CHARS if not _in_class(c, items[1:])), "")
    if not items:
        return ""
    op, av = rnd.choice(items)
    kind = _name(op)
    if kind == "LITERAL":
        return chr(av)
    if kind == "RANGE":
        return chr(rnd.randint(av[0], min(av[1], av[0] + 25)))
    if kind == "CATEGORY":
        return rnd.choice([c for c in _CHARS if _in_class(c, [(op, av)])] or ["a"])
    return "a"


def _generate(rnd: random.Random, parsed, groups: dict) -> str:
    """A string made by walking a parsed pattern: a random branch, a repeat a few times at most; a lookaround's
    text written in place (a lookbehind's is what comes before), a negative one's left out. Not always a match:
    the caller checks."""
    out: list[str] = []
    for op, av in parsed:
        kind = _name(op)
        if kind == "LITERAL":
            out.append(chr(av))
        elif kind == "NOT_LITERAL":
            out.append("a" if av != ord("a") else "b")
        elif kind == "ANY":
            out.append(rnd.choice("ax1 "))
        elif kind == "IN":
            out.append(_class_char(rnd, av))
        elif kind == "BRANCH":
            out.append(_generate(rnd, rnd.choice(av[1]), groups))
        elif kind == "SUBPATTERN":
            text = _generate(rnd, av[-1], groups)
            if av[0]:
                groups[av[0]] = text
            out.append(text)
        elif kind in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            low, high, sub = av
            count = min(high, low + rnd.choice([0, 1, 1, 2, 3] if low else [0, 1, 1, 2]))
            out.extend(_generate(rnd, sub, groups) for _ in range(count))
        elif kind == "GROUPREF":
            out.append(groups.get(av, ""))
        elif kind == "GROUPREF_EXISTS":
            branch = av[1] if av[0] in groups else av[2]
            out.append(_generate(rnd, branch, groups) if branch else "")
        elif kind == "ASSERT":
            out.append(_generate(rnd, av[1], groups))
        elif kind == "ATOMIC_GROUP":
            out.append(_generate(rnd, av, groups))
        if sum(map(len, out)) > MAX_STRING:
            break
    return "".join(out)


def _string(node: ast.AST):
    """A string literal's value (``ast.Str`` before 3.8), else None."""
    value = getattr(node, "value", getattr(node, "s", None))
    return value if isinstance(value, str) else None


def _patterns(filename: str) -> list:
    """The regular expressions the file uses: the compiled patterns (one, or a dict, list or tuple of them) that
    its imported module holds under a name the file names (`from ._regex import *` brings `URLS_RE`), and the
    literal patterns it passes to ``re.compile``, ``re.search``..."""
    try:
        tree = ast.parse(open(filename, encoding="utf-8").read())
    except (OSError, SyntaxError, ValueError, UnicodeDecodeError, MemoryError, RecursionError):
        return []
    module = next((m for m in list(sys.modules.values())
                   if os.path.realpath(getattr(m, "__file__", None) or "/") == filename), None)
    found = vars(module) if module is not None else {}
    out: list = []
    for name in sorted({n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}):
        value = found.get(name)
        held = (list(value.values()) if isinstance(value, dict) else value if isinstance(value, (list, tuple))
                else [value])
        out += [p for p in held if isinstance(p, _PATTERN) and isinstance(p.pattern, str) and p not in out]
    for n in ast.walk(tree):
        if (isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr in RE_CALLS
                and isinstance(n.func.value, ast.Name) and n.func.value.id == "re" and n.args
                and _string(n.args[0]) is not None):
            try:
                pattern = re.compile(_string(n.args[0]))
            except (re.error, RecursionError, OverflowError):
                continue
            if pattern not in out:
                out.append(pattern)
    return out


def pattern_matches(patterns: list, seed: int = 0) -> list[str]:
    """A few strings each pattern finds something in (``search``), made from the pattern itself."""
    rnd = random.Random(seed)
    out: list[str] = []
    for pattern in patterns:
        try:
            parsed = _sre.parse(pattern.pattern, pattern.flags)
        except Exception:  # noqa: BLE001 - a pattern this parser does not take is skipped
            continue
        mine = 0
        for _ in range(4 * MATCHES_PER_PATTERN):
            try:
                text = _generate(rnd, parsed, {})
            except (RecursionError, ValueError, OverflowError, IndexError, TypeError):
                break
            if text and text not in out and len(text) <= MAX_STRING and pattern.search(text):
                out.append(text)
                mine += 1
                if mine >= MATCHES_PER_PATTERN or len(out) >= MAX_MATCHES:
                    break
        if len(out) >= MAX_MATCHES:
            break
    return out


def _values(sources: list[str]) -> list[object]:
    out: list[object] = []
    for s in sources:
        try:
            out.append(ast.literal_eval(s))
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            try:
                ast.parse(s, mode="eval")
            except (SyntaxError, ValueError, MemoryError, RecursionError):
                continue
            out.append(_Expr(s))
    return out


def _render(params: list[dict], values: dict[int, object]) -> str:
    parts, skipped = [], False
    for i, p in enumerate(params):
        if i not in values:
            skipped = True
            continue
        if p["name"].startswith("*"):  # (``*args``: its values by position, none after a parameter left out)
            if not skipped:
                parts.extend(repr(v) for v in values[i])
            continue
        parts.append(f"{p['name']}={values[i]!r}" if p["keyword"] or skipped else repr(values[i]))
    return ", ".join(parts)


class _Target:
    def __init__(self, spec: dict, everything: list[object], namespace: dict, shared: list[str],
                 steps: dict, results: list | None = None, matches: list[str] | None = None) -> None:
        self.id = spec["id"]
        self.namespace = namespace
        self.parts = spec["parts"]
        self.seeds = list(spec.get("seeds", []))
        self.wrap = spec.get("wrap", "")  # ("list" for a generator: its code runs as its items are drawn)
        self.underline = spec.get("underline", "")  # (the marks under a heading, where the module uses them)
        for part in self.parts:
            for p in part["params"] or []:
                p["values"] = _values(p["pool"]) or [None]
                p["found"] = []  # values of the calls kept so far
        self.everything = everything
        self.shared = shared  # (the strings of every kept call of the file, one list for all targets)
        self.results = [] if results is None else results  # (what the file's kept calls returned: one list too)
        self.matches = [] if matches is None else matches  # (strings the file's regular expressions match)
        # A method of a class built by its constructor (`Box(3).grow(1)`): the class's source text, under which the
        # file's kept calls of its methods are kept as set-up steps (`steps`, one dict for all targets).
        plain = len(self.parts) == 2 and self.parts[0]["params"] is not None and not self.wrap
        self.cls = self.parts[0]["source"] if plain and sys.version_info >= (3, 8) else ""  # (`:=` is 3.8's)
        self.steps = steps
        self.mutates = bool(spec.get("mutates"))  # (its kept calls are set-up steps: `switch()`, not `colour()`)
        self.chained = [0, 0]  # chains tried, kept (a chain's receiver is a kept call's: none built anew)
        self.qualname = spec.get("qualname", "")  # (the function the mutant round changes: where it starts, its
        self.first = spec.get("first", 0)  # body's lines)
        self.last = spec.get("last", 0)  # (its last line: an error raised outside its lines is not its own)
        # (a private helper, `_parse_item` or `__Compressor.compress`: a test reaches it through the public functions
        # that call it where they can, and calls it only for what they do not reach)
        self.private = any(p.startswith("_") and not p.endswith("__") for p in self.qualname.split("."))
        self.body = set(spec.get("body", []))
        self.before = spec.get("before")  # (a change run: the edit that puts the code before the change back)
        self.tried: list = []  # distinct calls that ran in time, for the mutant round
        self.tried_set: set = set()
        self.chaining = False
        self.misses = 0

    def _pick(self, rnd: random.Random, p: dict) -> object:
        values = p["values"]
        if self.results and rnd.random() < RESULT:  # what another call made: `decompress(<compress's result>)`
            kinds = {type(v) for v in values}
            made = [r for r in self.results if type(r) in kinds]
            if made:
                return rnd.choice(made)
        if self.matches and rnd.random() < MATCH and any(isinstance(v, str) for v in values):  # `prettify(<a URL>)`
            text = rnd.choice(self.matches)
            return self._mutate(rnd, text, values) if rnd.random() < 0.5 else text
        if p.get("makers") and self.shared and rnd.random() < 0.3:  # `parse(<a string that reached far>)`
            text = rnd.choice(self.shared)
            if rnd.random() < 0.5:  # grown like a kept value (what made it reach far may reach further)
                text = self._mutate(rnd, text, self.everything)
            return _Expr(f"{rnd.choice(p['makers'])}({text!r})")
        roll = rnd.random()
        if p["found"] and roll < 0.3:  # a value of a kept call, grown or stepped: reaches a little further
            return self._mutate(rnd, rnd.choice(p["found"]), values)
        if roll < 0.65:
            return rnd.choice(values)
        if roll < 0.88:
            return self._mutate(rnd, rnd.choice(values), values)
        return rnd.choice(self.everything)  # another parameter's value: a wrong type reaches the type checks

    def _mutate(self, rnd: random.Random, v: object, values: list[object]) -> object:
        if isinstance(v, str):
            more = [x for x in values if isinstance(x, str)] or [""]
            out = v
            for _ in range(rnd.randint(1, 2)):
                last = out.rsplit("\n", 1)[-1]
                if self.underline and last.strip() and rnd.random() < 0.1:  # a heading, as the module writes one
                    out += "\n" + rnd.choice(self.underline) * len(last)
                    continue
                piece = rnd.choice(GLUE) + rnd.choice(self.matches if self.matches and rnd.random() < MATCH else more)
                if rnd.random() < 0.75:
                    out += piece
                else:
                    cut = rnd.randint(0, len(out))
                    out = out[:cut] + piece + out[cut:]
            return out[:MAX_STRING]
        if isinstance(v, bool):
            return not v
        if isinstance(v, int):
            return v + rnd.choice([-2, -1, 1, 2, 10, -10])
        if isinstance(v, float):
            return v * rnd.choice([-1.0, 0.5, 2.0]) + rnd.choice([0.0, 0.5])
        if isinstance(v, (list, tuple)):
            items = list(v)[:4] if rnd.random() < 0.5 else []
            items += [rnd.choice(self.everything) for _ in range(rnd.randint(0, 3))]
            return type(v)(items)
        if isinstance(v, dict):  # a key added (a string of the lists: a heading, an odd identifier) or dropped
            out = dict(list(v.items())[:4])
            if out and rnd.random() < 0.3:
                out.pop(rnd.choice(list(out)))
            else:
                keys = [x for x in values if isinstance(x, str)] or ["a"]
                key = rnd.choice(["", "", "_"]) + rnd.choice(keys)
                if rnd.random() < 0.2:  # a key that is no string
                    key = rnd.choice([k for k in self.everything if isinstance(k, (int, float, tuple))] or [1])
                out[key] = rnd.choice(self.everything)
            return out
        return v

    def sample(self, rnd: random.Random) -> tuple[str, list[tuple[dict, object]]]:
        """A call expression, and the (parameter, value) pairs it used."""
        text, used = "", []
        for part in self.parts:
            if part is self.parts[-1] and self._chains(rnd):
                # on an object another method set up: `(box := Box(3), box.fill('x'), box.grow(1))[-1]`
                receiver, step = rnd.choice(self.steps[self.cls])
                name = _object_name(self.cls, self.namespace)
                text, used = f"({name} := {receiver}, {name}{step}, {name}", []
            text += part["source"]
            params = part["params"]
            if params is None:
                continue
            values = {i: self._pick(rnd, p) for i, p in enumerate(params) if p["required"] or rnd.random() < 0.4}
            for i, p in enumerate(params):
                if p["name"].startswith("*") and i in values:  # (one to three values: `fg(42)`, `fg(1, 5, 10)`)
                    values[i] = [values[i]] + [self._pick(rnd, p) for _ in range(rnd.choice([0, 0, 1, 2]))]
            used += [(params[i], x) for i, v in values.items()
                     for x in (v if params[i]["name"].startswith("*") else [v])]
            text += f"({_render(params, values)})"
        if text.startswith("("):
            text += ")[-1]"
        return (f"{self.wrap}({text})" if self.wrap else text), used

    def seed_used(self, expr: str) -> list[tuple[dict, object]]:
        """The (parameter, value) pairs of a fixed call of the target (a docstring example's `roman_encode(37)`), its
        literal arguments matched to the target's parameters: a kept one's values are grown like a sampled call's."""
        params = self.parts[-1]["params"]
        try:
            node = ast.parse(expr, mode="eval").body
        except (SyntaxError, ValueError, MemoryError, RecursionError):
            return []
        if not params or not isinstance(node, ast.Call):
            return []
        # (the callee's last name is the target's: `codec.encode(-2)`, `Box(3).grow(1)`; no ast.unparse before 3.9)
        callee = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
        if callee != self.parts[-1]["source"].rsplit(".", 1)[-1]:
            return []
        pairs = []
        for i, arg in enumerate(node.args):
            if isinstance(arg, ast.Starred) or i >= len(params):
                break
            star = params[i]["name"].startswith("*")
            pairs += [(params[i], a) for a in (node.args[i:] if star else [arg])]
            if star:
                break
        by_name = {p["name"]: p for p in params}
        pairs += [(by_name[k.arg], k.value) for k in node.keywords if k.arg in by_name]
        used = []
        for p, arg in pairs:
            try:
                used.append((p, ast.literal_eval(arg)))
            except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                continue
        return used

    def _chains(self, rnd: random.Random) -> bool:
        """Whether this call runs on an object a kept call set up (counted as tried, ``chaining`` set for
        ``attempt``)."""
        tried, kept = self.chained
        rate = STEP if kept or tried < STEP_TRIES else 0.02
        self.chaining = bool(self.cls and self.steps.get(self.cls)) and rnd.random() < rate
        self.chained[0] += self.chaining
        return self.chaining

    def keep_step(self, expr: str) -> None:
        """Keeps a kept call of a method that changes its object (the spec's ``mutates``) as a set-up step for the
        class's methods: its receiver's and its method call's source text (`Box(3)`, `.fill('x')`)."""
        if not self.cls or not self.mutates or len(self.steps.get(self.cls, [])) >= MAX_STEPS or "\n" in expr:
            return
        steps = self.steps.setdefault(self.cls, [])
        try:
            node = ast.parse(expr, mode="eval").body
        except (SyntaxError, ValueError, MemoryError, RecursionError):
            return
        parts = _receiver_and_step(self.cls, expr, node)
        if parts is not None and parts not in steps:
            steps.append(parts)


def _receiver_and_step(cls: str, expr: str, node: ast.expr) -> tuple[str, str] | None:
    """A method call on an object the class ``cls`` builds, `Box(3).fill('x')`, as its receiver's and its method
    call's source text (`Box(3)`, `.fill('x')`); None for any other expression (`Box.load(path).grow(1)`,
    `Box()(2).grow(1)`, `(Box(1)).grow(1)`)."""
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Call)):
        return None
    raw = expr.encode("utf-8")  # (the offsets count bytes)
    callee = node.func.value.func
    if callee.col_offset or raw[:callee.end_col_offset] != cls.encode("utf-8"):
        return None
    end = node.func.value.end_col_offset
    return raw[:end].decode("utf-8"), raw[end:].decode("utf-8")


def _held(target: "_Target", expr: str, quiet) -> str:
    """A kept method call that returned None, as a call on an object the test holds, which it then checks
    (`(counter := Counter(3), counter.add(2), counter)[-1]` for `Counter(3).add(2)`): where the object shows
    public attributes with literal values after the call (and is not callable: the oracle checks a callable
    object by its type's name), a test of what the call did to them says more than `... is None`. Else the
    call as it is."""
    if not target.cls or "\n" in expr:
        return expr
    try:
        node = ast.parse(expr, mode="eval").body
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return expr
    parts = _receiver_and_step(target.cls, expr, node)
    if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Tuple) and node.value.elts \
            and isinstance(node.value.elts[0], ast.NamedExpr) and isinstance(node.value.elts[-1], ast.Call):
        name = node.value.elts[0].target.id  # (a chain already: its object joins it at the end)
        held = expr[:-len(")[-1]")] + f", {name})[-1]" if expr.endswith(")[-1]") else ""
    elif parts is not None:
        name = _object_name(target.cls, target.namespace)
        held = f"({name} := {parts[0]}, {name}{parts[1]}, {name})[-1]"
    else:
        return expr
    if not held:
        return expr
    try:
        signal.setitimer(signal.ITIMER_REAL, CALL_SECONDS)
        try:
            with contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):
                obj = eval(compile(held, "<explore>", "eval"), dict(target.namespace))
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    except BaseException:  # noqa: BLE001 - it ran once: a second run that fails keeps the call as it is
        return expr
    if isinstance(obj, type) or callable(obj):
        return expr  # (the oracle checks a callable object by its type's name: `... is None` says as much)
    shown = []
    for key, value in getattr(obj, "__dict__", {}).items():
        if key.startswith("_") or callable(value):
            continue
        try:
            ast.literal_eval(repr(value))  # (a value the oracle can write down)
        except Exception:  # noqa: BLE001 - no literal: not a check the test can make
            continue
        shown.append(key)
    return held if shown else expr


def _object_name(cls: str, namespace: dict) -> str:
    """The variable a chain binds an object of ``cls`` to: its name in snake case (`text_box` for `TextBox`)."""
    last = cls.rsplit(".", 1)[-1]
    name = "".join("_" + c.lower() if c.isupper() and i else c.lower() for i, c in enumerate(last)).strip("_") or "obj"
    return name + "_" if name in namespace or keyword.iskeyword(name) else name


def _fewest(kept: list[tuple[str, str, set]]) -> dict:
    """The kept calls that together cover all that the kept calls cover, few of them (greedy: the call adding
    most first): a call kept early for one new line is often run again, and more, by a later one. In the order
    found, by target."""
    left = set().union(*[m for _, _, m in kept]) if kept else set()
    chosen = set()
    while left:
        best = max(range(len(kept)), key=lambda i: (len(kept[i][2] & left), -i))
        if not kept[best][2] & left:
            break
        chosen.add(best)
        left -= kept[best][2]
    calls: dict = {}
    for i, (tid, expr, _) in enumerate(kept):
        if i in chosen:
            calls.setdefault(tid, []).append(expr)
    return calls


def _plain_word(word: str, n: int) -> str:
    """A plain word as long as ``word`` (the ``n``-th of that length), capitalized as it is; a word longer than
    any plain one is the alphabet, as long (``'abcdefghijklmnopqrstuvwxyzabcd'``: a word too long for a line)."""
    choices = PLAIN_WORDS.get(len(word))
    if choices:
        plain = choices[n % len(choices)]
    else:
        plain = (ALPHABET * (len(word) // len(ALPHABET) + 1))[: len(word)]
    return plain.upper() if word.isupper() and len(word) > 1 else plain.capitalize() if word[0].isupper() else plain


def _plain_variants(filler, expr: str) -> list:
    """``expr`` with the filler text in its string literals cut out, replaced by the word ``text``, or with each of
    its words made a plain word as long and its punctuation, spaces and line breaks kept (``'hello\\nworld='`` ->
    ``'three\\nseven='``): the variants that pass no filler text, in that order."""
    if filler is None or not hasattr(ast, "unparse"):
        return []
    out: list = []
    for way in ("cut", "word", "words"):
        try:
            tree = ast.parse(expr, mode="eval")
        except (SyntaxError, ValueError):
            return []
        for node in ast.walk(tree):
            value = _string(node)
            if isinstance(node, ast.Constant) and value is not None and filler.search(value):
                if way == "words":
                    count = iter(range(1 << 16))
                    node.value = filler.sub(lambda m, c=count: re.sub(
                        r"[A-Za-z]+", lambda w: _plain_word(w.group(0), next(c)), m.group(0)), value)
                else:
                    node.value = filler.sub("" if way == "cut" else "text", value)
        new = ast.unparse(tree)
        if new != expr and new not in out and not _filler(filler, new):
            out.append(new)
    return out


def _filler(filler, expr: str) -> bool:
    """Whether the call passes filler text (the search's stock strings glued to something, a letter repeated)."""
    if filler is None:
        return False
    try:
        tree = ast.parse(expr, mode="eval")
    except (SyntaxError, ValueError):
        return False
    return any(isinstance(value, str) and filler.search(value) for value in map(_string, ast.walk(tree)))


_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def _outcome(namespace: dict, code, quiet) -> str:
    """What a call gives, as text to compare: its value's repr (an object without one: its attributes; never an
    address), the exception it raises, or "late"."""
    try:
        signal.setitimer(signal.ITIMER_REAL, MUTANT_CALL_SECONDS)
        try:
            with contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):
                value = eval(code, dict(namespace))
            if type(value).__repr__ is object.__repr__ and hasattr(value, "__dict__"):
                text = type(value).__name__ + repr(sorted(vars(value).items()))
            else:
                text = repr(value)
            return _ADDRESS.sub("", text)[:2000]
        except _Late:
            return "late"
        except BaseException as exc:  # noqa: BLE001 - an exception is an outcome like any other
            return "raises " + type(exc).__name__
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    except _Late:
        return "late"


def _raised_within(exc: BaseException, filename: str, first: int, last: int) -> bool:
    """Whether an exception left through the code on lines ``first`` to ``last`` of the file (a target's own
    function, or one it defines inside): true where those lines are unknown."""
    if not first or not last:
        return True
    tb = exc.__traceback__
    while tb is not None:
        code = tb.tb_frame.f_code
        if first <= code.co_firstlineno <= last and os.path.realpath(code.co_filename) == filename:
            return True
        tb = tb.tb_next
    return False


def _differs(target, original: tuple, quiet) -> bool:
    """Whether a call (``original``: its code and outcome with the original code) gives another outcome now."""
    code, seen = original
    return _outcome(target.namespace, code, quiet) != seen


def _catch_mutants(module_name: str, targets: list, calls: dict, filename: str, deadline: float, quiet) -> dict:
    """Per target, a few of its tried calls that catch mutants of it (:mod:`testbot.mutate`) that its kept calls
    miss: for each mutant in place, the kept calls (and those chosen so far) run first; where none gives another
    outcome than with the original code, the first tried call that does is chosen (shorter calls first; only
    calls that return a value, the same one twice)."""
    try:
        import testbot_mutate as mutate  # (testbot/mutate.py, next to this file; mutants need Python 3.9+)

        ast.unparse  # noqa: B018
    except (ImportError, AttributeError):
        return {}
    module = sys.modules.get(module_name)
    if module is None:
        return {}
    with open(filename, encoding="utf-8") as f:
        source = f.read()
    found: dict = {}
    live_targets = [t for t in targets if t.qualname and (t.body or t.before)]
    for n, target in enumerate(live_targets):
        now = time.monotonic()
        if now >= deadline:
            break
        stop = now + (deadline - now) / (len(live_targets) - n)
        live = mutate.live_functions(module, target.qualname, target.first)
        if len(live) != 1:
            continue
        func, name = live[0], target.qualname.rsplit(".", 1)[-1]
        try:
            mutants = mutate.spread(mutate.mutants("", source, target.body), MUTANTS_PER_TARGET)
        except Exception:  # noqa: BLE001 - no mutants: nothing to catch
            mutants = []
        if target.before:  # the code before the change first: a call that tells the two apart captures the change
            b = target.before
            mutants.insert(0, mutate.Mutant("", target.first, "the code before this change", "", b["start"], b["end"],
                                            b["new"]))
        checks = list(calls.get(target.id, []))
        pool = sorted((e for e in target.tried if e not in checks), key=len)
        original: dict = {}  # call -> (code, outcome), for calls whose outcome is the same twice
        for exprs, errors in ((checks, True), (pool, False)):
            for expr in exprs:
                if time.monotonic() >= stop:
                    break
                code = compile(expr, "<explore>", "eval")
                first = _outcome(target.namespace, code, quiet)
                if not errors and first.startswith("raises "):
                    continue  # (a call chosen for a mutant returns a value: an error on a stray input pins an accident)
                if first != "late" and _outcome(target.namespace, code, quiet) == first:
                    original[expr] = (code, first)
        chosen: list = []
        for m in mutants:
            if time.monotonic() >= stop or len(chosen) >= CATCHERS:
                break
            new = mutate.mutated_code(source, filename, m.start, m.end, m.new, name, target.first)
            if new is None or new.co_freevars != func.__code__.co_freevars:
                continue
            with mutate.in_place(func, new):
                if any(_differs(target, original[e], quiet) for e in checks + chosen if e in original):
                    continue
                for expr in pool:
                    if time.monotonic() >= stop:
                        break
                    if expr in original and expr not in chosen and _differs(target, original[expr], quiet):
                        chosen.append(expr)
                        break
        if chosen:  # (one that returned None: on the object it changed, checked after the call, where it shows one)
            found[target.id] = [_held(target, e, quiet) if original[e][1] == "None" else e for e in chosen]
    return found


def _alarm(signum, frame):
    raise _Late()


def main() -> int:
    spec = json.loads(open(sys.argv[1], encoding="utf-8").read())
    setup = _handoff()
    result_file = setup.get("result_file")
    result = {"nonce": setup.get("nonce", ""), "finished": False, "calls": {}}

    def save() -> None:
        if not result_file:
            return
        tmp = result_file + ".part"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(result, f)
        os.replace(tmp, result_file)

    seconds = float(spec["seconds"])
    deadline = time.monotonic() + seconds
    plain_end = deadline - seconds * MUTANT_SHARE if spec.get("mutants") and spec.get("module") else deadline
    search_end = plain_end - seconds * PLAIN_SHARE if spec.get("filler") else plain_end
    rnd = random.Random(spec.get("seed", 0))
    filename = os.path.realpath(spec["file"])
    everything = [v for t in spec["targets"] for part in t["parts"] for p in (part["params"] or [])
                  for v in _values(p["pool"])] or [None]
    targets = []
    shared: list[str] = []
    results: list = []
    steps: dict = {}
    matches: list[str] = []
    quiet = io.StringIO()
    for t in spec["targets"]:
        namespace: dict = {}  # (each target's own: two heads may bind a name differently, `datetime`)
        try:
            with contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):
                exec(t["head"], namespace)  # the import lines the tests will have
        except BaseException:  # noqa: BLE001 - the project's import failing is its own business
            continue
        targets.append(_Target(t, everything, namespace, shared, steps, results, matches))
    matches += pattern_matches(_patterns(filename), spec.get("seed", 0))  # (after the heads: the module imported)
    tracer = _Tracer(filename)
    seen: set[tuple[int, int]] = {(a, b) for a, b in spec.get("seen", [])}  # (a second search: what is covered)
    reached: set[int] = set(spec.get("reached", [])) | {b for _, b in seen}
    # The file's statements and branch arcs as coverage.py measures them (when given): a step into a line
    # reached before, or an exception leaving from a new line, adds nothing a test would be kept for.
    counted = set(spec["lines"]) if spec.get("lines") else None
    preset, preset_lines = set(seen), set(reached)
    kept: list[tuple[str, str, set]] = []  # (target id, call, what it covers that counts)
    filler = re.compile(spec["filler"]) if spec.get("filler") else None
    fillers: dict = {}  # target id -> its kept calls that pass filler text
    branches = {(a, b) for a, b in spec.get("branches", [])}
    first = {int(n): f for n, f in spec.get("first_lines", {}).items()}
    signal.signal(signal.SIGALRM, _alarm)
    save()

    def attempt(target: _Target, expr: str, used: list[tuple[dict, object]] = ()) -> None:
        if len(quiet.getvalue()) > 1 << 16:
            quiet.seek(0)
            quiet.truncate()
        tracer.hits = set()
        late, returned, foreign, raised = False, None, False, False
        try:
            code = compile(expr, "<explore>", "eval")
        except (SyntaxError, ValueError):
            return
        signal.setitimer(signal.ITIMER_REAL, CALL_SECONDS)
        try:
            with contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):
                sys.settrace(tracer)
                try:
                    returned = eval(code, dict(target.namespace))
                finally:
                    sys.settrace(None)
        except _Late:
            late = True
        except BaseException as exc:  # noqa: BLE001 - an exception raised by the code is an outcome like any other
            # (unless the target never ran: an error its receiver's constructor or an argument's own call raises
            # tells nothing of it, and a test of the target expecting it would pin another function's behaviour)
            foreign = not _raised_within(exc, filename, target.first, target.last)
            raised = True
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        if first:  # (a step inside a statement written over several lines is coverage.py's first line)
            tracer.hits = {(first.get(a, a), first.get(b, b)) for a, b in tracer.hits}
            tracer.hits = {(a, b) for a, b in tracer.hits if a != b}
        if not late and expr not in target.tried_set and not _filler(filler, expr):
            if len(target.tried) < MAX_TRIED:
                target.tried.append(expr)
                target.tried_set.add(expr)
            elif rnd.random() < 0.1:  # (later calls take the place of earlier ones now and then)
                i = rnd.randrange(MAX_TRIED)
                target.tried_set.discard(target.tried[i])
                target.tried[i] = expr
                target.tried_set.add(expr)
        new = tracer.hits - seen
        if counted is not None:  # only what coverage counts: a statement first reached, a branch first taken
            new = {(a, b) for a, b in new if (b in counted and b not in reached) or (a, b) in branches}

        def covers() -> set:
            # what the call covers that counts (all of it, not only its new part: a later call may make an
            # earlier one redundant), less what was covered before the search
            if counted is None:
                return tracer.hits - preset
            mine = {(0, b) for _, b in tracer.hits if b in counted and b not in preset_lines}
            return mine | ((tracer.hits & branches) - preset)

        if foreign:
            new = set()
        if not new and not late and not foreign and fillers.get(target.id) and not _filler(filler, expr):
            # A plain call that covers all a kept call passing filler text covers takes its place: a test of
            # `slug("My Title")` reads better than one of `slug("hello world.x")`.
            mine = covers()
            for i, (tid, old, cover) in enumerate(kept):
                if tid == target.id and old in fillers[tid] and cover <= mine:
                    shown = _held(target, expr, quiet) if returned is None and not raised else expr
                    kept[i] = (tid, shown, mine)
                    calls = result["calls"][tid]
                    calls[calls.index(old)] = shown
                    fillers[tid].discard(old)
                    save()
                    break
        if new and not late:
            mine = covers()
            shown = _held(target, expr, quiet) if returned is None and not raised else expr
            if _filler(filler, expr):
                fillers.setdefault(target.id, set()).add(shown)
            seen.update(tracer.hits)
            reached.update(b for _, b in tracer.hits)
            target.misses = 0
            kept.append((target.id, shown, mine))
            result["calls"].setdefault(target.id, []).append(shown)
            target.keep_step(expr)
            target.chained[1] += target.chaining
            for p, value in used or target.seed_used(expr):  # (a seed's values too)
                if not isinstance(value, _Expr) and len(p["found"]) < MAX_FOUND:
                    p["found"].append(value)
            for node in ast.walk(ast.parse(expr, mode="eval")):  # (a seed's strings too: a docstring example's)
                value = _string(node)
                if isinstance(value, str) and len(value) > 1 and value not in shared and len(shared) < MAX_SHARED:
                    shared.append(value)
            if (type(returned) in (str, bytes) and 1 < len(returned) <= MAX_STRING and returned not in results
                    and len(results) < MAX_RESULTS):
                results.append(returned)
            save()
        else:
            target.misses += 1

    helpers_from = search_end - (search_end - time.monotonic()) * (1 - HELPERS_WAIT)
    if all(t.private for t in targets):
        helpers_from = 0.0
    for target in sorted(targets, key=lambda t: t.private):
        for expr in target.seeds:
            if time.monotonic() >= search_end:
                break
            attempt(target, expr)
    round_no = 0
    while targets and time.monotonic() < search_end:
        round_no += 1
        for target in targets:
            if time.monotonic() >= search_end:
                break
            if target.private and time.monotonic() < helpers_from:
                continue
            if target.misses >= STALE and round_no % 4:
                continue
            attempt(target, *target.sample(rnd))
    # A kept call passing filler text, tried with plain text in its place: where that covers all it covered, it
    # takes the call's place (a reviewer reads `wrap('one\ntwo')`, not `wrap('hello\nworld=')`).
    for target in targets:
        for old in sorted(fillers.get(target.id, ())):
            for variant in _plain_variants(filler, old):
                if time.monotonic() >= plain_end or old not in fillers[target.id]:
                    break
                attempt(target, variant)
    result["finished"] = True
    result["tried_rounds"] = round_no
    result["found"] = len(kept)
    result["calls"] = _fewest(kept)
    if plain_end < deadline:
        catching = _catch_mutants(spec["module"], targets, result["calls"], filename, deadline, quiet)
        for tid, exprs in catching.items():
            result["calls"].setdefault(tid, []).extend(exprs)
        result["catching"] = catching
    save()
    return 0


if __name__ == "__main__":
    sys.exit(main())
