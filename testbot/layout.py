"""Where a project keeps its tests: read before prompting (examples) and before writing (destination)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from testbot.targets import SKIP_DIRS, Target


def _test_files(root: Path) -> list[Path]:
    found = []
    for path in root.rglob("test*.py"):
        rel_parts = path.relative_to(root).parts
        if any(p in SKIP_DIRS or p.startswith(".") for p in rel_parts[:-1]):
            continue
        if (path.name.startswith("test_") or path.name in ("test.py", "tests.py")) and path.is_file():
            found.append(path)
    for path in root.rglob("*_test.py"):
        if not any(p in SKIP_DIRS or p.startswith(".") for p in path.relative_to(root).parts[:-1]):
            found.append(path)
    return sorted(set(found))


def tests_folder(root: Path, configured: str = "") -> Path:
    """The folder new test files go into: --tests-dir, else ``tests/`` or ``test/`` if present, else ``tests/``."""
    if configured:
        return (root / configured).resolve()
    for name in ("tests", "test"):
        if (root / name).is_dir():
            return root / name
    return root / "tests"


def existing_tests_for(target: Target, root: Path) -> list[Path]:
    """The project's test files for the target's module: ``test_<module>.py`` / ``<module>_test.py``."""
    leaf = target.module.rsplit(".", 1)[-1] if target.module else target.file.stem
    names = {f"test_{leaf}.py", f"{leaf}_test.py"}
    return [p for p in _test_files(root) if p.name in names]


_DOCTEST_OPTIONS = re.compile(r"--doctest-(modules|glob)")
_CONFIGS = ("pytest.ini", ".pytest.ini", "pyproject.toml", "setup.cfg", "tox.ini")


def has_suite(root: Path) -> bool:
    """Whether the project has a test suite to run: a test file, or doctests its pytest configuration asks for."""
    return bool(_test_files(root)) or _configured(root, _DOCTEST_OPTIONS)


def _configured(root: Path, pattern: re.Pattern[str]) -> bool:
    """Whether one of the project's pytest configuration files matches ``pattern``."""
    for name in _CONFIGS:
        try:
            if pattern.search((root / name).read_text(encoding="utf-8", errors="replace")):
                return True
        except OSError:
            continue
    return False


_PYTHON_FILES = re.compile(r"^\s*python_files\s*=", re.M)
# pytest's default python_files with unittest's usual module names added
PYTHON_FILES = "test_*.py *_test.py test.py tests.py"


def unnamed_test_modules(root: Path) -> bool:
    """Whether the project keeps tests in ``test.py``/``tests.py`` (unittest's usual names), which pytest's default
    ``python_files`` (``test_*.py``, ``*_test.py``) does not collect, and sets no ``python_files`` of its own: its
    suite then runs with :data:`PYTHON_FILES`."""
    return any(p.name in ("test.py", "tests.py") for p in _test_files(root)) and not _configured(root, _PYTHON_FILES)


_CALLS: dict[Path, tuple[int, dict[str, int], str]] = {}  # test file -> (mtime_ns, calls by name, imported names)


def _calls_in(path: Path) -> tuple[dict[str, int], str]:
    """What a test file calls, with counts (``name:f`` for ``f(...)``, ``attr:f`` for ``x.f(...)``, ``mod:m.f`` for
    ``m.f(...)``), and the text of its import statements; cached by the file's modification time."""
    try:
        stamp = path.stat().st_mtime_ns
    except OSError:
        return {}, ""
    cached = _CALLS.get(path)
    if cached and cached[0] == stamp:
        return cached[1], cached[2]
    calls: dict[str, int] = {}
    imports = []
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, SyntaxError, ValueError):
        tree = ast.Module(body=[], type_ignores=[])
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            keys = []
            if isinstance(func, ast.Name):
                keys.append(f"name:{func.id}")
            elif isinstance(func, ast.Attribute):
                keys.append(f"attr:{func.attr}")
                if isinstance(func.value, ast.Name):
                    keys.append(f"mod:{func.value.id}.{func.attr}")
            for key in keys:
                calls[key] = calls.get(key, 0) + 1
        elif isinstance(node, ast.Import | ast.ImportFrom):
            imports.append(ast.unparse(node))
    _CALLS[path] = (stamp, calls, "\n".join(imports))
    return calls, "\n".join(imports)


def tests_calling(target: Target, root: Path) -> list[tuple[int, Path]]:
    """The project's test files that call ``target`` (by its name, in files that import its module or package),
    with how often, most first."""
    name = target.qualname.split(".")[-1] if target.qualname else ""
    if not name or name.startswith("__"):
        return []
    parts = target.module.split(".") if target.module else [target.file.stem]
    out = []
    method = "." in target.qualname
    for path in _test_files(root):
        calls, imports = _calls_in(path)
        if method:  # a method: called on some object (by its name), its class built there counting a little too
            count = calls.get(f"attr:{name}", 0) + calls.get(f"name:{target.qualname.split('.')[0]}", 0) // 4
        else:  # a function: called by its name, or through its module (``semver.bump(...)``)
            count = calls.get(f"name:{name}", 0) + sum(calls.get(f"mod:{part}.{name}", 0) for part in parts)
        if count and any(re.search(rf"\b{re.escape(part)}\b", imports) for part in parts):
            out.append((count, path))
    return sorted(out, key=lambda cp: (-cp[0], len(cp[1].parts), str(cp[1])))


def destination_for(target: Target, root: Path, configured: str = "") -> Path:
    """The test file kept tests for ``target`` are written to: the one whose tests call it most, else the one
    named for its module, else a new one by the project's convention."""
    calling = tests_calling(target, root)
    if calling:
        return calling[0][1]
    existing = existing_tests_for(target, root)
    if existing:
        # Prefer one whose folder mirrors the package path, then the shortest path.
        pkg_parts = target.module.split(".")[:-1]
        existing.sort(key=lambda p: (not all(part in p.parts for part in pkg_parts), len(p.parts), str(p)))
        return existing[0]
    leaf = target.module.rsplit(".", 1)[-1] if target.module else target.file.stem
    folder = tests_folder(root, configured)
    if not configured and not folder.exists():
        # Tests living beside the code (test_x.py next to x.py) are a convention too.
        beside = [p for p in _test_files(root) if p.parent == target.file.parent]
        if beside:
            return target.file.parent / f"test_{leaf}.py"
    return folder / f"test_{leaf}.py"


def conftest_files(root: Path, test_file: Path) -> list[Path]:
    """conftest.py files that apply to ``test_file`` (its folder and the folders above it, up to the root)."""
    found = []
    folder = test_file.parent
    while True:
        conftest = folder / "conftest.py"
        if conftest.is_file():
            found.append(conftest)
        if folder == root or root not in folder.parents:
            break
        folder = folder.parent
    return found
