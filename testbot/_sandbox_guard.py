"""Locks down every Python process of a sandboxed run, before any test code runs.

testbot copies this file into the run's support folder as ``testbot_guard.py`` next to a
``sitecustomize.py`` that imports it, so Python runs it at start-up (the support folder comes first
on PYTHONPATH). It runs under the project's interpreter: standard library only, Python 3.8+.

1. Landlock (Linux 5.13+, no root needed): files may be created, changed or removed only beneath the
   run's writable folders, and read only there, beneath the readable folders (the interpreter and its
   packages, testbot's support files) and in the system files a Python process needs; TCP connect and
   bind are refused (Landlock ABI 4+); signals and abstract Unix sockets cannot reach processes outside
   the sandbox (ABI 6+).
2. Running as root: every capability is dropped (no module loading, reboot, raw devices, ...), and
   ``no_new_privs`` stops set-uid programs from getting them back.
3. An audit hook (PEP 578) refuses network access, reads and writes outside the sandbox and signals to
   outside processes, and tells testbot about each refusal through a pipe, so that a rejected test carries
   its precise reason. It is the only network barrier where the kernel offers none. Code that goes
   around Python (ctypes, other programs) meets only the kernel layers above.

Configuration comes from ``TESTBOT_SANDBOX`` (JSON): ``writable`` folders, ``readable`` folders and
files (``null`` or absent: reads are not confined), ``fd`` of the report pipe, ``guard``/``lock``/``caps``
switches and the ``hostname`` to take in a UTS namespace of the run's own.
"""

import errno
import json
import os
import sys

_CONFIG = {}
_ROOTS = ()  # writable folders, real paths
_READ = None  # readable folders and files, real paths (None: reads are not confined)
_READ_SEEN = {}  # folder -> whether files directly in it may be read (the guard's cache)
_DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty", "/dev/stdout",
            "/dev/stderr")
_FD = -1
_SENT = [0]
_BUSY = [False]
_HOST_PID = [0]
current_test = ""  # set by testbot's pytest plugin: the test that is running, for the report
status = {}  # what this process got: {"landlock": abi, "caps": "dropped" | "none" | "kept", ...}

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | getattr(os, "O_APPEND", 0)


# -- reporting


def _report(kind, detail):
    if _FD < 0 or _SENT[0] >= 20:
        return
    _SENT[0] += 1
    line = json.dumps({"kind": kind, "detail": detail[:600], "test": current_test, "pid": os.getpid()})
    try:
        os.write(_FD, (line + "\n").encode("utf-8", "replace")[:3800])
    except OSError:
        pass


def _refuse(kind, detail):
    _report(kind, detail)
    raise PermissionError(errno.EACCES, "testbot sandbox: " + detail + " is not allowed")


# -- the audit hook


def _path(value):
    if isinstance(value, int) or value is None:
        return None
    try:
        return os.fsdecode(os.fspath(value))
    except TypeError:
        return None


def _inside(path):
    real = os.path.realpath(path)
    if real in _DEVICES or path in _DEVICES or real.startswith(("/proc/self/fd/", "/dev/fd/", "/dev/pts/")):
        return True
    for root in _ROOTS:
        if real == root or real.startswith(root + os.sep):
            return True
    return False


def _check_write(what, value):
    path = _path(value)
    if path is not None and not _inside(path):
        _refuse("wrote_outside", what + " " + repr(os.path.abspath(path)))


def _readable(real):
    if real in _DEVICES or real.startswith(("/proc/self/", "/dev/fd/", "/dev/pts/")):
        return True
    for root in _ROOTS + _READ:
        if real == root or real.startswith(root + os.sep):
            return True
    return False


def _check_read(what, value):
    """Refuse a read outside the readable places (the guard's twin of Landlock's read rules, and the only
    read barrier where the kernel has none). Decisions are cached per folder; a symbolic link is followed."""
    if _READ is None:
        return
    path = _path(value)
    if path is None:
        return
    path = os.path.abspath(path)
    folder = os.path.dirname(path)
    try:  # (a path that cannot even be resolved here, /proc/1/root/..., is refused as what it is)
        if not os.path.islink(path):
            ok = _READ_SEEN.get(folder)
            if ok is None:
                ok = _READ_SEEN[folder] = _readable(os.path.realpath(folder))
            if ok or _readable(os.path.realpath(path)):
                return
        elif _readable(os.path.realpath(path)):
            return
    except OSError:
        pass
    _refuse("read_outside", what + " " + repr(path))


def _on_open(args):
    path, mode, flags = (tuple(args) + (None, None, None))[:3]
    writes = (isinstance(flags, int) and flags & _WRITE_FLAGS) or (
        isinstance(mode, str) and any(c in mode for c in "wax+"))
    if writes:
        _check_write("open for writing", path)
    else:
        _check_read("reading", path)


def _on_link(args):
    """A hard link to a file outside would make it readable from inside: its source must be readable."""
    _check_read("linking", args[0] if args else None)
    _check_write("linking", args[1] if len(args) > 1 else None)


_PROGRAM_SEEN = [None]


def _paths_in(value, depth=0):
    """The absolute paths named in a program's command line (``cat /x``, ``sh -c 'cat /x'``, ``-c "open('/x')"``)."""
    import re

    if depth > 3 or value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [p for item in value for p in _paths_in(item, depth + 1)]
    text = _path(value)
    if text is None:
        return []
    return [m for m in re.findall(r"(?<![\w.])/[^\s'\"`;|&<>()$]+", text) if os.path.lexists(m)]


def _on_program(what, args_at=None):
    """Noted once per test, so that testbot knows the test ran code the audit hook cannot see (another program,
    ctypes) and trusts what it printed only where the kernel confines reads; a program named with a file or
    folder outside the readable places is refused as a read of it (``cat /elsewhere/token``)."""
    def note(args):
        if args_at is not None and _READ is not None:
            for path in _paths_in(args[args_at] if len(args) > args_at else None):
                _check_read("starting a program on", path)
        if _PROGRAM_SEEN[0] != current_test:
            _PROGRAM_SEEN[0] = current_test
            _report("program", what)
    return note


def _on_list(args):
    _check_read("listing", args[0] if args and args[0] is not None else ".")


def _first(what):
    return lambda args: _check_write(what, args[0] if args else None)


def _second(what):
    return lambda args: _check_write(what, args[1] if len(args) > 1 else None)


def _both(what):
    def check(args):
        _check_write(what, args[0] if args else None)
        _check_write(what, args[1] if len(args) > 1 else None)
    return check


def _on_socket(args):
    import socket

    sock, address = args[0], args[1] if len(args) > 1 else None
    family = getattr(sock, "family", None)
    if family == getattr(socket, "AF_UNIX", None):
        path = _path(address)
        if path is None or path.startswith("\0") or path == "":
            return  # abstract sockets: private to the network namespace, scoped by Landlock
        if not _inside(path):
            _refuse("network", "a Unix socket outside the sandbox (" + path + ")")
        return
    if isinstance(address, tuple) and address:
        where = str(address[0]) + ":" + str(address[1]) if len(address) > 1 else str(address[0])
    else:
        where = repr(address)
    _refuse("network", "network access (" + where + ")")


def _on_bind(args):
    import socket

    if getattr(args[0], "family", None) == getattr(socket, "AF_UNIX", None):
        path = _path(args[1] if len(args) > 1 else None)
        if path and not path.startswith("\0") and not _inside(path):
            _refuse("wrote_outside", "a Unix socket at " + repr(path))
        return
    _on_socket(args)


def _numeric(host):
    if host is None:
        return True
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    host = str(host)
    if host in ("localhost", "", "localhost.localdomain"):
        return True
    import ipaddress

    try:
        ipaddress.ip_address(host.split("%")[0])
        return True
    except ValueError:
        return False


def _on_resolve(args):
    host = args[0] if args else None
    if not _numeric(host):
        _refuse("network", "a name lookup (" + str(host)[:100] + ")")


def _descendant(pid):
    """Is ``pid`` this process or one it started (as the kernel of this PID namespace sees them)?"""
    if pid == os.getpid():
        return True
    if _HOST_PID[0] != os.getpid():  # in a PID namespace: every process that exists in it is the sandbox's
        try:
            os.kill(pid, 0)
            return True
        except OSError as exc:
            return exc.errno == errno.EPERM
    seen = 0
    while pid > 1 and seen < 64:
        try:
            with open("/proc/%d/stat" % pid, "rb") as f:
                stat = f.read().decode("ascii", "replace")
        except OSError:
            return False
        pid = int(stat.rpartition(")")[2].split()[1])
        if pid == os.getpid():
            return True
        seen += 1
    return False


def _own_group_is_ours():
    try:
        return os.getpgid(0) == os.getpid()
    except OSError:
        return False


def _signal(target, sig, group):
    if sig == 0:
        return  # only asks whether a process exists
    if group:
        ok = (target in (0, os.getpgid(0)) and _own_group_is_ours()) or (target > 1 and target != os.getpgid(0)
                                                                        and _descendant(target))
    elif target == -1:
        ok = False
    elif target == 0:
        ok = _own_group_is_ours()
    elif target < 0:
        ok = (-target == os.getpgid(0) and _own_group_is_ours()) or _descendant(-target)
    else:
        ok = _descendant(target)
    if not ok:
        who = "its parent, testbot" if target == os.getppid() and target > 1 else "a process outside the sandbox"
        if target <= 0 or group:
            who = "a process group outside the sandbox"
        _refuse("signal_outside", "sending signal %d to %s (pid %d)" % (sig, who, target))


_PROTECTED = []


def _on_setattr(args):
    if args and any(args[0] is p for p in _PROTECTED):
        _refuse("tampered_pytest", "changing testbot's guard")


_EVENTS = {
    "open": _on_open,
    "os.listdir": _on_list,
    "os.scandir": _on_list,
    "os.remove": _first("removing"),
    "os.rmdir": _first("removing"),
    "shutil.rmtree": _first("removing"),
    "os.mkdir": _first("creating a folder at"),
    "os.chmod": _first("changing the mode of"),
    "os.chown": _first("changing the owner of"),
    "os.truncate": _first("truncating"),
    "os.utime": _first("changing the times of"),
    "os.setxattr": _first("setting attributes of"),
    "os.removexattr": _first("removing attributes of"),
    "os.chflags": _first("changing the flags of"),
    "os.lchflags": _first("changing the flags of"),
    "os.lchmod": _first("changing the mode of"),
    "os.rename": _both("renaming"),
    "os.link": _on_link,
    "subprocess.Popen": _on_program("started a program", 1),
    "os.system": _on_program("started a program", 0),
    "os.exec": _on_program("started a program", 1),
    "os.posix_spawn": _on_program("started a program", 1),
    "os.spawn": _on_program("started a program", 2),
    "ctypes.dlopen": _on_program("loaded a library with ctypes"),
    "ctypes.dlsym": _on_program("used ctypes"),
    "ctypes.call_function": _on_program("used ctypes"),
    "os.symlink": _second("linking"),
    "shutil.copyfile": _second("copying to"),
    "shutil.copymode": _second("copying to"),
    "shutil.copystat": _second("copying to"),
    "shutil.copytree": _second("copying to"),
    "shutil.move": _both("moving"),
    "socket.connect": _on_socket,
    "socket.sendto": _on_socket,
    "socket.sendmsg": _on_socket,
    "socket.bind": _on_bind,
    "socket.getaddrinfo": _on_resolve,
    "socket.gethostbyname": _on_resolve,
    "socket.gethostbyname_ex": _on_resolve,
    "socket.gethostbyaddr": _on_resolve,
    "os.kill": lambda args: _signal(args[0], args[1], False),
    "os.killpg": lambda args: _signal(args[0], args[1], True),
    "object.__setattr__": _on_setattr,
    "object.__delattr__": _on_setattr,
}


def _hook(event, args):
    handler = _EVENTS.get(event)
    if handler is None or _BUSY[0]:
        return
    _BUSY[0] = True
    try:
        handler(args)
    finally:
        _BUSY[0] = False


# -- kernel layers (Linux)


_LIBC = []


def _libc():
    if not _LIBC:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.syscall.restype = ctypes.c_long
        _LIBC.append((ctypes, libc))
    return _LIBC[0]


# Landlock: https://docs.kernel.org/userspace-api/landlock.html
_LL_CREATE, _LL_ADD_RULE, _LL_RESTRICT = 444, 445, 446  # same numbers on x86_64 and arm64
_FS_WRITE_FILE, _FS_READ_FILE, _FS_READ_DIR = 1 << 1, 1 << 2, 1 << 3
_FS_WRITE_V1 = _FS_WRITE_FILE | sum(1 << b for b in range(4, 13))  # remove, make dir/reg/sock/fifo/char/block/sym
_FS_REFER, _FS_TRUNCATE = 1 << 13, 1 << 14
_NET_BIND_TCP, _NET_CONNECT_TCP = 1 << 0, 1 << 1
_SCOPE_ABSTRACT_UNIX, _SCOPE_SIGNAL = 1 << 0, 1 << 1


def _landlock(writable, readable):
    """Confine this process and its children: writes beneath ``writable``; reads there and beneath
    ``readable`` (None: reads are not confined). Returns the Landlock ABI."""
    import struct

    ctypes, libc = _libc()

    def call(*args):
        result = libc.syscall(*args)
        if result < 0:
            raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
        return result

    abi = call(_LL_CREATE, None, 0, 1)  # LANDLOCK_CREATE_RULESET_VERSION
    fs = _FS_WRITE_V1 | (_FS_REFER if abi >= 2 else 0) | (_FS_TRUNCATE if abi >= 3 else 0)
    read = (_FS_READ_FILE | _FS_READ_DIR) if readable is not None else 0
    handled = fs | read
    if abi >= 6:
        attr = struct.pack("QQQ", handled, _NET_BIND_TCP | _NET_CONNECT_TCP, _SCOPE_ABSTRACT_UNIX | _SCOPE_SIGNAL)
    elif abi >= 4:
        attr = struct.pack("QQ", handled, _NET_BIND_TCP | _NET_CONNECT_TCP)
    else:
        attr = struct.pack("Q", handled)
    buf = ctypes.create_string_buffer(attr, len(attr))
    ruleset = call(_LL_CREATE, buf, len(attr), 0)
    try:
        file_rights = _FS_WRITE_FILE | (_FS_TRUNCATE if abi >= 3 else 0) | (_FS_READ_FILE if read else 0)
        rules = [(p, fs | read, file_rights) for p in list(writable) + ["/dev/shm"] + list(_DEVICES[:5])]
        rules += [(p, read, _FS_READ_FILE) for p in (readable or ())]
        for path, dir_rights, plain_rights in rules:
            try:
                fd = os.open(path, getattr(os, "O_PATH", 0) | os.O_CLOEXEC)
            except OSError:
                continue
            try:
                rights = dir_rights if os.path.isdir(path) else plain_rights
                rule = ctypes.create_string_buffer(struct.pack("=Qi", rights, fd), 12)
                call(_LL_ADD_RULE, ruleset, 1, rule, 0)  # LANDLOCK_RULE_PATH_BENEATH
            finally:
                os.close(fd)
        libc.prctl(38, 1, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS: required by Landlock, and set-uid programs stay powerless
        call(_LL_RESTRICT, ruleset, 0)
    finally:
        os.close(ruleset)
    return abi


def _drop_capabilities():
    """As root: empty the capability bounding set and every capability set."""
    import struct

    ctypes, libc = _libc()
    with open("/proc/sys/kernel/cap_last_cap") as f:
        last = int(f.read())
    for cap in range(last + 1):
        libc.prctl(24, cap, 0, 0, 0)  # PR_CAPBSET_DROP
    libc.prctl(47, 4, 0, 0, 0)  # PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL
    header = ctypes.create_string_buffer(struct.pack("Ii", 0x20080522, 0), 8)  # _LINUX_CAPABILITY_VERSION_3
    data = ctypes.create_string_buffer(24)
    if libc.capset(header, data) != 0:
        raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
    libc.prctl(38, 1, 0, 0, 0)


def _subreaper():
    """Orphans of the test (double-forked daemons) stay our descendants, so the plugin can find them."""
    _, libc = _libc()
    libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER


def _mount_view(hide, keep):
    """In a mount namespace of the run's own (the caller says so): an empty folder over each of ``hide`` (homes,
    temporary files, the project's folder and its neighbours), with the places of ``keep`` that lie beneath them
    (the run's own folders, the interpreter) bound back. The fallback where Landlock cannot confine reads: what
    is hidden cannot be read by any program, Python or not. Needs the namespace's CAP_SYS_ADMIN, so it runs
    before the capabilities go. Returns "mounted"."""
    import ctypes

    _, libc = _libc()
    libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
    ms_bind, ms_rec, ms_private = 4096, 16384, 1 << 18

    def mount(source, target, kind, flags, data):
        if libc.mount(source and os.fsencode(source), os.fsencode(target), kind and kind.encode(), flags,
                      data and data.encode()) != 0:
            raise OSError(ctypes.get_errno(), "mount %s: %s" % (target, os.strerror(ctypes.get_errno())))

    mount(None, "/", None, ms_rec | ms_private, None)  # nothing of this leaks back to the machine's mounts
    hide = sorted({os.path.realpath(h) for h in hide if os.path.isdir(h)}, key=len)
    hide = [h for i, h in enumerate(hide) if not any(h.startswith(o.rstrip("/") + "/") for o in hide[:i])]
    under = lambda p: any(p.startswith(h.rstrip("/") + "/") for h in hide)  # noqa: E731
    keep = sorted({os.path.realpath(k) for k in keep if os.path.exists(k)}, key=len)
    keep = [k for k in keep if under(k)]
    keep = [k for i, k in enumerate(keep) if not any(k.startswith(o.rstrip("/") + "/") for o in keep[:i])]
    held = [(k, os.open(k, getattr(os, "O_PATH", 0) | os.O_CLOEXEC), os.path.isdir(k)) for k in keep]
    try:
        for folder in hide:
            mount("testbot-view", folder, "tmpfs", 0, "mode=755,size=4m")
        for path, fd, is_dir in held:
            if is_dir:
                os.makedirs(path, exist_ok=True)
            else:
                os.makedirs(os.path.dirname(path), exist_ok=True)
                open(path, "a").close()
            mount("/proc/self/fd/%d" % fd, path, None, ms_bind | ms_rec, None)
    finally:
        for _, fd, _ in held:
            os.close(fd)
    return "mounted"


def _set_hostname(name):
    """In a UTS namespace of the run's own (never the host's: the caller says so): the test sees ``name``,
    not the machine's host name."""
    _, libc = _libc()
    data = name.encode()
    if libc.sethostname(data, len(data)) != 0:
        raise OSError("sethostname failed")


def _stand_in(pairs):
    """Point ``sys.path`` entries inside a hidden folder (an editable install's ``.pth`` line naming the user's
    project) at the copy that stands in for it, where the copy has that folder: the run never reads the
    project, and imports what it would have imported from the copy."""
    for real, copy in pairs:
        for i, entry in enumerate(list(sys.path)):
            path = os.path.realpath(entry) if entry else ""
            if path == real or path.startswith(real + os.sep):
                moved = copy + path[len(real):]
                if os.path.isdir(moved):
                    sys.path[i] = moved
                    sys.path_importer_cache.pop(entry, None)


def install():
    global _CONFIG, _ROOTS, _READ, _FD
    try:
        _CONFIG = json.loads(os.environ.get("TESTBOT_SANDBOX", "{}"))
    except ValueError:
        _CONFIG = {}
    if not _CONFIG:
        return
    _ROOTS = tuple(os.path.realpath(p) for p in _CONFIG.get("writable", ()))
    if _CONFIG.get("readable") is not None:
        _READ = tuple(os.path.realpath(p) for p in _CONFIG["readable"])
    _FD = int(_CONFIG.get("fd", -1))
    _stand_in(_CONFIG.get("stand_in", ()))
    try:
        _HOST_PID[0] = int(os.readlink("/proc/self"))
    except (OSError, ValueError):
        _HOST_PID[0] = os.getpid()
    if sys.platform.startswith("linux"):
        if "TESTBOT_SANDBOX_LOCKED" not in os.environ:
            # The host name, the mount view, Landlock and dropped capabilities are inherited (or shared by the
            # run's namespaces): the test's own Python children skip this.
            if _CONFIG.get("hostname"):
                try:
                    _set_hostname(_CONFIG["hostname"])
                    status["hostname"] = _CONFIG["hostname"]
                except Exception:  # noqa: BLE001 - not in a UTS namespace of its own: nothing changed
                    pass
            if _CONFIG.get("view"):
                try:
                    status["view"] = _mount_view(_CONFIG["view"].get("hide", ()), _CONFIG["view"].get("keep", ()))
                except Exception as exc:  # noqa: BLE001 - no mount view: Landlock, the guard still stand
                    status["view"] = "failed: " + str(exc)
            if _CONFIG.get("lock", True):
                try:
                    status["landlock"] = _landlock(_ROOTS, _READ)
                except Exception as exc:  # noqa: BLE001 - no Landlock here: the other layers still stand
                    status["landlock"] = 0
                    status["landlock_error"] = str(exc)
                if os.geteuid() == 0 and _CONFIG.get("caps", True):
                    try:
                        _drop_capabilities()
                        status["caps"] = "dropped"
                    except Exception as exc:  # noqa: BLE001
                        status["caps"] = "kept: " + str(exc)
            os.environ["TESTBOT_SANDBOX_LOCKED"] = str(os.getpid())
        try:
            _subreaper()
        except Exception:  # noqa: BLE001
            pass
    if _CONFIG.get("guard", True) and hasattr(sys, "addaudithook"):
        _PROTECTED.extend([_hook, _refuse, _report, _inside, _signal, _on_socket, _on_open, _check_write,
                           _check_read, _readable, _on_list, _on_link, _paths_in])
        sys.addaudithook(_hook)
        status["guard"] = True
