"""testbot.inputs: whether a test's literal arguments are of the kind the parameters say they take."""

from __future__ import annotations

import pytest

from testbot import inputs

MODULE = """
from typing import Callable, Iterable, Literal, Optional


def url(value: str, /, *, strict_query: bool = True, private: Optional[bool] = None):
    ...


def replace_all(text: str, pairs: Iterable[tuple[str, str]] = (), lowercase=False, sep="-"):
    ...


def align(rows: "list[list[int]]", how: Literal["left", "right"] = "left", width: int | None = None):
    ...


class Table:
    def __init__(self, rows: dict[str, float], fmt: Callable[[str], str] | None = None):
        ...

    def get(self, key: int):
        ...

    def render(self, width: int = 80) -> str:
        ...

    @staticmethod
    def parse(text: str) -> "Table":
        ...


class Other:
    def render(self, width: str = "80") -> str:  # (render is defined twice: which one a test calls is unknown)
        ...


@cached
def guess(x: int):  # (a decorator may change what it takes)
    ...


def add_upper(char_list):
    for item in char_list:
        char, xlate = item
        char_list.insert(0, (char.upper(), xlate.capitalize()))
    return char_list


def emit(key, value, handler, depth=0):
    if depth:
        handler.ignorableWhitespace(" " * depth)
    value = str(value)  # (bound again: what the caller passed is not what is used below)
    return value.strip()


def size(value: str, unit: bool = False):
    if isinstance(value, int):  # (the code takes a number too, whatever the annotation says)
        value = str(value)
    return len(value)
"""

MISTYPED = {
    "url('https://example.com', strict_query=3)": "url(strict_query=3)",
    "url(42)": "url(value=42)",
    "replace_all('Über', 'ue')": "replace_all(pairs='ue')",  # a string where pairs go
    "replace_all('a b', [('a', 'b'), 'cd'])": "replace_all(pairs=[('a', 'b'), 'cd'])",
    "replace_all('a b', lowercase=1)": "replace_all(lowercase=1)",  # (no annotation: a flag takes a flag)
    "align([[1, 'x']])": "align(rows=[[1, 'x']])",
    "align([[1]], how=2)": "align(how=2)",
    "align([[1]], width='80')": "align(width='80')",
    "Table({'a': 'b'})": "Table(rows={'a': 'b'})",
    "Table({'a': 1.5}, fmt='upper')": "Table(fmt='upper')",
    "Table.parse(['a'])": "parse(text=['a'])",
    "size('42', unit='kB')": "size(unit='kB')",
    "add_upper(['Ab', 'a'])": "add_upper(char_list=['Ab', 'a'])",  # strings where pairs go
    "add_upper('')": "add_upper(char_list='')",  # (a string has no insert either)
    "emit('a', 1, 'handler')": "emit(handler='handler')",  # a string has no ignorableWhitespace
}

FITTING = [
    "url('https://example.com', strict_query=False, private=None)",
    "url(None)",  # (None is never judged)
    "url(value)",  # (a name: not a literal)
    "replace_all('a b', [('a', 'b'), ['c', 'd']], lowercase=True, sep=1)",  # (a str default says nothing)
    "align([[1, -2]], how='right', width=None)",
    "Table({'a': 1, 'b': True}, fmt=lambda s: s.upper()).render(width=40)",
    "Other().render(width=40)",
    "guess('x')",
    "{}.get('key')",  # (a dict's method, not Table.get)
    "Table.parse(f'{1}')",
    "size(42)",
    "add_upper([('a', 'b'), ['c', 'd']])",
    "emit('a', [1], handler)",  # (value is bound again in the body)
]


@pytest.mark.parametrize("call, found", MISTYPED.items())
def test_an_input_of_a_kind_the_parameter_rules_out_is_found(call: str, found: str):
    assert inputs.mistyped(f"def test_x():\n    assert {call}\n", inputs.signatures(MODULE)) == [found]


@pytest.mark.parametrize("call", FITTING)
def test_inputs_that_fit_or_are_not_known_are_not_judged(call: str):
    assert inputs.mistyped(f"def test_x():\n    assert {call}\n", inputs.signatures(MODULE)) == []


def test_signatures_leave_out_self_ambiguous_names_and_decorated_functions():
    found = dict(inputs.signatures(MODULE))
    assert "render" not in found and "guess" not in found
    assert [p.name for p in found["Table"]] == ["rows", "fmt"]
    assert [p.name for p in found["parse"]] == ["text"]
    value, strict, private = found["url"]
    assert (value.positional, value.keyword) == (True, False)
    assert (strict.positional, strict.annotation, strict.default) == (False, "bool", "True")
    assert inputs.signatures("def broken(:\n") == ()
