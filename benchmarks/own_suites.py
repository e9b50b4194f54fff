"""The benchmark packages' own (human-written) tests, taken from their sdists at the pinned versions.

``own_suites.yaml`` names, per module of modules.yaml, the sdist (file, URL, sha256) and the test files in it
that test the module, or why there are none. :func:`install` places them in a scratch project's ``tests/``,
where they import the module from the pinned wheel's copy, like every tool's tests; :func:`imported_from` checks
that they do.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import tarfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import yaml

MANIFEST = Path(__file__).resolve().parent / "own_suites.yaml"


@dataclass(frozen=True)
class OwnSuite:
    id: str  # the module id in modules.yaml
    sdist: str = ""  # file name
    url: str = ""
    sha256: str = ""
    tests: tuple[str, ...] = ()  # test files, paths inside the sdist
    support: tuple[str, ...] = ()  # files the tests need (a tests package's __init__.py, conftest.py, helpers)
    test_deps: tuple[str, ...] = ()  # requirements beyond the wheel's dependencies
    deselect: tuple[tuple[str, str], ...] = ()  # (pytest node id under tests/, why it is left out)
    none: str = ""  # why there are no human tests for the module

    @property
    def pytest_args(self) -> list[str]:
        return [a for test, _ in self.deselect for a in ("--deselect", test)]


def load(path: Path = MANIFEST) -> dict[str, OwnSuite]:
    """The manifest's suites by module id."""
    data = yaml.safe_load(path.read_text())
    out = {}
    for s in data["suites"]:
        suite = OwnSuite(
            id=s["id"],
            sdist=s.get("sdist", ""),
            url=s.get("url", ""),
            sha256=s.get("sha256", ""),
            tests=tuple(s.get("tests") or ()),
            support=tuple(s.get("support") or ()),
            test_deps=tuple(s.get("test_deps") or ()),
            deselect=tuple((d["test"], d["why"]) for d in s.get("deselect") or ()),
            none=s.get("none", ""),
        )
        if not suite.tests and not suite.none:
            raise SystemExit(f"{path}: {suite.id} names no tests and no reason why (none: ...)")
        if suite.tests and not (suite.url and suite.sha256):
            raise SystemExit(f"{path}: {suite.id} names tests but no sdist url and sha256")
        out[suite.id] = suite
    return out


def fetch_sdist(suite: OwnSuite, cache: Path) -> Path:
    """The suite's sdist in ``cache``, downloaded once, its sha256 checked."""
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / suite.sdist
    if not path.exists():
        part = path.with_name(path.name + ".part")
        with urllib.request.urlopen(suite.url, timeout=120) as response:  # noqa: S310 - a pinned PyPI URL
            part.write_bytes(response.read())
        part.replace(path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != suite.sha256:
        raise SystemExit(f"{path}: sha256 {digest} does not match own_suites.yaml ({suite.sha256})")
    return path


def install(suite: OwnSuite, sdist: Path, project: Path) -> list[Path]:
    """Place the suite's test and support files flat in ``project``/tests; return the test files. Deselected
    tests go into the project's pytest options, so every run there leaves them out."""
    tests_dir = project / "tests"
    tests_dir.mkdir(exist_ok=True)
    wanted = {*suite.tests, *suite.support}
    with tarfile.open(sdist) as tar:
        members = {m.name: m for m in tar.getmembers() if m.name in wanted and m.isfile()}
        missing = sorted(wanted - members.keys())
        if missing:
            raise SystemExit(f"{sdist.name} has no {', '.join(missing)} (own_suites.yaml, {suite.id})")
        for name, member in members.items():
            handle = tar.extractfile(member)
            assert handle is not None  # a regular file
            (tests_dir / Path(name).name).write_bytes(handle.read())
    if suite.deselect:
        pyproject = project / "pyproject.toml"
        text = pyproject.read_text()
        assert text.rstrip().endswith("[tool.pytest.ini_options]"), "make_project's pyproject ends with it"
        pyproject.write_text(text.rstrip() + f"\naddopts = {json.dumps(suite.pytest_args)}\n")  # a TOML array
    return [tests_dir / Path(t).name for t in suite.tests]


def imported_from(project: Path, module: str, python: Path) -> str:
    """The file ``module`` is imported from when tests run in ``project`` (their PYTHONPATH), or the error."""
    proc = subprocess.run(
        # import_module: a package may bind the module's name to something else (dateutil.parser.isoparser is a class)
        [str(python), "-c", f"import importlib; print(importlib.import_module({module!r}).__file__)"],
        cwd=project,
        env={**os.environ, "PYTHONPATH": str(project)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    return proc.stdout.strip() if proc.returncode == 0 else f"import failed: {proc.stderr[-300:]}"
