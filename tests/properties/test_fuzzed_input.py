"""Fuzzed names, keys, data, metadata and messages: clear errors only, never a corrupt store."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any
from uuid import uuid4

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.databases import BACKENDS, fresh_database

from profilestore import DataError, Engine, InvalidKeyError, ProfileStore

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_leaves = (st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=20)
               | st.floats(allow_nan=False, allow_infinity=False))
bad_leaves = (st.sets(st.integers(), max_size=2) | st.tuples(st.integers()) | st.binary(max_size=4)
              | st.just(math.nan) | st.just(math.inf) | st.integers(min_value=2**64, max_value=2**70))
json_values = st.recursive(json_leaves, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=20)
any_values = st.recursive(json_leaves | bad_leaves, lambda inner: st.lists(inner, max_size=4)
                          | st.dictionaries(st.text(max_size=8) | st.integers(), inner, max_size=4),
                          max_leaves=20)
documents = st.dictionaries(st.text(max_size=8), json_values, max_size=5)
maybe_bad_documents = st.dictionaries(st.text(max_size=8) | st.integers(), any_values, max_size=5)
names = (st.text(max_size=60) | st.text(alphabet="a\x00", max_size=4) | st.integers() | st.none()
         | st.binary(max_size=5))


def valid_key(value: Any) -> bool:
    return isinstance(value, str) and 1 <= len(value) <= 50 and "\x00" not in value


@pytest.fixture(scope="module", params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """One engine per back end for the whole module (hypothesis runs many examples per test)."""
    with fresh_database(request.param, tmp_path_factory.mktemp("fuzz"), memory=True) as url:
        engine = Engine(url, background=False)
        yield engine
        engine.close(timeout=5)


def same_json(a: Any, b: Any) -> bool:
    """Equal as JSON and of the same JSON types (1 is not 1.0 is not True)."""
    option = orjson.OPT_SORT_KEYS
    return orjson.dumps(a, option=option) == orjson.dumps(b, option=option)


def consistent(store: ProfileStore, key: str) -> None:
    assert all(entry.type != "Corrupt" for entry in store.history(key))


@FUZZ
@given(name=names, key=names)
def test_names_and_keys_either_work_or_raise_invalid_key_or_type_error(engine: Engine, name: Any,
                                                                       key: Any) -> None:
    try:
        store = ProfileStore(name, engine=engine)
    except (InvalidKeyError, TypeError) as error:
        assert not valid_key(name), error
        return
    for call in (store.get, lambda k: store.message(k, {"x": 1}), store.history):
        try:
            call(key)
        except (InvalidKeyError, TypeError) as error:
            assert not valid_key(key), error
    if valid_key(key):
        consistent(store, key)


@FUZZ
@given(first=documents, second=maybe_bad_documents)
def test_data_round_trips_exactly_or_is_refused_with_the_last_good_save_intact(
        engine: Engine, first: dict[str, Any], second: dict[str, Any]) -> None:
    store, key = ProfileStore("Fuzz", engine=engine), uuid4().hex
    profile = store.start_session(key)
    assert profile is not None
    profile.data = first
    assert profile.save()
    profile.data = second
    try:
        saved = profile.save()
    except DataError as error:
        assert str(error).startswith("data"), error
        expected = first
    else:
        assert saved
        expected = second
    latest = store.get(key)
    assert latest is not None and same_json(latest.data, expected)
    consistent(store, key)
    profile.data = first
    profile.end_session()


@FUZZ
@given(metadata=st.dictionaries(st.text(max_size=8) | st.integers(), any_values, max_size=4))
def test_metadata_is_stored_as_given_or_refused_with_a_clear_error(engine: Engine,
                                                                   metadata: dict[str, Any]) -> None:
    store, key = ProfileStore("Fuzz", engine=engine), uuid4().hex
    profile = store.start_session(key)
    assert profile is not None
    profile.metadata = metadata
    try:
        profile.save()
    except DataError as error:
        assert str(error).startswith("metadata"), error
        profile.metadata = {}
    else:
        assert same_json(profile.key_info.metadata, metadata)
    profile.end_session()
    consistent(store, key)


@FUZZ
@given(message=maybe_bad_documents)
def test_messages_arrive_exactly_as_sent_or_are_refused(engine: Engine, message: dict[str, Any]
                                                        ) -> None:
    store, key = ProfileStore("Fuzz", engine=engine), uuid4().hex
    try:
        assert store.message(key, message)
    except DataError as error:
        assert str(error).startswith("message"), error
        assert store.get(key) is None
        return
    held: list[dict[str, Any]] = []
    profile = store.get(key)
    assert profile is not None
    profile.message_handler(lambda received, processed: held.append(received))
    assert len(held) == 1 and same_json(held[0], message)
    consistent(store, key)
