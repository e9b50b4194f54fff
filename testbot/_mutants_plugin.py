"""A pytest plugin for one sandboxed run: after the tests ran as usual, each mutant of the code under test is put
in place in this process and the tests named for it run again; which of them failed is what the run reports.

Loaded with ``-p testbot_mutants_plugin --testbot-mutants=SPEC`` next to testbot's result plugin, whose result file
carries the answer (``mutants``). The spec (JSON, written by :mod:`testbot.mutants`) names the module, its file
and, per mutant, the function it changes (qualified name and first line), the edit (character offsets in the file
and the new text), and the tests to try: first the project's own tests that run the mutated line (node ids, passed
to the run with the test files; only those that passed as they are count; a failing unittest subTest fails its
test), then the kept tests (the run stops at
the first that fails: the mutant is caught), then the spare ones (all of them run: which ones catch it is the
answer).

A mutant is put in place by compiling the edited file and giving the live function the edited function's code
object (``f.__code__``): every reference to the function, ``from m import f`` included, runs the mutant, and the
original comes back after it. A function whose closure would differ is left alone. A test that runs longer than the
spec's ``per_test`` seconds is stopped by a timer and counts as failing (a mutant that loops forever is caught).
Runs under the project's interpreter (Python 3.8+), standard library and pytest only.
"""

import json
import signal
import sys
import time

import pytest
import testbot_mutate as mutate  # (testbot/mutate.py, copied next to this plugin)

_PASSED = {}
_SECONDS = {}
# While a test runs with a mutant in place: [whether a report of it failed]. A unittest ``subTest`` that fails is
# logged as a report of its own (pytest's subtests), not among the reports its test's run returns.
_WATCH = []


def pytest_addoption(parser):
    parser.addoption("--testbot-mutants", default="", help="testbot: the mutants to run the tests against")


def pytest_runtest_logreport(report):
    if _WATCH:
        _WATCH[0] = _WATCH[0] or report.failed
        return
    ok = report.outcome == "passed"
    if report.when == "call":
        _PASSED[report.nodeid] = ok and _PASSED.get(report.nodeid, True)
        _SECONDS[report.nodeid] = report.duration
    elif not ok:
        _PASSED[report.nodeid] = False


class _TooLong(BaseException):
    """Raised by the timer inside a test that runs a mutant too long (not an Exception: code under test that
    catches every Exception does not swallow it)."""


def _on_timer(signum, frame):
    raise _TooLong("the test ran too long with the mutant in place")


def _failed(item, seconds=0.0):
    from _pytest.runner import runtestprotocol

    signal.setitimer(signal.ITIMER_REAL, max(seconds, _SPEC.get("per_test", 1.0)))
    _WATCH[:] = [False]
    try:
        reports = runtestprotocol(item, log=False, nextitem=None)
    except _TooLong:
        return True
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        sub = _WATCH[0]
        _WATCH.clear()
    return sub or any(r.failed for r in reports)


def _seconds(item):
    return _SECONDS.get(item.nodeid, 0.0)


def _suite_catches(items, deadline):
    """True when one of the project's tests fails with the mutant in place (each given 4x its own time), False
    when they all pass, None when the time ran out first."""
    for item in items:
        if time.monotonic() >= deadline:
            return None
        if _failed(item, 4 * _seconds(item) + 1):
            return True
    return False


_SPEC = {}


def _run(session, spec):
    module = sys.modules.get(spec["module"])
    if module is None:
        __import__(spec["module"])
        module = sys.modules[spec["module"]]
    with open(spec["file"], encoding="utf-8") as f:
        source = f.read()
    by_file = {}
    by_id = {}
    for item in session.items:
        if _PASSED.get(item.nodeid):
            by_file.setdefault(item.nodeid.split("::")[0].rsplit("/", 1)[-1], []).append(item)
            by_id[item.nodeid] = item
    deadline = time.monotonic() + spec.get("seconds", 10.0)
    old = signal.signal(signal.SIGALRM, _on_timer)
    out = {}
    try:
        for m in spec["mutants"]:
            if time.monotonic() >= deadline:
                break
            name = m["qualname"].rsplit(".", 1)[-1]
            new = mutate.mutated_code(source, spec["file"], m["start"], m["end"], m["text"], name, m["first"])
            live = mutate.live_functions(module, m["qualname"], m["first"])
            if new is None or len(live) != 1 or new.co_freevars != live[0].__code__.co_freevars:
                continue
            # the project's own tests of the line (which passed as they are) first, the quickest first
            suite = sorted((by_id[n] for n in m.get("suite") or () if n in by_id), key=_seconds)
            with mutate.in_place(live[0], new):
                by_suite = _suite_catches(suite, deadline)
                if by_suite is None:
                    continue  # (not known to be missed: a spare test kept for it might add nothing)
                caught = by_suite or any(_failed(i) for f in m["kept"] for i in by_file.get(f, []))
                spare = [] if caught else [f for f in m["spare"] if any(_failed(i) for i in by_file.get(f, []))]
            out[str(m["id"])] = {"caught": caught, "suite": by_suite, "spare": spare}
    finally:
        signal.signal(signal.SIGALRM, old)
    return out


@pytest.hookimpl(hookwrapper=True)
def pytest_runtestloop(session):
    yield
    path = session.config.getoption("--testbot-mutants")
    if not path:
        return
    with open(path, encoding="utf-8") as f:
        _SPEC.update(json.load(f))
    results = sys.modules.get("testbot_result_plugin")
    answer = {"ran": {}, "error": ""}
    try:
        answer["ran"] = _run(session, _SPEC)
    except Exception as exc:  # noqa: BLE001 - the answer says what went wrong; the tests' outcomes stand
        answer["error"] = f"{type(exc).__name__}: {str(exc)[:200]}"
    if results is not None:
        results._RESULTS["mutants"] = answer
