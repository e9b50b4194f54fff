"""Augment pairs by consistent renaming: the focal function, its parameters and its locals get new names
in the function and in its test alike, so the model learns to read the code rather than recall names.

Renaming is exact: ``ast`` says which identifiers are the function's own (its name, its parameters, the
names it binds; keyword arguments ``f(x=...)`` in the test when ``x`` is a renamed parameter), ``tokenize``
finds them in the text; strings, comments, attributes of other objects and keyword arguments to other
callables are left alone. An augmented pair is kept only if its test passes against its renamed function:
the renamed function is appended to a scratch copy of its module (so it sees the module's globals) and
the renamed test runs there in the sandbox.
"""

from __future__ import annotations

import ast
import builtins
import io
import keyword
import random
import shutil
import tempfile
import tokenize
from collections.abc import Callable
from pathlib import Path

from testbot import sandbox
from testbot.finetune.data import Pair, pair_id

VERIFY_SECONDS = 180.0  # one pytest run over all the renamed tests of one package

# New names are made of these words: plain, varied, and never the names they replace.
VERBS = (
    "compute",
    "build",
    "make",
    "get",
    "find",
    "apply",
    "collect",
    "convert",
    "render",
    "resolve",
    "pick",
    "scan",
    "fold",
    "split",
    "join",
    "check",
    "emit",
    "load",
    "shape",
    "derive",
)
NOUNS = (
    "value",
    "item",
    "items",
    "data",
    "entry",
    "record",
    "chunk",
    "token",
    "node",
    "result",
    "parts",
    "seq",
    "block",
    "field",
    "label",
    "target",
    "source",
    "group",
    "batch",
    "pair",
)
_RESERVED = set(dir(builtins)) | set(keyword.kwlist) | {"self", "cls", "pytest"}


class Skip(Exception):
    """This pair cannot be renamed safely (the reason is the message)."""


def _names_bound(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> list[str]:
    """The function's parameters and the plain names it assigns, in order (not global/nonlocal ones)."""
    out: dict[str, None] = {}
    a = fn.args
    for arg in a.posonlyargs + a.args + a.kwonlyargs + [x for x in (a.vararg, a.kwarg) if x]:
        out.setdefault(arg.arg)
    declared = {n for node in ast.walk(fn) if isinstance(node, ast.Global | ast.Nonlocal) for n in node.names}
    for node in ast.walk(fn):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store | ast.Del):
            out.setdefault(node.id)
    return [n for n in out if n not in declared and n not in ("self", "cls")]


def plan_renames(pair: Pair, rng: random.Random) -> dict[str, str]:
    """old name -> new name for the focal function, its parameters and its locals."""
    if "." in pair.function:
        raise Skip("a method (renaming it would change its class)")
    tree = ast.parse(pair.focal_code)
    fn = tree.body[0] if tree.body else None
    if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef) or fn.name != pair.function:
        raise Skip("the focal code is not one function")
    if any(isinstance(n, ast.JoinedStr) for n in ast.walk(fn)):
        raise Skip("an f-string (tokenize cannot see the names inside it)")
    if any(
        isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in ("locals", "vars", "eval", "exec")
        for n in ast.walk(fn)
    ):
        raise Skip("the function reads its own names at run time")
    taken = _all_names(pair.focal_code) | _all_names(pair.test_code) | _RESERVED
    mapping: dict[str, str] = {}

    def fresh(make: Callable[[], str]) -> str:
        for _ in range(200):
            name = make()
            if name not in taken:
                taken.add(name)
                return name
        raise Skip("no fresh name")

    public = not fn.name.startswith("_")
    mapping[fn.name] = fresh(lambda: ("" if public else "_") + f"{rng.choice(VERBS)}_{rng.choice(NOUNS)}")
    for name in _names_bound(fn):
        if name.startswith("__") or name == fn.name:
            continue
        mapping[name] = fresh(lambda: rng.choice(NOUNS) + (str(rng.randint(2, 9)) if rng.random() < 0.3 else ""))
    return mapping


def _all_names(code: str) -> set[str]:
    try:
        return {t.string for t in tokenize.generate_tokens(io.StringIO(code).readline) if t.type == tokenize.NAME}
    except (tokenize.TokenError, SyntaxError):
        return set()


def _apply(code: str, positions: set[tuple[int, int]], mapping: dict[str, str]) -> str:
    """Replace the NAME tokens that start at ``positions`` (line, column) with their new names."""
    tokens = list(tokenize.generate_tokens(io.StringIO(code).readline))
    lines = code.splitlines(keepends=True)
    edits = [
        (t.start, t.string) for t in tokens if t.type == tokenize.NAME and t.start in positions and t.string in mapping
    ]
    for (row, col), old in sorted(edits, reverse=True):
        line = lines[row - 1]
        lines[row - 1] = line[:col] + mapping[old] + line[col + len(old) :]
    return "".join(lines)


def _char_col(lines: list[str], lineno: int, byte_col: int) -> int:
    return len(lines[lineno - 1].encode("utf-8")[:byte_col].decode("utf-8", errors="replace"))


def rename_function(code: str, mapping: dict[str, str]) -> str:
    """Rename the function's own name, parameters and locals (every Name/arg it binds or reads)."""
    tree = ast.parse(code)
    fn = tree.body[0]
    lines = code.splitlines()
    pos: set[tuple[int, int]] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id in mapping:
            pos.add((node.lineno, _char_col(lines, node.lineno, node.col_offset)))
        elif isinstance(node, ast.arg) and node.arg in mapping:
            pos.add((node.lineno, _char_col(lines, node.lineno, node.col_offset)))
        elif isinstance(node, ast.keyword) and node.arg in mapping and _calls(node, tree, fn.name):
            pos.add((node.lineno, _char_col(lines, node.lineno, node.col_offset)))
    # the name after ``def``
    toks = list(tokenize.generate_tokens(io.StringIO(code).readline))
    for i, t in enumerate(toks):
        if t.type == tokenize.NAME and t.string == "def" and i + 1 < len(toks) and toks[i + 1].string == fn.name:
            pos.add(toks[i + 1].start)
            break
    return _apply(code, pos, mapping)


def _calls(kw: ast.keyword, tree: ast.AST, fname: str) -> bool:
    """Is ``kw`` a keyword argument of a call to ``fname``?"""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and kw in node.keywords:
            return isinstance(node.func, ast.Name) and node.func.id == fname
    return False


def rename_test(code: str, mapping: dict[str, str], fname: str) -> str:
    """Rename the focal function where the test names it (calls, references, its import) and the keyword
    arguments of calls to it. A test that reaches it as an attribute (``mod.f``) is skipped."""
    tree = ast.parse(code)
    lines = code.splitlines()
    pos: set[tuple[int, int]] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr == fname:
            raise Skip("the test reaches the function as an attribute")
        if isinstance(node, ast.Name) and node.id == fname:
            pos.add((node.lineno, _char_col(lines, node.lineno, node.col_offset)))
        elif isinstance(node, ast.alias) and node.name == fname:
            pos.add((node.lineno, _char_col(lines, node.lineno, node.col_offset)))
        elif isinstance(node, ast.keyword) and node.arg in mapping and node.arg != fname and _calls(node, tree, fname):
            pos.add((node.lineno, _char_col(lines, node.lineno, node.col_offset)))
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and node.name == fname:
            raise Skip("the test defines a name like the function's")
    return _apply(code, pos, mapping)


def augment_pair(pair: Pair, rng: random.Random) -> Pair:
    """The renamed pair (not yet verified). Raises :class:`Skip` when it cannot be renamed safely."""
    mapping = plan_renames(pair, rng)
    try:
        focal = rename_function(pair.focal_code, mapping)
        test = rename_test(pair.test_code, mapping, pair.function)
    except (SyntaxError, tokenize.TokenError) as exc:
        raise Skip(f"cannot parse: {exc}") from None
    new_name = mapping[pair.function]
    context = dict(pair.context)
    if context:
        context["import_line"] = f"from {pair.module} import {new_name}"
        context["usages"] = [_rename_words(u, {pair.function: new_name}) for u in context.get("usages", ())]
        context["example_tests"] = ""  # the examples call the old name: showing them would contradict the rename
        context["example_path"] = ""
    prov = {**pair.provenance, "augmented_from": pair.id, "renames": mapping}
    key = "augmented:" + repr(sorted(mapping.items()))
    return Pair(
        pair_id(pair.package, pair.module, new_name, pair.test_code, key),
        "augmented",
        pair.package,
        pair.module,
        new_name,
        focal,
        test,
        prov,
        context,
    )


def _rename_words(text: str, mapping: dict[str, str]) -> str:
    try:
        positions = {t.start for t in tokenize.generate_tokens(io.StringIO(text).readline) if t.string in mapping}
        return _apply(text, positions, mapping)
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return text


def _module_file(root: Path, module: str) -> Path | None:
    base = root.joinpath(*module.split("."))
    for p in (base.with_suffix(".py"), base / "__init__.py"):
        if p.is_file():
            return p
    return None


def augment(
    pairs: list[Pair],
    root: Path,
    *,
    python: str,
    seed: int = 0,
    copies: int = 1,
    note: Callable[[str], None] = lambda s: None,
    seconds: float = VERIFY_SECONDS,
) -> tuple[list[Pair], dict]:
    """Renamed copies of ``pairs`` (those of one project, whose import root is ``root``), kept only if their
    tests pass against the renamed functions. Returns the kept pairs and {reason: count} for the rest."""
    from testbot import validate as v

    rng = random.Random(seed)
    dropped: dict[str, int] = {}
    planned: list[Pair] = []
    for pair in pairs:
        if pair.source == "augmented":
            continue
        for _ in range(copies):
            try:
                planned.append(augment_pair(pair, rng))
            except Skip as exc:
                dropped[str(exc)] = dropped.get(str(exc), 0) + 1
                break
    if not planned:
        return [], dropped
    from testbot.finetune.mine import _passing_files, _run_files, import_root_of

    work = Path(tempfile.mkdtemp(prefix="testbot-augment-"))
    try:
        copy = work / "project"
        shutil.copytree(root, copy, ignore=shutil.ignore_patterns("__pycache__", ".git", "*.pyc"))
        import_root = import_root_of(copy)
        by_file: dict[Path, list[Pair]] = {}
        for p in planned:
            f = _module_file(import_root, p.module)
            if f is None:
                dropped["module not found"] = dropped.get("module not found", 0) + 1
                continue
            by_file.setdefault(f, []).append(p)
        for f, ps in by_file.items():  # the renamed functions join their module: they see its globals
            with f.open("a", encoding="utf-8") as out:
                for p in ps:
                    out.write("\n\n# testbot augment\n" + p.focal_code.strip("\n") + "\n")
        folder = copy / "_testbot_augmented"
        folder.mkdir()
        names = {}
        for i, p in enumerate(q for ps in by_file.values() for q in ps):
            name = f"test_aug_{i}.py"
            (folder / name).write_text(p.test_code, encoding="utf-8")
            names[name] = p
        limits = sandbox.Limits(wall_seconds=seconds, cpu_seconds=int(seconds * 2) + 5, memory_bytes=4 * 1024**3)
        with v.Workspace(copy, python, limits) as ws:
            run = _run_files(ws, ws.scratch_path(folder), import_root, seconds)
            ok = _passing_files(run.data)
        kept = []
        for name, p in names.items():
            if name in ok:
                kept.append(p)
            else:
                dropped["renamed test fails"] = dropped.get("renamed test fails", 0) + 1
        note(f"augmented {len(kept)} of {len(planned)} renamed pairs")
        return kept, dropped
    finally:
        shutil.rmtree(work, ignore_errors=True)
