"""Find the functions and methods to write tests for, with ``ast``."""

from __future__ import annotations

import ast
import errno
import fnmatch
import functools
import os
import re
import textwrap
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from testbot.errors import FatalError

SKIP_DIRS = {
    ".git",
    ".hg",
    ".svn",
    ".venv",
    "venv",
    "env",
    ".env",
    "__pycache__",
    "build",
    "dist",
    ".tox",
    ".nox",
    "node_modules",
    "site-packages",
    ".mypy_cache",
    ".pytest_cache",
    ".ruff_cache",
    ".eggs",
    ".testbot",
}
MAX_FILE_BYTES = 2 * 1024 * 1024


@dataclass(frozen=True)
class Target:
    file: Path  # absolute path of the source file
    rel: str  # path relative to the project root, posix style
    module: str  # dotted import path, e.g. "pkg.m"
    import_root: Path  # folder that must be on sys.path to import ``module``
    qualname: str  # "parse", "Parser.parse", "Outer.Inner.m"
    kind: str  # function, method, staticmethod, classmethod, property
    is_async: bool
    start: int  # first line, decorators included
    def_line: int  # the ``def`` line
    end: int  # last line
    lines: frozenset[int]  # the lines that matter: all of them here, the changed ones for --changed
    source: str  # the function's source, decorators included
    # In a change run: the function's source before the change, decorators included ("" when the change added it);
    # None outside a change run.
    before: str | None = None

    @property
    def id(self) -> str:
        return f"{self.rel}::{self.qualname}"

    @property
    def class_name(self) -> str | None:
        return self.qualname.rsplit(".", 1)[0] if "." in self.qualname else None

    @property
    def name(self) -> str:
        return self.qualname.rsplit(".", 1)[-1]


@dataclass(frozen=True)
class SourceFile:
    path: Path
    text: str
    tree: ast.Module


def is_test_file(path: Path) -> bool:
    """A test module by pytest's and unittest's naming (``test_*.py``, ``*_test.py``, ``test.py``, ``tests.py``,
    ``conftest.py``) or by its folder (``tests/``, ``test/``, ``testing/``): never a target."""
    name = path.name
    return (
        name.startswith("test_")
        or name.endswith("_test.py")
        or name in ("conftest.py", "test.py", "tests.py")
        or any(part in ("tests", "test", "testing") for part in path.parent.parts[-3:])
    )


def read_source(path: Path) -> SourceFile:
    """Read and parse a Python file, or raise a FatalError that names the problem."""
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise FatalError(
                f"{path}: file is larger than {MAX_FILE_BYTES // 1024 // 1024} MiB; exclude it with --exclude"
            )
        data = path.read_bytes()
    except FileNotFoundError:
        raise FatalError(f"{path}: no such file (was it deleted while testbot ran?)") from None
    except OSError as exc:
        raise FatalError(f"{path}: cannot read it: {exc.strerror or exc}") from None
    if b"\x00" in data:
        raise FatalError(f"{path}: this is a binary file, not Python source")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FatalError(f"{path}: not UTF-8 text (byte {exc.start}); save it as UTF-8") from None
    try:
        tree = ast.parse(text, filename=str(path))
    except SyntaxError as exc:
        raise FatalError(f"{path}:{exc.lineno}: syntax error: {exc.msg}; fix it before generating tests") from None
    return SourceFile(path, text, tree)


def module_path(path: Path) -> tuple[str, Path]:
    """Dotted module name of ``path`` and the folder to put on sys.path, following ``__init__.py`` files."""
    path = path.resolve()
    parts = [path.stem] if path.stem != "__init__" else []
    folder = path.parent
    while (folder / "__init__.py").is_file() and folder.parent != folder and not _declared_root(folder):
        parts.insert(0, folder.name)
        folder = folder.parent
    return ".".join(parts), folder


# A project's packaging naming `src` as where its packages live: setuptools' `where = ["src"]` or
# `package-dir = {"" = "src"}`, setup.cfg's `package_dir = =src`, setup.py's `package_dir={"": "src"}`, poetry's
# `from = "src"`, hatch's `packages = ["src/pkg"]`.
_SRC_DECLARED = re.compile(
    r"""where\s*=\s*\[?\s*["']src/?["']|package[-_]dir[^\n]*["'=]\s*["']?src\b|^\s*=\s*src/?\s*$|from\s*=\s*["']src["']"""
    r"""|packages\s*=\s*\[[^\]]*["']src/|^\s*["']{2}\s*[:=]\s*["']src/?["']""",
    re.M,
)


@functools.lru_cache(maxsize=64)
def _declared_root(folder: Path) -> bool:
    """Whether ``folder`` is a ``src`` folder the project's packaging declares as the root of its packages: then
    an ``__init__.py`` in it does not make it a package (`validators` ships one; its modules are `validators.x`)."""
    if folder.name != "src":
        return False
    for name in ("pyproject.toml", "setup.cfg", "setup.py"):
        try:
            text = (folder.parent / name).read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        if _SRC_DECLARED.search(text):
            return True
    return False


def neighbours(path: Path) -> tuple[str, ...]:
    """The sources of the other Python files in ``path``'s folder (unreadable or very large ones left out)."""
    try:
        stats = tuple(
            (p, st.st_mtime_ns, st.st_size)
            for p in sorted(path.parent.glob("*.py"))
            if p.name != path.name and p.is_file() and (st := p.stat()).st_size <= MAX_FILE_BYTES
        )
    except OSError:
        return ()
    return _sources(stats)


@functools.lru_cache(maxsize=16)  # (by path, time and size: a file changed since is read again)
def _sources(stats: tuple[tuple[Path, int, int], ...]) -> tuple[str, ...]:
    out = []
    for p, _, _ in stats:
        try:
            out.append(p.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError):
            continue
    return tuple(out)


def is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _decorator_names(node: ast.FunctionDef | ast.AsyncFunctionDef) -> set[str]:
    names = set()
    for dec in node.decorator_list:
        target = dec.func if isinstance(dec, ast.Call) else dec
        if isinstance(target, ast.Name):
            names.add(target.id)
        elif isinstance(target, ast.Attribute):
            names.add(target.attr)
    return names


def _walk_defs(
    body: Iterable[ast.stmt], prefix: str, in_class: bool
) -> Iterator[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef, str]]:
    for node in body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            decorators = _decorator_names(node)
            if decorators & {"overload", "abstractmethod"}:
                continue
            kind = "function"
            if in_class:
                kind = "method"
                for special in ("staticmethod", "classmethod", "property", "cached_property"):
                    if special in decorators:
                        kind = "property" if special.endswith("property") else special
                if {"setter", "deleter"} & decorators:
                    continue  # tested through the property itself
            yield prefix + node.name, node, kind
        elif isinstance(node, ast.ClassDef):
            yield from _walk_defs(node.body, f"{prefix}{node.name}.", True)
        elif isinstance(node, ast.If | ast.Try):  # e.g. "if sys.version_info >= ...: def f(): ..."
            blocks = [node.body, node.orelse] + (
                [node.finalbody] + [h.body for h in node.handlers] if isinstance(node, ast.Try) else []
            )
            for block in blocks:
                yield from _walk_defs(block, prefix, in_class)


def functions_in(src: SourceFile, root: Path, include_private: bool) -> list[Target]:
    module, import_root = module_path(src.path)
    lines = src.text.splitlines()
    found = []
    for qualname, node, kind in _walk_defs(src.tree.body, "", False):
        if not include_private and any(is_private(part) for part in qualname.split(".")):
            continue
        start = min([node.lineno] + [d.lineno for d in node.decorator_list])
        end = node.end_lineno or node.lineno
        found.append(
            Target(
                file=src.path.resolve(),
                rel=_rel(src.path, root),
                module=module,
                import_root=import_root,
                qualname=qualname,
                kind=kind,
                is_async=isinstance(node, ast.AsyncFunctionDef),
                start=start,
                def_line=node.lineno,
                end=end,
                lines=frozenset(range(node.lineno, end + 1)),
                source="\n".join(lines[start - 1 : end]),
            )
        )
    return found


def _rel(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.resolve().as_posix()


def _matches(rel: str, globs: Iterable[str]) -> bool:
    return any(fnmatch.fnmatch(rel, g) or fnmatch.fnmatch(Path(rel).name, g) for g in globs)


def python_files(folder: Path) -> Iterator[Path]:
    seen: set[tuple[int, int]] = set()
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        st = os.stat(dirpath)
        if (st.st_dev, st.st_ino) in seen:
            dirnames[:] = []
            continue
        seen.add((st.st_dev, st.st_ino))
        dirnames[:] = sorted(
            d for d in dirnames if d not in SKIP_DIRS and not d.startswith(".") and not d.endswith(".egg-info")
        )
        for name in sorted(filenames):
            if name.endswith(".py"):
                yield Path(dirpath) / name


def missing_path(path: Path) -> FatalError:
    """The error for a path that is not there: a symbolic link loop, a broken link, or nothing at all."""
    if path.is_symlink():
        try:
            os.stat(path)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                return FatalError(f"{path}: symbolic link loop")
        return FatalError(f"{path}: broken symbolic link")
    return FatalError(f"{path}: no such file or folder")


def find_targets(
    specs: Iterable[str],
    root: Path,
    *,
    include_private: bool = False,
    include: Iterable[str] = (),
    exclude: Iterable[str] = (),
) -> list[Target]:
    """Targets for each argument: a folder, a file, ``file.py::func`` or ``file.py::Class.method``."""
    include, exclude = tuple(include), tuple(exclude)
    targets: list[Target] = []
    for spec in specs:
        path_part, _, selector = spec.partition("::")
        path = Path(path_part)
        if not path.exists():
            raise missing_path(path)
        try:
            path.resolve(strict=True)
        except (RuntimeError, OSError):
            raise FatalError(f"{path}: symbolic link loop") from None
        if path.is_dir():
            if selector:
                raise FatalError(f"{spec}: '::name' selects a function in a file, not in a folder")
            for file in python_files(path):
                rel = _rel(file, root)
                if is_test_file(file) or (include and not _matches(rel, include)) or _matches(rel, exclude):
                    continue
                if file.stat().st_size == 0:
                    continue  # an empty __init__.py is normal inside a package
                targets.extend(functions_in(read_source(file), root, include_private))
            continue
        if path.suffix != ".py":
            raise FatalError(f"{path}: not a Python file (expected a .py file or a folder)")
        if path.stat().st_size == 0:
            raise FatalError(f"{path}: the file is empty; there is nothing to test")
        src = read_source(path)
        found = functions_in(src, root, include_private=include_private or bool(selector))
        if selector:
            chosen = [t for t in found if t.qualname == selector]
            if not chosen:
                names = ", ".join(t.qualname for t in found) or "none"
                raise FatalError(f"{spec}: no function or method '{selector}' in {path} (found: {names})")
            found = chosen
        targets.extend(found)
    unique = {t.id: t for t in targets}
    return list(unique.values())


def reach(targets: Sequence[Target]) -> dict[str, int]:
    """How many lines of its file a test of each target can run: its own and those of the functions of the
    same file it calls (``f()``, ``self.m()``, ``self.prop``, ``Class()``), transitively.

    Under a tight ``--budget`` not every target gets a turn; those that reach most go first (a test of a
    public ``fill`` runs the private helpers it calls).
    """
    by_file: dict[Path, dict[str, Target]] = {}
    for t in targets:
        by_file.setdefault(t.file, {})[t.qualname] = t
    out: dict[str, int] = {}
    for same in by_file.values():
        calls: dict[str, set[str]] = {}
        for t in same.values():
            try:
                tree = ast.parse(textwrap.dedent(t.source))
            except SyntaxError:
                calls[t.qualname] = set()
                continue
            found: set[str] = set()
            for node in ast.walk(tree):
                if isinstance(node, ast.Name):
                    found.add(node.id)
                    found.add(f"{node.id}.__init__")
                elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                    owner = t.class_name if node.value.id in ("self", "cls") else node.value.id
                    if owner:
                        found.add(f"{owner}.{node.attr}")
            calls[t.qualname] = {q for q in found if q in same and q != t.qualname}
        for t in same.values():
            seen, todo = {t.qualname}, [t.qualname]
            while todo:
                for q in calls[todo.pop()]:
                    if q not in seen:
                        seen.add(q)
                        todo.append(q)
            out[t.id] = sum(same[q].end - same[q].def_line + 1 for q in seen)
    return out
