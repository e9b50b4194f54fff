"""Settings: CLI > pyproject.toml [tool.testbot] > TESTBOT_* environment > default, and bad values."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from testbot.config import HELP, Settings, add_arguments, find_project_root, resolve
from testbot.errors import FatalError


def cli(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(list(argv))


def pyproject(root: Path, table: str) -> Path:
    (root / "pyproject.toml").write_text("[project]\nname = 'x'\n\n[tool.testbot]\n" + table)
    return root


def test_defaults_without_any_configuration(tmp_path: Path):
    s = resolve(cli(), tmp_path, environ={})
    assert s == Settings()
    assert (s.samples, s.runs, s.model, s.dry_run) == (4, 3, "default", False)


@pytest.mark.parametrize(
    "flag, toml, env, expected",
    [
        (["--samples", "7"], "samples = 5\n", {"TESTBOT_SAMPLES": "3"}, 7),
        ([], "samples = 5\n", {"TESTBOT_SAMPLES": "3"}, 5),
        ([], "", {"TESTBOT_SAMPLES": "3"}, 3),
        ([], "", {}, 4),
    ],
)
def test_precedence_cli_then_pyproject_then_env_then_default(tmp_path: Path, flag, toml, env, expected):
    s = resolve(cli(*flag), pyproject(tmp_path, toml), environ=env)
    assert s.samples == expected


def test_a_false_flag_beats_a_true_pyproject_value(tmp_path: Path):
    root = pyproject(tmp_path, "dry-run = true\njson = true\n")
    assert resolve(cli(), root, environ={}).dry_run is True
    s = resolve(cli("--no-dry-run", "--no-json"), root, environ={})
    assert s.dry_run is False and s.json is False


def test_values_of_every_type_from_each_source(tmp_path: Path):
    root = pyproject(
        tmp_path,
        'temperature = 0.5\ntimeout = 12\nrepair-rounds = 1\ninclude = ["pkg/*"]\n'
        'include_private = true\nmodel = "small"\n',
    )
    env = {"TESTBOT_EXCLUDE": "a.py,b.py", "TESTBOT_PROGRESS": "no", "TESTBOT_SEED": "9", "TESTBOT_TOP_P": "0.5"}
    s = resolve(cli("--exclude", "c.py"), root, environ=env)
    assert s.temperature == 0.5 and s.timeout == 12.0 and isinstance(s.timeout, float)
    assert s.repair_rounds == 1 and s.include == ("pkg/*",) and s.include_private is True and s.model == "small"
    assert s.exclude == ("c.py",)  # the flag replaces the environment's list
    assert s.progress is False and s.seed == 9 and s.top_p == 0.5
    assert resolve(cli(), root, environ=env).exclude == ("a.py", "b.py")


def test_unknown_pyproject_key_is_named(tmp_path: Path):
    with pytest.raises(FatalError) as exc:
        resolve(cli(), pyproject(tmp_path, "sampels = 3\n"), environ={})
    message = str(exc.value)
    assert "unknown key 'sampels'" in message and "pyproject.toml" in message
    assert "samples" in message  # the known keys are listed


@pytest.mark.parametrize(
    "toml, words",
    [
        ('samples = "many"\n', ["samples", "'many'", "int"]),
        ("dry-run = 1\n", ["dry_run", "bool"]),
        ('json = "perhaps"\n', ["json", "'perhaps'"]),
        ("include = [1, 2]\n", ["include"]),
        ("timeout = true\n", ["timeout", "float"]),
    ],
)
def test_pyproject_type_errors_name_the_key(tmp_path: Path, toml: str, words: list[str]):
    with pytest.raises(FatalError) as exc:
        resolve(cli(), pyproject(tmp_path, toml), environ={})
    assert "[tool.testbot]" in str(exc.value)
    for word in words:
        assert word in str(exc.value)


def test_environment_type_errors_name_the_variable(tmp_path: Path):
    with pytest.raises(FatalError) as exc:
        resolve(cli(), tmp_path, environ={"TESTBOT_RUNS": "often"})
    assert "TESTBOT_RUNS" in str(exc.value) and "'often'" in str(exc.value)
    with pytest.raises(FatalError, match="TESTBOT_DRY_RUN"):
        resolve(cli(), tmp_path, environ={"TESTBOT_DRY_RUN": "sometimes"})


def test_out_of_range_values_are_refused(tmp_path: Path):
    with pytest.raises(FatalError) as exc:
        resolve(cli("--samples", "0", "--top-p", "1.5"), tmp_path, environ={})
    assert "samples must be at least 1" in str(exc.value) and "top_p" in str(exc.value)
    with pytest.raises(FatalError, match="runs must be at least 1"):
        resolve(cli(), pyproject(tmp_path, "runs = 0\n"), environ={})


def test_unreadable_pyproject_is_an_error(tmp_path: Path):
    (tmp_path / "pyproject.toml").write_text("[tool.testbot\nsamples = 1\n")
    with pytest.raises(FatalError, match="cannot read it as TOML"):
        resolve(cli(), tmp_path, environ={})
    (tmp_path / "pyproject.toml").write_text("[tool]\ntestbot = 3\n")
    with pytest.raises(FatalError, match=r"\[tool.testbot\] must be a table"):
        resolve(cli(), tmp_path, environ={})


def test_every_setting_has_a_flag_and_help():
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    text = parser.format_help()
    for name in Settings.__dataclass_fields__:
        assert "--" + name.replace("_", "-") in text
        assert HELP[name]


def test_project_root_is_the_nearest_marker(tmp_path: Path):
    (tmp_path / "pyproject.toml").write_text("")
    deep = tmp_path / "src" / "pkg"
    deep.mkdir(parents=True)
    (deep / "m.py").write_text("")
    assert find_project_root(deep / "m.py") == tmp_path.resolve()
    (tmp_path / "src" / "setup.py").write_text("")
    assert find_project_root(deep) == (tmp_path / "src").resolve()


def test_without_a_marker_the_project_root_holds_the_outermost_package(tmp_path: Path):
    # An unpacked wheel: no pyproject.toml, setup.py or .git anywhere above it.
    inner = tmp_path / "unpacked" / "pkg" / "sub"
    inner.mkdir(parents=True)
    for folder in (inner, inner.parent):
        (folder / "__init__.py").write_text("")
    (inner / "m.py").write_text("")
    assert find_project_root(inner / "m.py") == (tmp_path / "unpacked").resolve()
    loose = tmp_path / "loose"
    loose.mkdir()
    assert find_project_root(loose / "script.py") == loose.resolve()


def test_a_relative_interpreter_path_is_made_absolute_from_where_it_was_given(tmp_path: Path, monkeypatch):
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    root = pyproject(
        tmp_path / "proj" if (tmp_path / "proj").mkdir() is None else tmp_path, 'python = ".venv/bin/python"\n'
    )
    assert resolve(cli(), root, environ={}).python == str(root / ".venv/bin/python")
    assert resolve(cli("--python", "venv/bin/python"), root, environ={}).python == str(here / "venv/bin/python")
    assert resolve(cli("--python", "python3"), root, environ={}).python == "python3"  # found on PATH
