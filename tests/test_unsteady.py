"""Kept tests pass however the user runs them: another hash seed, a clock years ahead, another time zone.

A corpus of functions whose values change from run to run, from machine to machine or from day to day (hash
and id values, process ids, the host name, the clock and dates relative to today, random numbers without a
seed, set order, the time zone, the environment, locale names). Each gets a candidate ``assert f() == None``:
the oracle observes the value and would pin it. testbot runs with its defaults (a hash seed of its own per
run, the first re-run under shifted conditions); then the tests it wrote run the way users run them: plain
``pytest`` under random hash seeds, with the clock moved two years and a month ahead (libfaketime, as a
user's later CI run), under a time zone west of UTC, as another user. Every run must pass.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from conftest import fenced, make_project, run_cli
from testbot import sandbox

MODULE = '''\
"""Values that are not the same in every run."""

import datetime
import locale
import os
import random
import socket
import time
import uuid


def hash_of(text):
    return hash(text)


def ident(value):
    return id(value)


def pid():
    return os.getpid()


def host():
    return socket.gethostname()


def year():
    return datetime.datetime.now().year


def stamp():
    return time.time()


def today():
    return datetime.date.today().isoformat()


def ago(day):
    years = (datetime.date.today() - day).days // 365
    return f"{years} years ago"


def age_in_days(day):
    return (datetime.date.today() - day).days


def zone():
    return time.strftime("%Z")


def offset():
    return datetime.datetime.now().astimezone().utcoffset().total_seconds()


def roll():
    return random.randrange(10**9)


def token():
    return uuid.uuid4().hex


def set_order(items):
    return list(set(items))


def set_repr(items):
    return repr(set(items))


def who():
    return os.environ.get("USER", "nobody")


def home():
    return os.path.expanduser("~")


def month():
    locale.setlocale(locale.LC_TIME, "")
    return datetime.date(2020, 3, 1).strftime("%B")


def steady(n):
    if n > 10:
        return "big"
    return "small"
'''

CALLS = {
    "hash_of": "hash_of('abc')",
    "ident": "ident([1, 2])",
    "pid": "pid()",
    "host": "host()",
    "year": "year()",
    "stamp": "stamp()",
    "today": "today()",
    "ago": "ago(datetime.date(2020, 1, 31))",
    "age_in_days": "age_in_days(datetime.date(2020, 1, 31))",
    "zone": "zone()",
    "offset": "offset()",
    "roll": "roll()",
    "token": "token()",
    "set_order": "set_order(['alpha', 'beta', 'gamma', 'delta', 'epsilon', 'zeta', 'eta', 'theta'])",
    "set_repr": "set_repr(['alpha', 'beta', 'gamma', 'delta', 'epsilon', 'zeta', 'eta', 'theta'])",
    "who": "who()",
    "home": "home()",
    "month": "month()",
    "steady": "steady(11)",
}

CANDIDATE = """
import datetime
from pkg.nd import {name}


def test_{name}():
    assert {call} == None
"""


def _user_runs(root) -> dict[str, dict[str, str]]:
    """The conditions a user's plain ``pytest`` may run under."""
    base = {k: v for k, v in os.environ.items() if k not in ("PYTHONHASHSEED", "TZ", "TESTBOT_SANDBOX_OFF")}
    base["PYTHONDONTWRITEBYTECODE"] = "1"
    runs = {f"hash seed {i}": {**base, "PYTHONHASHSEED": "random"} for i in range(3)}
    runs["west of UTC"] = {**base, "TZ": "XWT+5:30"}
    runs["another user"] = {**base, "USER": "someone", "HOME": str(root.parent)}
    runs["another locale"] = {**base, "LC_ALL": sandbox.shifted_env()["LC_ALL"]}
    ahead = sandbox.clock_ahead(790)
    if ahead:
        runs["clock 790 days ahead"] = {**base, **ahead}
        runs["all at once"] = {**base, **ahead, "TZ": "XWT+5:30", "USER": "someone", "PYTHONHASHSEED": "random"}
    return runs


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    project = make_project(tmp_path_factory.mktemp("unsteady") / "proj", git=False)
    project.write("pkg/nd.py", MODULE)
    project.git_init()
    # (each function's own candidate, by its name)
    model = project.fake_model({name: [fenced(CANDIDATE.format(name=name, call=call))] for name, call in CALLS.items()})
    run = run_cli(
        [
            "generate",
            "pkg/nd.py",
            "--model",
            model,
            "--json",
            "--samples",
            "1",
            "--repair-rounds",
            "0",
            "--timeout",
            "30",
        ],
        project.root,
    )
    assert run.code == 1, run.err
    return project, run.json()


def test_the_corpus_kept_tests(written):
    """The run kept the steady function's test; a varying function's test left checking nothing but a type is
    not kept (a reviewer sends it back), and no kept test is about types alone."""
    from testbot import shape

    project, report = written
    text = project.read("tests/test_nd.py")
    assert "steady(11) == 'big'" in text
    names = [n for f in report["files"] for n in f["tests"]]
    assert names and all(shape.TYPE_NAME_ONLY not in shape.problems(s) for s in shape.tests_in(text, names))


@pytest.mark.parametrize(
    "condition",
    [
        "hash seed 0",
        "hash seed 1",
        "hash seed 2",
        "west of UTC",
        "another user",
        "another locale",
        "clock 790 days ahead",
        "all at once",
    ],
)
def test_kept_tests_pass_however_the_user_runs_them(written, condition):
    project, _ = written
    runs = _user_runs(project.root)
    if condition not in runs:
        pytest.skip("libfaketime is not available for this machine: the clock cannot be moved")
    res = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly", "tests/test_nd.py"],
        cwd=project.root,
        env=runs[condition],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stdout[-3000:]


def test_no_kept_check_pins_a_value_that_varies(written):
    """What is kept of the varying functions checks a type (or was dropped), never a value one run saw."""
    project, _ = written
    text = project.read("tests/test_nd.py")
    # (a locale's month names differ only where a locale other than C is installed: scripts/test.sh makes one)
    locale_varies = sandbox.shifted_env()["LC_ALL"] != "C"
    for name in CALLS:
        if name == "steady" or (name == "month" and not locale_varies):
            continue
        for line in text.splitlines():
            if f"{CALLS[name]} ==" in line:
                pytest.fail(f"a value of {name} was pinned: {line.strip()}")


def test_the_oracle_never_records_a_hash_or_an_id():
    from testbot import oracle

    import ast

    for expr in (
        "hash(v)",
        "v.__hash__()",
        "id(v)",
        "datetime.datetime.now().year",
        "time.time()",
        "uuid.uuid4().hex",
        "random.random()",
        "socket.gethostname()",
    ):
        assert oracle.varies(ast.parse(expr, mode="eval").body), expr
    for expr in ("f(1)", "v.bump()", "len(v)", "str(v)"):
        assert not oracle.varies(ast.parse(expr, mode="eval").body), expr
