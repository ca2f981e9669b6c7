"""The save diff: applying it to the old document gives the new one exactly, types included."""

from __future__ import annotations

import copy
from typing import Any

import jsonpatch
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from profilestore.domain.diff import apply_patch, make_patch

leaves = (st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False,
          allow_infinity=False) | st.text(alphabet="ab~/0", max_size=3))
documents = st.recursive(leaves, lambda inner: st.lists(inner, max_size=4)
                         | st.dictionaries(st.text(alphabet="ab~/0", max_size=3), inner, max_size=4),
                         max_leaves=25)


def exact(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


@settings(max_examples=400, deadline=None)
@given(old=st.dictionaries(st.text(alphabet="ab~/", max_size=3), documents, max_size=4),
       new=st.dictionaries(st.text(alphabet="ab~/", max_size=3), documents, max_size=4))
def test_the_patch_turns_the_old_document_into_the_new_one(old: dict[str, Any], new: dict[str, Any]) -> None:
    patched = jsonpatch.apply_patch(old, make_patch(old, new))
    assert exact(patched) == exact(new)


def test_a_type_change_that_python_calls_equal_is_still_a_change() -> None:
    assert make_patch({"a": 1}, {"a": True}) == [{"op": "replace", "path": "/a", "value": True}]
    assert make_patch({"a": [1]}, {"a": [1.0]}) != []


def test_unchanged_parts_give_no_operations_and_keys_are_escaped() -> None:
    old = {"bag": list(range(50)), "a/b": {"~": 1}}
    assert make_patch(old, {"bag": list(range(50)), "a/b": {"~": 2}}) == [
        {"op": "replace", "path": "/a~1b/~0", "value": 2}]
    assert make_patch(old, dict(old)) == []


@settings(max_examples=400, deadline=None)
@given(old=st.dictionaries(st.text(alphabet="ab~/", max_size=3), documents, max_size=4),
       new=st.dictionaries(st.text(alphabet="ab~/", max_size=3), documents, max_size=4),
       by_jsonpatch=st.booleans())
def test_applying_a_patch_gives_what_jsonpatch_gives_and_shares_nothing_with_the_patch(
        old: dict[str, Any], new: dict[str, Any], by_jsonpatch: bool) -> None:
    # patches from jsonpatch itself too: older events hold them (list indices, move, copy)
    patch = jsonpatch.make_patch(old, new).patch if by_jsonpatch else make_patch(old, new)
    expected = jsonpatch.apply_patch(copy.deepcopy(old), copy.deepcopy(patch))
    frozen = exact(patch)
    patched = apply_patch(copy.deepcopy(old), patch)
    assert exact(patched) == exact(expected) == exact(new)
    patched_again = apply_patch(copy.deepcopy(old), patch)
    _scribble(patched_again)
    assert exact(patch) == frozen, "the patch (an event's) is never changed by the data after it"


def _scribble(value: Any) -> None:
    if isinstance(value, dict):
        for key in list(value):
            _scribble(value[key])
        value["scribbled"] = 1
    elif isinstance(value, list):
        for item in value:
            _scribble(item)
        value.append("scribbled")


def test_a_patch_that_does_not_apply_fails_as_jsonpatch_fails() -> None:
    with pytest.raises(jsonpatch.JsonPatchConflict):
        apply_patch({"a": {}}, [{"op": "replace", "path": "/a/missing", "value": 1}])
    with pytest.raises(jsonpatch.JsonPatchConflict):
        apply_patch({"a": 1}, [{"op": "remove", "path": "/b"}])
