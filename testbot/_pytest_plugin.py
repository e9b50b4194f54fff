"""A pytest plugin loaded into every sandboxed run: it writes what really happened to a JSON file.

testbot reads this file instead of pytest's text output. A run that ends before the session
finishes (``os._exit``, a crash, a timeout) leaves no file, and is not mistaken for a pass.
This file is copied next to the candidate and imported by pytest with ``-p``; it imports only
the standard library.
"""

import json
import os

import pytest

_RESULTS = {"collect_errors": [], "tests": [], "finished": False, "exitstatus": None}


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


def pytest_collectreport(report):
    if report.failed:
        _RESULTS["collect_errors"].append({"nodeid": report.nodeid, "text": _describe(report)})


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    outcome.get_result().testbot_exc = _typename(call)


def pytest_runtest_logreport(report):
    if report.when == "call" or report.outcome != "passed":
        _RESULTS["tests"].append({
            "nodeid": report.nodeid,
            "when": report.when,
            "outcome": report.outcome,
            "text": _describe(report) if report.outcome != "passed" else "",
            "exc": getattr(report, "testbot_exc", ""),
        })


def pytest_sessionfinish(session, exitstatus):
    _RESULTS["finished"] = True
    _RESULTS["exitstatus"] = int(exitstatus)
    path = os.environ.get("TESTBOT_RESULT_FILE")
    if path:
        tmp = path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(_RESULTS, f)
        os.replace(tmp, path)
