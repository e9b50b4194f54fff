"""The prompt: what the model is told about a target, within a token budget."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from conftest import make_project
from testbot.context import build_context
from testbot.prompt import Feedback, build_prompt, call_signature, constructor_stub, estimate_tokens, short_docstrings
from testbot.targets import find_targets

EXTRA = '''\
import json

from pkg.m import classify

DEFAULT_UNIT = "m"


class Meter:
    """Lengths in metres."""

    def __init__(self, value):
        self.value = value

    def to(self, unit=DEFAULT_UNIT):
        return self.value * {"m": 1, "cm": 100}[unit]

    def describe(self):
        return f"{self.to()} m, {classify(self.value)}"


async def fetch(path):
    return json.loads(path)
'''


@pytest.fixture
def project(tmp_path: Path):
    p = make_project(tmp_path / "proj", git=False)
    p.write("pkg/units.py", EXTRA)
    return p


def prompt_for(project, spec: str, **kwargs):
    (target,) = find_targets([str(project.root / spec)], project.root)
    return build_prompt(build_context(target, project.root), **kwargs)


def test_prompt_shows_the_code_and_how_to_import_it(project):
    p = prompt_for(project, "pkg/m.py::classify")
    assert p.key == "pkg/m.py::classify" and p.round == 0
    assert "the function `classify` from module `pkg.m`" in p.user
    assert 'if n == 0:\n        return "zero"' in p.user
    assert "from pkg.m import classify" in p.user
    assert "Never copy, paste or redefine `classify`" in p.user
    assert "def clamp" not in p.user  # other functions of the module are not the subject
    assert p.prefill == "```python\nimport pytest\n\nfrom pkg.m import classify\n\n\ndef test_"  # opens the first test
    assert p.tokens > estimate_tokens(p.user)


def test_method_prompt_outlines_its_class_and_what_it_uses(project):
    p = prompt_for(project, "pkg/units.py::Meter.describe")
    assert "the method `Meter.describe`" in p.user
    assert "from pkg.units import Meter" in p.user
    assert "def __init__(self, value):" in p.user  # how to build an instance
    assert "def to(self, unit=DEFAULT_UNIT)" in p.user  # a member it calls
    assert "def classify(n)" in p.user  # an imported function it calls, from the project


def test_coroutine_prompt_says_how_to_run_it(project):
    p = prompt_for(project, "pkg/units.py::fetch")
    assert "asyncio.run" in p.user


def test_existing_tests_are_shown_as_examples(project):
    project.write(
        "tests/test_m.py",
        "from pkg.m import classify\n\n\ndef test_negative_by_hand():\n    assert classify(-2) == 'negative'\n",
    )
    p = prompt_for(project, "pkg/m.py::classify")
    assert "tests/test_m.py" in p.user and "test_negative_by_hand" in p.user


def test_small_budget_drops_optional_sections_but_keeps_the_essentials(project):
    many = "\n\n".join(
        f"def test_case_{i}():\n    assert classify({i}) == 'positive'  # {'x' * 60}" for i in range(1, 60)
    )
    project.write("tests/test_units.py", "from pkg.m import classify\n\n\n" + many + "\n")
    big = prompt_for(project, "pkg/units.py::Meter.describe", budget=100_000)
    small = prompt_for(project, "pkg/units.py::Meter.describe", budget=600)
    assert big.dropped == ()
    assert "test_case_59" in big.user
    assert small.dropped  # something had to go
    assert small.tokens < big.tokens
    assert "test_case_59" not in small.user
    for essential in ("def describe(self):", "from pkg.units import Meter", "## Rules"):
        assert essential in small.user


EXAMPLES = "\n".join(f"    Example {i}: tabulate([[{i}, 'x']]) gives '{i} x'." for i in range(80))
LONG_DOC = f'''

def tabulate(rows, sep=" "):
    """Join rows of cells into lines.

{EXAMPLES}
    """
    return "; ".join(sep.join(str(c) for c in row) for row in rows)
'''


def test_a_prompt_over_the_context_limit_shows_the_code_with_short_docstrings(project):
    """A function that is mostly docstring (tabulate's `tabulate`, attrs' `define`) would not fit the model's
    context: its prompt shows the docstring's first line and the whole code instead of nothing."""
    project.write("pkg/table.py", LONG_DOC)
    roomy = prompt_for(project, "pkg/table.py::tabulate", budget=600, limit=100_000)
    tight = prompt_for(project, "pkg/table.py::tabulate", budget=600, limit=800)
    assert "Example 79" in roomy.user and "docstrings" not in roomy.dropped
    assert "Example 0" not in tight.user and "docstrings" in tight.dropped
    assert '    """Join rows of cells into lines. (docstring shortened)"""' in tight.user
    assert 'return "; ".join(sep.join(str(c) for c in row) for row in rows)' in tight.user
    assert tight.tokens < 800 < roomy.tokens


def test_short_docstrings_cuts_only_docstrings_on_lines_of_their_own():
    source = (
        '    def f(self, x):\n        """Sum things.\n\n        More.\n        """\n        def g():\n'
        '            """\n            Inner.\n            """\n            return 1\n'
        '        s = """not\n        a docstring"""\n        return x\n'
    )
    assert short_docstrings(source) == (
        '    def f(self, x):\n        """Sum things. (docstring shortened)"""\n        def g():\n'
        '            """Inner. (docstring shortened)"""\n            return 1\n'
        '        s = """not\n        a docstring"""\n        return x\n'
    )
    one_line = 'def h(): """a\n b"""\n'
    assert short_docstrings(one_line) == one_line  # the docstring shares the def's line: left alone
    assert short_docstrings("def broken(:\n") == "def broken(:\n"


def test_repair_round_shows_failures_uncovered_lines_and_kept_tests(project):
    feedback = Feedback(
        failures=(("def test_zero():\n    assert classify(0) == 'positive'", "AssertionError: 'zero' == 'positive'"),),
        uncovered=((8, 'return "zero"'),),
        kept_tests=("def test_negative():\n    assert classify(-1) == 'negative'",),
    )
    p = prompt_for(project, "pkg/m.py::classify", feedback=feedback, round=1)
    assert p.round == 1
    assert "assert classify(0) == 'positive'" in p.user and "AssertionError: 'zero' == 'positive'" in p.user
    assert "test_negative" in p.user and "do not repeat" in p.user
    assert '   8| return "zero"' in p.user
    # Round 0's prompt up to the feedback is repeated as is, so llama.cpp reuses the cached prompt prefix.
    first = prompt_for(project, "pkg/m.py::classify")
    assert p.user.startswith(first.user.split("\n\nNow write the tests")[0])


def test_the_search_s_calls_are_shown_as_observed_facts_to_write_named_tests_from(project):
    feedback = Feedback(
        uncovered=((8, 'return "zero"'),),
        evidence=("assert classify(0) == 'zero'", "assert classify(-2) == 'negative'"),
    )
    p = prompt_for(project, "pkg/m.py::classify", feedback=feedback)
    facts = p.user.split("## What the code did when called (observed by running it)")[1]
    with_imports = prompt_for(
        project, "pkg/m.py::classify", feedback=dataclasses.replace(feedback, imports=("from datetime import date",))
    )
    assert "from pkg.m import classify\nfrom datetime import date\n" in with_imports.prefill  # (facts' names)
    assert "assert classify(0) == 'zero'\n\nassert classify(-2) == 'negative'" in facts
    assert "named for the behaviour" in facts and "def test_" not in facts.split("```")[1]
    assert "never with a number" in p.user and "never a special method called by name" in p.user


def test_repair_round_shows_the_signature_a_failed_call_broke(project):
    error = (
        "    m = Meter(value=2, unit='cm')\nE   TypeError: Meter.__init__() got an unexpected keyword argument 'unit'"
    )
    feedback = Feedback(failures=(("def test_cm():\n    m = Meter(value=2, unit='cm')", error),))
    p = prompt_for(project, "pkg/units.py::Meter.to", feedback=feedback, round=1)
    assert "Fix the call: the signature is\n```python\ndef __init__(self, value):\n```" in p.user
    # Any other failure keeps the general advice.
    other = Feedback(failures=(("def test_cm():\n    assert Meter(2).to('cm') == 2", "AssertionError: 200 == 2"),))
    assert "check the expected values" in prompt_for(project, "pkg/units.py::Meter.to", feedback=other, round=1).user


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (
            "TypeError: parse() missing 1 required positional argument: 'b'",
            'def parse(\n    a: int,\n    b: str = "x:y",\n) -> dict:',
        ),
        ("TypeError: Box.put() takes 2 positional arguments but 3 were given", "def put(self, item):"),
        ("TypeError: Other.__init__() got an unexpected keyword argument 'x'", ""),  # not in the texts
        ("TypeError: Plain.__init__() got an unexpected keyword argument 'x'", ""),  # not Box's __init__
        ("TypeError: unsupported operand type(s) for +: 'int' and 'str'", ""),  # not an argument-binding error
    ],
)
def test_call_signature_finds_the_def_a_wrong_call_names(error, expected):
    texts = [
        'def parse(\n    a: int,\n    b: str = "x:y",\n) -> dict:\n    ...',
        "class Plain:\n    x = 1\n\n\nclass Box:\n    def __init__(self):\n        pass\n\n"
        "    def put(self, item):\n        ...",
    ]
    assert call_signature(error, texts) == expected


def test_methods_of_one_class_share_the_start_of_their_prompts(project):
    # llama.cpp reads a prompt's start once for all the targets that share it: the class outline, the rules and
    # the module's imports come before each method's own code.
    to = prompt_for(project, "pkg/units.py::Meter.to").user
    describe = prompt_for(project, "pkg/units.py::Meter.describe").user
    common = 0
    while common < min(len(to), len(describe)) and to[common] == describe[common]:
        common += 1
    shared = to[:common]
    assert "## Rules" in shared and "class Meter:" in shared and "def describe(self)" in shared
    assert "import json" in shared
    assert "## Code under test" not in shared
    assert to.index("## Rules") < to.index("## Code under test") < to.index("Now write the tests")


CACHES = '''\
class Cache:
    """A mapping with a size limit.

Its docstring's lines may start at the margin."""

    def __init__(self, maxsize, getsizeof=None):
        self.maxsize = maxsize
        self.data = {}

    def clear(self):
        self.data.clear()

    def get(self, key, default=None):
        return self.data.get(key, default)


class LRUCache(Cache):
    def touch(self, key):
        return Cache.get(self, key)

    def clear(self):
        Cache.clear(self)
'''


def test_a_method_keeps_its_class_constructor_when_the_outline_does_not_fit(project):
    # Without a constructor in the prompt a model writes Cache().clear() for a class that needs Cache(maxsize).
    project.write("pkg/caches.py", CACHES)
    full = prompt_for(project, "pkg/caches.py::Cache.clear")
    assert "## The class `Cache` (outline)" in full.user and full.dropped == ()
    tight = prompt_for(project, "pkg/caches.py::Cache.clear", budget=50)  # less than the essentials
    assert "## The class `Cache` (outline)" not in tight.user and "def get(self" not in tight.user
    assert (
        "## How to build a `Cache`\n```python\nclass Cache:\n    def __init__(self, maxsize, getsizeof=None): ...\n```"
        in tight.user
    )
    assert "class outline (its constructor kept)" in tight.dropped and "class" not in tight.dropped
    # A subclass without its own: the base's, from the code the method uses.
    sub = prompt_for(project, "pkg/caches.py::LRUCache.clear", budget=50).user
    assert (
        "class LRUCache(Cache):\n    # Cache.__init__, which LRUCache inherits\n"
        "    def __init__(self, maxsize, getsizeof=None): ..."
    ) in sub
    # The constructor itself is the code under test: no stub beside it.
    init = prompt_for(project, "pkg/caches.py::Cache.__init__", budget=50).user
    assert "## How to build" not in init


def test_the_constructor_stub_of_a_dataclass_lists_its_fields():
    outline = (
        '@dataclass(frozen=True)\nclass Point:\n    """A point."""\n    x: int\n    y: int = 0\n\n'
        "    def norm(self):\n        ...\n"
    )
    assert constructor_stub(outline) == "@dataclass(frozen=True)\nclass Point:\n    x: int\n    y: int = 0"
    assert constructor_stub("class Plain:\n\n    def f(self):\n        ...\n") == ""  # Plain() needs nothing


def test_special_methods_are_explained_by_how_python_calls_them(project):
    project.write(
        "pkg/ctx.py",
        "class Box:\n    def __enter__(self):\n        return self\n\n"
        "    def __exit__(self, *exc):\n        self.closed = True\n",
    )
    p = prompt_for(project, "pkg/ctx.py::Box.__exit__")
    assert "`with Box(...):` block ends" in p.user
    plain = prompt_for(project, "pkg/m.py::classify")
    assert "Call it the way Python does" not in plain.user


def test_group_prompt_takes_public_functions_first_and_at_most_six(tmp_path: Path):
    from testbot.prompt import build_group_prompt

    project = make_project(tmp_path / "g", git=False)
    names = ["_hidden"] + [f"f{i}" for i in range(8)]
    project.write("pkg/many.py", "".join(f"def {n}(x):\n    return x + {i}\n\n\n" for i, n in enumerate(names)))
    targets = find_targets([str(project.root / "pkg" / "many.py")], project.root, include_private=True)
    ctxs = [build_context(t, project.root) for t in targets]
    prompt, chosen = build_group_prompt(ctxs, budget=100_000)
    assert [c.target.name for c in chosen] == ["f0", "f1", "f2", "f3", "f4", "f5"]
    assert "from pkg.many import f0, f1, f2, f3, f4, f5" in prompt.prefill and "_hidden" not in prompt.user
    rest = [c for c in ctxs if c not in chosen]
    prompt, chosen = build_group_prompt(rest, budget=100_000)
    assert [c.target.name for c in chosen] == ["f6", "f7", "_hidden"]
    small, chosen = build_group_prompt(ctxs, budget=estimate_tokens(prompt.system) + 200)
    assert len(chosen) < 6 and small.tokens < prompt.tokens  # what does not fit waits for the next prompt


def test_write_prompt_shows_a_long_function_by_its_header_and_summary():
    from testbot.prompt import _brief

    long = (
        'def parse(text: str,\n          strict: bool = False) -> int:\n    """Read a number.\n\n    More.\n    """\n'
    )
    long += "".join(f"    x{i} = {i}\n" for i in range(40)) + "    return 1\n"
    assert (
        _brief(long)
        == 'def parse(text: str,\n          strict: bool = False) -> int:\n    """Read a number."""\n    ...'
    )
    short = "def f(x):\n    return x + 1\n"
    assert _brief(short) == short


def test_an_aim_prompt_shows_a_long_function_around_its_faults(project):
    from testbot.prompt import build_aim_prompt

    body = "\n".join(f"    x{i} = x + {i}" for i in range(60))
    project.write("pkg/long.py", f"def big(x):\n{body}\n    if x > 5:\n        return x\n    return x0\n")
    (target,) = find_targets([str(project.root / "pkg/long.py")], project.root)
    text = (project.root / "pkg/long.py").read_text()
    p = build_aim_prompt(
        build_context(target, project.root),
        text,
        [(62, "    if x > 5:", "    if x >= 5:")],
        imports=["from decimal import Decimal"],
    )
    assert (
        "   1| def big(x):\n    ...\n" in p.user and "  62|     if x > 5:" in p.user
    )  # header, then the fault's lines
    assert "   10|" not in p.user and "x3 = x + 3" not in p.user
    assert "@@ line 62 @@\n-    if x > 5:\n+    if x >= 5:" in p.user
    assert "from pkg.long import big\nfrom decimal import Decimal" in p.prefill
    assert p.key == "pkg/long.py::big::*aim*" and p.prefill.endswith("\n\n\ndef test_")


def test_a_write_prompt_imports_only_what_its_own_functions_facts_use(project):
    from testbot.prompt import build_write_prompt

    targets = find_targets([str(project.root / "pkg/m.py")], project.root)
    ctxs = {t.name: build_context(t, project.root) for t in targets}
    items = [(ctxs["classify"], ["assert classify(0) == 'zero'"]), (ctxs["clamp"], ["assert clamp(1, 0, 2) == 1"])]
    imports = {
        ctxs["classify"].target.id: ["from pkg.m import classify", "from datetime import date"],
        ctxs["clamp"].target.id: ["from pkg.m import clamp", "from decimal import Decimal"],
    }
    p, chosen = build_write_prompt(items, imports=imports, most=1)
    assert [c.target.name for c in chosen] == ["classify"]
    # (the function's own import is said once; the other function's lines are not read)
    assert "import pytest\n\nfrom pkg.m import classify\nfrom datetime import date\n" in p.prefill
    assert "Decimal" not in p.user + p.prefill and p.prefill.count("from pkg.m import") == 1
    both, _ = build_write_prompt(items, imports=imports)
    assert "from pkg.m import classify, clamp\nfrom datetime import date\nfrom decimal import Decimal\n" in both.prefill
