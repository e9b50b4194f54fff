"""The library API a program uses: ``from testbot import generate_tests, Settings, Report, FatalError``."""

from __future__ import annotations

import subprocess

import pytest

import testbot
from conftest import Project, fenced
from testbot import FatalError, Report, Settings, generate_tests

GOOD = fenced("""
import pytest
from pkg.m import classify


def test_negative():
    assert classify(-1) == "negative"


def test_zero():
    assert classify(0) == "zero"
""")


def fast(model: str, **changes: object) -> Settings:
    """Settings that keep a run to a few pytest processes (the CLI tests' FAST), the model's path only."""
    return Settings(model=model, samples=1, runs=2, repair_rounds=0, timeout=20.0, explore=False, **changes)


def test_the_package_exports_the_library_api():
    assert sorted(testbot.__all__) == ["FatalError", "Report", "Settings", "__version__", "generate_tests"]
    assert all(getattr(testbot, name) is not None for name in testbot.__all__)


def test_generate_tests_writes_the_kept_tests_and_returns_the_report(project: Project, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # targets are relative to the project's root, not to the current folder
    events = []
    report = generate_tests(
        project.root,
        ["pkg/m.py::classify"],
        fast(project.fake_model([GOOD])),
        on_event=lambda kind, target, _: events.append((kind, target.id)),
    )
    assert isinstance(report, Report)
    assert report.return_code == 1 and report.tests_added == 2
    assert [t.target for t in report.targets] == ["pkg/m.py::classify"] and report.funnel.kept == 2
    assert events == [("start", "pkg/m.py::classify"), ("done", "pkg/m.py::classify")]
    written = project.read("tests/test_m.py")
    assert "def test_negative" in written and "def test_zero" in written
    assert project.pytest("tests").returncode == 0


def test_without_settings_the_project_s_pyproject_applies(project: Project):
    project.write(
        "pyproject.toml",
        project.read("pyproject.toml") + "\n[tool.testbot]\ndry-run = true\nruns = 2\n"
        f'samples = 1\nrepair-rounds = 0\nexplore = false\nmodel = "{project.fake_model([GOOD])}"\n',
    )
    report = generate_tests(project.root, ["pkg/m.py::classify"])
    assert report.dry_run and report.return_code == 1 and report.tests_added == 2
    assert not (project.root / "tests").exists()


def test_commit_makes_a_commit_of_the_written_tests(project: Project):
    generate_tests(project.root, ["pkg/m.py"], fast(project.fake_model({"classify": [GOOD]}), commit=True))
    log = subprocess.run(
        ["git", "log", "--format=%s", "--name-only", "-1"], cwd=project.root, check=True, capture_output=True, text=True
    ).stdout
    assert log.startswith("testbot: tests for classify") and "tests/test_m.py" in log
    assert project.git_status() == []


def test_bad_input_raises_the_error_type_with_the_exit_code(project: Project):
    with pytest.raises(FatalError) as err:
        generate_tests(project.root, ["pkg/missing.py"], fast("fake:none.json"))
    assert err.value.code == 2 and "missing.py" in str(err.value)
