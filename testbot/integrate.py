"""Write kept tests into the project's test files: merged imports, provenance comments, no duplicates.

The composed file is run as a whole in the scratch copy first; only a file that passes there is
written, atomically, and only if nobody changed it meanwhile. Source files are never modified.
"""

from __future__ import annotations

import ast
import builtins
import hashlib
import os
import re
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from testbot import mutate, secrets_scan, shape
from testbot.extract import Candidate, dedent
from testbot.measure import Gain

_PROVENANCE = re.compile(r"#\s*testbot:.*\bsha ([0-9a-f]{12})")


@dataclass(frozen=True)
class Kept:
    candidate: Candidate
    gain: Gain
    target_id: str
    model: str
    catches: int = 0  # mutants it catches that the other kept tests miss (kept for that: testbot.mutants)
    captures: bool = False  # it fails on the code before the change, which no other test notices (testbot.mutants)


@dataclass(frozen=True)
class FileChange:
    path: Path
    created: bool
    tests: tuple[str, ...]  # names of the tests added
    skipped: tuple[str, ...]  # kept tests left out (already present, name clash, failed together)
    text: str  # the new content
    written: bool
    error: str = ""
    authors: tuple[str, ...] = ()  # who wrote each of ``tests`` (the model's name, or the search's)


def test_hash(candidate: Candidate) -> str:
    """A hash of the test's code, blind to formatting and to the name the model gave it."""
    try:
        node = ast.parse(dedent(candidate.test_source)).body[0]
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            node.name = "t"
        normal = ast.unparse(node)
    except (SyntaxError, IndexError):
        normal = candidate.test_source
    return hashlib.sha256(normal.encode()).hexdigest()[:12]


def _norm(stmt_source: str) -> str:
    try:
        return ast.unparse(ast.parse(dedent(stmt_source)))
    except SyntaxError:
        return stmt_source.strip()


def rename_def(source: str, old: str, new: str) -> str:
    return re.sub(rf"(\bdef\s+){re.escape(old)}\b", rf"\g<1>{new}", source, count=1)


def _fresh_name(name: str, source: str, target_id: str, taken: set[str]) -> str:
    """``name``, or where a test of that name is there already, one that says what this test shows
    (:func:`testbot.shape.behaviour_name`: its inputs and outcome) or names its inputs; a number only where those
    are taken too."""
    if name not in taken:
        return name
    said = shape.behaviour_name(source, _called_name(target_id))
    if said and said not in taken:
        return said
    for words in (
        shape.input_words(source),
        shape.input_words(source, keywords=True),
        shape.input_words(source, limit=8, keywords=True),
        _argument_names(source),
    ):
        if words:
            # (a name ends in a word: `..._for_2024_two_29_given`, never a number a reviewer reads as numbering)
            given = "_".join([name, "for", *words, *(["given"] if re.search(r"\d$", words[-1]) else [])])
            if given not in taken:
                return given
    if _defaults_only(source) and f"{name}_with_defaults" not in taken:
        return f"{name}_with_defaults"  # (`Duration() != Duration()` beside a test of `Duration(1) != ...`)
    i = 2
    while f"{name}_{i}" in taken:
        i += 1
    return f"{name}_{i}"


def _argument_names(source: str) -> list[str]:
    """The names of the variables the test passes to calls (`make(base)`: base) and its flags passed by keyword
    (`Timer(logger=True)`: logger true), in order, for a name where no other literal says what the test passes."""
    try:
        tree = ast.parse(dedent(source))
    except SyntaxError:
        return []
    found: list[str] = []
    for n in ast.walk(tree):
        if isinstance(n, ast.Call):
            found += [a.id for a in [*n.args, *(k.value for k in n.keywords)] if isinstance(a, ast.Name)]
            # (a flag or a None by keyword, which the inputs' words leave out: `Timer(logger=True)`)
            found += [
                w
                for k in n.keywords
                if k.arg and isinstance(k.value, ast.Constant) and k.value.value in (True, False, None)
                for w in (k.arg, str(k.value.value))
            ]
    return [w.lower() for w in dict.fromkeys(found)][:4]


def _defaults_only(source: str) -> bool:
    """Whether the test calls the code under test with no arguments at all (built-ins such as ``str`` aside)."""
    try:
        tree = ast.parse(dedent(source))
    except SyntaxError:
        return False
    calls = [
        n
        for n in ast.walk(tree)
        if isinstance(n, ast.Call)
        and not (isinstance(n.func, ast.Name) and hasattr(builtins, n.func.id))
        and not ast.unparse(n.func).startswith("pytest.")
    ]
    return bool(calls) and all(not c.args and not c.keywords for c in calls)


def _provenance(k: Kept, sha: str) -> str:
    observed = ", expected values observed from the code" if k.candidate.observed else ""
    catches = f", catches {k.catches} mutant{'s' if k.catches != 1 else ''} the others miss" if k.catches else ""
    if k.captures:
        catches += ", fails on the code before this change"
    return (
        f"# testbot: {k.target_id} +{len(k.gain.lines)} lines, +{len(k.gain.branches)} branches{catches}, "
        f"model {k.model}{observed}, sha {sha}"
    )


# -- the destination file's style: tests in a class where the file keeps its tests in classes

_UNITTEST_ASSERT = {
    ast.Eq: "assertEqual",
    ast.NotEq: "assertNotEqual",
    ast.In: "assertIn",
    ast.NotIn: "assertNotIn",
    ast.Is: "assertIs",
    ast.IsNot: "assertIsNot",
    ast.Lt: "assertLess",
    ast.LtE: "assertLessEqual",
    ast.Gt: "assertGreater",
    ast.GtE: "assertGreaterEqual",
}


@dataclass(frozen=True)
class _Host:
    name: str  # the test class a plain test goes into ("" : a new class named ``new``)
    unittest: bool  # a unittest.TestCase: no fixtures as arguments, self.assert* where the class uses them
    asserts: bool  # the class checks with self.assert*
    indent: str
    end: int  # last line of the class (1-based)
    methods: frozenset[str]


@dataclass(frozen=True)
class _Style:
    hosts: tuple[_Host, ...]  # the file's test classes; empty: plain functions
    calls: dict[str, dict[str, int]]  # class -> called name -> count
    new_name: str  # how a new class is named here: "Test{}" or "{}Test"
    new_bases: str  # and what it derives from: "" or "unittest.TestCase"


def _is_unittest(node: ast.ClassDef) -> bool:
    return any(ast.unparse(b).split(".")[-1] in ("TestCase", "IsolatedAsyncioTestCase") for b in node.bases)


def _file_style(tree: ast.Module, lines: list[str]) -> _Style:
    """The file keeps its tests in classes when it has test classes and no plain test functions."""
    if any(isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name.startswith("test") for n in tree.body):
        return _Style((), {}, "", "")
    hosts, calls = [], {}
    for node in tree.body:
        if not isinstance(node, ast.ClassDef) or not (node.name.startswith("Test") or _is_unittest(node)):
            continue
        methods = [n for n in node.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
        if not any(m.name.startswith("test") for m in methods):
            continue
        first = node.body[0]
        indent = lines[first.lineno - 1][: first.col_offset] if first.lineno <= len(lines) else "    "
        source = ast.unparse(node)
        hosts.append(
            _Host(
                node.name,
                _is_unittest(node),
                "self.assert" in source,
                indent or "    ",
                node.end_lineno or node.lineno,
                frozenset(m.name for m in methods),
            )
        )
        counts: dict[str, int] = {}
        for sub in ast.walk(node):
            if isinstance(sub, ast.Call):
                f = sub.func
                name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""
                counts[name] = counts.get(name, 0) + 1
        calls[node.name] = counts
    if not hosts:
        return _Style((), {}, "", "")
    last = next(n for n in reversed(tree.body) if isinstance(n, ast.ClassDef) and n.name == hosts[-1].name)
    bases = ", ".join(ast.unparse(b) for b in last.bases)
    suffix = last.name.endswith("Test") and not last.name.startswith("Test")
    return _Style(tuple(hosts), calls, "{}Test" if suffix else "Test{}", bases)


def _called_name(target_id: str) -> str:
    return target_id.rsplit("::", 1)[-1].split(".")[-1]


def _host_for(style: _Style, target_id: str) -> _Host | None:
    """The class whose tests call the target most; None where no class calls it."""
    name = _called_name(target_id)
    best = max(style.hosts, key=lambda h: style.calls.get(h.name, {}).get(name, 0))
    return best if style.calls.get(best.name, {}).get(name, 0) else None


def _as_method(source: str, name: str, unittest_asserts: bool) -> str | None:
    """A plain test function's source as a method (``self`` first); with ``unittest_asserts``, plain asserts and
    ``pytest.raises`` become the matching ``self.assert*`` calls. None where it cannot be one (fixtures asked
    for by a unittest method)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    func = next((n for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)), None)
    if func is None:
        return None
    a = func.args
    has_args = bool(a.posonlyargs or a.args or a.kwonlyargs or a.vararg or a.kwarg)
    if unittest_asserts and (has_args or func.decorator_list):
        return None  # unittest gives a method no fixtures and no parametrize
    lines = source.splitlines(keepends=True)
    edits: list[tuple[int, int, int, int, str]] = []  # (line, col, end line, end col, text)
    if unittest_asserts:
        for node in ast.walk(func):
            if isinstance(node, ast.Assert) and node.msg is None:
                edits.append(
                    (
                        node.lineno,
                        node.col_offset,
                        node.end_lineno or node.lineno,
                        node.end_col_offset or 0,
                        _unittest_assert(node.test, source),
                    )
                )
            elif isinstance(node, ast.With | ast.AsyncWith):
                for item in node.items:
                    call = item.context_expr
                    if (
                        item.optional_vars is None
                        and isinstance(call, ast.Call)
                        and ast.unparse(call.func) == "pytest.raises"
                        and len(call.args) == 1
                    ):
                        match = [kw.value for kw in call.keywords if kw.arg == "match"]
                        if len(call.keywords) == len(match):
                            exc = ast.get_source_segment(source, call.args[0]) or ast.unparse(call.args[0])
                            pattern = ast.get_source_segment(source, match[0]) or ast.unparse(match[0]) if match else ""
                            text = f"self.assertRaisesRegex({exc}, {pattern})" if match else f"self.assertRaises({exc})"
                            edits.append(
                                (
                                    call.lineno,
                                    call.col_offset,
                                    call.end_lineno or call.lineno,
                                    call.end_col_offset or 0,
                                    text,
                                )
                            )
    for line, col, end_line, end_col, text in sorted(edits, reverse=True):
        head = lines[line - 1].encode()[:col].decode()
        tail = lines[end_line - 1].encode()[end_col:].decode()
        lines[line - 1 : end_line] = [head + text + tail]
    out = "".join(lines)
    return re.sub(
        rf"(\bdef\s+{re.escape(name)}\s*\()(\s*\))?",
        lambda m: m.group(1) + ("self)" if m.group(2) else "self, "),
        out,
        count=1,
    )


def _unittest_assert(test: ast.expr, source: str) -> str:
    """``assert <test>`` as the matching ``self.assert*`` call, its operands as written."""

    def text(node: ast.expr) -> str:
        return ast.get_source_segment(source, node) or ast.unparse(node)

    negated = isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not)
    inner = test.operand if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not) else test
    if isinstance(inner, ast.Compare) and len(inner.ops) == 1 and (not negated or type(inner.ops[0]) in mutate.NEGATED):
        op = type(inner.ops[0])
        op = mutate.NEGATED[op] if negated else op
        left, right = text(inner.left), text(inner.comparators[0])
        if (
            op in (ast.Is, ast.IsNot)
            and isinstance(inner.comparators[0], ast.Constant)
            and inner.comparators[0].value is None
        ):
            return f"self.assertIs{'Not' if op is ast.IsNot else ''}None({left})"
        return f"self.{_UNITTEST_ASSERT[op]}({left}, {right})"
    if (
        isinstance(test, ast.Call)
        and isinstance(test.func, ast.Name)
        and test.func.id == "isinstance"
        and len(test.args) == 2
        and not test.keywords
    ):
        return f"self.assertIsInstance({text(test.args[0])}, {text(test.args[1])})"
    if negated:
        return f"self.assertFalse({text(inner)})"
    return f"self.assertTrue({text(test)})"


def _unbound_part(statement: str, bound: set[tuple[str, str, str]]) -> str | None:
    """``statement`` less what the file binds already (``bound``: (module, name, as), "" as the module of a plain
    ``import``); None when nothing is left. A plain ``import`` is left out only when the file imports every one
    of its names the same way. A ``from`` import loses each name the file binds already, from that module or
    from another (a re-export, as in ``from pkg.errors import E`` next to ``from pkg.mod import E``; the whole
    file runs again after the merge), and what it still binds is recorded."""
    try:
        node = ast.parse(statement).body[0]
    except (SyntaxError, IndexError):
        return statement
    if not isinstance(node, ast.Import | ast.ImportFrom) or any(a.name == "*" for a in node.names):
        return statement
    if isinstance(node, ast.Import):
        return None if all(("", a.name, a.asname or "") in bound for a in node.names) else statement
    local = {asname or name for _, name, asname in bound}
    names = [a for a in node.names if (a.asname or a.name) not in local]
    if not names:
        return None
    bound.update((node.module or "", a.name, a.asname or "") for a in names)
    if len(names) == len(node.names):
        return statement
    return ast.unparse(ast.ImportFrom(module=node.module, names=names, level=node.level))


def _camel(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.strip("_").split("_")) or "Added"


def compose(existing: str, kept: Sequence[Kept], styled: bool = True) -> tuple[str, list[str], list[str]]:
    """The existing file with the kept tests added, in its style (``styled``: a file that keeps its tests in
    classes gets them as methods). Returns (text, added test names, skipped with reasons)."""
    tree = ast.parse(existing) if existing.strip() else ast.Module(body=[], type_ignores=[])
    lines = existing.splitlines()
    present_hashes = set(_PROVENANCE.findall(existing))
    names: set[str] = set()
    defined: dict[str, str] = {}  # top-level name -> normalised source
    imports: set[str] = set()
    last_import_end = 0  # new imports go after the file's leading docstring and imports
    leading = True
    bound_from: set[tuple[str, str, str]] = set()  # (module, name, as) the file imports already
    for node in tree.body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            imports.add(ast.unparse(node))
            module = node.module or "" if isinstance(node, ast.ImportFrom) else ""
            bound_from.update((module, a.name, a.asname or "") for a in node.names)
        if leading and isinstance(node, ast.Import | ast.ImportFrom | ast.Expr):
            last_import_end = node.end_lineno or node.lineno
        else:
            leading = False
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
            defined[node.name] = ast.unparse(node)
        elif isinstance(node, ast.Assign):
            for t in node.targets:
                if isinstance(t, ast.Name):
                    names.add(t.id)
                    defined[t.id] = ast.unparse(node)
    new_imports: list[str] = []
    blocks: list[str] = []
    added: list[str] = []
    skipped: list[str] = []
    classes: dict[str, list[tuple[Kept, str, str]]] = {}
    style = _file_style(tree, lines) if styled else _Style((), {}, "", "")
    into: dict[str, list[tuple[str, str]]] = {}  # class -> (method name, source) added to it
    for k in kept:
        c = k.candidate
        sha = test_hash(c)
        if sha in present_hashes:
            skipped.append(f"{k.target_id} {c.name}: already in the file")
            continue
        clash = False
        helper_blocks = []
        for helper in c.helpers:
            try:
                bound = {n.name for n in ast.parse(helper).body if hasattr(n, "name")} | {
                    t.id
                    for n in ast.parse(helper).body
                    if isinstance(n, ast.Assign)
                    for t in n.targets
                    if isinstance(t, ast.Name)
                }
            except SyntaxError:
                bound = set()
            same = all(defined.get(b) == _norm(helper) for b in bound) if bound else False
            if bound and bound <= names:
                if not same:
                    clash = True
                continue  # identical helper already there
            if bound & names:
                clash = True
                continue
            helper_blocks.append(helper)
            for b in bound:
                names.add(b)
                defined[b] = _norm(helper)
        if clash:
            skipped.append(
                f"{k.target_id} {c.name}: a helper or fixture of the same name already exists with other code"
            )
            continue
        # In a file that keeps its tests in classes, a plain test joins the class whose tests call the target,
        # or a new class named and based as the file's classes are.
        placed: tuple[str, str, str] | None = None  # (class, method name, method source)
        if style.hosts and not c.class_name:
            host = _host_for(style, k.target_id)
            if host is not None:
                method = _as_method(c.test_source, c.name, host.unittest and host.asserts)
                if method is not None:
                    placed = (host.name, c.name, method)
            else:
                unit = "TestCase" in style.new_bases
                method = _as_method(c.test_source, c.name, unit and any(h.asserts for h in style.hosts))
                if method is not None:
                    cls = style.new_name.format(_camel(_called_name(k.target_id)))
                    while cls in names and cls not in into:
                        cls += "2"
                    names.add(cls)
                    placed = (cls, c.name, method)
        needed = "\n".join([placed[2] if placed else c.test_source, *helper_blocks])
        for imp in c.imports:
            key = _norm(imp)
            if placed and key == "import pytest" and "pytest" not in needed:
                continue  # its pytest.raises became self.assertRaises
            fresh = _unbound_part(key, bound_from) if key not in imports else None
            if fresh is not None:
                imports.add(key)
                new_imports.append(fresh if fresh != key else imp.strip())
        present_hashes.add(sha)
        blocks.extend(helper_blocks)
        if placed:
            cls, method_name, method = placed
            taken = set(next((h.methods for h in style.hosts if h.name == cls), frozenset()))
            taken |= {n for n, _ in into.get(cls, [])}
            new = _fresh_name(method_name, c.test_source, k.target_id, taken)
            if new != method_name:
                method = rename_def(method, method_name, new)
            into.setdefault(cls, []).append((new, _provenance(k, sha) + "\n" + method))
            added.append(f"{cls}::{new}")
            continue
        if c.class_name:
            classes.setdefault(c.class_name, []).append((k, sha, c.test_source))
            continue
        name = _fresh_name(c.name, c.test_source, k.target_id, names)
        source = c.test_source
        if name != c.name:
            source = rename_def(source, c.name, name)
        names.add(name)
        blocks.append(_provenance(k, sha) + "\n" + source)
        added.append(name)
    for cls, members in classes.items():
        name = cls
        i = 2
        while name in names:
            name = f"{cls}{i}"
            i += 1
        names.add(name)
        prelude = members[0][0].candidate.class_prelude
        body_parts = [prelude] if prelude.strip() else []
        method_names: set[str] = set()
        for k, sha, source in members:
            method = k.candidate.name.split("::")[-1]
            new = method
            j = 2
            while new in method_names:
                new = f"{method}_{j}"
                j += 1
            method_names.add(new)
            if new != method:
                source = rename_def(source, method, new)
            body_parts.append(_provenance(k, sha) + "\n" + source)
            added.append(f"{name}::{new}")
        body = "\n\n".join(body_parts)
        blocks.append(
            f"class {name}:\n" + "\n".join(("    " + line) if line.strip() else "" for line in body.splitlines())
        )
    hosts = {h.name: h for h in style.hosts}
    for cls, methods in sorted(into.items(), key=lambda item: -(hosts[item[0]].end if item[0] in hosts else 0)):
        host = hosts.get(cls)
        indent = host.indent if host else "    "
        body = "\n\n".join(source for _, source in methods)
        indented = [(indent + line) if line.strip() else "" for line in body.splitlines()]
        if host:
            lines[host.end : host.end] = ["", *indented]
        else:
            header = f"class {cls}({style.new_bases}):" if style.new_bases else f"class {cls}:"
            blocks.append("\n".join([header, *indented]))
    if not blocks and not into:
        return existing, added, skipped
    head = lines[:last_import_end]
    tail = lines[last_import_end:]
    if new_imports:
        head = head + new_imports
    text = "\n".join(head + tail).rstrip("\n")
    if blocks:
        text = (text + "\n\n\n" if text else "") + "\n\n\n".join(b.rstrip() for b in blocks)
    text += "\n"
    return text, added, skipped


def write_atomic(path: Path, text: str, expected_old: str | None) -> None:
    """Replace ``path`` with ``text`` unless it changed since it was read as ``expected_old``."""
    if expected_old is None:
        if path.exists():
            raise FileExistsError(f"{path} appeared while testbot ran; left untouched")
    else:
        current = path.read_text(encoding="utf-8")
        if current != expected_old:
            raise FileExistsError(f"{path} changed while testbot ran; left untouched")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        if expected_old is not None:
            os.chmod(tmp, path.stat().st_mode & 0o7777)
        else:
            os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _without_credentials(kept: Sequence[Kept], known: frozenset[str]) -> tuple[list[Kept], list[str]]:
    """``kept`` less the tests in which the scan finds a credential, and a line for each one dropped."""
    clean, dropped = [], []
    for k in kept:
        c = k.candidate
        hits = secrets_scan.find("\n".join([*c.imports, *c.helpers, c.class_prelude, c.test_source]), known)
        if hits:
            dropped.append(
                f"{k.target_id} {c.name}: dropped, it carries what looks like a credential "
                f"({secrets_scan.describe(hits)})"
            )
        else:
            clean.append(k)
    return clean, dropped


def _authors(added: Sequence[str], kept: Sequence[Kept]) -> tuple[str, ...]:
    """Who wrote each added test (``Class::test_x`` when placed in a class; ``test_x_2`` when renamed on a clash)."""
    by_name = {k.candidate.name.split("::")[-1]: k.model for k in kept}
    out = []
    for name in added:
        bare = name.split("::")[-1]
        out.append(by_name.get(bare) or by_name.get(re.sub(r"_\d+$", "", bare), ""))
    return tuple(out)


def integrate(
    dest: Path,
    kept: Sequence[Kept],
    *,
    passes: Callable[[str], bool],
    dry_run: bool,
    known: frozenset[str] = frozenset(),
) -> FileChange:
    """Add ``kept`` to ``dest``; ``passes(text)`` runs a composed file as a whole in the scratch copy. A test
    that adds nothing (+0 lines, +0 branches, no mutant caught that the others miss) is not written, nor one that carries what looks like a credential
    (:mod:`testbot.secrets_scan`; ``known``: the project's own strings, which are not); the file's skipped
    list says why."""
    created = not dest.exists()
    idle = [
        f"{k.target_id} {k.candidate.name}: dropped, it adds no line or branch over the project's suite and the "
        f"tests kept before it (+0)"
        for k in kept
        if not k.gain.lines and not k.gain.branches and not k.catches and not k.captures
    ]
    kept = [k for k in kept if k.gain.lines or k.gain.branches or k.catches or k.captures]
    kept, leaking = _without_credentials(kept, known)
    leaking = idle + leaking
    try:
        existing = "" if created else dest.read_text(encoding="utf-8")
        if existing:
            ast.parse(existing)
    except (OSError, UnicodeDecodeError, SyntaxError) as exc:
        return FileChange(
            dest,
            created,
            (),
            tuple(f"{k.target_id} {k.candidate.name}: file unreadable" for k in kept),
            "",
            False,
            f"cannot add tests to {dest}: it does not parse or read ({exc})",
        )
    text, added, skipped = compose(existing, kept)
    skipped = leaking + skipped
    if not added:
        return FileChange(dest, created, (), tuple(skipped), existing, False)
    if not passes(text):
        # Some tests only pass alone (shared state, name clashes): add them one by one, keeping what passes.
        chosen: list[Kept] = []
        text, added = existing, []
        styled = True  # as methods where the file keeps its tests in classes, unless that is what fails
        for k in kept:
            trial, trial_added, _ = compose(existing, chosen + [k], styled)
            ok = len(trial_added) > len(added) and passes(trial)
            if not ok and styled:
                trial, trial_added, _ = compose(existing, chosen + [k], False)
                ok = len(trial_added) > len(added) and passes(trial)
                styled = not ok
            if ok:
                chosen.append(k)
                text, added = trial, trial_added
            else:
                skipped.append(f"{k.target_id} {k.candidate.name}: fails when run together with the file")
        if not added:
            return FileChange(dest, created, (), tuple(skipped), existing, False)
    authors = _authors(added, kept)
    if dry_run:
        return FileChange(dest, created, tuple(added), tuple(skipped), text, False, authors=authors)
    try:
        write_atomic(dest, text, None if created else existing)
    except (OSError, FileExistsError) as exc:
        return FileChange(dest, created, (), tuple(skipped), text, False, str(exc))
    return FileChange(dest, created, tuple(added), tuple(skipped), text, True, authors=authors)
