"""Schema migrations on dict and model stores: a store's schema, the one Migrated event written
with the claim, migrations that fail, older servers meeting newer data, and reads that migrate
in memory without writing."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import jsonpatch
import pytest
from freezegun import freeze_time
from pydantic import BaseModel
from support.timeline import NOON

from profilestore import (
    DataError,
    Engine,
    Migration,
    Profile,
    ProfileStore,
    ProfileStoreError,
    Settings,
)

JsonDict = dict[str, Any]
OLD = {"coins": 5}  # what a server that knew no migrations stored
MIGRATED = {"gold": 5, "gems": 0}  # the same after both steps
SQLITE_ONLY = pytest.mark.parametrize("backend", ["sqlite"])  # logic no database changes
FAST = Settings(first_load_repeat=0.2, load_repeat_period=0.2, session_steal=60, poll_interval=0.05)


class PlayerV2(BaseModel):
    gold: int = 0
    gems: int = 0


class PlayerV1(BaseModel):  # what a server that knows only the first step reads
    coins: int = 0
    gems: int = 0


class Calls:
    """The two steps (schema 0 -> 1 -> 2), recording each call and the thread it ran on."""

    def __init__(self) -> None:
        self.made: list[tuple[str, str]] = []

    def add_gems(self, data: JsonDict) -> JsonDict:
        self.made.append(("add_gems", threading.current_thread().name))
        return {**data, "gems": 0}

    def rename_coins(self, data: JsonDict) -> JsonDict:
        self.made.append(("rename_coins", threading.current_thread().name))
        renamed = {key: value for key, value in data.items() if key != "coins"}
        return {"gold": data["coins"], **renamed}

    @property
    def steps(self) -> list[Callable[[JsonDict], JsonDict]]:
        return [self.add_gems, self.rename_coins]

    def names(self) -> list[str]:
        return [name for name, _ in self.made]


@pytest.fixture(params=["dict", "model"])
def template(request: pytest.FixtureRequest) -> Any:
    """The template of the migrated store: a dict, or a pydantic model."""
    return {"gold": 0, "gems": 0} if request.param == "dict" else PlayerV2


@pytest.fixture
def calls() -> Calls:
    return Calls()


def plain(data: Any) -> JsonDict:
    """Profile data as JSON, whether the store is typed or not."""
    if isinstance(data, BaseModel):
        return data.model_dump(mode="json")
    assert isinstance(data, dict)
    return data


def start(store: ProfileStore, key: str) -> Profile:
    profile = store.start_session(key)
    assert profile is not None
    return profile


def write_old(engine: Engine, key: str, data: JsonDict | None = None, name: str = "Players") -> None:
    """Store `data` (default OLD) under `key` as a server that knew no migrations would."""
    old = ProfileStore(name, {"coins": 0}, engine=engine)
    profile = start(old, key)
    profile.data = dict(OLD if data is None else data)
    profile.end_session()


def kinds(store: ProfileStore, key: str) -> list[str]:
    return [entry.type for entry in store.history(key)]


def migrated_events(store: ProfileStore, key: str) -> list[Any]:
    return [entry for entry in store.history(key) if entry.type == "Migrated"]


# ---- a store's schema ------------------------------------------------------------------------------


@SQLITE_ONLY
def test_a_stores_schema_is_the_number_of_its_migrations(engine: Engine, template: Any,
                                                         calls: Calls) -> None:
    assert ProfileStore("None", template, engine=engine).schema == 0
    assert ProfileStore("None", template, engine=engine).migrations == ()
    compatible = Migration(calls.rename_coins, backwards_compatible=True)
    store = ProfileStore("Two", template, engine=engine, migrations=[calls.add_gems, compatible])
    assert store.schema == 2
    assert store.migrations == (Migration(calls.add_gems), compatible)
    assert store.migrations[1].backwards_compatible is True


@SQLITE_ONLY
@pytest.mark.parametrize("migrations", [[5], ["not callable"], "abc", None])
def test_migrations_that_are_not_callables_raise_type_error(engine: Engine, migrations: Any) -> None:
    with pytest.raises(TypeError):
        ProfileStore("Bad", {}, engine=engine, migrations=migrations)


def test_new_profiles_start_at_the_stores_schema_with_no_migrated_event(
        engine: Engine, template: Any, calls: Calls) -> None:
    store = ProfileStore("Players", template, engine=engine, migrations=calls.steps)
    profile = start(store, "new")
    assert plain(profile.data) == {"gold": 0, "gems": 0}
    assert kinds(store, "new") == ["ProfileCreated", "SessionStarted"]
    created = store.history("new")[0].payload
    assert (created["schema"], created["readable_from"]) == (2, 2)
    profile.end_session()
    again = start(store, "new")
    again.end_session()
    assert store.message("by-message", {"hello": 1})
    created = store.history("by-message")[0].payload
    assert (created["schema"], created["readable_from"]) == (2, 2)
    assert migrated_events(store, "new") == []
    assert calls.made == []


@SQLITE_ONLY
@pytest.mark.parametrize(("compatible", "readable_from"), [
    ((False, False), 2),
    ((False, True), 1),
    ((True, True), 0),
    ((True, False), 2),
])
def test_readable_from_is_the_schema_less_the_run_of_compatible_steps_ending_at_it(
        engine: Engine, calls: Calls, compatible: tuple[bool, bool], readable_from: int) -> None:
    steps = [Migration(fn, backwards_compatible=flag) for fn, flag in zip(calls.steps, compatible,
                                                                           strict=True)]
    store = ProfileStore("Players", {}, engine=engine, migrations=steps)
    start(store, "new").end_session()
    assert store.history("new")[0].payload["readable_from"] == readable_from
    write_old(engine, "old")
    start(store, "old").end_session()
    (migrated,) = migrated_events(store, "old")
    assert migrated.payload["readable_from"] == readable_from


# ---- migrating at start_session --------------------------------------------------------------------


def test_an_old_profile_is_migrated_in_one_event_written_with_the_claim(
        engine: Engine, template: Any, calls: Calls) -> None:
    with freeze_time(NOON) as frozen:
        write_old(engine, "old")
        store = ProfileStore("Players", template, engine=engine, migrations=calls.steps)
        before = store.history("old")
        frozen.tick(5)

        profile = start(store, "old")

        written = store.history("old")[len(before):]
        assert [e.type for e in written] == ["SessionStarted", "Migrated"]
        claim, migrated = written
        assert migrated.session == claim.session == engine.server.as_session()
        assert migrated.timestamp == claim.timestamp
        assert migrated.version == claim.version + 1
        payload = migrated.payload
        assert (payload["from_schema"], payload["to_schema"], payload["readable_from"]) == (0, 2, 2)
        assert jsonpatch.apply_patch(OLD, payload["patch"]) == MIGRATED
        assert plain(profile.data) == MIGRATED
        assert profile.key_info.version == str(migrated.version), "Migrated is a saved version"
        assert calls.names() == ["add_gems", "rename_coins"]

        profile.end_session()
        got = store.get("old", version=migrated.version)
        assert got is not None and plain(got.data) == MIGRATED
        start(store, "old").end_session()
        assert len(migrated_events(store, "old")) == 1, "migrated once, for good"
        assert calls.names() == ["add_gems", "rename_coins"]


def test_a_profile_at_an_intermediate_schema_gets_only_the_missing_steps(
        engine: Engine, template: Any, calls: Calls) -> None:
    write_old(engine, "mid")
    first = ProfileStore("Players", {}, engine=engine, migrations=[calls.add_gems])
    profile = start(first, "mid")
    profile.data["gems"] = 3
    profile.end_session()
    calls.made.clear()

    store = ProfileStore("Players", template, engine=engine, migrations=calls.steps)
    profile = start(store, "mid")
    assert plain(profile.data) == {"gold": 5, "gems": 3}
    assert calls.names() == ["rename_coins"]
    migrated = migrated_events(store, "mid")
    assert [(e.payload["from_schema"], e.payload["to_schema"]) for e in migrated] == [(0, 1), (1, 2)]
    profile.end_session()


def test_a_mock_store_migrates_its_own_old_profiles(engine: Engine, template: Any, calls: Calls
                                                    ) -> None:
    old = ProfileStore("Players", {}, engine=engine).mock
    profile = start(old, "m")
    profile.data = dict(OLD)
    profile.end_session()
    store = ProfileStore("Players", template, engine=engine, migrations=calls.steps).mock
    profile = start(store, "m")
    assert plain(profile.data) == MIGRATED
    assert len(migrated_events(store, "m")) == 1
    profile.end_session()
    assert store.get("m") is not None
    live = ProfileStore("Players", template, engine=engine, migrations=calls.steps)
    assert live.get("m") is None, "the mock never touches the live store"


def start_together(stores: list[ProfileStore], key: str) -> dict[str, JsonDict]:
    """Each store's engine starts a session on `key` at the same moment, on a thread of its
    own, and ends it at once; the data each got, by thread name."""
    barrier = threading.Barrier(len(stores))
    got: dict[str, JsonDict] = {}

    def run(store: ProfileStore) -> None:
        barrier.wait()
        profile = store.start_session(key)
        if profile is not None:
            got[threading.current_thread().name] = plain(profile.data)
            profile.end_session()

    threads = [threading.Thread(target=run, args=(store,), name=f"engine-{n}")
               for n, store in enumerate(stores)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not any(thread.is_alive() for thread in threads)
    return got


def test_each_step_is_applied_once_when_two_engines_start_the_same_key_at_once(
        make_engine: Callable[..., Engine], template: Any) -> None:
    engines = [make_engine(job_id=name, settings=FAST) for name in "AB"]
    for key in ("race-0", "race-1", "race-2"):
        write_old(engines[0], key)
        calls = Calls()
        stores = [ProfileStore("Players", template, engine=e, migrations=calls.steps) for e in engines]

        got = start_together(stores, key)

        assert got == {"engine-0": MIGRATED, "engine-1": MIGRATED}, "both held it, in turn"
        history = stores[0].history(key)
        migrated = [e for e in history if e.type == "Migrated"]
        assert len(migrated) == 1
        assert history[history.index(migrated[0]) - 1].type == "SessionStarted", "with a claim"
        assert [e.type for e in history].count("SessionStarted") == 3
        for name in ("engine-0", "engine-1"):  # the loser re-reads the migrated data
            assert calls.made.count(("add_gems", name)) <= 1, calls.made
        assert calls.names().count("add_gems") == calls.names().count("rename_coins") <= 2


def test_a_steal_from_a_server_that_knew_no_migrations_migrates_with_the_takeover(
        make_engine: Callable[..., Engine], template: Any, calls: Calls) -> None:
    a, b = make_engine(job_id="A", settings=FAST), make_engine(job_id="B", settings=FAST)
    old = ProfileStore("Players", {"coins": 0}, engine=a)
    held = start(old, "stolen")
    held.data["coins"] = 5
    assert held.save()
    store = ProfileStore("Players", template, engine=b, migrations=calls.steps)

    taken = store.start_session("stolen", steal=True)

    assert taken is not None and plain(taken.data) == MIGRATED
    tail = store.history("stolen")[-3:]
    assert [(e.type, e.payload.get("reason")) for e in tail] == [
        ("SessionEnded", "Stolen"), ("SessionStarted", None), ("Migrated", None)]
    assert {e.session["job_id"] for e in tail} == {"B"}  # type: ignore[index]
    assert len({e.timestamp for e in tail}) == 1, "one transaction"
    for _ in range(100):  # the old owner learns of the steal at its next poll
        a.run_pending()
        if not held.is_active():
            break
        time.sleep(FAST.poll_interval / 2)
    assert not held.is_active()
    taken.end_session()


def test_a_hand_over_from_a_server_that_knew_no_migrations_migrates_its_final_save(
        make_engine: Callable[..., Engine], in_thread: Any, template: Any, calls: Calls) -> None:
    a, b = make_engine(job_id="A", settings=FAST), make_engine(job_id="B", settings=FAST)
    old = ProfileStore("Players", {"coins": 0}, engine=a)
    store = ProfileStore("Players", template, engine=b, migrations=calls.steps)
    with freeze_time(NOON) as frozen:
        held = start(old, "handover")
        held.data["coins"] = 7  # unsaved: the External final save stores it, then B migrates it
        call = in_thread(store.start_session, "handover")
        for _ in range(100):
            if call.done:
                break
            frozen.tick(0.1)
            a.run_pending()
            call.join(0.06)
        taken = call.outcome()
    assert taken is not None and plain(taken.data) == {"gold": 7, "gems": 0}
    assert kinds(store, "handover")[-5:] == ["SessionRequested", "Saved", "SessionEnded",
                                            "SessionStarted", "Migrated"]
    assert not held.is_active()
    taken.end_session()


def test_a_server_waiting_for_the_session_does_not_run_the_steps_at_every_poll(
        make_engine: Callable[..., Engine], calls: Calls) -> None:
    impatient = FAST.model_copy(update={"session_steal": 0.5})
    a, b = make_engine(job_id="A", settings=impatient), make_engine(job_id="B", settings=impatient)
    held = start(ProfileStore("Players", {"coins": 0}, engine=a), "silent")  # A never answers
    store = ProfileStore("Players", {}, engine=b, migrations=calls.steps)
    taken = start(store, "silent")  # requested, then taken after session_steal
    assert plain(taken.data) == {"gold": 0, "gems": 0}
    assert len(migrated_events(store, "silent")) == 1
    assert calls.names().count("add_gems") <= 2, f"ran {calls.names().count('add_gems')} times"
    assert store.history("silent")[-3].payload["reason"] == "Stolen", "A never answered"
    taken.end_session()
    held.end_session()


# ---- migrations that fail --------------------------------------------------------------------------


def raises(data: JsonDict) -> JsonDict:
    raise KeyError("no such field")


@SQLITE_ONLY
@pytest.mark.parametrize(("second", "why"), [
    (raises, "KeyError"),
    (lambda data: [data], "list"),
    (lambda data: None, "NoneType"),
    (lambda data: {**data, "bag": {1, 2}}, "set"),
    (lambda data: {**data, "inf": float("inf")}, "inf"),
])
def test_a_migration_that_raises_or_returns_no_json_dict_names_its_index_and_writes_nothing(
        engine: Engine, template: Any, calls: Calls, second: Callable[[JsonDict], Any], why: str
        ) -> None:
    write_old(engine, "fails")
    store = ProfileStore("Players", template, engine=engine, migrations=[calls.add_gems, second])
    before = store.history("fails")

    with pytest.raises(DataError, match="migration 1") as caught:
        store.start_session("fails")

    assert why in str(caught.value)
    assert store.history("fails") == before, "nothing written: no claim, no Migrated"
    assert store.get("fails") is None, "reads cannot migrate it either"
    assert store.history("fails") == before
    fixed = ProfileStore("Players", template, engine=engine, migrations=calls.steps)
    profile = start(fixed, "fails")
    assert kinds(fixed, "fails")[len(before):] == ["SessionStarted", "Migrated"], \
        "the session was left free: a plain claim, nothing stolen or requested"
    assert plain(profile.data) == MIGRATED
    profile.end_session()


@SQLITE_ONLY
def test_the_first_migration_failing_is_named_as_index_zero(engine: Engine, template: Any) -> None:
    write_old(engine, "zero")
    store = ProfileStore("Players", template, engine=engine, migrations=[raises, raises])
    with pytest.raises(DataError, match="migration 0"):
        store.start_session("zero")


def test_migrated_data_that_the_model_refuses_raises_naming_the_path_and_writes_nothing(
        engine: Engine, calls: Calls) -> None:
    write_old(engine, "refused", {"coins": "five"})
    store = ProfileStore("Players", PlayerV2, engine=engine, migrations=calls.steps)
    before = store.history("refused")
    with pytest.raises(DataError, match=r"^data\['gold'\]") as caught:
        store.start_session("refused")
    saved = next(e.version for e in before if e.type == "Saved")
    assert f"version {saved}" in str(caught.value), "names the stored version"
    assert store.history("refused") == before
    assert store.get("refused") is None


# ---- older servers ---------------------------------------------------------------------------------


def test_an_older_server_refuses_newer_data_naming_both_schemas_and_writes_nothing(
        engine: Engine, template: Any, calls: Calls, caplog: pytest.LogCaptureFixture) -> None:
    write_old(engine, "newer")
    newer = ProfileStore("Players", template, engine=engine, migrations=calls.steps)
    start(newer, "newer").end_session()
    before = newer.history("newer")
    older_template = {"coins": 0, "gems": 0} if isinstance(template, dict) else PlayerV1
    for older in (ProfileStore("Players", older_template, engine=engine, migrations=[calls.add_gems]),
                  ProfileStore("Players", {}, engine=engine)):
        with pytest.raises(ProfileStoreError) as caught:
            older.start_session("newer")
        text = str(caught.value)
        assert "schema 2" in text and f"schema {older.schema}" in text, text
        assert newer.history("newer") == before
        with caplog.at_level(logging.WARNING, logger="profilestore"):
            assert older.get("newer") is None
        assert "cannot be read here" in caplog.text and "schema 2" in caplog.text
        caplog.clear()
        raw = older.raw.get("newer")
        assert raw is not None and raw.data == MIGRATED, "the raw view reads any schema"
        readable = [p.key_info.version for p in older.version_query("newer")]
        migrated = migrated_events(newer, "newer")[0].version
        assert readable and all(int(v) < migrated for v in readable), "only versions before"
    assert newer.history("newer") == before


def test_an_older_server_leaves_a_newer_servers_session_alone(make_engine: Callable[..., Engine],
                                                              calls: Calls) -> None:
    a, b = make_engine(job_id="A", settings=FAST), make_engine(job_id="B", settings=FAST)
    write_old(a, "held")
    newer = ProfileStore("Players", {}, engine=a, migrations=calls.steps)
    held = start(newer, "held")
    held.data["gems"] = 4
    assert held.save()
    before = newer.history("held")
    older = ProfileStore("Players", {}, engine=b, migrations=[calls.add_gems])

    with pytest.raises(ProfileStoreError, match="schema 2"):
        older.start_session("held")

    assert newer.history("held") == before, "no SessionRequested"
    a.run_pending()
    assert held.is_active()
    held.end_session()


@SQLITE_ONLY
def test_an_older_server_refuses_when_a_newer_step_is_not_backwards_compatible(
        engine: Engine, calls: Calls) -> None:
    write_old(engine, "mixed")
    steps: list[Callable[[JsonDict], JsonDict] | Migration] = [
        calls.add_gems, Migration(calls.rename_coins, backwards_compatible=True),
        Migration(lambda data: {**data, "title": ""})]
    start(ProfileStore("Players", {}, engine=engine, migrations=steps), "mixed").end_session()
    for known in (steps[:1], steps[:2]):
        older = ProfileStore("Players", {}, engine=engine, migrations=known)
        with pytest.raises(ProfileStoreError, match="schema 3"):
            older.start_session("mixed")


def title_step(data: JsonDict) -> JsonDict:
    return {**data, "title": "Newbie"}


def test_an_older_server_holds_data_of_backwards_compatible_steps_and_keeps_their_schema(
        engine: Engine, calls: Calls) -> None:
    write_old(engine, "compatible")
    newer = ProfileStore("Players", {}, engine=engine,
                         migrations=[calls.add_gems, Migration(title_step, backwards_compatible=True)])
    start(newer, "compatible").end_session()
    assert migrated_events(newer, "compatible")[0].payload["readable_from"] == 1

    older = ProfileStore("Players", {}, engine=engine, migrations=[calls.add_gems])
    profile = start(older, "compatible")
    assert profile.data == {"coins": 5, "gems": 0, "title": "Newbie"}
    profile.data["gems"] = 8
    assert profile.save()
    profile.end_session()
    assert len(migrated_events(newer, "compatible")) == 1, "the older server migrated nothing back"
    rollback = older.get("compatible")
    assert rollback is not None and rollback.data["gems"] == 8
    rollback.data["gems"] = 9
    assert rollback.set() is True
    overwritten = newer.history("compatible")[-1].payload
    assert (overwritten["schema"], overwritten["readable_from"]) == (2, 1), "the stored schema kept"

    calls.made.clear()
    again = start(newer, "compatible")
    assert again.data == {"coins": 5, "gems": 9, "title": "Newbie"}
    assert len(migrated_events(newer, "compatible")) == 1, "still at schema 2: nothing to migrate"
    assert calls.made == []
    again.end_session()


def test_an_older_typed_server_keeps_the_top_level_fields_its_model_does_not_know(
        engine: Engine, calls: Calls) -> None:
    write_old(engine, "unknown")
    newer = ProfileStore("Players", {}, engine=engine,
                         migrations=[calls.add_gems, Migration(title_step, backwards_compatible=True)])
    start(newer, "unknown").end_session()

    older = ProfileStore("Players", PlayerV1, engine=engine, migrations=[calls.add_gems])
    profile = start(older, "unknown")
    assert profile.data == PlayerV1(coins=5, gems=0)
    profile.data.coins += 1
    assert profile.save()
    profile.data.gems = 2
    profile.end_session()
    raw = newer.raw.get("unknown")
    assert raw is not None
    assert raw.data == {"coins": 6, "gems": 2, "title": "Newbie"}
    calls.made.clear()
    start(newer, "unknown").end_session()
    assert calls.made == [] and len(migrated_events(newer, "unknown")) == 1


class Item(BaseModel):
    uid: str = ""


class PlayerV1WithItems(PlayerV1):  # a list of models: saves dump and diff what changed
    items: list[Item] = []


def test_an_older_typed_server_with_a_list_of_models_keeps_the_fields_its_model_does_not_know(
        engine: Engine, calls: Calls) -> None:
    write_old(engine, "unknown", {"coins": 5, "items": []})
    newer = ProfileStore("Players", {}, engine=engine,
                         migrations=[calls.add_gems, Migration(title_step, backwards_compatible=True)])
    start(newer, "unknown").end_session()

    older = ProfileStore("Players", PlayerV1WithItems, engine=engine, migrations=[calls.add_gems])
    profile = start(older, "unknown")
    profile.data.items.append(Item(uid="a"))
    assert profile.save()
    profile.end_session()
    raw = newer.raw.get("unknown")
    assert raw is not None
    assert raw.data == {"coins": 5, "gems": 0, "items": [{"uid": "a"}], "title": "Newbie"}


# ---- reads migrate in memory -----------------------------------------------------------------------


def test_get_and_version_query_show_migrated_data_without_writing(
        engine: Engine, template: Any, calls: Calls) -> None:
    write_old(engine, "read")
    store = ProfileStore("Players", template, engine=engine, migrations=calls.steps)
    before = store.history("read")

    latest = store.get("read")
    assert latest is not None and plain(latest.data) == MIGRATED
    versions = [plain(p.data) for p in store.version_query("read")]
    assert versions == [{"gold": 0, "gems": 0}, MIGRATED]
    saved = next(e.version for e in before if e.type == "Saved")
    by_version = store.get("read", version=saved)
    assert by_version is not None and plain(by_version.data) == MIGRATED
    assert store.history("read") == before, "reads never write the migration"
    assert migrated_events(store, "read") == []
    raw = store.raw.get("read")
    assert raw is not None and raw.data == OLD


def test_get_at_a_time_before_the_migration_shows_the_old_data(engine: Engine, template: Any,
                                                               calls: Calls) -> None:
    with freeze_time(NOON) as frozen:
        write_old(engine, "timeline")
        frozen.tick(60)
        store = ProfileStore("Players", template, engine=engine, migrations=calls.steps)
        profile = start(store, "timeline")
        if isinstance(profile.data, PlayerV2):
            profile.data.gems = 7
        else:
            profile.data["gems"] = 7
        profile.end_session()
    before = store.history("timeline")

    early = store.get("timeline", at=NOON + timedelta(seconds=30))
    assert early is not None and plain(early.data) == MIGRATED, "the old data, migrated in memory"
    raw_early = store.raw.get("timeline", at=NOON + timedelta(seconds=30))
    assert raw_early is not None and raw_early.data == OLD
    at_migration = store.get("timeline", version=migrated_events(store, "timeline")[0].version)
    assert at_migration is not None and plain(at_migration.data) == MIGRATED
    late = store.get("timeline", at=NOON + timedelta(seconds=61))
    assert late is not None and plain(late.data) == {"gold": 5, "gems": 7}
    assert store.history("timeline") == before


def test_set_on_a_migrated_read_writes_at_this_servers_schema(engine: Engine, template: Any,
                                                              calls: Calls) -> None:
    write_old(engine, "rollback")
    store = ProfileStore("Players", template, engine=engine, migrations=calls.steps)
    old = store.get("rollback")
    assert old is not None and plain(old.data) == MIGRATED
    assert old.set() is True
    overwritten = store.history("rollback")[-1]
    assert overwritten.type == "Overwritten"
    assert (overwritten.payload["schema"], overwritten.payload["readable_from"]) == (2, 2)
    assert overwritten.payload["data"] == MIGRATED
    profile = start(store, "rollback")
    assert migrated_events(store, "rollback") == [], "already at schema 2"
    assert plain(profile.data) == MIGRATED
    profile.end_session()


def test_a_raw_set_keeps_the_schema_of_the_version_it_read(engine: Engine, template: Any,
                                                           calls: Calls) -> None:
    write_old(engine, "raw")
    store = ProfileStore("Players", template, engine=engine, migrations=calls.steps)
    start(store, "raw").end_session()
    old_version = next(e.version for e in store.history("raw") if e.type == "Saved")  # schema 0
    raw = store.raw.get("raw", version=old_version)
    assert raw is not None and raw.data == OLD
    raw.data["coins"] = 9
    assert raw.set() is True
    overwritten = store.history("raw")[-1]
    assert (overwritten.payload["schema"], overwritten.payload["readable_from"]) == (0, 0)

    current = store.raw.get("raw")
    assert current is not None and current.data == {"coins": 9}
    current.set()  # a raw read of the latest version keeps its schema too
    assert store.history("raw")[-1].payload["schema"] == 0

    profile = start(store, "raw")
    assert plain(profile.data) == {"gold": 9, "gems": 0}
    assert migrated_events(store, "raw")[-1].payload["from_schema"] == 0
    profile.end_session()
