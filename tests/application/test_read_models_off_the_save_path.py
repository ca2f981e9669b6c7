"""The `profiles` rows that change with every save are written off the save path (SPEC §5):
keys() and find_user() never lag; data, metadata, version, updated_time and session are written
by the engine within one tick, coalesced, never backwards, never bringing a removed row back;
a crashed engine's rows are caught up by the next engine that reads the log, or by a rebuild."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from eventsourcing.persistence import OperationalError
from freezegun import freeze_time
from support.databases import postgres_tables_holding

from profilestore import Engine, ProfileStore, Settings
from profilestore.domain.profile import profile_id
from profilestore.domain.timeutil import to_us

START = "2026-02-01 00:00:00"


def row(engine: Engine, store: str, key: str) -> dict[str, Any] | None:
    """The `profiles` row of (store, key) as the database holds it now."""
    columns = ("version", "data", "metadata", "session", "user_ids", "event_version")
    rows = engine.parts.logs.live.recorder._query(  # type: ignore[attr-defined]
        f"SELECT {', '.join(columns)} FROM profiles WHERE store=:store AND key=:key",
        {"store": store, "key": key})
    if not rows:
        return None
    found = dict(zip(columns, rows[0], strict=True))
    for name in ("data", "metadata", "user_ids"):
        found[name] = orjson.loads(found[name])
    return found


def markers(engine: Engine) -> list[tuple[Any, ...]]:
    return engine.parts.logs.live.recorder._query(  # type: ignore[attr-defined]
        "SELECT originator_id, store, key, event_version FROM profile_pending ORDER BY originator_id", {})


def all_rows(engine: Engine) -> list[tuple[Any, ...]]:
    return engine.parts.logs.live.recorder._query(  # type: ignore[attr-defined]
        "SELECT * FROM profiles ORDER BY store, key", {})


def record_deferred_writes(engine: Engine) -> list[list[dict[str, Any]]]:
    """The rows of every deferred write the engine's recorder makes from now on."""
    recorder, writes = engine.parts.logs.live.recorder, []
    real = recorder.write_deferred

    def write_deferred(rows: Any, done: Any) -> None:
        writes.append(list(rows))
        real(rows, done)

    recorder.write_deferred = write_deferred  # type: ignore[method-assign]
    return writes


def test_keys_and_find_user_see_a_write_before_it_returns_while_the_data_waits_for_a_flush(
        make_engine) -> None:
    writer, reader = make_engine(job_id="A"), make_engine(job_id="B")
    players = ProfileStore("Players", {"coins": 0}, engine=writer)
    profile = players.start_session("k")
    assert profile is not None
    assert list(ProfileStore("Players", engine=reader).keys()) == ["k"]
    profile.data["coins"] = 5
    profile.metadata = {"level": 2}
    profile.add_user_id(42)
    assert profile.save()
    assert reader.find_user(42) == [("Players", "k")]
    assert row(reader, "Players", "k")["user_ids"] == [42]
    lagging = row(reader, "Players", "k")
    assert lagging["data"] == {"coins": 0} and lagging["metadata"] == {} and lagging["version"] == 1

    assert writer.flush_read_models()
    written = row(reader, "Players", "k")
    assert written["data"] == {"coins": 5} and written["metadata"] == {"level": 2}
    assert written["version"] == 3 == written["event_version"]
    assert orjson.loads(written["session"])["job_id"] == "A"
    assert markers(reader) == []


def test_several_saves_between_flushes_write_one_row_at_the_newest_version(engine: Engine) -> None:
    players = ProfileStore("Players", {"coins": 0}, engine=engine)
    profile = players.start_session("k")
    assert profile is not None
    writes = record_deferred_writes(engine)
    for coins in range(1, 6):
        profile.data["coins"] = coins
        assert profile.save()
    assert [m[3] for m in markers(engine)] == [7], "one marker, at the newest version"
    engine.run_pending()  # the engine thread's tick
    assert [[(r["key"], r["event_version"]) for r in rows] for rows in writes] == [[("k", 7)]]
    assert row(engine, "Players", "k")["data"] == {"coins": 5}
    assert markers(engine) == []
    engine.run_pending()
    assert len(writes) == 1, "nothing owed: nothing written"


def test_a_row_never_moves_to_a_lower_version(make_engine) -> None:
    a, b = make_engine(job_id="A"), make_engine(job_id="B")
    held = ProfileStore("Players", {"coins": 0}, engine=a).start_session("k")
    assert held is not None
    held.data["coins"] = 1
    held.end_session()  # A owes the row of versions 3-4
    taken = ProfileStore("Players", {"coins": 0}, engine=b).start_session("k")
    assert taken is not None
    taken.data["coins"] = 2
    assert taken.save()
    assert b.flush_read_models()
    newer = row(b, "Players", "k")
    assert newer["data"] == {"coins": 2} and newer["event_version"] == 6
    assert a.parts.logs.live.read_models.pending() == 1
    assert a.flush_read_models()
    assert row(a, "Players", "k") == newer
    assert a.parts.logs.live.read_models.pending() == 0


def test_a_row_in_flight_when_remove_commits_never_brings_the_data_back(
        make_engine, db_url: str, tmp_path: Path) -> None:
    owner, eraser = make_engine(job_id="A"), make_engine(job_id="B")
    held = ProfileStore("Players", engine=owner).start_session("k")
    assert held is not None
    held.data["note"] = "PERSONAL-in-flight"
    assert held.save()
    recorder = owner.parts.logs.live.recorder
    real = recorder.write_deferred

    def remove_then_write(rows: Any, done: Any) -> None:
        """The row is serialised already; the erasure commits before it is written."""
        assert any("PERSONAL-in-flight" in r["data"] for r in rows)
        assert ProfileStore("Players", engine=eraser).remove("k")
        assert markers(eraser) == [], "the erasure drops the marker in its own transaction"
        real(rows, done)

    recorder.write_deferred = remove_then_write  # type: ignore[method-assign]
    assert owner.flush_read_models()
    recorder.write_deferred = real  # type: ignore[method-assign]
    assert row(owner, "Players", "k") is None and markers(owner) == []
    if db_url.startswith("postgresql"):
        assert postgres_tables_holding(db_url, "PERSONAL-in-flight") == []
    owner.close(timeout=5)
    eraser.close(timeout=5)
    leftovers = [f.name for f in tmp_path.iterdir()
                 if f.is_file() and b"PERSONAL-in-flight" in f.read_bytes()]
    assert leftovers == []


def test_a_crashed_engines_rows_are_written_by_the_next_engine_that_reads_the_log(make_engine) -> None:
    fast = Settings(poll_interval=0.5)  # grace: three poll intervals
    with freeze_time(START) as frozen:
        crashed = make_engine(job_id="A", settings=fast)
        profile = ProfileStore("Players", {"coins": 0}, engine=crashed).start_session("k")
        assert profile is not None
        profile.data["coins"] = 7
        profile.end_session()
        crashed.parts.logs.live.read_models._queue.clear()  # it dies owing the row: only the marker is left
        assert row(crashed, "Players", "k")["data"] == {"coins": 0}
        assert len(markers(crashed)) == 1

        other = make_engine(job_id="B", settings=fast)
        frozen.tick(1.0)
        other.run_pending()
        assert row(other, "Players", "k")["data"] == {"coins": 0}, "within the grace period"
        frozen.tick(0.6)
        other.run_pending()
        caught_up = row(other, "Players", "k")
        assert caught_up["data"] == {"coins": 7} and caught_up["event_version"] == 4
        assert caught_up["session"] is None
        assert markers(other) == []


def test_rebuild_read_models_writes_a_crashed_engines_rows_and_drops_the_markers(make_engine) -> None:
    crashed = make_engine(job_id="A")
    profile = ProfileStore("Players", {"coins": 0}, engine=crashed).start_session("k")
    assert profile is not None
    profile.data["coins"] = 7
    assert profile.save()
    crashed.parts.logs.live.read_models._queue.clear()
    other = make_engine(job_id="B")
    other.rebuild_read_models()
    assert row(other, "Players", "k")["data"] == {"coins": 7}
    assert markers(other) == []


def test_rebuilt_read_models_equal_the_caught_up_rows(engine: Engine) -> None:
    players = ProfileStore("Players", {"coins": 0}, engine=engine)
    guilds = ProfileStore("Guilds", engine=engine)
    for n in range(5):
        profile = players.start_session(f"p{n}")
        assert profile is not None
        profile.data["coins"] = n * 10
        profile.metadata = {"level": n}
        profile.add_user_id(100 + n % 3)
        if n % 2:
            profile.end_session()
        else:
            assert profile.save()
    held = guilds.start_session("g1")
    assert held is not None
    held.data["members"] = ["p0"]
    assert held.save()
    assert players.message("p1", {"gift": 1})
    assert players.remove("p3")
    assert engine.flush_read_models()
    caught_up = all_rows(engine)
    assert [r[:2] for r in caught_up] == [("Guilds", "g1"), ("Players", "p0"), ("Players", "p1"),
                                          ("Players", "p2"), ("Players", "p4")]
    engine.rebuild_read_models()
    assert all_rows(engine) == caught_up
    assert markers(engine) == []


def test_close_writes_every_owed_row(db_url: str) -> None:
    with Engine(db_url, background=False) as engine:
        profile = ProfileStore("Players", {"coins": 0}, engine=engine).start_session("k")
        assert profile is not None
        profile.data["coins"] = 3
        assert profile.save()
    with Engine(db_url, background=False) as reader:
        assert row(reader, "Players", "k")["data"] == {"coins": 3}
        assert row(reader, "Players", "k")["session"] is None, "the final save's row"
        assert markers(reader) == []


def test_trades_set_and_messages_leave_their_rows_owed_too(engine: Engine) -> None:
    players = ProfileStore("Players", {"gold": 10}, engine=engine)
    buyer, seller = players.start_session("buyer"), players.start_session("seller")
    assert buyer is not None and seller is not None
    writes = record_deferred_writes(engine)
    with engine.transaction(buyer, seller):
        buyer.data["gold"], seller.data["gold"] = 5, 15
    assert players.message("buyer", {"hello": 1})
    seller.end_session()
    copy = players.get("seller")
    assert copy is not None
    copy.data["gold"] = 99
    assert copy.set()
    assert row(engine, "Players", "seller")["data"] == {"gold": 10}
    assert {m[2] for m in markers(engine)} == {"buyer", "seller"}
    assert engine.flush_read_models()
    assert len(writes) == 1 and {r["key"] for r in writes[0]} == {"buyer", "seller"}
    assert row(engine, "Players", "buyer")["data"] == {"gold": 5}
    assert row(engine, "Players", "seller")["data"] == {"gold": 99}


def test_a_failed_flush_keeps_the_rows_owed_and_the_next_tick_writes_them(engine: Engine, caplog) -> None:
    profile = ProfileStore("Players", {"coins": 0}, engine=engine).start_session("k")
    assert profile is not None
    profile.data["coins"] = 1
    assert profile.save()
    recorder = engine.parts.logs.live.recorder
    real = recorder.write_deferred

    def refuse(rows: Any, done: Any) -> None:
        raise OperationalError("disk I/O error (injected)")

    recorder.write_deferred = refuse  # type: ignore[method-assign]
    assert engine.flush_read_models() is False
    engine.run_pending()  # logged, not raised
    assert "injected" in caplog.text
    assert engine.parts.logs.live.read_models.pending() == 1
    recorder.write_deferred = real  # type: ignore[method-assign]
    engine.run_pending()
    assert row(engine, "Players", "k")["data"] == {"coins": 1}


def test_a_database_made_before_event_version_gets_the_column_and_its_rows_are_written(
        db_url: str) -> None:
    with Engine(db_url, background=False) as engine:
        profile = ProfileStore("Players", {"coins": 0}, engine=engine).start_session("k")
        assert profile is not None
        profile.end_session()
        recorder: Any = engine.parts.logs.live.recorder
        with recorder.datastore.transaction(commit=True) as c:  # as an earlier version left it
            c.execute("ALTER TABLE profiles DROP COLUMN event_version")
            c.execute("DROP TABLE profile_pending")
    with Engine(db_url, background=False) as engine:
        profile = ProfileStore("Players", {"coins": 0}, engine=engine).start_session("k")
        assert profile is not None
        assert row(engine, "Players", "k")["event_version"] is None
        profile.data["coins"] = 4
        assert profile.save()
        assert engine.flush_read_models()
        assert row(engine, "Players", "k")["data"] == {"coins": 4}


@pytest.mark.parametrize("erase_first", [True, False])
def test_a_recreated_profiles_row_is_not_overwritten_by_its_earlier_lifes_row(
        make_engine, erase_first: bool) -> None:
    old, new = make_engine(job_id="A"), make_engine(job_id="B")
    held = ProfileStore("Players", {"coins": 0}, engine=old).start_session("k")
    assert held is not None
    held.data["coins"] = 1
    assert held.save()  # A owes the row of the first life
    assert ProfileStore("Players", engine=new).remove("k")
    reborn = ProfileStore("Players", {"coins": 0}, engine=new).start_session("k")
    assert reborn is not None
    if not erase_first:
        reborn.data["coins"] = 2
        assert reborn.save()
        assert new.flush_read_models()
    before = row(new, "Players", "k")
    assert old.flush_read_models()
    assert row(new, "Players", "k") == before
    assert before["data"] == ({"coins": 0} if erase_first else {"coins": 2})


def test_a_marker_holds_the_profile_its_version_and_when_it_was_queued_but_no_data(engine: Engine) -> None:
    profile = ProfileStore("Players", engine=engine).start_session("k")
    assert profile is not None
    profile.data["note"] = "PERSONAL-marker"
    with freeze_time(START):
        assert profile.save()
    (marker,) = engine.parts.logs.live.recorder._query(  # type: ignore[attr-defined]
        "SELECT originator_id, store, key, event_version, queued_us FROM profile_pending", {})
    assert marker == (profile_id("Players", "k").hex, "Players", "k", 3,
                      to_us(datetime.fromisoformat(START).replace(tzinfo=UTC)))


def test_a_save_that_failed_after_patching_the_replica_never_reaches_the_row(engine: Engine) -> None:
    profile = ProfileStore("Players", {"coins": 0}, engine=engine).start_session("k")
    assert profile is not None
    profile.data["coins"] = 1
    assert profile.save()  # owed: version 3
    recorder = engine.parts.logs.live.app.recorder

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise OperationalError("disk I/O error (injected)")

    real, recorder.insert_events = recorder.insert_events, refuse  # type: ignore[method-assign]
    profile.data["coins"] = 2
    assert profile.save() is False  # the replica holds version 4, never stored
    recorder.insert_events = real  # type: ignore[method-assign]
    assert engine.flush_read_models()
    written = row(engine, "Players", "k")
    assert written["data"] == {"coins": 1} and written["event_version"] == 3


def test_a_flush_commits_without_waiting_for_the_disk_and_leaves_saves_durable(tmp_path: Path) -> None:
    # its markers are durable, so a lost flush is written again; the saves keep synchronous=FULL
    with Engine(f"sqlite:///{tmp_path / 'f.db'}", background=False) as engine:
        recorder = engine.parts.logs.live.recorder
        seen: list[int] = []
        real = recorder._write_deferred_rows  # type: ignore[attr-defined]

        def write(c: Any, rows: Any, done: Any) -> None:
            c.execute("PRAGMA synchronous")
            seen.append(int(c.fetchone()[0]))
            real(c, rows, done)

        recorder._write_deferred_rows = write  # type: ignore[attr-defined]
        profile = ProfileStore("Players", {"coins": 0}, engine=engine).start_session("k")
        assert profile is not None
        profile.data["coins"] = 3
        assert profile.save()
        assert engine.flush_read_models()
        assert seen == [1], "NORMAL while the rows are written"
        with engine.parts.logs.live.app.recorder.datastore.get_connection(commit=True) as connection:
            cursor = connection.cursor()  # the writers' connection is back to FULL
            cursor.execute("PRAGMA synchronous")
            assert int(cursor.fetchone()[0]) == 2
        assert row(engine, "Players", "k")["data"] == {"coins": 3}  # type: ignore[index]
