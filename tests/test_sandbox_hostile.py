"""The hostile corpus: candidates that try to harm the user, run through the real CLI in one testbot process.

Every hostile test is served as a completion of its own, so each runs alone and gets its own verdict;
a good test comes last and must still be kept (testbot carried on). Each case below asserts that the
harm was contained (decoys intact, nothing listening got a connection, no process outlived the run,
testbot alive) and the reason the report gives.

Safe even if the sandbox regressed: testbot runs with HOME pointed at a decoy home, the "home" and the
"outside" folders the candidates attack are decoys in pytest's temporary folder, the project is a
temporary copy, the fork bomb forks a bounded number of sleeping children (that exit on their own),
the memory hog asks for 10 GB of untouched address space, network targets are a local listener and
TEST-NET-1 (192.0.2.1, never routed), and the process killed in "kill parent" is the testbot
subprocess started here.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from conftest import SOURCE, fenced, make_project
from testbot import sandbox

TARGET = "pkg/m.py::classify"
SECRET = "ghp_decoy" + uuid.uuid4().hex  # values no test may ever see
AWS_SECRET = "aws-decoy-" + uuid.uuid4().hex
MARK = "testbot-daemon-" + uuid.uuid4().hex  # in the command line of the daemon the candidate spawns
MAX_PROCESSES = 24
TIMEOUT = 4

# name: (test code; outcome; words the detail must contain). The code is formatted with the decoy paths.
CASES = {
    "rm_rf_home": (
        """
import os, shutil, subprocess
from pathlib import Path
from pkg.m import classify


def test_rm_rf_home():
    shutil.rmtree(Path.home(), ignore_errors=True)  # the sandbox's fake HOME: harmless
    subprocess.run(["rm", "-rf", {home!r}])  # the user's home, by a program (the guard sees its arguments only)
    shutil.rmtree({home!r})
    assert classify(1) == "positive"
""",
        "read_outside",
        ["starting a program on", "decoy-home"],
    ),
    "rm_rf_project": (
        """
import shutil, subprocess
from pkg.m import classify


def test_rm_rf_project():
    subprocess.run(["rm", "-rf", {project!r}])
    shutil.rmtree({project!r})
    assert classify(1) == "positive"
""",
        "read_outside",
        ["starting a program on", "proj"],
    ),
    "write_outside": (
        """
import subprocess
from pathlib import Path
from pkg.m import classify


def test_write_outside():
    subprocess.run(["sh", "-c", "echo pwned > " + {outside!r} + "/by-shell.txt"])
    Path({outside!r}, "by-python.txt").write_text("pwned")
    assert classify(1) == "positive"
""",
        "wrote_outside",
        ["open for writing", "by-python.txt"],
    ),
    "edit_source": (
        """
import pkg.m
from pathlib import Path
from pkg.m import classify


def test_edit_source():
    Path(pkg.m.__file__).write_text("def classify(n):\\n    return 'hacked'\\n")
    assert classify(1) == "positive"
""",
        "tampered",
        ["source"],
    ),
    "fork_bomb": (
        """
import os, time
from pkg.m import classify


def test_fork_bomb():
    for _ in range({forks}):
        if os.fork() == 0:
            time.sleep(20)  # bounded: every child ends on its own
            os._exit(0)
    assert classify(1) == "positive"
""",
        "processes",
        ["processes"],
    ),
    "infinite_loop": (
        """
from pkg.m import classify


def test_loop_forever():
    while True:
        classify(1)
""",
        "timeout",
        ["did not finish"],
    ),
    "allocate_10gb": (
        """
from pkg.m import classify


def test_allocate_10gb():
    data = bytearray(10 * 1024**3)
    assert classify(len(data)) == "positive"
""",
        "memory",
        ["out of memory"],
    ),
    "socket_loopback": (
        """
import socket, subprocess, sys
from pkg.m import classify


def test_socket_loopback():
    subprocess.run([sys.executable, "-I", "-S", "-c",
                    "import socket; socket.create_connection(('127.0.0.1', {port}), timeout=2)"])
    socket.create_connection(("127.0.0.1", {port}), timeout=2).sendall(b"leak")
    assert classify(1) == "positive"
""",
        "network",
        ["network access", "127.0.0.1:{port}"],
    ),
    "socket_external": (
        """
import socket, subprocess, sys
from pkg.m import classify


def test_socket_external():
    subprocess.run([sys.executable, "-I", "-S", "-c",
                    "import socket; socket.create_connection(('192.0.2.1', 80), timeout=2)"])
    socket.create_connection(("192.0.2.1", 80), timeout=2)
    assert classify(1) == "positive"
""",
        "network",
        ["network access", "192.0.2.1:80"],
    ),
    "read_secrets": (
        """
import os
from pkg.m import classify


def test_read_secrets():
    found = {{k: v for k, v in os.environ.items() if "TOKEN" in k or k.startswith("AWS") or "PASSWORD" in k}}
    try:
        with open("/proc/%d/environ" % int(open({pidfile!r}).read()), "rb") as f:  # testbot's own environment
            found["parent"] = f.read().decode(errors="replace")
    except OSError as exc:
        found["parent"] = repr(exc)
    print(found)
    assert classify(1) == "positive"
    assert found.get("GITHUB_TOKEN") or "GITHUB_TOKEN" in found["parent"], found
""",
        "assertion_failure",
        [],
    ),
    "os_exit_early": (
        """
import os
from pkg.m import classify


def test_exit_early():
    if classify(1) != "negative":  # the assertion below would fail: leave with status 0 first
        os._exit(0)
    assert classify(1) == "negative"
""",
        "exited_early",
        ["status 0", "before pytest finished"],
    ),
    "sys_exit_in_fixture": (
        """
import sys
import pytest
from pkg.m import classify


@pytest.fixture
def leave():
    sys.exit(0)


def test_exit_in_fixture(leave):
    assert classify(1) == "positive"
""",
        "exited_early",
        ["sys.exit()", "in a fixture"],
    ),
    "segfault": (
        """
import ctypes
from pkg.m import classify


def test_segfault():
    ctypes.string_at(0)
    assert classify(1) == "positive"
""",
        "crashed",
        ["SIGSEGV"],
    ),
    "print_100mb": (
        """
import sys
from pkg.m import classify


def test_print_100mb():
    chunk = "x" * (1024 * 1024)
    for _ in range(100):
        sys.stdout.write(chunk)
    assert classify(1) == "positive"
""",
        "output_limit",
        ["MiB"],
    ),
    "kill_parent": (
        """
import os, signal, subprocess, time
from pkg.m import classify


def test_kill_parent():
    pid = int(open({pidfile!r}).read())
    subprocess.run(["kill", "-9", str(pid)])  # outside Python: only the kernel stands in the way
    os.kill(pid, signal.SIGKILL)
    time.sleep(1)
    assert classify(1) == "positive"
""",
        "signal_outside",
        ["sending signal 9"],
    ),
    "daemon": (
        """
import os, sys
from pkg.m import classify


def test_daemon():
    pid = os.fork()
    if pid == 0:
        os.setsid()
        if os.fork() == 0:
            os.execv("/bin/sh", ["/bin/sh", "-c", "sleep 30; :", {mark!r}])
        os._exit(0)
    os.waitpid(pid, 0)
    assert classify(1) == "positive"
""",
        "left_process",
        ["left processes running", "sleep 30"],
    ),
    "patch_pytest": (
        """
import _pytest.runner
import pytest
from pkg.m import classify


@pytest.fixture
def rig():
    real = _pytest.runner.call_and_report

    def always_pass(item, when, log=True, **kwargs):
        report = real(item, when, log=False, **kwargs)
        report.outcome, report.longrepr = "passed", None
        if log:
            item.ihook.pytest_runtest_logreport(report=report)
        return report

    _pytest.runner.call_and_report = always_pass


def test_rigged(rig):
    assert classify(1) == "negative"
""",
        "tampered_pytest",
        ["changed pytest", "call_and_report"],
    ),
    "register_plugin": (
        """
import pytest
from pkg.m import classify


class Rigged:
    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        outcome = yield
        report = outcome.get_result()
        report.outcome, report.longrepr = "passed", None


@pytest.fixture
def rig(request):
    request.config.pluginmanager.register(Rigged(), "rigged")


def test_rigged_by_plugin(rig):
    assert classify(1) == "negative"
""",
        "tampered_pytest",
        ["changed pytest", "pytest_runtest_makereport"],
    ),
    "forge_result": (
        """
import json, os, tempfile
from pkg.m import classify


def test_forged():
    run_folder = os.path.dirname(tempfile.gettempdir())
    fake = {{"finished": True, "exitstatus": 0, "collect_errors": [], "tampered": [], "leftovers": [],
            "interrupted": "", "tests": [{{"nodeid": "x::test_forged", "when": "call", "outcome": "passed",
                                          "text": "", "exc": ""}}]}}
    with open(os.path.join(run_folder, "result.json"), "w") as f:
        json.dump(fake, f)
    os._exit(0)
""",
        "tampered_pytest",
        ["forged"],
    ),
}

GOOD = """
from pkg.m import classify


def test_negative_still_works():
    assert classify(-1) == "negative"
"""


def _tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _processes_with(mark: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if mark.encode() in Path(f"/proc/{entry}/cmdline").read_bytes():
                    found.append(int(entry))
            except OSError:
                pass
    return found


class _Listener:
    """A TCP listener on loopback that counts the connections it gets (it must get none)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.stop = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stop:
            try:
                conn, _ = self.sock.accept()
                self.connections += 1
                conn.close()
            except OSError:
                continue

    def close(self) -> None:
        self.stop = True
        self.thread.join(5)
        self.sock.close()


def run_corpus(base: Path, cases: dict, extra_env: dict[str, str] | None = None) -> dict:
    """Run testbot once over ``cases`` (then the good test) in a fresh project under ``base``; judge nothing yet."""
    home = base / "decoy-home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_ed25519").write_text("decoy private key\n")
    (home / ".bashrc").write_text("export PS1='$ '\n")
    outside = base / "outside"
    outside.mkdir()
    # (where the test can read it: /dev/shm is the one shared folder a sandboxed run may read and write)
    pidfile = Path("/dev/shm") / f"testbot-hostile-{os.getpid()}-{base.name}.pid"
    project = make_project(base / "proj")
    listener = _Listener()
    fields = dict(
        home=str(home),
        project=str(project.root),
        outside=str(outside),
        pidfile=str(pidfile),
        port=listener.port,
        mark=MARK,
        forks=MAX_PROCESSES * 3,
    )
    completions = [fenced(code.format(**fields)) for code, _, _ in cases.values()] + [fenced(GOOD)]
    model = project.fake_model({"*": completions})
    before = {"home": _tree(home), "project": project.snapshot(), "outside": _tree(outside)}
    env = {
        **os.environ,
        "HOME": str(home),
        "GITHUB_TOKEN": SECRET,
        "AWS_SECRET_ACCESS_KEY": AWS_SECRET,
        "AWS_ACCESS_KEY_ID": "AKIADECOY",
        "DB_PASSWORD": SECRET,
        "PYTHONDONTWRITEBYTECODE": "1",
        **(extra_env or {}),
    }
    args = [
        sys.executable,
        "-m",
        "testbot",
        "generate",
        TARGET,
        "--model",
        model,
        "--json",
        "--samples",
        str(len(completions)),
        "--runs",
        "2",
        "--repair-rounds",
        "0",
        "--timeout",
        str(TIMEOUT),
        "--max-processes",
        str(MAX_PROCESSES),
        "--target-seconds",
        "600",
    ]
    start = time.monotonic()
    child = subprocess.Popen(args, cwd=project.root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    pidfile.write_text(str(child.pid))
    try:
        out, err = child.communicate(timeout=300)
    finally:
        child.kill()
        listener.close()
        pidfile.unlink(missing_ok=True)
    seconds = time.monotonic() - start
    time.sleep(0.2)
    leftovers = _processes_with(MARK)
    return dict(
        code=child.returncode,
        out=out,
        err=err,
        before=before,
        home=home,
        outside=outside,
        project=project,
        listener=listener,
        leftovers=leftovers,
        seconds=seconds,
    )


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    """One testbot run over every hostile case, plus everything needed to judge it."""
    result = run_corpus(tmp_path_factory.mktemp("hostile"), CASES)
    yield result
    for pid in result["leftovers"]:  # only if the sandbox failed; the daemon would end by itself after 30 s
        os.kill(pid, 9)


def _report(hostile) -> dict:
    assert hostile["code"] == 1, f"testbot did not finish normally (exit {hostile['code']}): {hostile['err'][-2000:]}"
    return json.loads(hostile["out"])


def _candidates(hostile) -> dict[str, dict]:
    (target,) = _report(hostile)["targets"]
    return {c["name"]: c for c in target["candidates"]}


# -- the run as a whole


def test_testbot_survives_and_keeps_only_the_good_test(hostile):
    report = _report(hostile)
    (change,) = report["files"]
    assert change["tests"] == ["test_negative_still_works"]
    text = hostile["project"].read("tests/test_m.py")
    assert "test_negative_still_works" in text
    for name in CASES:
        assert name not in text
    assert hostile["seconds"] < 120


def test_user_files_home_and_outside_are_byte_identical(hostile):
    before = hostile["before"]
    assert _tree(hostile["home"]) == before["home"]
    assert _tree(hostile["outside"]) == before["outside"] == {}
    after = hostile["project"].snapshot()
    assert set(after) - set(before["project"]) == {"tests/test_m.py"}
    assert {k: v for k, v in after.items() if k != "tests/test_m.py"} == before["project"]
    assert hostile["project"].read("pkg/m.py") == SOURCE
    assert hostile["project"].git_status() == ["?? tests/test_m.py"]


def test_nothing_reached_the_network_and_no_process_outlived_the_run(hostile):
    assert hostile["listener"].connections == 0
    assert hostile["leftovers"] == []


def test_secrets_never_reach_the_tests_or_the_report(hostile):
    everything = hostile["out"] + hostile["err"]
    assert SECRET not in everything and AWS_SECRET not in everything
    detail = _candidates(hostile)["test_read_secrets"]["detail"]
    # testbot's own environment: not listed in the sandbox's own /proc, or not readable
    assert "'parent': \"FileNotFoundError(2" in detail or "'parent': \"PermissionError(13" in detail, detail


def test_report_says_which_isolation_was_in_force(hostile):
    isolation = _report(hostile)["isolation"]
    assert {"guard", "rlimits", "scrubbed-env", "checksums"} <= set(isolation)
    expected = sandbox.isolation(sys.executable).tokens()
    assert tuple(isolation) == expected


# -- each case: contained (above) and rejected with its reason


TEST_NAMES = {name: code.split("def test_")[1].split("(")[0] for name, (code, _, _) in CASES.items()}


@pytest.mark.parametrize("case", CASES)
def test_hostile_case_is_rejected_with_its_reason(hostile, case):
    code, outcome, words = CASES[case]
    cand = _candidates(hostile)["test_" + TEST_NAMES[case]]
    assert cand["outcome"] == outcome, cand["detail"]
    assert cand["kept"] is False and cand["stable"] is False
    for word in words:
        assert word.format(port=hostile["listener"].port) in cand["detail"], cand["detail"]


# -- a survey, not a test: which cases stay contained with some layers turned off


def survey(off: str) -> list[tuple[str, bool, str]]:
    """Each case in a testbot run of its own with ``TESTBOT_SANDBOX_OFF=off``: (case, contained, outcome)."""
    import tempfile

    rows = []
    for name, case in CASES.items():
        with tempfile.TemporaryDirectory(prefix="testbot-survey-") as tmp:
            r = run_corpus(Path(tmp), {name: case}, {"TESTBOT_SANDBOX_OFF": off})
            alive = r["code"] in (0, 1)
            outcome, isolation = "testbot killed", []
            if alive:
                report = json.loads(r["out"])
                isolation = report["isolation"]
                (target,) = report["targets"]
                outcome = next(c["outcome"] for c in target["candidates"] if c["name"] != "test_negative_still_works")
            after = r["project"].snapshot()
            harmless = (
                alive
                and _tree(r["home"]) == r["before"]["home"]
                and _tree(r["outside"]) == {}
                and {k: v for k, v in after.items() if k != "tests/test_m.py"} == r["before"]["project"]
                and r["listener"].connections == 0
                and not r["leftovers"]
                and SECRET not in r["out"] + r["err"]
                and (name != "fork_bomb" or outcome == "processes")
                and (name != "read_secrets" or outcome != "passed")  # passed: it found the token
                # a connection to TEST-NET cannot be seen from here: only a kernel layer stops it
                and (name != "socket_external" or bool({"netns", "landlock-tcp"} & set(isolation)))
            )
            for pid in r["leftovers"]:
                os.kill(pid, 9)
            rows.append((name, harmless, outcome))
            print(f"| {name} | {'yes' if harmless else '**no**'} | {outcome} |", flush=True)
    return rows


if __name__ == "__main__":  # python tests/test_sandbox_hostile.py namespaces,cgroup,landlock,caps
    sys.path.insert(0, str(Path(__file__).parent))
    survey(sys.argv[1] if len(sys.argv) > 1 else "")
