"""Finding the functions and methods to write tests for."""

from __future__ import annotations

from pathlib import Path

import pytest

from testbot.errors import FatalError
from testbot.targets import find_targets

SHAPES = '''\
import functools


def plain(x):
    return x + 1


async def fetch(url):
    return url


def _private_helper():
    return 1


def __dunder_like__():
    return 2


class Shape:
    """A class with every kind of member."""

    def __init__(self, size):
        self.size = size

    def area(self):
        return self.size * self.size

    async def load(self):
        return self

    @staticmethod
    def unit():
        return Shape(1)

    @classmethod
    def of(cls, size):
        return cls(size)

    @property
    def double(self):
        return self.size * 2

    @double.setter
    def double(self, value):
        self.size = value / 2

    @functools.cached_property
    def cached(self):
        return self.size

    def _hidden(self):
        return 0

    class Inner:
        def deep(self):
            return "deep"


class _PrivateClass:
    def method(self):
        return 1
'''


@pytest.fixture
def pkg(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'pkg'\n")
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "shapes.py").write_text(SHAPES)
    return tmp_path


def _by_name(targets):
    return {t.qualname: t for t in targets}


def test_discovers_functions_methods_and_their_kinds(pkg: Path):
    found = _by_name(find_targets([str(pkg / "pkg/shapes.py")], pkg))
    assert set(found) == {
        "plain",
        "fetch",
        "__dunder_like__",
        "Shape.__init__",
        "Shape.area",
        "Shape.load",
        "Shape.unit",
        "Shape.of",
        "Shape.double",
        "Shape.cached",
        "Shape.Inner.deep",
    }
    kinds = {name: (t.kind, t.is_async) for name, t in found.items()}
    assert kinds["plain"] == ("function", False)
    assert kinds["fetch"] == ("function", True)
    assert kinds["Shape.area"] == ("method", False)
    assert kinds["Shape.load"] == ("method", True)
    assert kinds["Shape.unit"] == ("staticmethod", False)
    assert kinds["Shape.of"] == ("classmethod", False)
    assert kinds["Shape.double"] == ("property", False)
    assert kinds["Shape.cached"] == ("property", False)
    assert kinds["Shape.Inner.deep"] == ("method", False)


def test_target_knows_its_module_file_and_source(pkg: Path):
    found = _by_name(find_targets([str(pkg / "pkg/shapes.py")], pkg))
    double = found["Shape.double"]
    assert double.id == "pkg/shapes.py::Shape.double"
    assert double.module == "pkg.shapes"
    assert double.import_root == pkg.resolve()
    assert double.class_name == "Shape" and double.name == "double"
    assert double.source.splitlines() == ["    @property", "    def double(self):", "        return self.size * 2"]
    lines = SHAPES.splitlines()
    assert lines[double.start - 1].strip() == "@property"
    assert lines[double.def_line - 1].strip() == "def double(self):"
    assert lines[double.end - 1].strip() == "return self.size * 2"
    assert found["Shape.Inner.deep"].class_name == "Shape.Inner"


def test_private_names_only_when_asked(pkg: Path):
    default = _by_name(find_targets([str(pkg / "pkg/shapes.py")], pkg))
    assert not any(name.startswith("_") and not name.startswith("__") for name in default)
    assert "Shape._hidden" not in default and "_PrivateClass.method" not in default
    everything = _by_name(find_targets([str(pkg / "pkg/shapes.py")], pkg, include_private=True))
    assert {"_private_helper", "Shape._hidden", "_PrivateClass.method"} <= set(everything)


def test_selecting_one_function_or_method(pkg: Path):
    (only,) = find_targets([f"{pkg}/pkg/shapes.py::Shape.of"], pkg)
    assert only.qualname == "Shape.of"
    (nested,) = find_targets([f"{pkg}/pkg/shapes.py::Shape.Inner.deep"], pkg)
    assert nested.qualname == "Shape.Inner.deep"
    (private,) = find_targets([f"{pkg}/pkg/shapes.py::_private_helper"], pkg)  # named explicitly: allowed
    assert private.qualname == "_private_helper"


def test_selecting_a_missing_name_lists_what_exists(pkg: Path):
    with pytest.raises(FatalError) as exc:
        find_targets([f"{pkg}/pkg/shapes.py::Shape.nope"], pkg)
    assert "Shape.nope" in str(exc.value) and "Shape.area" in str(exc.value)


def test_folder_skips_test_files_and_empty_files(pkg: Path):
    (pkg / "tests").mkdir()
    (pkg / "tests" / "test_shapes.py").write_text("def test_plain():\n    assert True\n")
    (pkg / "pkg" / "test_inline.py").write_text("def test_here():\n    assert True\n")
    (pkg / "pkg" / "conftest.py").write_text("def helper():\n    return 1\n")
    (pkg / "pkg" / "empty.py").write_text("")
    (pkg / "pkg" / "other.py").write_text("def other():\n    return 1\n")
    (pkg / ".venv" / "lib").mkdir(parents=True)
    (pkg / ".venv" / "lib" / "site.py").write_text("def vendored():\n    return 1\n")
    files = {t.rel for t in find_targets([str(pkg)], pkg)}
    assert files == {"pkg/shapes.py", "pkg/other.py"}


def test_include_and_exclude_globs(pkg: Path):
    (pkg / "pkg" / "other.py").write_text("def other():\n    return 1\n")
    (pkg / "pkg" / "sub").mkdir()
    (pkg / "pkg" / "sub" / "__init__.py").write_text("")
    (pkg / "pkg" / "sub" / "deep.py").write_text("def deep():\n    return 1\n")
    assert {t.rel for t in find_targets([str(pkg)], pkg, include=["*other.py"])} == {"pkg/other.py"}
    assert {t.rel for t in find_targets([str(pkg)], pkg, exclude=["shapes.py", "pkg/sub/*"])} == {"pkg/other.py"}
    (deep,) = find_targets([str(pkg / "pkg/sub")], pkg)
    assert deep.module == "pkg.sub.deep" and deep.import_root == pkg.resolve()


def test_duplicate_specs_give_each_target_once(pkg: Path):
    targets = find_targets([str(pkg / "pkg/shapes.py"), f"{pkg}/pkg/shapes.py::plain", str(pkg / "pkg")], pkg)
    ids = [t.id for t in targets]
    assert len(ids) == len(set(ids)) == 11


def test_overloads_abstract_methods_and_version_guards(tmp_path: Path):
    (tmp_path / "mod.py").write_text(
        "import abc\nimport sys\nfrom typing import overload\n\n\n@overload\ndef f(x: int) -> int: ...\n"
        "def f(x):\n    return x\n\n\nclass Base(abc.ABC):\n    @abc.abstractmethod\n    def run(self): ...\n\n\n"
        "if sys.version_info >= (3, 8):\n    def guarded():\n        return 1\nelse:\n    def guarded():\n"
        "        return 2\n"
    )
    found = [t.qualname for t in find_targets([str(tmp_path / "mod.py")], tmp_path)]
    assert found == ["f", "guarded"]  # one target per name; the abstract method has nothing to test


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "empty"),
        (b"def f(:\n", "syntax error"),
        (b"\x00\x01binary", "binary"),
        ("x = '\xe9'\n".encode("latin-1"), "not UTF-8"),
    ],
)
def test_unreadable_source_is_a_clear_error(tmp_path: Path, content: bytes, message: str):
    path = tmp_path / "bad.py"
    path.write_bytes(content)
    with pytest.raises(FatalError) as exc:
        find_targets([str(path)], tmp_path)
    assert message in str(exc.value) and "bad.py" in str(exc.value)


def test_non_python_and_missing_paths(tmp_path: Path):
    (tmp_path / "notes.txt").write_text("def f(): pass\n")
    with pytest.raises(FatalError, match="not a Python file"):
        find_targets([str(tmp_path / "notes.txt")], tmp_path)
    with pytest.raises(FatalError, match="no such file"):
        find_targets([str(tmp_path / "gone.py")], tmp_path)
    (tmp_path / "dangling.py").symlink_to(tmp_path / "nowhere.py")
    with pytest.raises(FatalError, match="broken symbolic link"):
        find_targets([str(tmp_path / "dangling.py")], tmp_path)


def test_reach_counts_the_lines_a_test_of_a_target_can_run(tmp_path):
    from testbot.targets import reach

    (tmp_path / "w.py").write_text(
        "class W:\n    def __init__(self):\n        self.n = 1\n\n    @property\n    def size(self):\n        return self.n\n\n"
        "    def _chunks(self, text):\n        out = []\n        for part in text.split():\n            out.append(part)\n"
        "        return out\n\n    def fill(self, text):\n        return ' '.join(self._chunks(text)) * self.size\n\n\n"
        "def make():\n    return W().fill('a b')\n"
    )
    targets = find_targets([str(tmp_path / "w.py")], tmp_path, include_private=True)
    r = {k.split("::")[1]: v for k, v in reach(targets).items()}
    assert r["W.size"] == 2 and r["W._chunks"] == 5
    assert r["W.fill"] == 2 + 5 + 2  # itself, _chunks and the size property
    assert r["make"] == 2 + 2  # W() runs __init__ (a method called on an expression, W().fill, is not followed)


def test_a_test_module_named_test_py_is_not_a_target_and_is_where_its_tests_go(tmp_path: Path):
    """python-slugify keeps its tests in a root test.py (a unittest module): it is no target, and the tests
    kept for the function it tests go there."""
    from testbot.layout import destination_for

    (tmp_path / "pyproject.toml").write_text('[project]\nname = "slug"\nversion = "1"\n')
    (tmp_path / "slug").mkdir()
    (tmp_path / "slug" / "__init__.py").write_text("def slugify(text):\n    return text.lower().replace(' ', '-')\n")
    (tmp_path / "test.py").write_text(
        "import unittest\n\nfrom slug import slugify\n\n\nclass TestSlugify(unittest.TestCase):\n"
        "    def test_spaces(self):\n        self.assertEqual(slugify('a b'), 'a-b')\n"
    )
    found = find_targets([str(tmp_path)], tmp_path)
    assert [t.id for t in found] == ["slug/__init__.py::slugify"]
    assert destination_for(found[0], tmp_path) == tmp_path / "test.py"


def test_a_src_folder_the_packaging_names_is_not_a_package_even_with_an_init(tmp_path: Path):
    from testbot.targets import module_path

    for config in (
        '[tool.setuptools.packages.find]\nwhere = ["src"]\n',
        "[options]\npackage_dir =\n    =src\n",
        '[tool.setuptools.package-dir]\n"" = "src"\n',
    ):
        root = tmp_path / str(abs(hash(config)))
        (root / "src" / "pkg").mkdir(parents=True)
        (root / "src" / "__init__.py").write_text("")
        (root / "src" / "pkg" / "__init__.py").write_text("")
        (root / "src" / "pkg" / "m.py").write_text("x = 1\n")
        (root / ("setup.cfg" if config.startswith("[options]") else "pyproject.toml")).write_text(config)
        assert module_path(root / "src" / "pkg" / "m.py") == ("pkg.m", (root / "src").resolve())
    # without such a declaration `src` with an __init__.py stays a package (an application's own layout)
    (root / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    from testbot import targets

    targets._declared_root.cache_clear()
    assert module_path(root / "src" / "pkg" / "m.py")[0] == "src.pkg.m"
