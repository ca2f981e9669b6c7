"""Typed profiles (a pydantic model as the template) through the whole API: sessions, saves,
loads, raw repair, messages, trades, set() rollbacks and the mock store. What is stored is the
model's JSON dump, and nothing that a later load would refuse is ever stored."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from freezegun import freeze_time
from pydantic import BaseModel, Field
from support.timeline import recorder

from profilestore import DataError, Engine, Profile, ProfileStore, Settings


class Item(BaseModel):
    uid: str
    kind: str
    qty: int = 1


class Stats(BaseModel):
    level: int = 1
    title: str | None = None


class Player(BaseModel):
    coins: int = 0
    items: list[Item] = []
    stats: Stats = Stats()


START = "2026-01-01 00:00:00"
FAST = Settings(first_load_repeat=1, load_repeat_period=1, session_steal=40, poll_interval=0.1)
# Logic that no database changes runs on SQLite only.
SQLITE_ONLY = pytest.mark.parametrize("backend", ["sqlite"])
FRESH = {"coins": 0, "items": [], "stats": {"level": 1, "title": None}}


@pytest.fixture
def players(engine: Engine) -> ProfileStore:
    """A typed store of Player profiles."""
    return ProfileStore("Players", Player, engine=engine)


def start(store: ProfileStore, key: str) -> Profile:
    profile = store.start_session(key)
    assert profile is not None
    return profile


def stored(store: ProfileStore, key: str) -> dict[str, Any]:
    """The data of the latest saved version exactly as stored (through the raw view)."""
    profile = store.raw.get(key)
    assert profile is not None
    data = profile.data
    assert type(data) is dict
    return data


def is_plain_json(value: object) -> bool:
    """Only dicts with str keys, lists, str, int, float, bool and None, all the way down."""
    if isinstance(value, dict):
        return all(type(k) is str and is_plain_json(v) for k, v in value.items())
    if isinstance(value, list):
        return all(is_plain_json(v) for v in value)
    return value is None or type(value) in (str, int, float, bool)


def errors_of(engine: Engine) -> list[tuple[Any, ...]]:
    return recorder(engine.on_error)


def tick_until_done(frozen: Any, call: Any, each: Callable[[], None], step: float = 0.1,
                    limit: int = 100) -> None:
    """Move the frozen clock while `call` runs in its thread, running `each` at every step."""
    for _ in range(limit):
        if call.done:
            return
        frozen.tick(step)
        each()
        call.join(0.06)


# ---- the model as the data -----------------------------------------------------------------------


def test_a_new_typed_profile_is_an_instance_of_the_model_with_its_defaults(players: ProfileStore
                                                                            ) -> None:
    assert players.template is Player
    profile = start(players, "new")
    assert type(profile.data) is Player
    assert profile.data == Player()
    created = players.history("new")[0]
    assert created.type == "ProfileCreated"
    assert created.payload["data"] == FRESH
    profile.end_session()


def test_fields_nested_models_and_list_items_changed_in_a_session_come_back_equal(
        players: ProfileStore) -> None:
    profile = start(players, "p1")
    profile.data.coins += 10
    profile.data.items.append(Item(uid="u1", kind="sword"))
    profile.data.items.append(Item(uid="u2", kind="shield", qty=2))
    profile.data.stats.level = 3
    assert profile.save() is True
    profile.data.items[0].qty = 5
    profile.data.items.insert(0, Item(uid="u0", kind="potion"))
    del profile.data.items[2]
    profile.data.stats.title = "Knight"
    expected = profile.data.model_dump(mode="json")
    profile.end_session()

    got = players.get("p1")
    assert got is not None
    assert type(got.data) is Player
    assert got.data == profile.data
    assert got.data.model_dump(mode="json") == expected
    assert stored(players, "p1") == expected
    again = start(players, "p1")
    assert again.data == profile.data
    assert again.session_load_count == 2
    again.end_session()


def test_what_is_stored_is_plain_json_in_events_and_raw_reads(players: ProfileStore) -> None:
    profile = start(players, "json")
    profile.data.items.append(Item(uid="u1", kind="sword"))
    profile.save()
    profile.data.items[0].kind = "axe"
    profile.metadata["note"] = "typed"
    profile.end_session()

    for entry in players.history("json"):
        assert is_plain_json(entry.payload), entry
        orjson.dumps(entry.payload)  # no default= needed: nothing but JSON
    patches = [e.payload["patch"] for e in players.history("json") if e.type == "Saved"]
    assert patches[-1] == [{"op": "replace", "path": "/items/0/kind", "value": "axe"}]
    raw = players.raw.get("json")
    assert raw is not None
    assert type(raw.data) is dict
    assert raw.data == {"coins": 0, "items": [{"uid": "u1", "kind": "axe", "qty": 1}],
                        "stats": {"level": 1, "title": None}}
    assert players.raw.template == FRESH, "the raw view's template is the model's defaults, dumped"


def test_the_sql_read_model_holds_the_models_json(engine: Engine, players: ProfileStore) -> None:
    profile = start(players, "row")
    profile.data.items.append(Item(uid="u1", kind="sword"))
    profile.data.stats.title = "Squire"
    profile.end_session()
    assert engine.flush_read_models()
    rows = engine.parts.logs.live.recorder._query(  # type: ignore[attr-defined]
        "SELECT data FROM profiles WHERE store=:store AND key=:key", {"store": "Players", "key": "row"})
    assert [orjson.loads(data) for (data,) in rows] == [profile.data.model_dump(mode="json")]


@SQLITE_ONLY
def test_assigning_a_dict_validates_it_into_the_model(players: ProfileStore) -> None:
    profile = start(players, "dict")
    profile.data = {"coins": 7, "items": [{"uid": "a", "kind": "gem"}]}
    assert type(profile.data) is Player
    assert profile.data.items == [Item(uid="a", kind="gem", qty=1)]
    assert profile.data.stats == Stats(), "validation fills the defaults"
    profile.end_session()
    assert stored(players, "dict") == {"coins": 7, "items": [{"uid": "a", "kind": "gem", "qty": 1}],
                                       "stats": {"level": 1, "title": None}}


@SQLITE_ONLY
def test_assigning_an_instance_of_the_model_replaces_the_data(players: ProfileStore) -> None:
    profile = start(players, "instance")
    replacement = Player(coins=3, items=[Item(uid="b", kind="bow")])
    profile.data = replacement
    assert profile.data == replacement
    profile.end_session()
    got = players.get("instance")
    assert got is not None and got.data == replacement


def invalid_instance() -> Player:
    player = Player(items=[Item(uid="a", kind="gem")])
    player.items[0].kind = 5  # type: ignore[assignment]  # no validate_assignment: caught on use
    return player


@SQLITE_ONLY
@pytest.mark.parametrize(("value", "path"), [
    ({"items": [{"uid": "a", "kind": 5}]}, "data['items'][0]['kind']"),
    ({"items": [{"uid": "a"}]}, "data['items'][0]['kind']: Field required"),
    ({"coins": "many"}, "data['coins']"),
    ({"stats": {"level": [1]}}, "data['stats']['level']"),
    (invalid_instance(), "data['items'][0]['kind']"),
])
def test_assigning_data_that_does_not_validate_raises_data_error_naming_the_path(
        players: ProfileStore, value: object, path: str) -> None:
    profile = start(players, "bad-assign")
    profile.data.coins = 1
    with pytest.raises(DataError) as caught:
        profile.data = value
    assert str(caught.value).startswith(path), caught.value
    assert profile.data == Player(coins=1), "the data stays as it was"
    profile.end_session()


@SQLITE_ONLY
@pytest.mark.parametrize("value", [5, None, "text", [1], Item(uid="a", kind="b"), Stats()])
def test_assigning_anything_but_a_dict_or_an_instance_of_the_model_raises_type_error(
        players: ProfileStore, value: object) -> None:
    profile = start(players, "wrong-type")
    with pytest.raises(TypeError):
        profile.data = value
    assert profile.data == Player()
    profile.end_session()


@SQLITE_ONLY
def test_a_template_model_with_a_field_without_a_default_raises_type_error(engine: Engine) -> None:
    class NoDefault(BaseModel):
        coins: int = 0
        name: str

    with pytest.raises(TypeError, match="name"):
        ProfileStore("NoDefaults", NoDefault, engine=engine)


@SQLITE_ONLY
def test_reconcile_is_accepted_and_changes_nothing(players: ProfileStore) -> None:
    profile = start(players, "reconcile")
    profile.data.coins = 4
    before = profile.data.model_dump()
    profile.reconcile()
    assert profile.data.model_dump() == before
    profile.end_session()


def test_last_saved_data_is_a_model_of_what_was_stored_and_on_after_save_gets_it(
        players: ProfileStore) -> None:
    profile = start(players, "last-saved")
    assert profile.last_saved_data == Player()
    after_save = recorder(profile.on_after_save)
    profile.data.coins = 9
    assert profile.save() is True
    profile.data.coins = 10  # not saved yet
    assert type(profile.last_saved_data) is Player
    assert profile.last_saved_data.coins == 9
    assert profile.last_saved_data is not profile.data
    assert [saved for (saved,) in after_save] == [Player(coins=9)]
    profile.end_session()
    assert profile.last_saved_data.coins == 10


# ---- saves of data that does not validate --------------------------------------------------------


def test_a_save_of_data_that_does_not_validate_raises_and_writes_nothing(
        engine: Engine, players: ProfileStore) -> None:
    profile = start(players, "bad-save")
    profile.data.items.append(Item(uid="u1", kind="sword"))
    assert profile.save() is True
    errors = errors_of(engine)
    before = players.history("bad-save")

    profile.data.items[0].kind = 5  # type: ignore[assignment]
    with pytest.raises(DataError) as caught:
        profile.save()

    assert str(caught.value).startswith("data['items'][0]['kind']"), caught.value
    assert [e[0] for e in errors] == [str(caught.value)]
    assert players.history("bad-save") == before
    assert profile.is_active()
    assert stored(players, "bad-save")["items"][0]["kind"] == "sword", "the last good data stands"
    profile.data.items[0].kind = "mace"
    assert profile.save() is True
    assert stored(players, "bad-save")["items"][0]["kind"] == "mace"
    profile.end_session()


@SQLITE_ONLY
def test_a_save_of_a_bad_top_level_field_raises_naming_it(players: ProfileStore) -> None:
    profile = start(players, "bad-field")
    profile.data.coins = "lots"  # type: ignore[assignment]
    with pytest.raises(DataError, match=r"^data\['coins'\]"):
        profile.save()
    profile.data.stats = {"level": "high"}  # type: ignore[assignment]
    profile.data.coins = 2
    with pytest.raises(DataError, match=r"^data\['stats'\]\['level'\]"):
        profile.save()
    profile.data.stats = Stats(level=2)
    profile.end_session()
    assert stored(players, "bad-field")["stats"] == {"level": 2, "title": None}


def test_end_session_with_data_that_does_not_validate_raises_and_keeps_the_session(
        engine: Engine, players: ProfileStore) -> None:
    profile = start(players, "bad-end")
    last_saves, ends = recorder(profile.on_last_save), recorder(profile.on_session_end)
    errors = errors_of(engine)
    before = players.history("bad-end")
    profile.data.coins = 3
    profile.data.items.append(Item(uid="u1", kind="gem"))
    profile.data.items[0].qty = "many"  # type: ignore[assignment]

    with pytest.raises(DataError, match=r"^data\['items'\]\[0\]\['qty'\]"):
        profile.end_session()
    assert ends == []
    assert profile.is_active()
    assert len(errors) == 1
    assert players.history("bad-end") == before

    profile.data.items[0].qty = 2
    profile.end_session()
    assert last_saves == [("Manual",), ("Manual",)]
    assert ends == [()]
    assert not profile.is_active()
    assert stored(players, "bad-end")["items"] == [{"uid": "u1", "kind": "gem", "qty": 2}]


def test_an_auto_save_of_data_that_does_not_validate_writes_only_a_heartbeat(
        engine: Engine, players: ProfileStore) -> None:
    engine.set_constant("AUTO_SAVE_PERIOD", 10)
    with freeze_time(START) as frozen:
        profile = start(players, "bad-auto")
        profile.data.coins = 5
        assert profile.save() is True
        errors = errors_of(engine)
        profile.data.coins = "five"  # type: ignore[assignment]
        frozen.tick(11)
        engine.run_pending()

        last = players.history("bad-auto")[-1]
        assert last.type == "Saved"
        assert last.payload["patch"] == []
        assert any(e[0].startswith("data['coins']") for e in errors), errors
        assert stored(players, "bad-auto")["coins"] == 5
        assert profile.last_saved_data == Player(coins=5)
        assert profile.is_active()
        profile.data.coins = 6
        profile.end_session()
    assert stored(players, "bad-auto")["coins"] == 6


def test_a_hand_over_of_data_that_does_not_validate_releases_with_the_last_good_data(
        make_engine: Callable[..., Engine], in_thread: Any) -> None:
    a = ProfileStore("Players", Player, engine=make_engine(job_id="A", settings=FAST))
    b = ProfileStore("Players", Player, engine=make_engine(job_id="B", settings=FAST))
    with freeze_time(START) as frozen:
        held = start(a, "bad-handover")
        held.data.coins = 2
        assert held.save() is True
        held.data.coins = "two"  # type: ignore[assignment]
        errors = errors_of(a.engine)
        call = in_thread(b.start_session, "bad-handover")
        tick_until_done(frozen, call, a.engine.run_pending)
        taken = call.outcome()
        assert taken is not None
        assert taken.data == Player(coins=2), "the last good data stands"
        assert any(e[0].startswith("data['coins']") for e in errors), errors
        assert not held.is_active()
        ended = [e.payload["reason"] for e in b.history("bad-handover") if e.type == "SessionEnded"]
        assert ended == ["External"]
        taken.end_session()


def test_closing_with_data_that_does_not_validate_releases_with_the_last_good_data(
        make_engine: Callable[..., Engine]) -> None:
    engine = make_engine(job_id="A")
    players = ProfileStore("Players", Player, engine=engine)
    profile = start(players, "bad-close")
    profile.data.coins = 3
    assert profile.save()
    profile.data.coins = "three"  # type: ignore[assignment]
    errors = errors_of(engine)
    engine.close(timeout=5)
    assert not profile.is_active()
    assert any(e[0].startswith("data['coins']") for e in errors), errors

    reader = ProfileStore("Players", Player, engine=make_engine(job_id="B"))
    history = reader.history("bad-close")
    assert (history[-1].type, history[-1].payload["reason"]) == ("SessionEnded", "Shutdown")
    assert stored(reader, "bad-close")["coins"] == 3
    taken = start(reader, "bad-close")  # released: no need to wait for session_steal
    assert taken.data == Player(coins=3)
    taken.end_session()


# ---- loads that do not validate, and repairing them through store.raw -------------------------


def spoil(store: ProfileStore, key: str) -> None:
    """Store data under `key` that the Player model refuses (as an older release might have)."""
    writer = ProfileStore(store.name, {}, engine=store.engine)
    profile = start(writer, key)
    profile.data = {"coins": 1, "items": [{"uid": "u1", "kind": 7}]}
    profile.end_session()


def test_a_load_that_does_not_validate_raises_data_error_naming_the_path_and_version(
        players: ProfileStore, caplog: pytest.LogCaptureFixture) -> None:
    spoil(players, "spoiled")
    before = players.history("spoiled")
    version = players.raw.get("spoiled").key_info.version  # type: ignore[union-attr]

    with pytest.raises(DataError) as caught:
        players.start_session("spoiled")

    text = str(caught.value)
    assert text.startswith("data['items'][0]['kind']"), text
    assert f"version {version}" in text
    assert players.history("spoiled") == before, "no claim, nothing written"
    with caplog.at_level(logging.WARNING, logger="profilestore"):
        assert players.get("spoiled") is None
    assert "data['items'][0]['kind']" in caplog.text, "get logs why"
    assert list(players.version_query("spoiled")) != [], "the template version still reads"
    assert all(p.key_info.version != version for p in players.version_query("spoiled"))
    assert players.history("spoiled") == before


def test_a_load_that_does_not_validate_writes_nothing_while_another_server_holds_the_profile(
        make_engine: Callable[..., Engine]) -> None:
    a = ProfileStore("Players", Player, engine=make_engine(job_id="A", settings=FAST))
    other = ProfileStore("Players", {}, engine=make_engine(job_id="B", settings=FAST))
    held = start(other, "held-bad")
    held.data = {"coins": "lots"}
    assert held.save() is True
    before = a.history("held-bad")

    with pytest.raises(DataError, match=r"^data\['coins'\]"):
        a.start_session("held-bad")

    assert a.history("held-bad") == before, "no SessionRequested"
    other.engine.run_pending()
    assert held.is_active(), "the holder keeps its session"
    held.end_session()


def test_raw_reads_data_exactly_as_stored_and_a_raw_set_repairs_it(players: ProfileStore) -> None:
    spoil(players, "repair")
    raw = players.raw
    assert raw.raw is raw
    assert raw.name == players.name
    broken = raw.get("repair")
    assert broken is not None
    assert broken.data == {"coins": 1, "items": [{"uid": "u1", "kind": 7}]}

    broken.data["items"][0]["kind"] = "sword"
    assert broken.set() is True

    fixed = players.get("repair")
    assert fixed is not None
    assert fixed.data == Player(coins=1, items=[Item(uid="u1", kind="sword")])
    profile = start(players, "repair")
    profile.data.items[0].qty += 1
    profile.end_session()
    assert stored(players, "repair")["items"] == [{"uid": "u1", "kind": "sword", "qty": 2}]


@SQLITE_ONLY
def test_a_raw_write_is_checked_as_plain_json_only(players: ProfileStore) -> None:
    start(players, "raw-write").end_session()
    raw = players.raw.get("raw-write")
    assert raw is not None
    raw.data["coins"] = "not a number"  # the model refuses it, but raw writes are for repairs
    assert raw.set() is True
    assert players.get("raw-write") is None
    raw.data["coins"] = {1, 2}
    with pytest.raises(DataError, match=r"data\['coins'\]: set"):
        raw.set()


# ---- messages, trades, rollbacks, mock -----------------------------------------------------------


def test_message_handlers_change_model_data_and_each_message_counts_once(
        engine: Engine, players: ProfileStore) -> None:
    profile = start(players, "gifts")

    def gift(message: dict[str, Any], processed: Callable[[], None]) -> None:
        profile.data.coins += message["coins"]
        profile.data.items.append(Item(uid=message["uid"], kind="gift"))
        processed()

    profile.message_handler(gift)
    assert players.message("gifts", {"coins": 5, "uid": "g1"})
    assert players.message("gifts", {"coins": 7, "uid": "g2"})
    engine.run_pending()
    engine.run_pending()
    assert profile.data.coins == 12
    got = players.get("gifts")
    assert got is not None
    assert got.data.coins == 12
    assert [item.uid for item in got.data.items] == ["g1", "g2"]
    left: list[dict[str, Any]] = []
    got.message_handler(lambda message, processed: left.append(message))
    assert left == [], "processed in the same event as the data change"
    profile.end_session()


def test_a_message_sent_before_the_session_is_delivered_to_the_typed_profile(
        players: ProfileStore) -> None:
    assert players.message("early", {"coins": 3})
    got = players.get("early")
    assert got is not None and got.data == Player()
    profile = start(players, "early")

    def gift(message: dict[str, Any], processed: Callable[[], None]) -> None:
        profile.data.coins += message["coins"]
        processed()

    profile.message_handler(gift)  # called at once for the message already held
    assert profile.data.coins == 3
    profile.end_session()
    assert stored(players, "early")["coins"] == 3


def test_a_transaction_moves_an_item_between_two_model_profiles_in_one_write(
        engine: Engine, players: ProfileStore) -> None:
    buyer, seller = start(players, "buyer"), start(players, "seller")
    buyer.data.coins = 100
    seller.data.items.append(Item(uid="s1", kind="sword"))
    assert buyer.save() and seller.save()

    with engine.transaction(buyer, seller):
        buyer.data.coins -= 10
        seller.data.coins += 10
        buyer.data.items.append(seller.data.items.pop())

    assert stored(players, "buyer") == {"coins": 90, "items": [{"uid": "s1", "kind": "sword", "qty": 1}],
                                        "stats": {"level": 1, "title": None}}
    assert stored(players, "seller")["coins"] == 10
    assert stored(players, "seller")["items"] == []
    last = [players.history(key)[-1] for key in ("buyer", "seller")]
    assert [e.type for e in last] == ["Saved", "Saved"]
    assert last[0].timestamp == last[1].timestamp, "one trade, one timestamp"
    buyer.end_session()
    seller.end_session()


def test_a_transaction_whose_data_does_not_validate_rolls_back_both_profiles(
        engine: Engine, players: ProfileStore) -> None:
    buyer, seller = start(players, "buyer"), start(players, "seller")
    buyer.data.coins = 100
    seller.data.items.append(Item(uid="s1", kind="sword"))
    assert buyer.save() and seller.save()
    before = {key: players.history(key) for key in ("buyer", "seller")}
    dumps = (buyer.data.model_dump(), seller.data.model_dump())
    errors = errors_of(engine)

    with pytest.raises(DataError, match=r"^data\['items'\]\[0\]\['qty'\]"), \
            engine.transaction(buyer, seller):
        buyer.data.coins -= 10
        seller.data.coins += 10
        buyer.data.items.append(seller.data.items.pop())
        buyer.data.items[0].qty = "one"  # type: ignore[assignment]

    assert {key: players.history(key) for key in ("buyer", "seller")} == before
    assert (buyer.data.model_dump(), seller.data.model_dump()) == dumps, "both restored"
    assert len(errors) == 1
    assert buyer.is_active() and seller.is_active()
    buyer.end_session()
    seller.end_session()
    assert stored(players, "buyer")["coins"] == 100
    assert stored(players, "seller")["items"] == [{"uid": "s1", "kind": "sword", "qty": 1}]


def test_set_rolls_a_model_profile_back_to_an_earlier_version(players: ProfileStore) -> None:
    profile = start(players, "rollback")
    profile.data.coins = 50
    assert profile.save() is True
    good = profile.key_info.version
    profile.data.coins = 0
    profile.data.items.append(Item(uid="x", kind="cursed"))
    profile.end_session()

    old = players.get("rollback", version=good)
    assert old is not None
    assert type(old.data) is Player and old.data.coins == 50
    old.data.stats.title = "Restored"
    assert old.set() is True
    assert players.history("rollback")[-1].type == "Overwritten"
    got = players.get("rollback")
    assert got is not None
    assert got.data == Player(coins=50, stats=Stats(title="Restored"))
    assert old.last_saved_data == got.data


def test_set_of_model_data_that_does_not_validate_raises_and_writes_nothing(
        engine: Engine, players: ProfileStore) -> None:
    start(players, "bad-set").end_session()
    old = players.get("bad-set")
    assert old is not None
    before = players.history("bad-set")
    errors = errors_of(engine)
    old.data.coins = "no"  # type: ignore[assignment]
    with pytest.raises(DataError, match=r"^data\['coins'\]"):
        old.set()
    assert players.history("bad-set") == before
    assert len(errors) == 1


def test_the_mock_store_holds_model_profiles_apart_from_the_live_ones(players: ProfileStore) -> None:
    mock = players.mock
    assert mock.template is Player
    live = start(players, "both")
    in_mock = start(mock, "both")
    assert type(in_mock.data) is Player
    in_mock.data.coins = 99
    in_mock.data.items.append(Item(uid="m", kind="toy"))
    in_mock.data.items[0].qty = "x"  # type: ignore[assignment]
    with pytest.raises(DataError, match=r"^data\['items'\]\[0\]\['qty'\]"):
        in_mock.save()
    in_mock.data.items[0].qty = 3
    in_mock.end_session()
    live.end_session()
    got = mock.get("both")
    assert got is not None
    assert got.data == Player(coins=99, items=[Item(uid="m", kind="toy", qty=3)])
    assert [p.data.coins for p in mock.version_query("both")][-1] == 99
    assert stored(players, "both") == FRESH


@SQLITE_ONLY
def test_read_only_typed_profiles_from_get_and_version_query_are_models(players: ProfileStore) -> None:
    profile = start(players, "versions")
    for coins in (1, 2, 3):
        profile.data.coins = coins
        profile.save()
    profile.end_session()
    seen = [p.data for p in players.version_query("versions")]
    assert all(type(data) is Player for data in seen)
    assert [data.coins for data in seen] == [0, 1, 2, 3, 3]
    assert players.get("versions", version=1).data == Player()  # type: ignore[union-attr]


class Flag(BaseModel):
    value: bool | int = 0


class Flags(BaseModel):
    items: list[Flag] = []


def test_changing_a_list_element_from_1_to_true_is_saved(engine: Engine) -> None:
    store = ProfileStore("Flags", Flags, engine=engine)
    profile = start(store, "flag")
    profile.data.items.append(Flag(value=1))
    assert profile.save()
    profile.data.items[0].value = True
    assert profile.save()
    profile.end_session()
    assert stored(store, "flag")["items"][0]["value"] is True


class Aliased(BaseModel):
    display_name: str = Field("", alias="displayName")
    coins: int = 0


def test_a_field_with_an_alias_reads_back_what_was_saved(engine: Engine) -> None:
    store = ProfileStore("Aliased", Aliased, engine=engine)
    profile = start(store, "alias")
    profile.data = {"displayName": "Bob", "coins": 3}
    assert profile.data.display_name == "Bob"
    profile.end_session()
    got = store.get("alias")
    assert got is not None
    assert got.data.display_name == "Bob"
