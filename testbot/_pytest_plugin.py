"""A pytest plugin loaded into every sandboxed run: it writes what really happened to a JSON file.

testbot reads this file instead of pytest's text output. A run that ends before the session
finishes (``os._exit``, a crash, a timeout) leaves no file, and is not mistaken for a pass.
This file is copied next to the candidate and imported by pytest with ``-p``; it imports only
the standard library, and runs under the project's interpreter (Python 3.8+).

Where to write, and a nonce the file must carry, come through a pipe (``TESTBOT_HANDOFF_FD``) that is
read and closed before any test code runs: a test cannot forge the result by writing the file itself.
The plugin also notes what a test did to pytest (changed functions of pytest, pluggy or this plugin;
hooks registered while tests ran) and processes a test left running, and kills those.
"""

import io
import json
import os
import sys
import time
import types

import pytest

_open, _dumps, _replace = io.open, json.dumps, os.replace


def _handoff():
    fd = os.environ.pop("TESTBOT_HANDOFF_FD", None)
    if fd is None:
        return {}
    try:
        data = b""
        while True:
            chunk = os.read(int(fd), 65536)
            if not chunk:
                break
            data += chunk
        os.close(int(fd))
        return json.loads(data.decode("utf-8"))
    except (OSError, ValueError):
        return {}


_SETUP = _handoff()
_RESULTS = {"collect_errors": [], "tests": [], "finished": False, "exitstatus": None, "nonce": _SETUP.get("nonce", ""),
            "tampered": [], "leftovers": [], "interrupted": ""}
_STATE = {"before": {}, "hooks": None}
_WATCHED_HOOKS = ("pytest_runtest_protocol", "pytest_runtest_makereport", "pytest_runtest_logreport",
                  "pytest_runtest_call", "pytest_pyfunc_call", "pytest_report_teststatus", "pytest_sessionfinish",
                  "pytest_collectreport", "pytest_runtestloop", "pytest_runtest_setup", "pytest_runtest_teardown")


def _guard():
    return sys.modules.get("testbot_guard")


def _describe(report):
    text = ""
    try:
        text = report.longreprtext or ""
    except Exception:  # noqa: BLE001 - a broken report must not hide the outcome
        text = str(report.longrepr)
    return text[-4000:]


def _typename(call):
    excinfo = getattr(call, "excinfo", None)
    return excinfo.typename if excinfo is not None else ""


def _errno(call):
    excinfo = getattr(call, "excinfo", None)
    value = getattr(excinfo, "value", None) if excinfo is not None else None
    return getattr(value, "errno", None) if isinstance(value, OSError) else None


# -- what a test did to pytest


def _snapshot():
    """Every function and class (and the methods of its classes) in pytest, pluggy and testbot's own modules."""
    out = {}
    for name, module in list(sys.modules.items()):
        if module is None or not (name in ("pytest", "testbot_result_plugin", "testbot_guard")
                                  or name.startswith(("_pytest.", "pluggy"))):
            continue
        for attr, value in list(vars(module).items()):
            if isinstance(value, (types.FunctionType, type)):
                out[name + "." + attr] = value
                if isinstance(value, type) and getattr(value, "__module__", "") == name:
                    for sub, member in list(vars(value).items()):
                        if isinstance(member, (types.FunctionType, property, classmethod, staticmethod)):
                            out[name + "." + attr + "." + sub] = member
    return out


def _hooks(config):
    out = {}
    for hook in _WATCHED_HOOKS:
        caller = getattr(config.hook, hook, None)
        impls = caller.get_hookimpls() if caller is not None else []
        out[hook] = [impl.function for impl in impls]
    return out, sorted(name for name, _ in config.pluginmanager.list_name_plugin())


def pytest_configure(config):
    _STATE["before"] = _snapshot()


# -- results


def pytest_collection_finish(session):
    # Each test's name as coverage's ``dynamic_context = test_function`` spells it ("module.test", "module.Class.test"):
    # a suite run's per-line contexts then lead back to the tests' node ids.
    labels = {}
    for item in session.items[:50000]:
        obj = getattr(item, "obj", None)
        func = getattr(obj, "__func__", obj)
        module, qualname = getattr(func, "__module__", None), getattr(func, "__qualname__", None)
        if isinstance(module, str) and isinstance(qualname, str):
            labels[item.nodeid] = module + "." + qualname
    _RESULTS["labels"] = labels


def pytest_collectreport(report):
    if report.failed:
        _RESULTS["collect_errors"].append({"nodeid": report.nodeid, "text": _describe(report)})


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    if _STATE["hooks"] is None:  # after collection, before the first test: the hooks every test must keep
        _STATE["hooks"] = _hooks(item.config)
    guard = _guard()
    if guard is not None:
        guard.current_test = item.nodeid
    yield
    if guard is not None:
        guard.current_test = ""


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    report.testbot_exc = _typename(call)
    report.testbot_errno = _errno(call)


def pytest_runtest_logreport(report):
    if report.when == "call" or report.outcome != "passed":
        _RESULTS["tests"].append({
            "nodeid": report.nodeid,
            "when": report.when,
            "outcome": report.outcome,
            "text": _describe(report) if report.outcome != "passed" else "",
            "exc": getattr(report, "testbot_exc", ""),
            "errno": getattr(report, "testbot_errno", None),
        })


def pytest_keyboard_interrupt(excinfo):
    _RESULTS["interrupted"] = "%s: %s" % (excinfo.typename, str(excinfo.value)[:200])


def _descendants():
    """Processes started by this one (and orphans it adopted) that are still running: (pid to kill, line)."""
    try:
        me = int(os.readlink("/proc/self"))
    except (OSError, ValueError):
        return []
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with _open("/proc/%s/stat" % entry, "rb") as f:
                stat = f.read().decode("ascii", "replace")
        except OSError:
            continue
        fields = stat.rpartition(")")[2].split()
        if fields and fields[0] not in ("Z", "X"):
            children.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = [], list(children.get(me, []))
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    out = []
    for pid in found:
        target = pid
        try:
            with _open("/proc/%d/status" % pid) as f:
                for line in f:
                    if line.startswith("NSpid:"):
                        target = int(line.split()[-1])  # the pid as this (possibly namespaced) process names it
            with _open("/proc/%d/cmdline" % pid, "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()
        except (OSError, ValueError):
            continue
        out.append((target, "pid %d: %s" % (pid, cmd[:200])))
    return out


def _leftovers():
    left = _descendants()
    deadline = time.monotonic() + 0.5  # a child that is exiting right now gets a moment
    while left and time.monotonic() < deadline:
        time.sleep(0.05)
        left = _descendants()
    for pid, _ in left:
        try:
            os.kill(pid, 9)
        except OSError:
            pass
    return [line for _, line in left]


def _tampered(session):
    after = _snapshot()
    before = _STATE["before"]
    changed = [name for name, value in before.items() if after.get(name) is not value]
    if _STATE["hooks"] is not None:
        hooks, plugins = _hooks(session.config)
        old_hooks, old_plugins = _STATE["hooks"]
        changed += ["hook " + name for name in _WATCHED_HOOKS
                    if len(hooks[name]) != len(old_hooks[name]) or any(a is not b for a, b in zip(hooks[name], old_hooks[name]))]
        changed += ["plugin " + name for name in sorted(set(plugins) - set(old_plugins))]
    return changed[:10]


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session, exitstatus):
    _RESULTS["finished"] = True
    _RESULTS["exitstatus"] = int(exitstatus)
    _RESULTS["tampered"] = _tampered(session)
    try:
        _RESULTS["leftovers"] = _leftovers()
    except OSError:
        pass
    path = _SETUP.get("result_file")
    if path:
        tmp = path + ".tmp"
        with _open(tmp, "w", encoding="utf-8") as f:
            f.write(_dumps(_RESULTS))
        _replace(tmp, path)
