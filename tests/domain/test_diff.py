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


# ---- lists of dicts changed a few elements at a time: the shape of player data ------------------

keys = st.text(alphabet="ab~/1", min_size=0, max_size=3)
scalars = (st.none() | st.booleans() | st.sampled_from([0, 1, 1.0, True, False, 0.0, -0.0])
           | st.integers(-5, 5) | st.text(alphabet="xy~/", max_size=2))
nested = st.recursive(scalars, lambda inner: st.lists(inner, max_size=5)
                      | st.dictionaries(keys, inner, max_size=4), max_leaves=30)


def _containers(value: Any) -> list[Any]:
    """Every dict and list in `value`, the root first."""
    found, stack = [], [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict | list):
            found.append(item)
            stack.extend(item.values() if isinstance(item, dict) else item)
    return found


def _twin(number: float) -> float:
    """A number Python calls equal to `number`, of another type (True -> 1 -> 1.0 -> True)."""
    if type(number) is bool:
        return int(number)
    if type(number) is int:
        return float(number)
    return bool(number) if number in (0, 1) else int(number)


@st.composite
def edited(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    """A document of lists of dicts (nested lists in dicts in lists), and a copy with a few
    random edits: members set or removed, elements inserted, removed, replaced, moved, a list
    sorted, a scalar turned into one Python calls equal (1, 1.0, True)."""
    old = {"items": draw(st.lists(st.dictionaries(keys, nested, max_size=3), max_size=12)),
           "progress": draw(st.dictionaries(keys, nested, max_size=3)), "coins": draw(scalars)}
    new = copy.deepcopy(old)
    for _ in range(draw(st.integers(0, 4))):
        target = draw(st.sampled_from(_containers(new)))
        action = draw(st.integers(0, 5))
        if isinstance(target, dict):
            key = draw(keys)
            if action < 2 and key in target:
                del target[key]
            elif action == 2 and target:
                key = draw(st.sampled_from(sorted(target)))
                target[key] = _twin(target[key]) if isinstance(target[key], int | float) else draw(nested)
            else:
                target[key] = draw(nested)
        elif action == 0:
            target.insert(draw(st.integers(0, len(target))), draw(nested))
        elif action == 1 and target:
            del target[draw(st.integers(0, len(target) - 1))]
        elif action == 2 and target:
            target[draw(st.integers(0, len(target) - 1))] = draw(nested)
        elif action == 3 and len(target) > 1:
            moved = target.pop(draw(st.integers(0, len(target) - 1)))
            target.insert(draw(st.integers(0, len(target))), moved)
        elif action == 4:
            target.sort(key=lambda item: exact(item))
        else:
            target.append(draw(nested))
    return old, new


@settings(max_examples=600, deadline=None)
@given(documents=edited())
def test_random_edits_of_lists_of_dicts_round_trip_exactly_and_as_jsonpatch_reads_them(
        documents: tuple[dict[str, Any], dict[str, Any]]) -> None:
    old, new = documents
    frozen_old = exact(old)
    patch = make_patch(old, new)
    assert exact(old) == frozen_old, "making a patch changes neither document"
    assert exact(apply_patch(copy.deepcopy(old), patch)) == exact(new)
    assert exact(jsonpatch.apply_patch(copy.deepcopy(old), copy.deepcopy(patch))) == exact(new)


@settings(max_examples=300, deadline=None)
@given(old=st.lists(nested, max_size=30), data=st.data())
def test_a_list_patch_is_never_much_larger_than_the_list_it_changes(old: list[Any], data: st.DataObject
                                                                    ) -> None:
    new = data.draw(st.permutations(old)) if data.draw(st.booleans()) else data.draw(st.lists(nested,
                                                                                               max_size=30))
    patch = make_patch({"l": old}, {"l": new})
    assert len(orjson.dumps(patch)) <= len(orjson.dumps(new)) + 64


def test_a_one_element_change_in_a_long_list_is_one_operation_on_that_element() -> None:
    items = [{"uid": f"u{i}", "qty": 1, "tags": ["a"]} for i in range(10_000)]
    changed = copy.deepcopy(items)
    changed[7_777]["qty"] = 2
    assert make_patch({"items": items}, {"items": changed}) == [
        {"op": "replace", "path": "/items/7777/qty", "value": 2}]
    changed = copy.deepcopy(items)
    changed[123]["tags"].append("b")
    assert make_patch({"items": items}, {"items": changed}) == [
        {"op": "add", "path": "/items/123/tags/1", "value": "b"}]


def test_insertions_and_removals_far_apart_are_each_one_operation() -> None:
    items = [{"uid": f"u{i}"} for i in range(5_000)]
    changed = copy.deepcopy(items)
    del changed[4_000]
    changed.insert(0, {"uid": "new"})
    del changed[2_501]
    patch = make_patch({"items": items}, {"items": changed})
    assert [op["op"] for op in patch] == ["add", "remove", "remove"]
    assert exact(apply_patch({"items": copy.deepcopy(items)}, patch)) == exact({"items": changed})


def test_a_sorted_list_is_one_replace_no_larger_than_the_list_plus_a_little() -> None:
    items = [{"uid": f"u{i:05d}", "level": (i * 7919) % 100} for i in range(20_000)]
    changed = sorted(items, key=lambda item: item["level"])
    patch = make_patch({"items": items}, {"items": changed})
    assert [(op["op"], op["path"]) for op in patch] == [("replace", "/items")]
    assert len(orjson.dumps(patch)) <= len(orjson.dumps(changed)) + 1024


def test_a_type_only_change_inside_an_equal_looking_list_is_found() -> None:
    items = [{"qty": 1} for _ in range(100)]
    changed = copy.deepcopy(items)
    changed[50]["qty"] = 1.0
    changed[60]["qty"] = True
    patch = make_patch({"items": items}, {"items": changed})
    assert exact(apply_patch({"items": copy.deepcopy(items)}, patch)) == exact({"items": changed})


def test_list_indices_are_applied_directly_and_bad_ones_fail_as_jsonpatch_fails() -> None:
    document = {"l": [0, 1, 2]}
    apply_patch(document, [{"op": "add", "path": "/l/-", "value": 3}, {"op": "remove", "path": "/l/0"},
                           {"op": "add", "path": "/l/1", "value": {"x": [1]}}])
    assert document == {"l": [1, {"x": [1]}, 2, 3]}
    for bad in ("/l/01", "/l/9", "/l/-1", "/l/x"):
        with pytest.raises((jsonpatch.JsonPatchException, jsonpatch.JsonPointerException)):
            apply_patch({"l": [0, 1]}, [{"op": "replace", "path": bad, "value": 0}])
