"""Settings: CLI > pyproject.toml [tool.testbot] > TESTBOT_* environment > default, and bad values."""

from __future__ import annotations

import argparse
import json
import re
import subprocess
from pathlib import Path

import pytest

from conftest import GIT, run_cli
from testbot import generate, publish
from testbot.config import ENV_ONLY, HELP, Settings, add_arguments, find_project_root, resolve
from testbot.errors import EnvironmentProblem, FatalError

CHECKOUT = Path(__file__).resolve().parents[1]


def cli(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser, pr=True)
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
    add_arguments(parser, pr=True)
    text = parser.format_help()
    for name in Settings.__dataclass_fields__:
        assert "--" + name.replace("_", "-") in text
        assert HELP[name]
    plain = argparse.ArgumentParser()
    add_arguments(plain)  # generate and hook: testbot pr's own settings are not flags there
    assert "--pr-mode" not in plain.format_help() and "--github-pause" not in plain.format_help()


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


# -- the knobs that were environment variables only: now settings, with the same variable names


@pytest.mark.parametrize(
    "name, flag, toml, env, expected",
    [
        ("openai_mode", ["--openai-mode", "chat"], 'openai-mode = "completions"', "completions", "chat"),
        ("llama_verbosity", ["--llama-verbosity", "3"], "llama-verbosity = 2", "0", 3),
        ("llama_extra_buffers", ["--llama-extra-buffers"], "llama-extra-buffers = false", "1", True),
        ("pr_mode", ["--mode", "comment"], 'pr-mode = "commit"', "suggest", "comment"),
        ("github_pause", ["--github-pause", "0.5"], "github-pause = 0", "3", 0.5),
        ("github_backoff", ["--github-backoff", "4"], "github-backoff = 0.25", "0", 4.0),
    ],
)
def test_the_former_environment_knobs_come_from_each_source(tmp_path: Path, name, flag, toml, env, expected):
    variable = {"TESTBOT_" + name.upper(): env}
    default = getattr(Settings(), name)
    assert getattr(resolve(cli(), tmp_path, environ={}), name) == default
    assert getattr(resolve(cli(), tmp_path, environ=variable), name) == type(default)(
        env if not isinstance(default, bool) else env == "1"
    )
    root = pyproject(tmp_path, toml + "\n")
    from_toml = resolve(cli(), root, environ=variable)  # pyproject beats the environment
    assert getattr(from_toml, name) == json.loads(toml.split("= ")[1])
    assert getattr(resolve(cli(*flag), root, environ=variable), name) == expected  # the flag beats both


def test_the_defaults_of_the_former_environment_knobs_are_unchanged():
    s = Settings()
    assert (s.openai_mode, s.llama_verbosity, s.llama_extra_buffers) == ("", 1, False)
    assert (s.pr_mode, s.github_pause, s.github_backoff) == ("suggest", 1.0, 2.0)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--openai-mode", "stream"], "openai_mode must be one of chat, completions"),
        (["--mode", "push"], "pr_mode must be one of suggest, commit, comment"),
        (["--github-pause", "-1"], "github_pause and github_backoff must be >= 0"),
    ],
)
def test_bad_values_of_the_former_environment_knobs_are_refused(tmp_path: Path, argv, message):
    with pytest.raises(FatalError, match=message):
        resolve(cli(*argv), tmp_path, environ={})
    with pytest.raises(FatalError, match="TESTBOT_LLAMA_VERBOSITY"):
        resolve(cli(), tmp_path, environ={"TESTBOT_LLAMA_VERBOSITY": "loud"})


def test_backend_settings_reach_the_backend_when_it_is_first_used(tmp_path: Path, monkeypatch):
    loads: list[tuple[str, str, dict]] = []

    class Loaded:
        name = "loaded-model"

        def count_tokens(self, text: str) -> int:
            return 1

    def load(model: str, backend: str = "", **options: object) -> Loaded:
        loads.append((model, backend, options))
        return Loaded()

    monkeypatch.setattr(generate, "load_backend", load)
    root = pyproject(tmp_path, 'llama-verbosity = 3\nmodel = "small"\n')
    s = resolve(cli("--llama-extra-buffers"), root, environ={"TESTBOT_OPENAI_MODE": "completions"})
    lazy = generate.LazyBackend(s)
    assert loads == [] and lazy.name == "small"  # nothing loaded until the model is needed
    assert lazy.count_tokens("x") == 1 and lazy.name == "loaded-model"
    lazy.count_tokens("y")
    [(model, _, options)] = loads
    assert model == "small"
    assert options["openai_mode"] == "completions" and options["llama_verbosity"] == 3
    assert options["llama_extra_buffers"] is True


def test_llama_verbosity_reaches_llama_cpp_and_its_message(tmp_path: Path, monkeypatch):
    from testbot.backends import xllamacpp_backend

    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF" + bytes(1024 * 1024))
    seen: list[int] = []

    def start_server(path, **kw):
        seen.append(kw["verbosity"])
        raise RuntimeError("no")

    monkeypatch.setattr(xllamacpp_backend, "start_server", start_server)
    s = resolve(
        cli("--model", str(model), "--backend", "xllamacpp"), tmp_path, environ={"TESTBOT_LLAMA_VERBOSITY": "3"}
    )
    with pytest.raises(EnvironmentProblem, match="--llama-verbosity 3 shows"):
        generate.load_backend_for(s)
    assert seen == [3]

    class Params:
        def __init__(self) -> None:
            for part in ("model", "cpuparams", "cpuparams_batch"):
                setattr(self, part, argparse.Namespace())

    xlc = argparse.Namespace(CommonParams=Params)
    options = dict(context_tokens=64, threads=1, host="h", port=0, api_key="", alias="")
    assert xllamacpp_backend._params(xlc, model, **options, verbosity=3).verbosity == 3


def test_serve_takes_the_llama_knobs_from_flags_then_the_environment(tmp_path: Path, monkeypatch):
    import testbot.serve

    served = []
    monkeypatch.setattr(testbot.serve, "serve", lambda options: served.append(options) or 0)
    monkeypatch.setenv("TESTBOT_LLAMA_VERBOSITY", "2")
    monkeypatch.setenv("TESTBOT_LLAMA_EXTRA_BUFFERS", "1")
    assert run_cli(["serve"], tmp_path).code == 0
    assert run_cli(["serve", "--llama-verbosity", "3", "--no-llama-extra-buffers"], tmp_path).code == 0
    monkeypatch.delenv("TESTBOT_LLAMA_VERBOSITY")
    monkeypatch.delenv("TESTBOT_LLAMA_EXTRA_BUFFERS")
    assert run_cli(["serve"], tmp_path).code == 0
    assert [(o.llama_verbosity, o.llama_extra_buffers) for o in served] == [(2, True), (3, False), (1, False)]


def test_pr_settings_reach_the_github_client(tmp_path: Path, monkeypatch):
    """pr-mode, github-pause and github-backoff from [tool.testbot], TESTBOT_* and flags reach testbot pr."""
    root = pyproject(tmp_path, "github-pause = 0.25\n")
    subprocess.run([*GIT, "init", "-q"], cwd=root, check=True)
    subprocess.run([*GIT, "add", "-A"], cwd=root, check=True)
    subprocess.run([*GIT, "commit", "-q", "-m", "one"], cwd=root, check=True)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True).stdout.strip()
    pull = {"number": 7, "base": {"sha": head, "ref": "main", "repo": {"full_name": "o/r"}}}
    pull["head"] = {"sha": head, "ref": "f", "repo": {"full_name": "o/r"}}
    (tmp_path / "event.json").write_text(json.dumps({"pull_request": pull}))
    clients: list[dict] = []

    class GitHub:
        def __init__(self, *args: object, **kw: object) -> None:
            clients.append(kw)
            raise FatalError("stop here")

    monkeypatch.setattr(publish, "GitHub", GitHub)
    for key, value in {
        "GITHUB_EVENT_NAME": "pull_request",
        "GITHUB_EVENT_PATH": str(tmp_path / "event.json"),
        "GITHUB_TOKEN": "ghs_x",
        "TESTBOT_GITHUB_BACKOFF": "0",
    }.items():
        monkeypatch.setenv(key, value)
    assert "stop here" in run_cli(["pr"], root).err
    assert run_cli(["pr", "--github-backoff", "5"], root).code == 2
    assert clients == [{"pause": 0.25, "backoff": 0.0}, {"pause": 0.25, "backoff": 5.0}]
    monkeypatch.setenv("TESTBOT_PR_MODE", "merge")  # checked before anything else is done
    wrong = run_cli(["pr"], root)
    assert wrong.code == 2 and "pr_mode must be one of suggest, commit, comment, not 'merge'" in wrong.err
    assert len(clients) == 2


# -- what stays an environment variable only, on purpose


@pytest.mark.parametrize(
    "key, variable, why",
    [
        ("openai-api-key", "TESTBOT_OPENAI_API_KEY", "a secret"),
        ("github_token", "TESTBOT_GITHUB_TOKEN", "a secret"),
        ("sandbox-off", "TESTBOT_SANDBOX_OFF", "must never reach it"),
        ("cache-dir", "TESTBOT_CACHE_DIR", "must not move it"),
        ("debug", "TESTBOT_DEBUG", "last-resort handler"),
        ("handoff-fd", "TESTBOT_HANDOFF_FD", "plumbing"),
        ("input-model", "TESTBOT_INPUT_MODEL", "plumbing"),
    ],
)
def test_environment_only_variables_are_refused_as_pyproject_keys(tmp_path: Path, key, variable, why):
    with pytest.raises(FatalError) as exc:
        resolve(cli(), pyproject(tmp_path, f'{key} = "x"\n'), environ={})
    message = str(exc.value)
    assert f"'{key}' cannot be set in [tool.testbot]" in message and variable in message and why in message
    assert not hasattr(Settings(), key.replace("-", "_"))


def test_environment_only_variables_are_no_flags():
    for variable in ENV_ONLY:
        flag = "--" + variable.removeprefix("TESTBOT_").lower().replace("_", "-").rstrip("-*")
        with pytest.raises(SystemExit):
            cli(flag, "x")


def test_every_testbot_variable_is_a_setting_or_named_as_environment_only():
    """The issue's promise: no TESTBOT_* knob read anywhere outside the settings, unless listed as env-only."""
    settings = {"TESTBOT_" + name.upper() for name in Settings.__dataclass_fields__}
    files = [*sorted((CHECKOUT / "testbot").rglob("*.py")), CHECKOUT / "action.yml", *(CHECKOUT / "hooks").rglob("*")]
    found: dict[str, str] = {}
    for path in files:
        if path.is_file():
            for variable in re.findall(r"(?<![A-Za-z0-9_])TESTBOT_[A-Z0-9_]*[A-Z0-9]", path.read_text("utf-8")):
                found.setdefault(variable, path.name)
    stray = {
        v: f for v, f in found.items() if v not in settings and v not in ENV_ONLY and not v.startswith("TESTBOT_INPUT")
    }
    assert stray == {}
    assert {"TESTBOT_PR_MODE", "TESTBOT_BUDGET"} <= found.keys() & settings  # what action.yml sets


def test_the_readme_lists_every_setting_and_every_environment_only_variable():
    readme = (CHECKOUT / "README.md").read_text("utf-8")
    section = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    keys = set(re.findall(r"`([a-z][a-z-]*)`", section))
    missing = [n.replace("_", "-") for n in Settings.__dataclass_fields__ if n.replace("_", "-") not in keys]
    assert missing == []
    for variable in ENV_ONLY:
        assert variable.removesuffix("*").rstrip("_") in section, variable
