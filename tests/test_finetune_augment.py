"""Augmentation by consistent renaming, verified by running the renamed test against the renamed function."""

from __future__ import annotations

import random
import sys

import pytest

from finetune_repo import make_repo
from testbot.finetune.augment import Skip, augment, augment_pair, rename_function, rename_test
from testbot.finetune.data import Pair
from testbot.finetune.mine import Source, mine

FOCAL = '''\
def total(items, start=0):
    """Sum items; items are counted from start."""
    acc = start
    for item in items:
        acc = acc + item.value  # item.value is an attribute: left alone
    helper(items=items, acc=acc)
    return total_of(acc) if acc < 0 else acc
'''


def test_rename_function_renames_its_own_names_only():
    mapping = {"total": "fold_batch", "items": "seq", "start": "entry", "acc": "value3", "item": "node"}
    out = rename_function(FOCAL, mapping)
    assert out.splitlines()[0] == "def fold_batch(seq, entry=0):"
    assert '"""Sum items; items are counted from start."""' in out  # strings untouched
    assert "value3 = value3 + node.value  # item.value is an attribute: left alone" in out  # attribute, comment
    assert "helper(items=seq, acc=value3)" in out  # keywords of another callable keep their names
    assert "total_of(value3)" in out  # a different name that starts the same


def test_rename_test_renames_calls_keywords_and_the_import():
    mapping = {"scale": "make_chunk", "values": "items", "factor": "token"}
    test = (
        "from pkg.m import scale\n\n\ndef test_scale():\n"
        "    assert scale([1], factor=3) == [3]\n    assert dict(factor=1) and 'scale' in 'scale it'\n"
    )
    out = rename_test(test, mapping, "scale")
    assert out == (
        "from pkg.m import make_chunk\n\n\ndef test_scale():\n"
        "    assert make_chunk([1], token=3) == [3]\n    assert dict(factor=1) and 'scale' in 'scale it'\n"
    )
    with pytest.raises(Skip):
        rename_test("import pkg.m\n\n\ndef test_x():\n    assert pkg.m.scale([1])\n", mapping, "scale")


def test_methods_and_fstrings_are_not_renamed():
    base = dict(id="x", source="mined", package="p", module="m", test_code="", provenance={})
    with pytest.raises(Skip, match="method"):
        augment_pair(Pair(function="C.f", focal_code="def f(self):\n    return 1\n", **base), random.Random(0))
    with pytest.raises(Skip, match="f-string"):
        augment_pair(Pair(function="f", focal_code="def f(x):\n    return f'{x}'\n", **base), random.Random(0))


def test_augmented_pairs_are_kept_only_when_their_tests_pass(tmp_path):
    root = make_repo(tmp_path / "numbers")
    mined = mine(Source(root, "numbers", {"repo": "numbers"}), python=sys.executable).pairs
    kept, dropped = augment(mined, root, python=sys.executable, seed=1)
    by_test = {p.provenance["test_name"]: p for p in kept}
    # test_scale_name asserts scale.__name__ == "scale": renamed, it fails, so it is not kept
    assert "test_scale_name" not in by_test and dropped.get("renamed test fails") == 1
    assert set(by_test) == {
        "test_clamp_inside",
        "test_clamp_bad_limits",
        "test_classify_negative_input",
        "test_scale_keyword",
        "TestClassify.test_zero",
    }
    for p in kept:
        renames = p.provenance["renames"]
        original = next(m for m in mined if m.id == p.provenance["augmented_from"])
        assert p.source == "augmented" and p.function == renames[original.function] != original.function
        assert p.focal_code.startswith(f"def {p.function}(")
        assert (
            f"from pkg.m import {p.function}" in p.test_code
            and original.function not in p.test_code.split("def test")[0]
        )
        assert p.context["import_line"] == f"from pkg.m import {p.function}"
    scale = by_test["test_scale_keyword"]
    new_factor = scale.provenance["renames"]["factor"]
    assert f"{new_factor}=3" in scale.test_code and f"{new_factor}=2" in scale.focal_code
    # the same seed gives the same names
    again, _ = augment(mined, root, python=sys.executable, seed=1)
    assert [p.id for p in again] == [p.id for p in kept]
