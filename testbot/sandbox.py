"""The one runner for model-written code: every candidate and baseline run goes through :func:`run_sandboxed`.

Layers, each used where this machine allows it; :func:`isolation` measures which are in force (a
probe tries each barrier from inside the sandbox) rather than assuming it:

- namespaces, through util-linux ``unshare``: a network namespace (no network, not even loopback), a
  PID namespace (the test cannot see or signal testbot; when the test process ends, every process it
  started ends too, daemons included), and where they work a mount namespace with a ``/proc`` of its own
  (only the sandbox's processes are listed) and a UTS namespace (the test sees the host name
  ``sandbox``, not the machine's). Root needs nothing else; other users get a user namespace.
- Landlock (``_sandbox_guard.py``, Linux 5.13+, no root needed): writes only beneath the run's folders;
  reads only there, beneath the interpreter's folders and testbot's support folder, and in the system
  files a Python process needs (:func:`readable_paths`); TCP refused; signals confined to the sandbox. As
  root, every capability is dropped as well.
- a pids cgroup (root, or a delegated cgroup) holds a fork bomb to ``Limits.processes``; without it the
  process rlimit does (it binds every user but root).
- resource limits: CPU time, address space, file size, open files; wall time, after which the whole
  process group (and cgroup) is killed; output capped.
- a scrubbed environment (no tokens, keys, passwords, cloud credentials, ``GIT_*``) and a fake ``HOME``.
- the guard, a Python audit hook in the test process: refuses network use, reads and writes outside the
  sandbox and signals to other processes, and reports each refusal, so a rejection names its reason.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import resource
import secrets
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from testbot import proc

# Variables a test legitimately needs; everything else is dropped unless it looks harmless.
_KEEP = {"PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TERM", "PYTHONHASHSEED", "VIRTUAL_ENV", "TMPDIR", "SYSTEMROOT"}
_SECRET = re.compile(
    r"TOKEN|SECRET|PASSWORD|PASSWD|PASS$|KEY|CREDENTIAL|AUTH|COOKIE|SESSION|PRIVATE|^AWS_|^AZURE_|^GOOGLE_|^GCP_|"
    r"^GH_|^GITHUB_|^GIT_|^SSH_|^OPENAI|^ANTHROPIC|^HF_|^HUGGING|^NPM_|^PYPI|^TWINE|^DOCKER|^KUBE|^VAULT|^ACTIONS_",
    re.IGNORECASE,
)
# Names whose values are credentials themselves (not paths or ids): a kept variable that carries one of
# these values (say, a token pasted into TZ or PATH) is dropped too.
_CREDENTIAL = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|PASS$|KEY|CREDENTIAL|AUTH|COOKIE|PRIVATE", re.IGNORECASE)
_GUARD = Path(__file__).with_name("_sandbox_guard.py")
# What a sandboxed run may read besides its own folders and the interpreter's: the system files a Python
# process and the usual programs need. Not ``/dev`` as a whole (root could read a disk), not ``/etc`` as a
# whole (host keys, shadow, the host name), not ``/sys`` as a whole (serial numbers), nor any home, ``/tmp``,
# ``/run``, ``/var``, ``/opt`` or ``/srv``.
SYSTEM_READABLE = (
    "/usr",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/bin",
    "/sbin",
    "/proc",
    "/nix/store",
    "/sys/devices/system/cpu",
    "/sys/fs/cgroup",
    "/dev/pts",
    "/dev/ptmx",
    "/dev/shm",
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/localtime",
    "/etc/timezone",
    "/etc/ssl/certs",
    "/etc/ssl/openssl.cnf",
    "/etc/ca-certificates",
    "/etc/ca-certificates.conf",
    "/etc/pki/tls/certs",
    "/etc/pki/ca-trust",
    "/etc/passwd",
    "/etc/group",
    "/etc/nsswitch.conf",
    "/etc/hosts",
    "/etc/host.conf",
    "/etc/gai.conf",
    "/etc/protocols",
    "/etc/services",
    "/etc/mime.types",
    "/etc/os-release",
    "/etc/locale.alias",
    "/etc/locale.conf",
    "/etc/default/locale",
    "/etc/fonts",
    "/etc/magic",
    "/etc/mailcap",
    "/etc/debian_version",
    "/etc/alternatives",
    "/etc/python3",
    "/etc/matplotlibrc",
)
# Where Landlock cannot confine reads, the run's mount namespace gets an empty folder over each of these, and over
# the project's folder and the folder holding it; the run's own folders and the interpreter's are bound back.
VIEW_HIDDEN = (
    "/home",
    "/root",
    "/tmp",
    "/var/tmp",
    "/run",
    "/mnt",
    "/media",
    "/srv",
    "/opt",
    "/var/lib",
    "/var/log",
    "/var/mail",
    "/var/spool",
    "/var/cache",
    "/var/backups",
    "/etc/ssh",
    "/etc/ssl/private",
    "/boot",
    "/work",
    "/Users",
    "/workspace",
    "/builds",
    "/github",
)
# Folders no interpreter path may open as a whole: they hold homes, other projects, temporary files.
_TOO_WIDE = (
    "/",
    "/home",
    "/root",
    "/tmp",
    "/var",
    "/var/tmp",
    "/opt",
    "/srv",
    "/mnt",
    "/media",
    "/run",
    "/etc",
    "/Users",
    "/private",
    "/private/tmp",
)
_SITECUSTOMIZE = '''\
"""testbot's sandbox: lock this process down, then run the sitecustomize this file hides, if any."""
import testbot_guard

testbot_guard.install()


def _chain():
    import importlib.machinery, importlib.util, os, sys

    here = os.path.dirname(os.path.abspath(__file__))
    rest = [p for p in sys.path if os.path.abspath(p or ".") != here]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", rest)
    if spec is not None and spec.loader is not None:
        module = importlib.util.module_from_spec(spec)
        sys.modules["sitecustomize"] = module
        spec.loader.exec_module(module)


_chain()
'''


@dataclass(frozen=True)
class Limits:
    wall_seconds: float = 30.0
    cpu_seconds: int = 60
    memory_bytes: int = 2 * 1024**3  # address space; the model-written test gets 2 GiB
    file_bytes: int = 64 * 1024**2  # also bounds what a test can print: pytest captures output to a file
    open_files: int = 256
    processes: int = 256  # a fork bomb stops here (pids cgroup; rlimit where there is none, except for root)
    max_output: int = 32 * 1024


@dataclass(frozen=True)
class Violation:
    """Something the guard refused: ``kind`` is network, write_outside, signal_outside or tampered_pytest."""

    kind: str
    detail: str
    test: str  # the pytest node id that was running, "" outside a test


@dataclass(frozen=True)
class SandboxRun:
    proc: proc.ProcResult
    violations: tuple[Violation, ...] = ()
    process_limit_hit: bool = False  # the pids cgroup refused a fork
    leftovers: tuple[str, ...] = ()  # processes that outlived the test process and its group (then killed)

    @property
    def cpu_limit_hit(self) -> bool:
        return self.proc.returncode == -signal.SIGXCPU


@dataclass(frozen=True)
class Isolation:
    """What protects the user on this machine, as measured by the probe. Each value is short and plain."""

    network: str  # e.g. "namespace; landlock (tcp); guard", or just "guard"
    filesystem: str  # "landlock" | "guard; checksums"
    signals: str  # e.g. "pid namespace; landlock; guard"
    processes: str  # "pids cgroup (256)" | "rlimit (256)" | "none"
    daemons: str  # "pid namespace" | "cgroup" | "process group; guard"
    privileges: str  # "root, capabilities dropped" | "user" | "root"
    reads: str = "none"  # who keeps reads in the sandbox: "landlock; guard" | "mount view; guard" | "guard" | "none"
    view: str = "none"  # what the run sees of the machine: "own /proc; own host name" | "own /proc" | "none"

    def tokens(self) -> tuple[str, ...]:
        """A compact list for reports, e.g. ('netns', 'pidns', 'landlock-fs', ...)."""
        out = []
        if "namespace" in self.network:
            out.append("netns")
        if self.daemons == "pid namespace":
            out.append("pidns")
        if self.filesystem == "landlock":
            out.append("landlock-fs")
        if self.reads.startswith("landlock"):
            out.append("landlock-read")
        if "mount view" in self.reads:
            out.append("mount-view")
        if "own /proc" in self.view:
            out.append("mountns-proc")
        if "host name" in self.view:
            out.append("utsns")
        if "landlock" in self.network:
            out.append("landlock-tcp")
        if "landlock" in self.signals:
            out.append("landlock-signals")
        if self.processes.startswith("pids cgroup"):
            out.append("pids-cgroup")
        elif self.processes.startswith("rlimit"):
            out.append("nproc-rlimit")
        if "dropped" in self.privileges:
            out.append("caps-dropped")
        out += ["rlimits", "scrubbed-env"] + (["guard"] if "guard" in self.network else [])
        out += (["guard-read"] if "guard" in self.reads else []) + ["checksums"]
        return tuple(out)

    def as_dict(self) -> dict[str, str]:
        return dict(self.__dict__)


def scrubbed_env(base: Mapping[str, str], home: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment a candidate sees: no secrets, a fake HOME, deterministic Python.

    An allowlist (``_KEEP``), minus names that look secret, minus kept variables whose value carries the
    value of a credential variable (12 characters or more, not a path)."""
    values = [v for k, v in base.items() if _CREDENTIAL.search(k) and len(v) >= 12 and not v.startswith("/")]
    env = {k: v for k, v in base.items() if k in _KEEP and not _SECRET.search(k) and not any(s in v for s in values)}
    env.setdefault("PATH", os.defpath)
    env.update(
        HOME=str(home),
        USERPROFILE=str(home),
        PYTHONDONTWRITEBYTECODE="1",
        PYTHONHASHSEED=env.get("PYTHONHASHSEED", "0"),
        PYTHONIOENCODING="utf-8",
        NO_COLOR="1",
    )
    if extra:
        env.update(extra)
    return env


def install_guard(folder: Path) -> None:
    """Put the guard and the ``sitecustomize.py`` that loads it into ``folder`` (first on PYTHONPATH)."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(_GUARD, folder / "testbot_guard.py")
    (folder / "sitecustomize.py").write_text(_SITECUSTOMIZE)


# -- namespaces and cgroups: found once per process


_WRAPPER: dict[str, list[str]] = {}  # the wrapper command for each TESTBOT_SANDBOX_OFF ([]: none works)
HOSTNAME = "sandbox"  # the host name a run sees in a UTS namespace of its own: this and a random part, new per run


_LANDLOCK: list[int] = []


def landlock_abi() -> int:
    """The Landlock ABI this kernel offers (0: none), asked once per process."""
    if not _LANDLOCK:
        abi = 0
        if sys.platform.startswith("linux"):
            try:
                import ctypes

                libc = ctypes.CDLL(None, use_errno=True)
                libc.syscall.restype = ctypes.c_long
                abi = max(0, int(libc.syscall(444, None, 0, 1)))  # landlock_create_ruleset(VERSION)
            except (OSError, AttributeError):
                abi = 0
        _LANDLOCK.append(abi)
    return _LANDLOCK[0]


def _off(layer: str) -> bool:
    """``TESTBOT_SANDBOX_OFF=namespaces,mountns,view,cgroup,landlock,reads,caps,guard`` turns layers off: to see
    what degrades, and test it."""
    return layer in _off_key().split(",")


def _off_key() -> str:
    return os.environ.get("TESTBOT_SANDBOX_OFF", "").replace(" ", "")


def _wrapper() -> list[str]:
    """The ``unshare`` command line that gives a network and a PID namespace here, or [] if none does."""
    if _off_key() in _WRAPPER:
        return _WRAPPER[_off_key()]
    found: list[str] = []
    unshare = shutil.which("unshare") if sys.platform.startswith("linux") else None
    if unshare and not _off("namespaces"):
        plain = [unshare, "--net", "--pid", "--fork", "--kill-child"]
        # (with a mount namespace of its own, /proc lists only the sandbox's processes, and the UTS namespace
        # gives it a host name of its own; where they are refused the network and PID namespaces still stand)
        views = [[*plain, "--mount", "--mount-proc", "--uts"], plain] if not _off("mountns") else [plain]
        tries = []
        for base in views:
            tries += [base] if os.geteuid() == 0 else []
            tries += [
                [unshare, "--user", "--map-current-user", *base[1:]],
                [unshare, "--user", "--map-root-user", *base[1:]],
            ]
        # The namespace's pid 1 is a shell that runs the command as its child: the kernel shields a pid 1
        # from most signals (SIGXCPU, SIGTERM, abort), and the test must die of them as anywhere else.
        # In a PID namespace of its own the test would be pid 2 in every run, and a test could pin that: the
        # shell first moves the namespace's next pid to a random one (TESTBOT_PID_BASE; where it may not, the
        # ids stay as they are).
        init = [
            "--",
            shutil.which("sh") or "/bin/sh",
            "-c",
            '[ -n "$TESTBOT_PID_BASE" ] && echo "$TESTBOT_PID_BASE" > /proc/sys/kernel/ns_last_pid 2>/dev/null;'
            ' "$@"; exit $?',
            "testbot-init",
        ]
        for cmd in tries:
            res = proc.run(
                [*cmd, *init, sys.executable, "-S", "-c", "import os; assert os.getpid() == 2"],
                timeout=20,
                env={k: v for k, v in os.environ.items() if k != "TESTBOT_PID_BASE"},
            )
            if res.returncode == 0:
                found = [*cmd, *init]
                break
    _WRAPPER[_off_key()] = found
    return found


_CGROUP_BASE: dict[str, Path | None] = {}


def _cgroup_base() -> Path | None:
    """A folder where testbot may create pids cgroups (cgroup v1 or v2), or None."""
    if _off_key() in _CGROUP_BASE:
        return _CGROUP_BASE[_off_key()]
    base = None
    if sys.platform.startswith("linux") and not _off("cgroup"):
        try:
            lines = Path("/proc/self/cgroup").read_text().splitlines()
        except OSError:
            lines = []
        tries = []
        for line in lines:
            _, controllers, path = line.split(":", 2)
            if "pids" in controllers.split(","):
                tries.append(Path("/sys/fs/cgroup/pids") / path.lstrip("/"))
            elif controllers == "":
                tries.append(Path("/sys/fs/cgroup") / path.lstrip("/"))
        for folder in tries:
            probe = folder / f"testbot-probe-{os.getpid()}"
            try:
                probe.mkdir()
            except OSError:
                continue
            ok = (probe / "pids.max").exists()
            probe.rmdir()
            if ok:
                base = folder
                _remove_stale(folder)
                break
    _CGROUP_BASE[_off_key()] = base
    return base


def _remove_stale(base: Path) -> None:
    """Cgroups left by a testbot that was killed: empty, so they go (a cgroup still in use refuses rmdir)."""
    for folder in base.glob("testbot-*-*"):
        try:
            pid = int(folder.name.split("-")[1])
            os.kill(pid, 0)
        except ProcessLookupError:
            try:
                folder.rmdir()
            except OSError:
                pass
        except (ValueError, IndexError, OSError):
            pass


class _Cgroup:
    """A pids cgroup for one run: caps the number of processes and finds every one of them at the end."""

    _n = 0

    def __init__(self, base: Path, limit: int) -> None:
        _Cgroup._n += 1
        self.path = base / f"testbot-{os.getpid()}-{_Cgroup._n}"
        self.path.mkdir()
        (self.path / "pids.max").write_text(str(limit))
        self.procs = str(self.path / "cgroup.procs")

    def join(self) -> None:
        """In the child, before exec: move this process into the cgroup."""
        fd = os.open(self.procs, os.O_WRONLY)
        try:
            os.write(fd, b"0")
        finally:
            os.close(fd)

    def _pids(self) -> list[int]:
        try:
            return [int(p) for p in Path(self.procs).read_text().split()]
        except (OSError, ValueError):
            return []

    def finish(self) -> tuple[bool, tuple[str, ...]]:
        """Kill what is left; return (the process limit was hit, what was left)."""
        left = []
        for pid in self._pids():
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
            except OSError:
                cmd = "?"
            left.append(f"pid {pid}: {cmd[:200]}")
        for _ in range(200):
            pids = self._pids()
            if not pids:
                break
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            time.sleep(0.01)
        hit = False
        try:
            events = (self.path / "pids.events").read_text()
            hit = any(line.split()[0] == "max" and int(line.split()[1]) > 0 for line in events.splitlines())
        except (OSError, ValueError, IndexError):
            pass
        for _ in range(300):  # killed processes leave the cgroup once reaped; a later testbot removes it if not
            try:
                self.path.rmdir()
                break
            except OSError:
                time.sleep(0.01)
        return hit, tuple(left)


def _preexec(limits: Limits, cgroup: _Cgroup | None):
    def apply() -> None:
        if cgroup is not None:
            cgroup.join()
        for res, soft, hard in (
            # CPU: SIGXCPU at the soft limit, SIGKILL 5 s later (equal limits would SIGKILL at once)
            (resource.RLIMIT_CPU, limits.cpu_seconds, limits.cpu_seconds + 5),
            (resource.RLIMIT_AS, limits.memory_bytes, limits.memory_bytes),
            (resource.RLIMIT_FSIZE, limits.file_bytes, limits.file_bytes),
            (resource.RLIMIT_NOFILE, limits.open_files, limits.open_files),
            (resource.RLIMIT_CORE, 0, 0),
        ):
            try:
                resource.setrlimit(res, (soft, hard))
            except (ValueError, OSError):
                pass
        try:
            soft, hard = resource.getrlimit(resource.RLIMIT_NPROC)
            cap = limits.processes if hard == resource.RLIM_INFINITY else min(limits.processes, hard)
            resource.setrlimit(resource.RLIMIT_NPROC, (cap, cap))
        except (ValueError, OSError):
            pass

    return apply


def _read_violations(fd: int) -> tuple[Violation, ...]:
    os.set_blocking(fd, False)
    chunks = []
    while True:
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            break
        if not data:
            break
        chunks.append(data)
    out = []
    for line in b"".join(chunks).decode("utf-8", "replace").splitlines():
        try:
            item = json.loads(line)
            out.append(Violation(str(item["kind"]), str(item["detail"]), str(item.get("test", ""))))
        except (ValueError, KeyError, TypeError):
            continue  # a test that writes junk into the pipe only hides nothing: its run is judged anyway
    return tuple(out)


# -- what a run may read


_INTERPRETER: dict[str, tuple[tuple[str, ...], str]] = {}
_PATHS_CODE = (
    "import json, sys, sysconfig\n"
    "print(json.dumps({'prefixes': [sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix],"
    " 'executable': sys.executable, 'paths': list(sysconfig.get_paths().values()) + sys.path[1:]}))"
)


def _interpreter(python: str) -> tuple[tuple[str, ...], str]:
    """The folders ``python`` reads its standard library and packages from (real paths, existing), and its
    prefix: asked of the interpreter itself once per process (a trusted program, run outside the sandbox)."""
    if python in _INTERPRETER:
        return _INTERPRETER[python]
    exe = shutil.which(python) or python
    found: list[str] = [os.path.dirname(os.path.realpath(exe)), os.path.dirname(os.path.abspath(exe))]
    prefix = ""
    with tempfile.TemporaryDirectory(prefix="testbot-paths-") as tmp:
        res = proc.run([exe, "-c", _PATHS_CODE], cwd=tmp, env=scrubbed_env(os.environ, Path(tmp)), timeout=60)
    try:
        data = json.loads(res.stdout.strip().splitlines()[-1])
        prefix = os.path.realpath(data["prefixes"][0])
        found += [*data["prefixes"], data["executable"], *data["paths"]]
    except (ValueError, IndexError, KeyError, TypeError):
        pass  # (an interpreter that cannot say: its own folder only; the import check will name the problem)
    out: list[str] = []
    for item in found:
        if not isinstance(item, str) or not item:
            continue
        real = os.path.realpath(item)
        if os.path.exists(real) and real not in out:
            out.append(real)
    _INTERPRETER[python] = (tuple(out), prefix)
    return _INTERPRETER[python]


def _within(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def readable_paths(python: str, hidden: Sequence[Path] = (), extra: Sequence[Path] = ()) -> tuple[str, ...]:
    """What a run of ``python`` may read besides the folders it may write: the system files
    (:data:`SYSTEM_READABLE`), ``python``'s own folders and packages, and ``extra``. Never a folder that holds
    a home, ``/tmp`` or one of ``hidden`` (the user's project), and nothing inside ``hidden`` but an
    interpreter installed there (a ``.venv`` in the project: its prefix and packages, not an editable
    install's source folder)."""
    paths, prefix = _interpreter(python)
    hide = [os.path.realpath(h) for h in hidden]
    homes = {os.path.realpath(os.path.expanduser("~")), os.path.realpath(tempfile.gettempdir())}
    out = [p for p in SYSTEM_READABLE if os.path.exists(p)]
    for path in paths:
        if path in _TOO_WIDE or any(_within(h, path) for h in [*homes, *hide]):
            continue  # a folder that holds a home, the temporary files or the project itself
        if any(_within(path, h) for h in hide) and not (prefix and _within(path, prefix)):
            continue  # inside the project, and not the interpreter's own (an editable install's source)
        out.append(path)
    out += [os.path.realpath(p) for p in extra]
    faketime = clock_library()
    if faketime:
        out.append(os.path.dirname(faketime))
    return tuple(dict.fromkeys(out))


# -- conditions a user's run may differ in: the clock, the time zone, the locale, the hash seed

FUTURE_DAYS = 2 * 365 + 17  # how far ahead a shifted clock runs: a little over two years
SHIFTED_TZ = "TBT-13:45"  # a time zone no machine is in by default (UTC+13:45; a POSIX rule, no tz database needed)
_LOCALES = ("tr_TR.UTF-8", "tr_TR.utf8", "de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8", "fr_FR.utf8", "ja_JP.UTF-8")
_CLOCK: list[str] = []


def clock_library() -> str:
    """The path of libfaketime (from the ``libfaketime`` package), which moves the clock of a process and its
    children by ``FAKETIME``; "" where it is not installed or not for this machine (Linux x86-64 only)."""
    if not _CLOCK:
        found = ""
        if sys.platform.startswith("linux") and os.uname().machine in ("x86_64", "amd64"):
            try:
                import libfaketime  # type: ignore[import-untyped]

                lib = Path(libfaketime.__file__).parent / "vendor" / "libfaketime" / "src" / "libfaketime.so.1"
                found = str(lib.resolve()) if lib.exists() else ""
            except ImportError:
                found = ""
        _CLOCK.append(found)
    return _CLOCK[0]


def _other_locale() -> str:
    """A locale other than the one testbot runs in, to run tests under: a Turkish, German, French or Japanese
    one where installed, else the plain POSIX locale."""
    res = proc.run(["locale", "-a"], timeout=10) if shutil.which("locale") else None
    have = set(res.stdout.split()) if res is not None and res.returncode == 0 else set()
    current = os.environ.get("LC_ALL") or os.environ.get("LANG") or ""
    return next((name for name in _LOCALES if name in have and name != current), "C")


_LOCALE: list[str] = []


def shifted_env() -> dict[str, str]:
    """What a run under shifted conditions changes: the clock two years ahead (where libfaketime is
    available), a far-off time zone, another locale, the user's name. (The hash seed, the host name, the
    process ids and ``HOME`` differ in every run anyway.)"""
    if not _LOCALE:
        _LOCALE.append(_other_locale())
    user = f"user{secrets.token_hex(3)}"  # (a value read from the environment differs too)
    env = {"TZ": SHIFTED_TZ, "LC_ALL": _LOCALE[0], "LANG": _LOCALE[0], "USER": user, "LOGNAME": user}
    return {**env, **clock_ahead(FUTURE_DAYS)}


def clock_ahead(days: int) -> dict[str, str]:
    """The environment that runs a process (and its children) with the wall clock ``days`` ahead, monotonic
    clocks untouched; {} where libfaketime is not available."""
    lib = clock_library()
    if not lib:
        return {}
    return {
        "LD_PRELOAD": lib,
        "FAKETIME": f"+{days}d",
        "FAKETIME_DONT_FAKE_MONOTONIC": "1",
        "FAKETIME_DONT_RESET": "1",
        "DONT_FAKE_MONOTONIC": "1",
    }


_HIDDEN: list[bool] = []


def _hide_own_environment() -> None:
    """Make testbot's own process non-dumpable: /proc/<testbot>/environ (which holds the tokens testbot was
    started with) is then unreadable to a test running as the same user, even without a PID or user
    namespace. Its children are not affected: exec makes a process dumpable again."""
    if _HIDDEN or not sys.platform.startswith("linux"):
        return
    _HIDDEN.append(True)
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE, 0
    except (OSError, AttributeError):
        pass


def run_sandboxed(
    args: Sequence[str],
    *,
    cwd: Path,
    scratch: Path,
    support: Path,
    writable: Sequence[Path] = (),
    limits: Limits = Limits(),
    extra_env: Mapping[str, str] | None = None,
    handoff: bytes = b"",
    guard: bool = True,
    hidden: Sequence[Path] = (),
    readable: Sequence[Path] = (),
    stand_in: Mapping[Path, Path] | None = None,
) -> SandboxRun:
    """Run ``args`` (a Python command) in the sandbox.

    ``scratch`` is this run's own folder (its HOME and TMPDIR live there; both are removed afterwards);
    it and ``writable`` are the only places the run may write, and the only places it may read besides
    ``support``, ``readable``, the interpreter's folders and the system's (:func:`readable_paths`);
    ``hidden`` (the user's project) is never readable; ``stand_in`` maps a hidden folder to the copy that stands
    in for it: entries of ``sys.path`` inside the folder (an editable install's ``.pth``) are pointed at the copy.
    ``support`` holds the guard (:func:`install_guard`).
    ``handoff`` is passed on a pipe named by ``TESTBOT_HANDOFF_FD``: a secret the test code cannot read
    from the environment once the plugin has taken it. Every run gets a hash seed of its own, as a user's
    plain ``pytest`` does; ``extra_env`` may set one (and the shifted conditions of :func:`shifted_env`).
    """
    _hide_own_environment()
    home, tmp = scratch / "home", scratch / "tmp"
    home.mkdir(parents=True, exist_ok=True)
    tmp.mkdir(exist_ok=True)
    report_r, report_w = os.pipe()
    fds = [report_w]
    handoff_r = -1
    if handoff:
        handoff_r, handoff_w = os.pipe()
        os.write(handoff_w, handoff)
        os.close(handoff_w)
        fds.append(handoff_r)
    wrapper = _wrapper()
    reads = None if _off("reads") else list(readable_paths(args[0], hidden, [support, *readable]))
    config = {
        "writable": [str(scratch), *map(str, writable)],
        "readable": reads,
        "fd": report_w,
        "guard": guard and not _off("guard"),
        "lock": not _off("landlock"),
        "caps": not _off("caps"),
        "hostname": f"{HOSTNAME}-{secrets.token_hex(3)}" if "--uts" in wrapper else "",
        "stand_in": [[os.path.realpath(a), os.path.realpath(b)] for a, b in (stand_in or {}).items()],
    }
    if reads is not None and "--mount" in wrapper and not _off("view") and (_off("landlock") or landlock_abi() < 1):
        # (the mount view: where Landlock cannot keep reads in, programs and ctypes included)
        hidden_too = []
        for path in map(os.path.realpath, hidden):  # the project, and the folder that holds it and its neighbours
            hidden_too += [path] + (
                [os.path.dirname(path)] if os.path.dirname(path) not in _TOO_WIDE + ("/usr", "/usr/local") else []
            )
        config["view"] = {"hide": [*VIEW_HIDDEN, *hidden_too], "keep": [*config["writable"], *reads]}
    env = scrubbed_env(os.environ, home, {"PYTHONHASHSEED": str(secrets.randbelow(2**32 - 1) + 1), **(extra_env or {})})
    path = [str(support)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and p != str(support)]
    env.update(PYTHONPATH=os.pathsep.join(path), TMPDIR=str(tmp), TESTBOT_SANDBOX=json.dumps(config))
    if handoff_r >= 0:
        env["TESTBOT_HANDOFF_FD"] = str(handoff_r)
    if "--pid" in wrapper:
        env["TESTBOT_PID_BASE"] = str(300 + secrets.randbelow(30000))
    base = _cgroup_base()
    cgroup = None
    if base is not None:
        try:
            cgroup = _Cgroup(base, limits.processes)
        except OSError:
            cgroup = None
    try:
        result = proc.run(
            [*wrapper, *args],
            cwd=cwd,
            env=env,
            timeout=limits.wall_seconds,
            max_output=limits.max_output,
            preexec=_preexec(limits, cgroup),
            pass_fds=fds,
        )
    finally:
        os.close(report_w)
        if handoff_r >= 0:
            os.close(handoff_r)
    if wrapper and 128 < result.returncode <= 128 + 64:  # the shell's way of saying "killed by signal N"
        result = dataclasses.replace(result, returncode=128 - result.returncode)
    hit, left = cgroup.finish() if cgroup is not None else (False, ())
    violations = _read_violations(report_r)
    os.close(report_r)
    shutil.rmtree(home, ignore_errors=True)
    shutil.rmtree(tmp, ignore_errors=True)
    return SandboxRun(result, violations, hit, left)


# -- the probe: which barriers hold here


_PROBE = r"""
import errno, json, os, resource, socket, sys
import testbot_guard
outside, parent, host_ns = sys.argv[1], int(sys.argv[2]), sys.argv[3]
r = {"pid": os.getpid(), "host_pid": int(os.readlink("/proc/self")), "euid": os.geteuid(), "landlock": testbot_guard.status.get("landlock", 0),
     "caps": testbot_guard.status.get("caps", ""), "hostname": os.uname()[1],
     "view": testbot_guard.status.get("view", "")}
try:
    r["own_pidns"] = os.readlink("/proc/self/ns/pid") != host_ns
except OSError:
    r["own_pidns"] = False
try:
    r["proc_parent"] = os.path.exists("/proc/%d" % parent) and parent != os.getpid()
except OSError:
    r["proc_parent"] = True
def read():
    with open(os.path.join(outside, "secret")) as f:
        f.read()
def attempt(name, action):
    try:
        action()
        r[name] = "allowed"
    except OSError as exc:
        r[name] = errno.errorcode.get(exc.errno, str(exc.errno))
def write():
    with open(os.path.join(outside, "written"), "w") as f:
        f.write("x")
attempt("write", write)
attempt("read", read)
attempt("list", lambda: os.listdir(outside))
def tcp():
    with socket.socket() as s:
        s.settimeout(2)
        s.connect(("127.0.0.1", 9))
attempt("tcp", tcp)
def udp():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(b"", ("127.0.0.1", 9))
attempt("udp", udp)
attempt("signal", lambda: os.kill(parent, 0))
try:
    with open("/proc/net/dev") as f:
        r["interfaces"] = [line.split(":")[0].strip() for line in f.readlines()[2:]]
except OSError:
    r["interfaces"] = None
try:
    with open("/proc/self/status") as f:
        r["cap_eff"] = [l.split()[1] for l in f if l.startswith("CapEff")][0]
    with open("/proc/self/cgroup") as f:
        r["cgroup"] = f.read()
except (OSError, IndexError):
    pass
r["nproc"] = resource.getrlimit(resource.RLIMIT_NPROC)[0]
print(json.dumps(r))
"""

_ISOLATION: dict[tuple[str, str], Isolation] = {}


def isolation(python: str) -> Isolation:
    """Measure which barriers hold for ``python`` on this machine (cached for the process)."""
    key = (python, _off_key())
    if key in _ISOLATION:
        return _ISOLATION[key]
    with tempfile.TemporaryDirectory(prefix="testbot-probe-") as tmp:
        folder = Path(tmp)
        support, scratch, outside = folder / "support", folder / "scratch", folder / "outside"
        install_guard(support)
        (support / "testbot_probe.py").write_text(_PROBE)
        scratch.mkdir()
        outside.mkdir()
        (outside / "secret").write_text("x")
        limits = Limits(wall_seconds=30, cpu_seconds=30)
        try:
            host_ns = os.readlink("/proc/self/ns/pid")
        except OSError:
            host_ns = ""
        run = run_sandboxed(
            [python, str(support / "testbot_probe.py"), str(outside), str(os.getpid()), host_ns],
            cwd=scratch,
            scratch=scratch,
            support=support,
            limits=limits,
            guard=False,
        )
        try:
            found = json.loads(run.proc.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            found = {}
        written = (outside / "written").exists()
    result = _judge(found, written, limits)
    _ISOLATION[key] = result
    return result


def _judge(r: dict, written: bool, limits: Limits) -> Isolation:
    landlock = int(r.get("landlock") or 0)
    netns = (
        r.get("interfaces") is not None and set(r.get("interfaces") or []) <= {"lo"} and r.get("udp") == "ENETUNREACH"
    )
    network = ["namespace"] if netns else []
    if r.get("tcp") == "EACCES":
        network.append("landlock (tcp)")
    filesystem = "landlock" if r.get("write") == "EACCES" and not written else "guard; checksums"
    pidns = r.get("pid") is not None and (r.get("pid") != r.get("host_pid") or bool(r.get("own_pidns")))
    signals = ["pid namespace"] if pidns and r.get("signal") == "ESRCH" else []
    if r.get("signal") == "EPERM" or (signals and landlock >= 6 and filesystem == "landlock"):
        signals.append("landlock")
    in_cgroup = bool(_cgroup_base()) and f"testbot-{os.getpid()}-" in r.get("cgroup", "")
    if in_cgroup:
        processes = f"pids cgroup ({limits.processes})"
    elif os.geteuid() != 0:
        processes = f"rlimit ({limits.processes})"
    else:
        processes = "none"
    daemons = "pid namespace" if pidns else "cgroup" if in_cgroup else "process group; guard"
    if os.geteuid() != 0:
        privileges = "user"
    elif r.get("cap_eff", "x").strip("0") == "" and r.get("caps") == "dropped":
        privileges = "root, capabilities dropped"
    else:
        privileges = "root"
    guard = [] if _off("guard") else ["guard"]
    confined = not _off("reads")
    reads = ["landlock"] if confined and r.get("read") == "EACCES" and r.get("list") == "EACCES" else []
    if (
        confined
        and r.get("view") == "mounted"
        and r.get("read") in ("ENOENT", "EACCES")
        and r.get("list") in ("ENOENT", "EACCES")
    ):
        reads.append("mount view")
    reads += guard if confined else []
    view = ["own /proc"] if pidns and r.get("proc_parent") is False else []
    view += (
        ["own host name"]
        if str(r.get("hostname")).startswith(HOSTNAME + "-") and os.uname()[1] != r["hostname"]
        else []
    )
    return Isolation(
        "; ".join(network + guard) or "none",
        filesystem if guard else filesystem.replace("guard; ", ""),
        "; ".join(signals + guard) or "none",
        processes,
        daemons if guard else daemons.replace("; guard", ""),
        privileges,
        "; ".join(reads) or "none",
        "; ".join(view) or "none",
    )
