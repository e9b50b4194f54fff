"""The sandbox runner itself: what a process inside can and cannot do, tried from inside.

Every attack here aims at a decoy in pytest's temporary folder, a listener started by the test, or this
test process with a harmless signal it counts. Where the report says a layer is in force, the attack
must fail; where it says a layer is missing, the attack must get through: the isolation report is
checked both ways, so it cannot overstate what protects the user.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from conftest import FAST, fenced, make_project
from testbot import sandbox
from testbot import validate as v

DEGRADED = "namespaces,cgroup,landlock,caps"  # TESTBOT_SANDBOX_OFF: only the guard and the limits are left


class Kit:
    def __init__(self, root: Path) -> None:
        self.support, self.scratch, self.outside = root / "support", root / "scratch", root / "outside"
        sandbox.install_guard(self.support)
        self.scratch.mkdir()
        self.outside.mkdir()

    def run(
        self, code: str, *args: str, guard: bool = True, limits: sandbox.Limits = sandbox.Limits(), handoff: bytes = b""
    ) -> sandbox.SandboxRun:
        return sandbox.run_sandboxed(
            [sys.executable, "-c", code, *args],
            cwd=self.scratch,
            scratch=self.scratch,
            support=self.support,
            guard=guard,
            limits=limits,
            handoff=handoff,
        )

    def json(self, code: str, *args: str, **kw) -> dict:
        run = self.run(code, *args, **kw)
        assert run.proc.returncode == 0, run.proc.output
        return json.loads(run.proc.stdout.strip().splitlines()[-1])


@pytest.fixture
def kit(tmp_path: Path) -> Kit:
    return Kit(tmp_path)


@pytest.fixture
def degraded(monkeypatch):
    monkeypatch.setenv("TESTBOT_SANDBOX_OFF", DEGRADED)


class Listener:
    """TCP and UDP sockets on loopback that count what reaches them."""

    def __init__(self) -> None:
        self.tcp = socket.socket()
        self.tcp.bind(("127.0.0.1", 0))
        self.tcp.listen(8)
        self.tcp.setblocking(False)
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", 0))
        self.udp.setblocking(False)
        self.ports = (self.tcp.getsockname()[1], self.udp.getsockname()[1])

    def reached(self) -> int:
        n = 0
        for sock, action in ((self.tcp, lambda s: s.accept()[0].close()), (self.udp, lambda s: s.recv(100))):
            while True:
                try:
                    action(sock)
                    n += 1
                except BlockingIOError:
                    break
        return n

    def close(self) -> None:
        self.tcp.close()
        self.udp.close()


@pytest.fixture
def listener():
    lst = Listener()
    yield lst
    lst.close()


@pytest.fixture
def usr1():
    """Counts SIGUSR1 signals this test process receives (the harmless stand-in for SIGKILL)."""
    got = []
    old = signal.signal(signal.SIGUSR1, lambda *a: got.append(1))
    yield got
    signal.signal(signal.SIGUSR1, old)


# Raw attempts, none through Python's guarded calls that matter: each result is an errno name or "done".
RAW = r"""
import errno, json, os, socket, subprocess, sys
outside, runner, tcp_port, udp_port = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
r = {}
def attempt(name, action):
    try:
        action()
        r[name] = "done"
    except OSError as exc:
        r[name] = errno.errorcode.get(exc.errno, str(exc.errno))
def write():
    with open(os.path.join(outside, "by-python"), "w") as f:
        f.write("x")
attempt("write", write)
r["shell_write"] = subprocess.run(["sh", "-c", "echo x > " + outside + "/by-shell"]).returncode
r["shell_rm"] = subprocess.run(["rm", "-rf", outside]).returncode
def tcp():
    with socket.create_connection(("127.0.0.1", tcp_port), timeout=2):
        pass
attempt("tcp", tcp)
def udp():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(b"x", ("127.0.0.1", udp_port))
attempt("udp", udp)
attempt("signal", lambda: os.kill(runner, 10))  # SIGUSR1: the runner counts it
def environ():
    with open("/proc/%d/environ" % runner, "rb") as f:
        f.read()
attempt("read_runner_environ", environ)
with open("/proc/self/status") as f:
    r["cap_eff"] = [line.split()[1] for line in f if line.startswith("CapEff")][0]
print(json.dumps(r))
"""


def _raw(kit: Kit, listener: Listener) -> dict:
    return kit.json(RAW, str(kit.outside), str(os.getpid()), *map(str, listener.ports), guard=False)


def test_kernel_layers_hold_without_the_guard(kit: Kit, listener: Listener, usr1: list):
    """Attacks that bypass Python's audit hook: only the kernel layers stand in the way."""
    (kit.outside / "keep").write_text("decoy")
    iso = sandbox.isolation(sys.executable)
    r = _raw(kit, listener)
    time.sleep(0.1)
    if iso.filesystem == "landlock":
        assert r["write"] == "EACCES" and r["shell_write"] != 0 and r["shell_rm"] != 0
        assert sorted(p.name for p in kit.outside.iterdir()) == ["keep"]
    else:  # not claimed: then it must really be missing
        assert r["write"] == "done" and not kit.outside.exists()
    if "namespace" in iso.network or "landlock" in iso.network:
        assert r["tcp"] in ("ENETUNREACH", "EACCES")
    if "namespace" in iso.network:
        assert r["udp"] == "ENETUNREACH"
    assert listener.reached() == (0 if "namespace" in iso.network else 1 + ("landlock" not in iso.network))
    if "landlock" in iso.signals or "pid namespace" in iso.signals:
        assert r["signal"] in ("EPERM", "ESRCH") and usr1 == []
    else:
        assert r["signal"] == "done"
    if iso.filesystem == "landlock":  # Landlock also keeps ptrace, and so /proc/<pid>/environ, inside the sandbox
        # (with a /proc of its own, testbot's process is not even listed)
        assert r["read_runner_environ"] in ("EACCES", "EPERM") + (("ENOENT",) if "own /proc" in iso.view else ())
    if iso.privileges == "root, capabilities dropped":
        assert int(r["cap_eff"], 16) == 0


def test_without_namespaces_and_landlock_the_report_says_so_and_attacks_get_through(kit, listener, usr1, degraded):
    iso = sandbox.isolation(sys.executable)
    assert (iso.network, iso.filesystem, iso.signals) == ("guard", "guard; checksums", "guard")
    assert "landlock-fs" not in iso.tokens() and "netns" not in iso.tokens()
    r = _raw(kit, listener)
    time.sleep(0.1)
    assert r["write"] == "done" and r["tcp"] == "done" and r["signal"] == "done"
    assert not kit.outside.exists()  # the raw `rm -rf` went through: which is why the guard and checksums exist
    assert usr1 == [1]


GUARDED = r"""
import json, os, shutil, signal, socket, sys, testbot_guard
outside, runner, port, decoy = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
r = {}
def attempt(name, action):
    try:
        action()
        r[name] = "done"
    except PermissionError as exc:
        r[name] = "refused" if "testbot sandbox" in str(exc) else "kernel"
    except OSError as exc:
        r[name] = "error %s" % exc.errno
attempt("open", lambda: open(os.path.join(outside, "x"), "w"))
attempt("rmtree", lambda: shutil.rmtree(outside))
attempt("rename", lambda: os.rename(os.path.join(outside, "keep"), os.path.join(outside, "moved")))
attempt("tcp", lambda: socket.create_connection(("127.0.0.1", port), timeout=2))
attempt("dns", lambda: socket.getaddrinfo("example.invalid", 80))
attempt("kill", lambda: os.kill(runner, signal.SIGUSR1))
attempt("killpg", lambda: os.killpg(decoy, signal.SIGTERM))
attempt("tmp", lambda: open(os.path.join(os.environ["TMPDIR"], "fine"), "w").close())
def unhook():
    testbot_guard._hook.__code__ = (lambda event, args: None).__code__
attempt("unhook", unhook)
print(json.dumps(r))
"""


@pytest.mark.parametrize("mode", ["all layers", "guard alone"])
def test_the_guard_refuses_and_reports_each_attempt(kit: Kit, listener: Listener, usr1: list, mode, monkeypatch):
    if mode == "guard alone":
        monkeypatch.setenv("TESTBOT_SANDBOX_OFF", DEGRADED)
    (kit.outside / "keep").write_text("decoy")
    decoy = subprocess.Popen(["sleep", "30"], start_new_session=True)  # a process group outside the sandbox
    try:
        run = kit.run(GUARDED, str(kit.outside), str(os.getpid()), str(listener.ports[0]), str(decoy.pid))
        assert decoy.poll() is None
    finally:
        decoy.kill()
        decoy.wait()
    assert run.proc.returncode == 0, run.proc.output
    r = json.loads(run.proc.stdout.strip().splitlines()[-1])
    assert r == {
        "open": "refused",
        "rmtree": "refused",
        "rename": "refused",
        "tcp": "refused",
        "dns": "refused",
        "kill": "refused",
        "killpg": "refused",
        "tmp": "done",
        "unhook": "refused",
    }
    kinds = [x.kind for x in run.violations]
    assert kinds == ["wrote_outside"] * 3 + ["network"] * 2 + ["signal_outside"] * 2 + ["tampered_pytest"]
    assert "example.invalid" in run.violations[4].detail
    assert f"pid {os.getpid()}" in run.violations[5].detail
    time.sleep(0.1)
    assert usr1 == [] and listener.reached() == 0
    assert sorted(p.name for p in kit.outside.iterdir()) == ["keep"]


def test_environment_is_scrubbed_and_home_is_fake(kit: Kit, monkeypatch):
    secrets = {
        "GITHUB_TOKEN": "ghp_x",
        "AWS_SECRET_ACCESS_KEY": "aws_x",
        "AWS_ACCESS_KEY_ID": "AKIA_x",
        "MY_SERVICE_API_KEY": "key_x",
        "DB_PASSWORD": "pw_x",
        "GIT_DIR": "/x/.git",
        "SSH_AUTH_SOCK": "/x/agent",
        "GOOGLE_APPLICATION_CREDENTIALS": "/x/creds.json",
        "NPM_CONFIG_TOKEN": "npm_x",
        "HOME": "/root-decoy",
    }
    for k, val in secrets.items():
        monkeypatch.setenv(k, val)
    env = kit.json("import json, os; print(json.dumps(dict(os.environ)))")
    assert not set(secrets) - {"HOME"} & set(env)
    assert not any(val in json.dumps(env) for val in secrets.values())
    assert Path(env["HOME"]).is_relative_to(kit.scratch) and Path(env["TMPDIR"]).is_relative_to(kit.scratch)
    assert env["PATH"] == os.environ["PATH"]


def test_handoff_reaches_the_process_but_not_its_environment(kit: Kit):
    code = (
        "import json, os; fd = int(os.environ['TESTBOT_HANDOFF_FD']); data = os.read(fd, 100).decode(); "
        "print(json.dumps({'got': data, 'environ': 'hand-' in open('/proc/self/environ').read()}))"
    )
    assert kit.json(code, handoff=b"hand-off-secret") == {"got": "hand-off-secret", "environ": False}


def test_limits_memory_file_size_cpu_wall_and_output(kit: Kit):
    small = sandbox.Limits(
        memory_bytes=512 * 1024**2, file_bytes=1024**2, cpu_seconds=1, wall_seconds=20, max_output=4096
    )
    mem = kit.run("bytearray(4 * 1024**3)", limits=small)
    assert mem.proc.returncode == 1 and "MemoryError" in mem.proc.output
    big = kit.run("open('f', 'wb').write(b'x' * 2 * 1024**2)", limits=small)
    assert "File too large" in big.proc.output
    assert (kit.scratch / "f").stat().st_size == 1024**2
    cpu = kit.run("while True: pass", limits=small)
    assert cpu.cpu_limit_hit and not cpu.proc.timed_out
    wall = kit.run("import time; time.sleep(60)", limits=sandbox.Limits(wall_seconds=1))
    assert wall.proc.timed_out and wall.proc.seconds < 10
    loud = kit.run("import sys; sys.stdout.write('y' * 1024**2)", limits=small)
    assert len(loud.proc.stdout) < 5000 and "bytes cut" in loud.proc.stdout


def _alive(mark: str) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if mark.encode() in Path(f"/proc/{entry}/cmdline").read_bytes():
                    out.append(int(entry))
            except OSError:
                pass
    return out


def test_fork_bomb_stops_at_the_process_limit_and_nothing_outlives_the_run(kit: Kit):
    mark = "bomb-" + uuid.uuid4().hex
    code = f'''
import os, time
n = 0
try:
    for _ in range(150):  # bounded: children sleep 15 s, then end by themselves
        if os.fork() == 0:
            os.execv("/bin/sh", ["/bin/sh", "-c", "sleep 15; :", "{mark}"])
        n += 1
except OSError as exc:
    print("stopped", n, exc.errno)
'''
    iso = sandbox.isolation(sys.executable)
    run = kit.run(code, limits=sandbox.Limits(processes=16, wall_seconds=30))
    try:
        if iso.processes != "none":
            assert run.proc.stdout.startswith("stopped") and int(run.proc.stdout.split()[1]) < 16
        if iso.processes.startswith("pids cgroup"):
            assert run.process_limit_hit
        time.sleep(0.2)
        assert _alive(mark) == []  # every child was killed with the run (pid namespace or cgroup or group)
    finally:
        for pid in _alive(mark):
            os.kill(pid, signal.SIGKILL)


def test_a_daemon_does_not_outlive_the_run(kit: Kit):
    mark = "daemon-" + uuid.uuid4().hex
    code = f'''
import os
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execv("/bin/sh", ["/bin/sh", "-c", "sleep 30; :", "{mark}"])
    os._exit(0)
os.wait()
'''
    iso = sandbox.isolation(sys.executable)
    run = kit.run(code)
    time.sleep(0.2)
    try:
        if iso.daemons in ("pid namespace", "cgroup"):
            assert _alive(mark) == []
        if iso.daemons == "cgroup":
            assert run.leftovers and mark in run.leftovers[0]
    finally:
        for pid in _alive(mark):
            os.kill(pid, signal.SIGKILL)


def _landlock_abi() -> int:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    return max(0, libc.syscall(444, None, 0, 1))


def test_isolation_claims_every_layer_the_kernel_offers():
    iso = sandbox.isolation(sys.executable)
    abi = _landlock_abi()
    assert (iso.filesystem == "landlock") == (abi >= 1)
    assert ("landlock (tcp)" in iso.network) == (abi >= 4)
    user = [] if os.geteuid() == 0 else ["--user", "--map-current-user"]
    unshare = shutil.which("unshare")
    netns = (
        bool(unshare)
        and subprocess.run([unshare, *user, "--net", "--pid", "--fork", "true"], capture_output=True).returncode == 0
    )
    assert ("namespace" in iso.network) == netns
    assert (iso.daemons == "pid namespace") == netns
    if os.geteuid() == 0:
        assert iso.privileges == ("root, capabilities dropped" if abi >= 1 else "root")
        assert iso.processes.startswith("pids cgroup") == (sandbox._cgroup_base() is not None)
    else:
        assert iso.processes.startswith("rlimit")


def test_a_write_that_gets_through_is_still_caught_by_the_checksums(tmp_path: Path, monkeypatch):
    """No Landlock, no guard: the user's file changes, and the run is flagged and the change reported."""
    monkeypatch.setenv("TESTBOT_SANDBOX_OFF", DEGRADED + ",guard")
    project = make_project(tmp_path / "proj", git=False)
    target = project.root / "pkg" / "m.py"
    with v.Workspace(project.root, sys.executable, sandbox.Limits()) as ws:
        test = ws.project / "test_escape.py"
        test.write_text(f"def test_escape():\n    open({str(target)!r}, 'a').write('# pwned\\n')\n")
        res = ws.run_tests([test], import_root=project.root)
        assert res.outcome == v.WROTE_OUTSIDE
        assert "pkg/m.py" in res.detail
        assert ws.incidents and "pkg/m.py" in ws.incidents[0]
    assert target.read_text().endswith("# pwned\n")  # the proof it got through; the temporary project absorbs it


def test_cli_reports_a_change_to_your_files_it_could_not_prevent(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("TESTBOT_SANDBOX_OFF", DEGRADED + ",guard")
    project = make_project(tmp_path / "proj")
    escape = fenced(
        f"from pkg.m import classify\n\n\ndef test_escape():\n"
        f"    open({str(project.root / 'pkg' / 'm.py')!r}, 'a').write('# pwned\\n')\n"
        f"    assert classify(1) == 'positive'\n"
    )
    run = project.generate("pkg/m.py::classify", "--model", project.fake_model([escape]), *FAST)
    assert run.code == 2, run.err  # nothing kept, and an error to look at
    assert "testbot: your project's files changed while a candidate test ran: pkg/m.py" in run.err
    assert "0 kept" in run.out
