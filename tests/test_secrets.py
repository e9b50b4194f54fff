"""Secrets never reach a candidate test: tokens, keys and passwords in testbot's environment stay out of it.

The candidate runs through the real path (the CLI, the pipeline, validate's workspace, the sandbox) in a
testbot process started with decoy secrets in its environment, as a CI job starts it. It looks everywhere
a test could: ``os.environ``, ``/proc/self/environ`` and every ``/proc/*/environ`` it can read (testbot's
own process included). It knows the secrets only by their sha256, so that nothing it prints or reports
can contain one; it reports which names it found. A control value that is allowed through (in TZ)
shows the search works.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from conftest import fenced, make_project
import testbot
from testbot import sandbox

PREFIX = "tbdecoy"  # every decoy value starts with it, so the candidate finds candidates fast: not secret itself
SECRET_NAMES = (
    "GITHUB_TOKEN",
    "GH_TOKEN",
    "TESTBOT_GITHUB_TOKEN",
    "OPENAI_API_KEY",
    "TESTBOT_OPENAI_API_KEY",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "MY_SERVICE_PASSWORD",
    "ACTIONS_RUNTIME_TOKEN",
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
    "NPM_TOKEN",
    "PYPI_API_TOKEN",
    "HF_TOKEN",
    "DATABASE_URL",
    "ANTHROPIC_API_KEY",
    "SLACK_WEBHOOK_SECRET",
)


def _decoys() -> dict[str, str]:
    values = {name: f"{PREFIX}{uuid.uuid4().hex}" for name in SECRET_NAMES}
    values["DATABASE_URL"] = f"postgres://app:{values['DATABASE_URL']}@db/app"  # a secret inside a longer value
    return values


def _secret_part(value: str) -> str:
    return value[value.index(PREFIX) :][: len(PREFIX) + 32]


CANDIDATE = """
import glob
import hashlib
import os

from pkg.m import classify

HASHES = {hashes!r}  # name -> sha256 of the value; the values themselves are not here
WIDTH = {width}


def _texts():
    yield "\\n".join(f"{{k}}={{v}}" for k, v in os.environ.items())
    for path in ["/proc/self/environ", "/proc/%d/environ" % os.getppid(), *glob.glob("/proc/[0-9]*/environ")]:
        try:
            with open(path, "rb") as f:
                yield f.read().decode("utf-8", "replace")
        except OSError:
            pass


def test_what_the_environment_holds():
    print(dict(os.environ))
    with open("/proc/self/environ", "rb") as f:
        print(f.read())
    digests = {{digest: name for name, digest in HASHES.items()}}
    found = set()
    for text in _texts():
        start = text.find("{prefix}")
        while start >= 0:
            name = digests.get(hashlib.sha256(text[start:start + WIDTH].encode()).hexdigest())
            if name:
                found.add(name)
            start = text.find("{prefix}", start + 1)
    assert classify(-1) == "negative"
    assert found == {{"CONTROL"}}, "found: " + ", ".join(sorted(found))
"""


def _candidate(decoys: dict[str, str]) -> str:
    hashes = {name: hashlib.sha256(_secret_part(v).encode()).hexdigest() for name, v in decoys.items()}
    return CANDIDATE.format(hashes=hashes, width=len(PREFIX) + 32, prefix=PREFIX)


# Without namespaces the test sees every process in /proc, testbot's own among them. (Root with Landlock off
# keeps its capabilities too, so it can read anything; that case is no sandbox at all: docs/security.md.)
@pytest.mark.parametrize("layers_off", ["", "namespaces,cgroup"], ids=["full", "no-namespaces"])
def test_a_candidate_sees_no_token_or_secret(tmp_path: Path, layers_off: str) -> None:
    project = make_project(tmp_path / "proj")
    decoys = _decoys()
    control = f"{PREFIX}{uuid.uuid4().hex}"
    smuggled = decoys["GITHUB_TOKEN"]
    everything = {**decoys, "CONTROL": control}
    model = project.fake_model([fenced(_candidate(everything))])
    env = {
        **os.environ,
        **decoys,
        "TZ": control,
        "TERM": f"xterm-{smuggled}",
        "PYTHONDONTWRITEBYTECODE": "1",
        "TESTBOT_SANDBOX_OFF": layers_off,
        "PYTHONPATH": str(Path(testbot.__file__).parents[1]),
    }
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "testbot",
            "generate",
            "pkg/m.py::classify",
            "--model",
            model,
            "--json",
            "--samples",
            "1",
            "--runs",
            "1",
            "--repair-rounds",
            "0",
            "--timeout",
            "60",
        ],
        cwd=project.root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode in (0, 1), run.stderr[-3000:]
    (target,) = json.loads(run.stdout)["targets"]
    (candidate,) = target["candidates"]
    # It passed: it found the control value (the search works) and nothing else.
    assert candidate["outcome"] == "passed", candidate["detail"]
    # (the test itself carries sha256 digests, which the credentials scan may take for keys: then nothing is written)
    written = project.read("tests/test_m.py") if (project.root / "tests" / "test_m.py").exists() else ""
    for name, value in decoys.items():
        secret = _secret_part(value)
        assert secret not in run.stdout + run.stderr + written, name


def test_sandboxed_output_of_os_environ_and_proc_environ_holds_no_secret(tmp_path: Path, monkeypatch) -> None:
    """One level down, with the whole output in hand: a process in the sandbox prints its environment."""
    decoys = _decoys()
    for name, value in decoys.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("TZ", "UTC" + decoys["OPENAI_API_KEY"])  # a secret value in an allowed variable
    monkeypatch.setenv("LANG", "C.UTF-8")
    support, scratch = tmp_path / "support", tmp_path / "scratch"
    sandbox.install_guard(support)
    scratch.mkdir()
    code = (
        "import os\nprint(dict(os.environ))\nprint(open('/proc/self/environ', 'rb').read())\n"
        "try:\n    print(open('/proc/%d/environ' % os.getppid(), 'rb').read())\nexcept OSError as e:\n    print(e)"
    )
    run = sandbox.run_sandboxed(
        [sys.executable, "-c", code],
        cwd=scratch,
        scratch=scratch,
        support=support,
        limits=sandbox.Limits(max_output=1024 * 1024),
    )
    assert run.proc.returncode == 0, run.proc.output
    out = run.proc.stdout
    assert "'LANG': 'C.UTF-8'" in out  # what is allowed does get through
    assert "'TZ'" not in out  # dropped: it carried a key's value
    for name, value in decoys.items():
        assert _secret_part(value) not in out, name
        assert f"'{name}'" not in out, name


def test_scrubbed_env_keeps_the_allowlist_only() -> None:
    base = {
        "PATH": "/usr/bin",
        "LANG": "C.UTF-8",
        "GITHUB_TOKEN": "ghp_" + "x" * 36,
        "GITHUB_WORKSPACE": "/w",
        "ACTIONS_RUNTIME_TOKEN": "t" * 40,
        "ACTIONS_ID_TOKEN_REQUEST_URL": "https://x",
        "RUNNER_TEMP": "/t",
        "MY_SERVICE_PASSWORD": "hunter2hunter2",
        "TZ": "hunter2hunter2",
        "TERM": "xterm",
        "GITHUB_PATH_TO_VENV": "/w/.venv",
        "VIRTUAL_ENV": "/w/.venv",
    }
    env = sandbox.scrubbed_env(base, Path("/home/fake"))
    assert env["PATH"] == "/usr/bin" and env["LANG"] == "C.UTF-8" and env["TERM"] == "xterm"
    assert env["VIRTUAL_ENV"] == "/w/.venv"  # a path that is also the value of a GITHUB_ variable stays
    assert "TZ" not in env  # carried the password
    assert not {k for k in env if "TOKEN" in k or k.startswith(("GITHUB_", "ACTIONS_", "RUNNER_", "MY_"))}


PEEK = """
import ctypes, os, sys
sys.path.insert(0, sys.argv[1])
from testbot import sandbox

if os.geteuid() == 0:  # become an ordinary user: no capabilities
    os.setgroups([])
    os.setgid(65534)
    os.setuid(65534)
ctypes.CDLL(None).prctl(4, 1, 0, 0, 0)  # dumpable, as any process of that user starts (a uid change cleared it)
if sys.argv[2] == "hide":
    sandbox._hide_own_environment()
r, w = os.pipe()
if os.fork() == 0:  # a process of the same user looks at its parent's environment
    try:
        with open("/proc/%d/environ" % os.getppid(), "rb") as f:
            data = f.read()
    except OSError as exc:
        data = str(exc).encode()
    os.write(w, data)
    os._exit(0)
os.close(w)
print(os.read(r, 1 << 20).decode("utf-8", "replace"))
os.wait()
"""


def test_testbot_hides_its_own_environment_from_processes_of_the_same_user() -> None:
    """Without a PID or user namespace a test runs as testbot's user and sees testbot in /proc: the
    environment testbot started with (tokens included) must still be unreadable. (As root, the check
    runs as uid 65534: root's own capabilities would read anything.)"""
    secret = f"{PREFIX}{uuid.uuid4().hex}"
    env = {"PATH": os.environ.get("PATH", os.defpath), "MY_SERVICE_TOKEN": secret}
    repo = str(Path(testbot.__file__).parents[1])
    before, after = (
        subprocess.run(
            [sys.executable, "-S", "-c", PEEK, repo, mode], env=env, capture_output=True, text=True, timeout=60, cwd="/"
        )
        for mode in ("keep", "hide")
    )
    assert secret in before.stdout, before.stdout + before.stderr  # the hole: a plain child reads its parent
    assert secret not in after.stdout and "Permission denied" in after.stdout, after.stdout + after.stderr
