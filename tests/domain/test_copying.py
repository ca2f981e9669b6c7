"""json_copy: the quick deep copy of checked JSON that cache reads and new profile views use."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from profilestore.domain.copying import json_copy

_json = st.recursive(  # checked JSON: what validation lets through (64-bit integers, finite floats)
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=4),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=3), inner, max_size=4),
    max_leaves=20)


def containers(value: Any) -> list[int]:
    """The ids of every dict and list in a JSON value."""
    if isinstance(value, dict):
        return [id(value), *(i for item in value.values() for i in containers(item))]
    if isinstance(value, list):
        return [id(value), *(i for item in value for i in containers(item))]
    return []


@given(st.dictionaries(st.text(max_size=3), _json, max_size=5))
def test_a_copy_is_equal_and_shares_no_dict_or_list_with_the_original(data: dict[str, Any]) -> None:
    original = copy.deepcopy(data)
    copied = json_copy(data)
    assert copied == data == original
    assert not set(containers(copied)) & set(containers(data))


def test_changing_a_copy_deep_inside_leaves_the_original_alone() -> None:
    data = {"bag": [{"sword": {"level": 1}}], "coins": 5}
    copied = json_copy(data)
    copied["bag"][0]["sword"]["level"] = 2
    copied["bag"].append("shield")
    assert data == {"bag": [{"sword": {"level": 1}}], "coins": 5}
