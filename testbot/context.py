"""Gather what the model needs to know about a target: how to import it, what it uses, how tests look here."""

from __future__ import annotations

import ast
import builtins
import copy
import functools
from dataclasses import dataclass
from pathlib import Path

from testbot.layout import conftest_files, destination_for, existing_tests_for
from testbot.targets import Target, module_path

_BUILTINS = set(dir(builtins))
MAX_DOC_LINES = 8


@dataclass(frozen=True)
class Related:
    name: str
    origin: str  # module it comes from
    text: str  # signature and docstring, body elided


@dataclass(frozen=True)
class Context:
    target: Target
    import_line: str  # e.g. "from pkg.m import parse"
    module_imports: str  # the target module's own import statements
    class_outline: str  # for methods: the class, its __init__ and its signatures
    related: tuple[Related, ...]  # names the target uses, from the module and the project
    usages: tuple[str, ...]  # lines elsewhere in the project that call the target
    example_tests: str  # the project's existing tests for this module (in-context examples)
    example_path: str
    fixtures: tuple[str, ...]  # fixture names available from conftest.py files


@functools.lru_cache(maxsize=256)
def _parse(path: Path, mtime: float) -> tuple[str, ast.Module] | None:
    try:
        text = path.read_text(encoding="utf-8")
        return text, ast.parse(text)
    except (OSError, UnicodeDecodeError, SyntaxError, ValueError):
        return None


def parse_file(path: Path) -> tuple[str, ast.Module] | None:
    try:
        return _parse(path, path.stat().st_mtime)
    except OSError:
        return None


def _doc_stub(node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef, indent: str = "") -> str:
    """Signature plus a shortened docstring; the body becomes ``...``."""
    stub = copy.copy(node)
    doc = ast.get_docstring(node)
    body: list[ast.stmt] = []
    if doc:
        lines = doc.strip().splitlines()
        if len(lines) > MAX_DOC_LINES:
            lines = lines[:MAX_DOC_LINES] + ["..."]
        body.append(ast.Expr(ast.Constant("\n".join(lines))))
    body.append(ast.Expr(ast.Constant(...)))
    stub.body = body
    text = ast.unparse(stub)
    return "\n".join(indent + line for line in text.splitlines())


def _class_outline(cls: ast.ClassDef, skip: str = "") -> str:
    """The class header, docstring, class attributes, full __init__ and the other signatures."""
    stub = copy.copy(cls)
    stub.body = []
    doc = ast.get_docstring(cls)
    if doc:
        stub.body.append(ast.Expr(ast.Constant("\n".join(doc.strip().splitlines()[:MAX_DOC_LINES]))))
    for item in cls.body:
        if isinstance(item, ast.AnnAssign | ast.Assign):
            stub.body.append(item)
        elif isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
            if item.name == skip:
                continue
            if item.name in ("__init__", "__post_init__") and len(ast.unparse(item)) < 1200:
                stub.body.append(item)  # the constructor shows how to build an instance
            else:
                inner = copy.copy(item)
                inner.body = [ast.Expr(ast.Constant(...))]
                stub.body.append(inner)
        elif isinstance(item, ast.ClassDef):
            inner = copy.copy(item)
            inner.body = [ast.Expr(ast.Constant(...))]
            stub.body.append(inner)
    if not stub.body:
        stub.body = [ast.Expr(ast.Constant(...))]
    return ast.unparse(stub)


def find_node(tree: ast.Module, qualname: str) -> ast.AST | None:
    """The definition (function or class) named by a dotted ``qualname``, None when there is none."""
    body: list[ast.stmt] = tree.body
    node: ast.AST | None = None
    for part in qualname.split("."):
        node = next(
            (
                n
                for n in ast.walk(ast.Module(body=body, type_ignores=[]))
                if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and n.name == part
            ),
            None,
        )
        if node is None:
            return None
        body = getattr(node, "body", [])
    return node


def _used_names(node: ast.AST) -> tuple[list[str], list[str]]:
    """Plain names the node reads, and attributes it reads off ``self``/``cls``, in first-use order."""
    names: dict[str, None] = {}
    attrs: dict[str, None] = {}
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Load):
            names.setdefault(sub.id)
        elif isinstance(sub, ast.Attribute) and isinstance(sub.value, ast.Name) and sub.value.id in ("self", "cls"):
            attrs.setdefault(sub.attr)
    return [n for n in names if n not in _BUILTINS and n not in ("self", "cls")], list(attrs)


def _top_level_defs(tree: ast.Module) -> dict[str, ast.stmt]:
    defs: dict[str, ast.stmt] = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            defs[node.name] = node
        elif isinstance(node, ast.Assign):
            for t in node.targets:
                if isinstance(t, ast.Name):
                    defs[t.id] = node
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            defs[node.target.id] = node
    return defs


def _render(name: str, node: ast.stmt) -> str:
    if isinstance(node, ast.ClassDef):
        return _class_outline(node)
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        return _doc_stub(node)
    text = ast.unparse(node)
    return text if len(text) <= 240 else text[:237] + "..."


def _imports_of(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    return [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)]


def _resolve_from(target: Target, node: ast.ImportFrom) -> str | None:
    """Absolute module name of a ``from X import y`` in the target's module."""
    if node.level == 0:
        return node.module
    package = target.module.split(".")
    if target.file.name != "__init__.py":
        package = package[:-1]
    if node.level > 1:
        package = package[: len(package) - (node.level - 1)]
    return ".".join(package + ([node.module] if node.module else []))


def _module_file(import_root: Path, module: str) -> Path | None:
    base = import_root.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _related(target: Target, tree: ast.Module, node: ast.AST) -> list[Related]:
    names, attrs = _used_names(node)
    local = _top_level_defs(tree)
    imported: dict[str, tuple[str, str]] = {}  # local name -> (module, original name)
    for imp in _imports_of(tree):
        if isinstance(imp, ast.ImportFrom):
            mod = _resolve_from(target, imp)
            for alias in imp.names:
                if mod and alias.name != "*":
                    imported[alias.asname or alias.name] = (mod, alias.name)
    found: list[Related] = []
    seen: set[str] = {target.qualname.split(".")[0]}
    if target.class_name:  # other members of the class that the method uses
        cls = find_node(tree, target.class_name)
        members = {n.name: n for n in getattr(cls, "body", []) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}
        for attr in attrs:
            if attr in members and attr != target.name and attr not in ("__init__",):
                found.append(Related(f"{target.class_name}.{attr}", target.module, _doc_stub(members[attr])))
    for name in names:
        if name in seen:
            continue
        seen.add(name)
        if name in local:
            found.append(Related(name, target.module, _render(name, local[name])))
        elif name in imported:
            mod, original = imported[name]
            file = _module_file(target.import_root, mod)
            parsed = parse_file(file) if file else None
            if parsed:
                defs = _top_level_defs(parsed[1])
                if original in defs:
                    found.append(Related(name, mod, _render(original, defs[original])))
    return found


def _usages(target: Target, root: Path, limit: int = 3) -> list[str]:
    """A few call sites of the target elsewhere in the project (not in tests)."""
    needle = target.name + "("
    hits = []
    for file in sorted(root.rglob("*.py")):
        if len(hits) >= limit:
            break
        if any(
            p.startswith(".") or p in ("tests", "test", "venv", ".venv", "build")
            for p in file.relative_to(root).parts[:-1]
        ):
            continue
        if file.resolve() == target.file:
            continue
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        for line in text.splitlines():
            stripped = line.strip()
            if needle in stripped and not stripped.startswith(("def ", "async def ", "#")):
                hits.append(stripped[:160])
                if len(hits) >= limit:
                    break
    return hits


def _fixtures(paths: list[Path]) -> list[str]:
    names = []
    for path in paths:
        parsed = parse_file(path)
        if not parsed:
            continue
        for node in parsed[1].body:
            if isinstance(node, ast.FunctionDef) and any("fixture" in ast.unparse(d) for d in node.decorator_list):
                names.append(node.name)
    return names


def build_context(target: Target, root: Path, tests_dir: str = "") -> Context:
    parsed = parse_file(target.file)
    tree = parsed[1] if parsed else ast.parse(target.source)
    node = find_node(tree, target.qualname) or ast.parse(target.source)
    top = target.qualname.split(".")[0]
    import_line = f"from {target.module} import {top}" if target.module else f"import {target.file.stem}"
    module_imports = "\n".join(ast.unparse(n) for n in _imports_of(tree))
    class_outline = ""
    if target.class_name:
        cls = find_node(tree, target.class_name)
        if isinstance(cls, ast.ClassDef):
            # The same outline for every method (so the prompts of a class share their start, which llama.cpp
            # reads once); only a constructor, shown in full as the code under test, is left out of its own.
            skip = target.name if target.name in ("__init__", "__post_init__") else ""
            class_outline = _class_outline(cls, skip=skip)
    example_tests, example_path = "", ""
    existing = existing_tests_for(target, root)
    if existing:
        try:
            example_tests = existing[0].read_text(encoding="utf-8")
            example_path = existing[0].relative_to(root).as_posix()
        except (OSError, UnicodeDecodeError):
            pass
    dest = destination_for(target, root, tests_dir)
    return Context(
        target=target,
        import_line=import_line,
        module_imports=module_imports,
        class_outline=class_outline,
        related=tuple(_related(target, tree, node)),
        usages=tuple(_usages(target, root)),
        example_tests=example_tests,
        example_path=example_path,
        fixtures=tuple(_fixtures(conftest_files(root, dest))),
    )


__all__ = ["Context", "Related", "build_context", "module_path", "parse_file"]
