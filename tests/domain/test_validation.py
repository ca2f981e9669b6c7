"""Keys, data, metadata and templates: what can be stored as JSON and read back unchanged."""

from __future__ import annotations

import dataclasses
import enum
import math
from datetime import UTC, datetime
from uuid import UUID

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from profilestore.domain.errors import DataError, InvalidKeyError, ProfileStoreError
from profilestore.domain.validation import (
    _is_plain,
    check_key,
    check_metadata,
    check_template,
    encode_json,
    json_problem,
)

MAX_KEY = 50
ROOMY = 1_000_000


# ---- keys ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [5, None, b"key", ["key"], 1.5])
def test_a_key_that_is_not_a_str_is_a_type_error(bad: object) -> None:
    with pytest.raises(TypeError):
        check_key(bad, "key", MAX_KEY)


@pytest.mark.parametrize("bad", ["", "x" * (MAX_KEY + 1)])
def test_a_key_of_length_zero_or_over_the_limit_is_an_invalid_key(bad: str) -> None:
    with pytest.raises(InvalidKeyError):
        check_key(bad, "key", MAX_KEY)


@pytest.mark.parametrize("good", ["k", "x" * MAX_KEY, "Player_123:eu", "é" * MAX_KEY])
def test_a_key_of_one_to_max_characters_is_accepted_unchanged(good: str) -> None:
    assert check_key(good, "key", MAX_KEY) == good


def test_a_key_with_a_nul_character_is_invalid_on_every_back_end() -> None:
    with pytest.raises(InvalidKeyError, match="key must not contain NUL"):
        check_key("a\x00b", "key", MAX_KEY)


def test_the_invalid_key_message_names_what_was_wrong() -> None:
    with pytest.raises(InvalidKeyError, match=r"store name.*1 to 50"):
        check_key("", "store name", MAX_KEY)


def test_invalid_key_and_data_errors_are_also_value_errors() -> None:
    assert issubclass(InvalidKeyError, ValueError) and issubclass(InvalidKeyError, ProfileStoreError)
    assert issubclass(DataError, ValueError) and issubclass(DataError, ProfileStoreError)
    with pytest.raises(ValueError):
        check_key("", "key", MAX_KEY)
    with pytest.raises(ValueError):
        encode_json({"s": {1}}, "data", ROOMY)


# ---- data ----------------------------------------------------------------------------------------


def test_json_compatible_data_is_encoded_as_compact_json_that_reads_back_equal() -> None:
    data = {"coins": 3, "ratio": 0.5, "on": True, "none": None, "bag": ["a", {"b": [1, -2]}], "é": "ü"}

    encoded = encode_json(data, "data", ROOMY)

    assert encoded == orjson.dumps(data)
    assert b" " not in encoded
    assert orjson.loads(encoded) == data
    assert json_problem(data, "data") is None



class Colour(enum.Enum):
    RED = "red"


class Rank(enum.IntEnum):
    TOP = 1


class Name(str):
    pass


@dataclasses.dataclass
class Box:
    size: int

@pytest.mark.parametrize(
    ("data", "path"),
    [
        ({"bag": [1, 2, 3, {"sword"}]}, "data['bag'][3]: set"),
        ({"pos": (1, 2)}, "data['pos']: tuple"),
        ({"blob": b"\x00"}, "data['blob']: bytes"),
        ({"a": [{"b": [frozenset()]}]}, "data['a'][0]['b'][0]: frozenset"),
        ({"when": object()}, "data['when']: object"),
        # orjson would write these as JSON that reads back as something else
        ({"at": datetime(2026, 1, 1, tzinfo=UTC)}, "data['at']: datetime"),
        ({"id": UUID(int=1)}, "data['id']: UUID"),
        ({"colour": Colour.RED}, "data['colour']: Colour"),
        ({"rank": Rank.TOP}, "data['rank']: Rank"),
        ({"name": Name("x")}, "data['name']: Name"),
        ({"box": Box(1)}, "data['box']: Box"),
        ({"n": [math.nan]}, "data['n'][0]: non-finite float nan"),
    ],
)
def test_a_value_json_would_not_give_back_is_refused_naming_its_path(data: dict, path: str) -> None:
    assert json_problem(data, "data") == path
    with pytest.raises(DataError) as raised:
        encode_json(data, "data", ROOMY)
    assert str(raised.value) == path


@pytest.mark.parametrize("number", [math.nan, math.inf, -math.inf])
def test_non_finite_floats_are_refused(number: float) -> None:
    with pytest.raises(DataError, match=r"^data\['stats'\]\['hp'\]: .*float"):
        encode_json({"stats": {"hp": number}}, "data", ROOMY)


@pytest.mark.parametrize("key", [1, 2.5, None, True, ("a",)])
def test_dict_keys_that_are_not_str_are_refused(key: object) -> None:
    with pytest.raises(DataError, match=r"^data\['inner'\]: key .* is " + type(key).__name__):
        encode_json({"inner": {key: 1}}, "data", ROOMY)


@pytest.mark.parametrize("number", [2**64, -(2**63) - 1, 10**30])
def test_ints_beyond_64_bits_are_refused(number: int) -> None:
    with pytest.raises(DataError, match=r"^data\['big'\]: int"):
        encode_json({"big": number}, "data", ROOMY)


@pytest.mark.parametrize("number", [2**63 - 1, -(2**63), 2**64 - 1, 0])
def test_ints_within_64_bits_come_back_exactly(number: int) -> None:
    assert orjson.loads(encode_json({"n": number}, "data", ROOMY)) == {"n": number}


def test_data_that_is_not_a_dict_is_refused() -> None:
    with pytest.raises(DataError, match=r"^data: list"):
        encode_json(["a"], "data", ROOMY)


def test_the_path_prefix_is_the_one_given_so_messages_and_metadata_are_named_too() -> None:
    with pytest.raises(DataError, match=r"^metadata\['note'\]: bytes$"):
        encode_json({"note": b"x"}, "metadata", ROOMY)
    with pytest.raises(DataError, match=r"^message\['items'\]\[0\]: set$"):
        encode_json({"items": [set()]}, "message", ROOMY)


def test_data_over_the_byte_limit_is_refused_with_its_size_and_the_limit() -> None:
    data = {"s": "é" * 10}
    size = len(orjson.dumps(data))
    assert size == 28  # two UTF-8 bytes per "é": the limit counts bytes, not characters

    assert encode_json(data, "data", size) == orjson.dumps(data)
    with pytest.raises(DataError) as raised:
        encode_json(data, "data", size - 1)
    text = str(raised.value)
    assert text.startswith("data")
    assert "bytes" in text and str(size - 1) in text and str(size) in text


# ---- metadata ------------------------------------------------------------------------------------


def test_metadata_within_the_character_limit_is_accepted() -> None:
    metadata = {"note": "x" * 289}
    assert len(orjson.dumps(metadata)) == 300

    assert check_metadata(metadata, 300) == orjson.dumps(metadata)


def test_metadata_over_the_character_limit_is_refused_with_the_limit() -> None:
    metadata = {"note": "x" * 290}

    with pytest.raises(DataError, match=r"^metadata: .*301.*300"):
        check_metadata(metadata, 300)


def test_the_metadata_limit_counts_characters_not_bytes() -> None:
    metadata = {"note": "é" * 289}

    assert check_metadata(metadata, 300) == orjson.dumps(metadata)
    with pytest.raises(DataError):
        check_metadata({"note": "é" * 290}, 300)


def test_metadata_that_json_would_not_give_back_is_refused_naming_its_path() -> None:
    with pytest.raises(DataError, match=r"^metadata\['note'\]: bytes$"):
        check_metadata({"note": b"hi"}, 300)


# ---- templates -----------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [None, [], "{}", 3, ({"a": 1},)])
def test_a_template_that_is_not_a_dict_is_a_type_error(bad: object) -> None:
    with pytest.raises(TypeError):
        check_template(bad)


def test_a_template_that_is_not_json_compatible_is_a_type_error() -> None:
    with pytest.raises(TypeError, match=r"template\['bag'\]: set"):
        check_template({"bag": {"sword"}})


def test_a_template_is_copied_so_later_changes_to_the_original_do_not_reach_it() -> None:
    original = {"bag": ["sword"], "stats": {"hp": 10}}

    copied = check_template(original)
    original["bag"].append("shield")
    original["stats"]["hp"] = 0

    assert copied == {"bag": ["sword"], "stats": {"hp": 10}}


_leaves = st.none() | st.booleans() | st.integers(-(2**65), 2**65) | st.floats() | st.text(max_size=3) \
    | st.tuples(st.integers()) | st.binary(max_size=2) | st.sampled_from([Rank.TOP, Name("n")])
_values = st.recursive(_leaves, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
    st.text(max_size=2) | st.integers(0, 3), inner, max_size=3), max_leaves=12)


@given(st.dictionaries(st.text(max_size=2), _values, max_size=4))
def test_the_quick_check_and_the_path_naming_walk_agree_on_what_is_refused(data: dict) -> None:
    assert _is_plain(data) == (json_problem(data, "data") is None)
