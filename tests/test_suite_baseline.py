"""The project's own suite is the baseline, run the way its users run it; kept tests go where its tests live.

Real projects in temporary git repositories: a src layout, pytest configuration with pytest-cov's ``--cov``
options and xdist's ``-n`` in addopts (run by an interpreter that has both plugins: a virtual environment made
for this module), doctests the configuration asks for, a conftest that needs a missing dependency.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import GIT, Project, fenced, run_cli

VERSION = '''\
"""Version numbers."""


def bump(version, part):
    major, minor, patch = (int(x) for x in version.split("."))
    if part == "major":
        return f"{major + 1}.0.0"
    if part == "minor":
        return f"{major}.{minor + 1}.0"
    return f"{major}.{minor}.{patch + 1}"
'''

BUMP_TESTS = """\
from pkg.version import bump


def test_major():
    assert bump("1.2.3", "major") == "2.0.0"


def test_minor():
    assert bump("1.2.3", "minor") == "1.3.0"
"""

PATCH_TEST = """

def test_patch():
    assert bump("1.2.3", "patch") == "1.2.4"
"""

VERSION_TESTS = """\
import pkg.version


def test_module_has_a_docstring():
    assert pkg.version.__doc__
"""

PYPROJECT = """\
[project]
name = "pkg"
version = "0.1"

[tool.pytest.ini_options]
addopts = "{addopts} -p no:hypothesispytest -p no:benchmark"
testpaths = ["tests"]
pythonpath = ["src"]
"""

PATCH = fenced(
    'from pkg.version import bump\n\n\ndef test_patch_level():\n    assert bump("0.1.9", "patch") == "0.1.10"\n'
)


def make(root: Path, addopts: str = "", *, full: bool = True, extra: dict[str, str] | None = None) -> Project:
    project = Project(root)
    project.write("pyproject.toml", PYPROJECT.format(addopts=addopts))
    project.write("src/pkg/__init__.py", "")
    project.write("src/pkg/version.py", VERSION)
    project.write("tests/test_bump.py", BUMP_TESTS + (PATCH_TEST if full else ""))
    project.write("tests/test_version.py", VERSION_TESTS)
    for rel, text in (extra or {}).items():
        project.write(rel, text)
    project.git_init()
    return project


@pytest.fixture(scope="module")
def plugin_python(tmp_path_factory) -> str:
    """An interpreter with pytest-cov and pytest-xdist (and this one's packages: pytest, coverage, testbot)."""
    venv = tmp_path_factory.mktemp("plugins") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    res = subprocess.run(
        [python, "-m", "pip", "install", "-q", "pytest-cov==7.1.0", "pytest-xdist==3.8.0"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if res.returncode != 0:
        pytest.skip(f"pytest-cov/pytest-xdist could not be installed here: {res.stderr[-500:]}")
    return python


def generate(project: Project, *args: str, completions=(PATCH,)) -> object:
    model = project.fake_model({"*": list(completions)})
    return run_cli(
        [
            "generate",
            "src/pkg/version.py::bump",
            "--model",
            model,
            "--samples",
            str(len(completions)),
            "--runs",
            "2",
            "--repair-rounds",
            "0",
            "--timeout",
            "30",
            *args,
        ],
        project.root,
    )


def test_a_function_the_suite_covers_gets_nothing_and_says_why(tmp_path, plugin_python):
    """pytest-cov's --cov options and xdist's -n in addopts: the suite still runs, and coverage sees it whole."""
    project = make(tmp_path / "proj", "--cov=pkg --cov-report=term-missing -n 2")
    before = project.snapshot()
    run = generate(project, "--python", plugin_python, "--json")
    assert run.code == 0, run.err
    (target,) = run.json()["targets"]
    assert target["note"] == "already fully covered by the project's suite"
    assert target["funnel"]["kept"] == 0 and target["candidates"] == []
    assert project.snapshot() == before


def test_kept_tests_go_to_the_file_that_tests_the_function(tmp_path, plugin_python):
    """The suite misses bump's patch branch: the test for it lands in tests/test_bump.py, whose tests call bump,
    not in tests/test_version.py (named after the module) nor in a new file."""
    project = make(tmp_path / "proj", "--cov=pkg -n 2", full=False)
    run = generate(project, "--python", plugin_python)
    assert run.code == 1, run.err
    assert "def test_patch_level" in project.read("tests/test_bump.py")
    assert project.read("tests/test_version.py") == VERSION_TESTS
    assert sorted(p.name for p in (project.root / "tests").iterdir() if p.suffix == ".py") == [
        "test_bump.py",
        "test_version.py",
    ]
    # what it adds is counted over the suite: the one branch the suite missed, never "+0"
    assert "+1 lines, +1 branches" in project.read("tests/test_bump.py")
    assert "+0 lines, +0 branches" not in project.read("tests/test_bump.py")
    res = subprocess.run(
        [plugin_python, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=project.root,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stdout[-2000:]


def test_an_editable_install_of_the_project_is_run_from_the_copy(tmp_path):
    """No ``pythonpath`` in the configuration: the package is importable through an editable install (a ``.pth``
    naming the project's src/, as pip and hatchling write it). The suite and the candidates import the package
    from testbot's copy, never read the project itself, and the missing branch gets its test."""
    project = make(tmp_path / "proj", full=False)
    project.write("pyproject.toml", PYPROJECT.format(addopts="").replace('pythonpath = ["src"]\n', ""))
    subprocess.run([*GIT, "commit", "-q", "-am", "editable install"], cwd=project.root, check=True)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    (Path(purelib) / "__editable__.pkg-0.1.pth").write_text(str(project.root / "src") + "\n")
    res = subprocess.run(
        [python, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=project.root,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stdout[-1000:]  # the user's own run works
    run = generate(project, "--python", python)
    assert run.code == 1, run.err
    assert "def test_patch_level" in project.read("tests/test_bump.py")


def test_in_a_unittest_suite_the_kept_test_is_a_method_of_the_class_that_tests_the_function(tmp_path):
    """tests/test_bump.py keeps its tests in a unittest.TestCase with self.assert*: the test for the missed
    branch is written there the same way, and the project's plain `python -m unittest` runs it."""
    unit = (
        "import unittest\n\nfrom pkg.version import bump\n\n\nclass BumpTest(unittest.TestCase):\n"
        '    def test_major(self):\n        self.assertEqual(bump("1.2.3", "major"), "2.0.0")\n\n'
        '    def test_minor(self):\n        self.assertEqual(bump("1.2.3", "minor"), "1.3.0")\n'
    )
    project = make(tmp_path / "proj", full=False, extra={"tests/test_bump.py": unit})
    run = generate(project)
    assert run.code == 1, run.err
    written = project.read("tests/test_bump.py")
    assert written.startswith(unit.rstrip("\n"))
    assert '\n    def test_patch_level(self):\n        self.assertEqual(bump("0.1.9", "patch"), "0.1.10")\n' in written
    assert "import pytest" not in written and "\ndef test_" not in written
    res = subprocess.run(
        [sys.executable, "-m", "unittest", "-q", "tests.test_bump"],
        cwd=project.root,
        env={**os.environ, "PYTHONPATH": "src"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0 and "Ran 3 tests" in res.stderr, res.stderr[-1000:]


def test_a_suite_that_cannot_run_stops_testbot_and_nothing_is_written(tmp_path):
    """The configuration needs pytest-cov (--cov in addopts), which this interpreter lacks: exit 3, pytest's own
    words, nothing written."""
    res = subprocess.run([sys.executable, "-c", "import pytest_cov"], capture_output=True)
    if res.returncode == 0:
        pytest.skip("this interpreter has pytest-cov")
    project = make(tmp_path / "proj", "--cov=pkg", full=False)
    before = project.snapshot()
    run = generate(project)
    assert run.code == 3, run.err
    last = run.err.strip().splitlines()[-1]
    assert last.startswith("testbot: error: the project's test suite cannot run under")
    assert "unrecognized arguments: --cov=pkg" in last and "--no-baseline" in last
    assert run.out == "" and project.snapshot() == before


def test_a_test_module_that_needs_a_missing_dependency_is_named(tmp_path):
    """One of the suite's modules cannot be imported here: exit 3 naming it; --no-baseline goes on without the
    suite on purpose, and the test for the missed branch is written."""
    project = make(tmp_path / "proj", full=False, extra={"tests/test_optional.py": "import not_a_dependency_here\n"})
    before = project.snapshot()
    run = generate(project)
    assert run.code == 3, run.err
    assert "tests/test_optional.py" in run.err and "No module named 'not_a_dependency_here'" in run.err
    assert project.snapshot() == before
    run = generate(project, "--no-baseline")
    assert run.code == 1, run.err
    assert "def test_patch_level" in project.read("tests/test_bump.py")


def test_doctests_the_project_runs_count_as_covering(tmp_path):
    """--doctest-modules in addopts: the docstring example runs bump's patch branch, so nothing is missing."""
    doc = VERSION.replace(
        "def bump(version, part):\n",
        'def bump(version, part):\n    """\n    >>> bump("1.2.3", "patch")\n    \'1.2.4\'\n    """\n',
    )
    project = make(tmp_path / "proj", "--doctest-modules", full=False, extra={"src/pkg/version.py": doc})
    project.write(
        "pyproject.toml",
        PYPROJECT.format(addopts="--doctest-modules").replace('testpaths = ["tests"]', 'testpaths = ["tests", "src"]'),
    )
    subprocess.run([*GIT, "commit", "-q", "-am", "doctests"], cwd=project.root, check=True)
    run = generate(project, "--json")
    assert run.code == 0, run.err
    (target,) = run.json()["targets"]
    assert target["note"] == "already fully covered by the project's suite"


def test_without_a_suite_nothing_changes(project):
    """A project with no tests at all: no suite run, the import is the baseline (as before)."""
    model = project.fake_model(
        [fenced('from pkg.m import classify\n\n\ndef test_neg():\n    assert classify(-1) == "negative"\n')]
    )
    run = run_cli(
        ["generate", "pkg/m.py::classify", "--model", model, "--samples", "1", "--runs", "1", "--repair-rounds", "0"],
        project.root,
    )
    assert run.code == 1, run.err
    assert "def test_neg" in project.read("tests/test_m.py")


def test_a_unittest_module_named_test_py_counts_in_the_baseline(tmp_path):
    """tests/test.py (unittest's usual name, outside pytest's default python_files) holds the test of the patch
    branch: the suite covers the function whole, so nothing is written."""
    unit = (
        "import unittest\n\nfrom pkg.version import bump\n\n\nclass PatchTest(unittest.TestCase):\n"
        '    def test_patch(self):\n        self.assertEqual(bump("1.2.3", "patch"), "1.2.4")\n'
    )
    project = make(tmp_path / "proj", full=False, extra={"tests/test.py": unit})
    before = project.snapshot()
    run = generate(project, "--json")
    assert run.code == 0, run.err
    (target,) = run.json()["targets"]
    assert target["note"] == "already fully covered by the project's suite"
    assert project.snapshot() == before
