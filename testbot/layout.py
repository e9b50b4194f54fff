"""Where a project keeps its tests: read before prompting (examples) and before writing (destination)."""

from __future__ import annotations

from pathlib import Path

from testbot.targets import SKIP_DIRS, Target


def _test_files(root: Path) -> list[Path]:
    found = []
    for path in root.rglob("test*.py"):
        rel_parts = path.relative_to(root).parts
        if any(p in SKIP_DIRS or p.startswith(".") for p in rel_parts[:-1]):
            continue
        if path.name.startswith("test_") and path.is_file():
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


def destination_for(target: Target, root: Path, configured: str = "") -> Path:
    """The test file kept tests for ``target`` are written to: the existing one, or a new one by convention."""
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
