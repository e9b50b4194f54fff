"""The shapes a reviewer rejects, read off a test's source (testbot.shape): each rule, and clean tests pass."""

from __future__ import annotations

import pytest

from testbot import shape

REJECTED = {
    shape.NUMBERED_NAME: [
        "def test_emit_explored_12():\n    assert emit('a') == '<a/>'\n",
        "def test_1_loads_empty_string():\n    assert loads('') == {}\n",
        "def test_split_2():\n    assert split('a b') == ['a', 'b']\n",
    ],
    shape.DUNDER_CALL: [
        "def test_lt():\n    assert Version(1).__lt__(Version(2))\n",
        "def test_item():\n    assert Seq([1, 2]).__getitem__(1) == 2\n",
    ],
    shape.TYPE_NAME_ONLY: [
        "def test_bump():\n    assert type(v.bump()).__qualname__ == 'Version'\n",
        "def test_bump():\n    assert isinstance(v.bump(), Version)\n    assert type(v) is Version\n",
        "def test_bump(self):\n    self.assertIsInstance(v.bump(), Version)\n",
    ],
    shape.PLACEHOLDER: [
        "def test_parse():\n    with pytest.raises(ValueError):\n        parse('hello world.0')\n",
        "def test_wrap():\n    assert wrap('xxxxxxxxxxxxxxxx', 4)\n",
        "def test_emit():\n    assert emit(key='Hello, World! 123') is None\n",
    ],
    shape.VARYING: [
        "def test_key():\n    assert hash(Key(1)) == 7301\n",
        "def test_obj():\n    assert id(obj()) > 0\n",
    ],
}

CLEAN = [
    "def test_shift_moves_both_ends():\n    assert Interval(11, 20).shift(by=5) == Interval(16, 25)\n",
    "def test_an_interval_cannot_end_before_it_starts():\n"
    "    with pytest.raises(ValueError, match='end before start'):\n        Interval(3, 1)\n",
    "def test_slugify_joins_words_with_dashes():\n    assert slugify('hello world') == 'hello-world'\n",
    "def test_table_has_a_rule_under_the_header():\n    assert tabulate([[1]], ['a']).splitlines()[1] == '---'\n",
    "def test_init_sets_fields(self):\n    super().__init__()\n    self.assertEqual(Point(1, 2).x, 1)\n",
    "def test_bump_returns_a_new_version():\n    assert isinstance(v.bump(), Version)\n    assert v.bump() == Version(2)\n",
]


@pytest.mark.parametrize("code, source", [(c, s) for c, sources in REJECTED.items() for s in sources])
def test_each_rejected_shape_is_named(code: str, source: str):
    assert code in shape.problems(source)


@pytest.mark.parametrize("source", CLEAN)
def test_tests_a_reviewer_merges_have_no_shape_problem(source: str):
    assert shape.problems(source) == []


def test_a_check_that_repeats_a_doctest_is_a_copy():
    module = 'def double(x):\n    """Twice x.\n\n    >>> double(21)\n    42\n    """\n    return 2 * x\n'
    examples = shape.doctest_examples(module)
    assert examples == frozenset({("double(21)", "42")})
    facts = shape.ModuleFacts(doctests=examples)
    assert shape.problems("def test_double():\n    assert double(21) == 42\n", facts) == [shape.COPIED_DOCTEST]
    assert shape.problems("def test_double_negative():\n    assert double(-1) == -2\n", facts) == []


MODULE_WITH_RAISES = """\
class ParseError(ValueError):
    pass


def parse(text):
    \"\"\"A version from text.

    Raises:
        KeyError: for an unknown channel.
    \"\"\"
    if not text:
        raise ParseError("empty version")
    try:
        return int(text)
    except OverflowError:
        raise  # (a number too large for the platform)
"""


def test_an_expected_error_the_code_never_states_is_an_accident():
    stated = shape.stated_errors((MODULE_WITH_RAISES,))
    assert stated == frozenset({"ParseError", "KeyError", "OverflowError"})
    # raised, documented, re-raised; a project's own class, raised wherever
    for error in ("ParseError", "KeyError", "OverflowError", "errors.ParseError", "ProgrammingError"):
        test = f"def test_parse_refuses_it():\n    with pytest.raises({error}):\n        parse('')\n"
        assert shape.problems(test, shape.ModuleFacts(errors=stated)) == [], error
    accidents = [
        "def test_parse_of_a_list_fails():\n    with pytest.raises(TypeError):\n        parse([1])\n",
        "def test_parse_fails(self):\n    with self.assertRaises(AttributeError):\n        parse(None)\n",
        "def test_parse_fails():\n    with pytest.raises((ParseError, IndexError)):\n        parse('x')\n",
    ]
    for test in accidents:
        assert shape.problems(test, shape.ModuleFacts(errors=stated)) == [shape.ACCIDENTAL_ERROR], test
        assert shape.problems(test) == []  # (what the code states not known: nothing is accidental)


def test_a_raise_that_hides_its_class_leaves_no_error_accidental():
    module = "def check(x):\n    if x < 0:\n        raise make_error('negative')\n    return x\n"
    assert shape.stated_errors((module,)) is None
    caught = "def f(x):\n    try:\n        return g(x)\n    except (KeyError, IndexError) as err:\n        raise err\n"
    assert shape.stated_errors((caught,)) == frozenset({"KeyError", "IndexError"})


def test_the_errors_a_function_reaches_are_those_it_and_the_module_code_it_calls_state():
    module = (
        "class Box:\n"
        "    def __init__(self, n):\n        if n < 0:\n            raise ValueError('n')\n        self.n = n\n\n"
        "    def fill(self, x):\n        return self._check(x) + 1\n\n"
        "    def _check(self, x):\n        if not isinstance(x, str):\n            raise TypeError('x')\n"
        "        return len(x)\n\n"
        "    def size(self):\n        return self.n * 2\n\n\n"
        "def make(n):\n    return Box(n).size()\n\n\n"
        "def other():\n    raise KeyError('k')\n"
    )
    assert shape.reached_errors(module, "Box.fill") == frozenset({"TypeError"})  # (through `self._check`)
    assert shape.reached_errors(module, "make") == frozenset({"ValueError"})  # (through `Box(n)`: its `__init__`)
    assert shape.reached_errors(module, "Box.size") == frozenset()  # (the module's KeyError is `other`'s)
    assert shape.reached_errors(module, "missing") is None
    # a test of `Box.size` expecting the TypeError that only `_check` raises pins an accident
    test = "def test_size_of_a_word():\n    with pytest.raises(TypeError):\n        Box('three').size()\n"
    facts = shape.module_facts(module)
    assert shape.problems(test, facts) == []
    assert shape.problems(test, facts.of("pkg/m.py::Box.size")) == [shape.ACCIDENTAL_ERROR]
    assert shape.problems(test, facts.of("pkg/m.py::Box.fill")) == []
    # a method that hands over to its base reaches what the base may call back: any method its class overrides
    wrapper = (
        "import textwrap\n\n\nclass Wrapper(textwrap.TextWrapper):\n"
        "    def _wrap_chunks(self, chunks):\n        if self.width <= 0:\n            raise ValueError('width')\n"
        "        return chunks\n\n"
        "    def wrap(self, text):\n        return super().wrap(text)\n\n"
        "    def copy(self):\n        return self.__class__(self.width)\n"
    )
    assert shape.reached_errors(wrapper, "Wrapper.wrap") == frozenset({"ValueError"})


def test_a_class_with_a_protocol_method_states_that_protocols_error():
    module = (
        "class Duration:\n    def __getattr__(self, name):\n        return self._parts[name]\n\n"
        "    def __getitem__(self, key):\n        return self._parts[key]\n"
    )
    stated = shape.stated_errors((module,))
    assert stated == frozenset({"AttributeError", "KeyError", "IndexError"})
    test = "def test_missing_part_is_an_attribute_error():\n    with pytest.raises(AttributeError):\n        Duration().x\n"
    assert shape.problems(test, shape.ModuleFacts(errors=stated)) == []


def test_an_input_of_the_wrong_kind_is_mistyped_unless_the_test_expects_an_error():
    module = "def url(value: str, strict: bool = False):\n    if strict and '.' not in value:\n        raise ValueError('no dot')\n"
    facts = shape.module_facts(module)
    assert shape.problems("def test_url_is_lenient():\n    assert url('a.b', strict=3)\n", facts) == [shape.MISTYPED]
    assert shape.problems("def test_url_is_strict():\n    assert url('a.b', strict=True)\n", facts) == []
    refused = "def test_url_refuses_no_dot():\n    with pytest.raises(ValueError):\n        url('ab', strict=3)\n"
    assert shape.problems(refused, facts) == []
    merged = shape.merged([facts, shape.module_facts("def other(x: int):\n    pass\n")])
    assert dict(merged.signatures).keys() == {"url", "other"} and merged.errors == facts.errors


def test_a_string_of_symbols_is_named_by_its_kinds_of_character():
    assert shape._symbol_words("--") == ["dashes"]
    assert shape._symbol_words("#!") == ["hash", "bang"]
    assert shape._symbol_words("\u00ab\u00bb\u20ac") == ["symbols"]  # (not symbol_symbol_symbol)
    assert shape._symbol_words("()[]{}<>") == ["parens", "brackets", "braces"]


def test_count_tallies_every_code_and_the_clean_ones():
    tally = shape.count([REJECTED[shape.DUNDER_CALL][0], CLEAN[0], CLEAN[1]])
    assert tally == {**{c: 0 for c in shape.CODES}, shape.DUNDER_CALL: 1, "clean": 2}


def test_tests_in_finds_functions_and_methods_of_a_file():
    text = (
        "import unittest\n\n\ndef test_a():\n    assert f() == 1\n\n\nclass FTest(unittest.TestCase):\n"
        "    def test_b_2(self):\n        self.assertEqual(f(), 1)\n"
    )
    found = shape.tests_in(text, ["test_a", "FTest::test_b_2", "test_missing"])
    assert [shape.problems(s) for s in found] == [[], [shape.NUMBERED_NAME]]


@pytest.mark.parametrize(
    "before, after",
    [
        ("assert Version(1).__eq__(Version(1))", "assert Version(1) == Version(1)"),
        ("assert d.__getitem__(4) == 'x'", "assert d[4] == 'x'"),
        ("assert v.__len__() == 3", "assert len(v) == 3"),
        ("assert s.__contains__('a')", "assert 'a' in s"),
        ("assert m.__add__(2) == 5", "assert m + 2 == 5"),
        ("assert d.__radd__(dt) == x", "assert dt + d == x"),
        ("c.__setattr__('red', 5)", "setattr(c, 'red', 5)"),
        ("assert c.__getattr__('red') == 5", "assert getattr(c, 'red') == 5"),
        ("assert str(v) == repr(v)", "assert str(v) == repr(v)"),  # (nothing to do)
        ("super().__init__(1)", "super().__init__(1)"),
        ("assert relativedelta().__div__(3) == r", "assert relativedelta() / 3 == r"),  # (Python 2's name)
        ("assert x.__nonzero__()", "assert bool(x)"),
        ("assert d.__getstate__() == s", "assert pickle.loads(pickle.dumps(d)) == s"),  # (what pickling does)
        ("assert d.__deepcopy__({}) == d", "assert copy.deepcopy(d, {}) == d"),
        ("d.__setitem__('a', 1)", "d['a'] = 1"),
        ("d.__delitem__('a')", "del d['a']"),
    ],
)
def test_special_methods_are_written_as_operators(before: str, after: str):
    assert shape.operators(before) == after
    assert shape.DUNDER_CALL not in shape.problems(f"def test_x():\n    {shape.operators(before)}\n")


@pytest.mark.parametrize(
    "source, function, name",
    [
        (
            "def test_validate_comment_explored_2():\n    with pytest.raises(ValueError):\n"
            "        _validate_comment('--')\n",
            "_validate_comment",
            "test_validate_comment_raises_value_error_for_dashes",
        ),
        ("def test_x_explored_1():\n    assert ordinal(3) == '3rd'\n", "ordinal", "test_ordinal_returns_3rd_for_three"),
        ("def test_x_explored_4():\n    assert Box(3).size == 3\n", "size", "test_size_returns_three"),
        ("def test_x_explored_5():\n    assert is_ip('1.2.3.4')\n", "is_ip", "test_is_ip_is_true_for_1_2_3_given"),
        ("def test_x_explored_6():\n    assert top(10) == 100\n", "top", "test_top_returns_100_for_ten"),
        (
            "def test_x_explored_7():\n    tally = Tally()\n    tally.add(3)\n    assert tally.total == 3\n",
            "add",
            "test_add_sets_total_to_three_for_three",
        ),
    ],
)
def test_a_numbered_test_gets_a_name_from_what_it_shows(source: str, function: str, name: str):
    got = shape.behaviour_name(source, function)
    assert got == name
    assert shape.NUMBERED_NAME not in shape.problems(source.replace(source.split("(")[0][4:], got, 1))


@pytest.mark.parametrize(
    "source, function, name",
    [
        ("def test_Compose_returns():\n    assert compose(d) == 'x'\n", "compose", "test_compose_returns"),
        (
            "def test_ignores_empty_string():\n    assert strip_margin('') == ''\n",
            "strip_margin",
            "",  # (a file or class of its tests names the function)
        ),
        (
            "def test_roman_encode():\n    assert roman_encode(37) == 'XXXVII'\n",
            "roman_encode",
            "test_roman_encode_returns_xxxvii_for_37_given",
        ),
        (
            "def test_slug_works():\n    with pytest.raises(TypeError):\n        slug(3)\n",
            "slug",
            "test_slug_raises_type_error_for_three",
        ),
        (  # (a long name ends in the word after its last number, as behaviour_name left it)
            "def test_dcfc_act_365_a():\n    with pytest.raises(InvalidOperation):\n"
            "        dcfc_act_365_a(date(2020, 1, 31), date(2020, 1, 31), date(2020, 1, 31), d)\n",
            "dcfc_act_365_a",
            "test_dcfc_act_365_a_raises_invalid_operation_for_date_2020_date_2020_given",
        ),
        # several checks under a bare name: only the name's case or the function's name is put right
        (
            "def test_roman_encode():\n    assert roman_encode(1) == 'I'\n    assert roman_encode(4) == 'IV'\n",
            "roman_encode",
            "",
        ),
        ("def test_durations_add_up():\n    assert a + b == c\n", "__add__", ""),  # (special: named by what it does)
        ("def test_Duration__add__():\n    assert a + b == c\n    assert a + d == e\n", "__add__", "test_duration_add"),
        ("def test_parse_reads_a_date():\n    assert parse('2020-01-02') == d\n", "parse", ""),
    ],
)
def test_a_model_s_name_that_says_too_little_is_put_right(source: str, function: str, name: str):
    assert shape.readable_name(source, function) == name


@pytest.mark.parametrize(
    "before, after",
    [
        ("assert is_ip('1.2.3.4') == True", "assert is_ip('1.2.3.4')"),
        ("assert is_ip('x') == False  # not an address", "assert not is_ip('x')  # not an address"),
        ("assert (d != None) == True", "assert d != None"),  # (the check of __ne__ itself stays)
        ("assert register.mute() == None", "assert register.mute() is None"),
        ("assert None != find('a')", "assert find('a') is not None"),
        ("assert f(1) == 1", "assert f(1) == 1"),
        ("x = f() == True\n    assert x", "x = f() == True\n    assert x"),  # (only what is asserted)
    ],
)
def test_checks_of_true_false_and_none_are_written_plainly(before: str, after: str):
    assert shape.plain_checks(f"def test_x():\n    {before}\n") == f"def test_x():\n    {after}\n"


def test_a_test_of_eq_keeps_its_comparison_with_none():
    source = "def test_x():\n    assert Box(1) == None\n"
    assert shape.plain_checks(source, none=False) == source


def test_input_words_name_what_a_test_passes_not_what_it_expects():
    assert shape.input_words('def test_x():\n    assert f("a-b", 2) == 3\n') == ["a", "b", "two"]
    assert shape.input_words("def test_x():\n    assert not Box(1) == Box(3)\n") == ["one", "three"]
    assert shape.input_words("def test_x():\n    assert f() is None\n") == []


def test_a_parametrized_tests_inputs_are_read_with_it():
    text = '@pytest.mark.parametrize("s", ["hello world.x"])\ndef test_a(s):\n    assert f(s)\n'
    (found,) = shape.tests_in(text, ["test_a"])
    assert found == text and shape.PLACEHOLDER in shape.problems(found)


def test_the_modules_an_operator_needs_are_named():
    before = "assert d.__getstate__() == s"
    assert shape.operator_imports(before, shape.operators(before)) == ["import pickle"]
    assert shape.operator_imports("assert f(2) == 3", "assert f(2) == 3") == []


def test_a_model_test_of_values_and_errors_is_split_into_one_test_per_behaviour():
    source = (
        "def test_roman_encode():\n"
        "    assert roman_encode(37) == 'XXXVII'\n"
        "    with pytest.raises(ValueError) as caught:\n"
        "        roman_encode(-1)\n"
        "    assert str(caught.value) == 'Input must be >= 1 and <= 3999'\n"
        "    # the largest number it encodes\n"
        "    assert roman_encode(3999) == 'MMMCMXCIX'\n"
        "    with pytest.raises(InvalidInputError):\n"
        "        roman_encode(None)\n"
        "    with pytest.raises(InvalidInputError):\n"
        "        roman_encode([])\n"
    )
    parts = shape.behaviours(source, "roman_encode")
    assert [name for name, _ in parts] == [
        "test_roman_encode_returns_xxxvii_for_37_given",
        "test_roman_encode_raises_value_error_for_minus_one",
        "test_roman_encode_raises_invalid_input_error_for_none",
    ]
    values, message, rejects = (part for _, part in parts)
    # the value checks together, comments kept; an error with what reads its message; one error on two inputs
    assert values.endswith("    # the largest number it encodes\n    assert roman_encode(3999) == 'MMMCMXCIX'\n")
    assert "caught" not in values and "assert str(caught.value) ==" in message
    assert rejects.count("pytest.raises(InvalidInputError)") == 2
    for part in (values, message, rejects):
        compile(part, "part", "exec")


def test_a_split_keeps_a_name_that_says_the_behaviour_and_names_the_function_the_test_calls():
    source = (
        "def test_slugify_joins_words_with_dashes():\n"
        "    assert slugify('Top 10 Dogs') == 'top-10-dogs'\n"
        "    with pytest.raises(InvalidInputError):\n"
        "        slugify(0)\n"
    )
    # (a write prompt's tests come with its first function's id, not always the one they test)
    assert [name for name, _ in shape.behaviours(source, "roman_encode")] == [
        "test_slugify_joins_words_with_dashes",
        "test_slugify_raises_invalid_input_error_for_zero",
    ]


@pytest.mark.parametrize(
    "body",
    [
        "    assert f(1) == 2\n    assert f(2) == 3\n",  # one behaviour
        "    x = Box(1)\n    assert x.size == 1\n    with pytest.raises(KeyError):\n        x['k']\n",  # shared x
        "    with pytest.raises(KeyError):\n        f('a')\n    with pytest.raises(KeyError):\n        f('b')\n",
    ],
)
def test_a_test_of_one_behaviour_or_of_shared_values_stays_whole(body: str):
    assert shape.behaviours("def test_f():\n" + body, "f") == []
    assert shape.behaviours("def test_f(tmp_path):\n" + body, "f") == []


def test_a_split_part_is_named_for_what_it_does_last_before_it_checks():
    source = (
        "def test_add():\n"
        "    cart = Cart()\n"
        "    cart.add('pear', 1.5)\n"
        "    cart.remove('pear')\n"
        "    assert 'pear' not in cart.items\n"
        "    with pytest.raises(ValueError) as caught:\n"
        "        Cart().add('pear', 1.5, 0)\n"
        "    assert str(caught.value) == 'quantity must be positive'\n"
    )
    # (not `add`, the function the prompt was for, nor `is_true` for a check of membership)
    assert [name for name, _ in shape.behaviours(source, "add")] == [
        "test_remove_has_no_pear_for_pear",
        "test_add_raises_value_error_for_pear_1_5_zero",
    ]
