"""The SQLite persistence: exact JSON round trips, side tables, the erasure fence, URLs."""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from eventsourcing.persistence import IntegrityError
from freezegun import freeze_time

from profilestore import Engine, ProfileStore, Settings
from profilestore.application.event_log import EventLog
from profilestore.application.urls import persistence_env, resolve_url
from profilestore.domain.profile import ProfileAggregate, profile_id

ME = {"place_id": "test", "job_id": "1"}


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "profiles.db"


@pytest.fixture
def event_log(db_path: Path) -> EventLog:
    log = EventLog(persistence_env(f"sqlite:///{db_path}"), lambda: 100)
    yield log
    log.close()


def new_profile(event_log: EventLog, key: str = "k", data: dict | None = None) -> ProfileAggregate:
    profile = ProfileAggregate.blank(profile_id("s", key), "s", key)
    now = datetime.now(UTC)
    profile.create({}, ME, now)
    profile.start_session(ME, now)
    profile.save(ME, 1, now, data or {})
    event_log.append(profile)
    return profile


def test_user_data_that_looks_like_a_transcoder_tag_comes_back_unchanged(event_log: EventLog) -> None:
    tricky = {"_type_": "uuid_hex", "_data_": "00" * 16, "nested": [{"__type__": "decimal_str"}]}
    profile = new_profile(event_log, data=tricky)
    assert event_log.load(profile.id, "s", "k").data == tricky


def test_events_stamped_under_freezegun_are_stored_with_microsecond_precision(event_log: EventLog) -> None:
    with freeze_time("2021-08-14 12:34:56.789012"):
        profile = new_profile(event_log)
    stored = event_log.events(profile.id)
    assert stored[0].timestamp == datetime(2021, 8, 14, 12, 34, 56, 789012, tzinfo=UTC)


def test_the_time_index_and_read_model_are_written_with_the_events(event_log: EventLog, db_path: Path
                                                                   ) -> None:
    profile = new_profile(event_log, data={"coins": 3})
    with sqlite3.connect(db_path) as db:
        versions = db.execute("SELECT originator_version FROM profile_timestamps WHERE originator_id=?",
                              (profile.id.hex,)).fetchall()
        row = db.execute("SELECT store, key, version, data FROM profiles").fetchone()
    assert [v for (v,) in versions] == [1, 2, 3]
    assert row == ("s", "k", 3, '{"coins":3}')


def test_an_append_at_a_version_taken_by_another_writer_is_refused(event_log: EventLog) -> None:
    profile = new_profile(event_log)
    stale = event_log.load(profile.id, "s", "k")
    fresh = event_log.load(profile.id, "s", "k")
    fresh.save(ME, 1, datetime.now(UTC), {"coins": 1})
    event_log.append(fresh)
    stale.save(ME, 1, datetime.now(UTC), {"coins": 999})
    with pytest.raises(IntegrityError):
        event_log.append(stale)


def test_a_server_one_event_behind_cannot_write_erased_data_back(event_log: EventLog) -> None:
    profile = new_profile(event_log, data={"secret": "x"})
    stale = event_log.load(profile.id, "s", "k")
    eraser = event_log.load(profile.id, "s", "k")
    eraser.remove(datetime.now(UTC))
    event_log.erase(eraser)
    stale.save(ME, 1, datetime.now(UTC), {"secret": "written back"})
    with pytest.raises(IntegrityError):
        event_log.append(stale)
    assert not event_log.load(profile.id, "s", "k").live


def test_erasure_does_not_let_the_next_event_reuse_a_notification_id(event_log: EventLog, db_path: Path
                                                                     ) -> None:
    profile = new_profile(event_log)
    before = event_log.app.recorder.max_notification_id()
    eraser = event_log.load(profile.id, "s", "k")
    eraser.remove(datetime.now(UTC))
    event_log.erase(eraser)
    new_profile(event_log, key="other")
    ids = [n.id for n in event_log.app.recorder.select_notifications(before + 1, 10)]
    assert ids == sorted(set(ids)) and min(ids) == before + 1 and len(ids) == 4


def test_removed_data_leaves_no_byte_in_the_database_files(db_path: Path) -> None:
    with Engine(f"sqlite:///{db_path}", background=False) as engine:
        store = ProfileStore("Players", engine=engine)
        profile = store.start_session("p")
        assert profile is not None
        profile.data["note"] = "UNIQUE-SECRET-3f9a"
        profile.add_user_id(77)
        profile.end_session()
        assert store.remove("p")
        assert engine.find_user(77) == []
    leftovers = [p.name for p in db_path.parent.iterdir() if b"UNIQUE-SECRET-3f9a" in p.read_bytes()]
    assert leftovers == []


def test_an_in_memory_url_is_one_database_shared_by_the_engines_connections() -> None:
    with Engine("sqlite:///:memory:", background=False) as engine:
        store = ProfileStore("S", engine=engine)
        profile = store.start_session("k")
        assert profile is not None
        profile.end_session()
        seen: list[object] = []
        reader = threading.Thread(target=lambda: seen.append(store.get("k")))
        reader.start()
        reader.join(10)
        assert seen and seen[0] is not None


def test_two_in_memory_engines_do_not_share_data() -> None:
    with Engine("sqlite:///:memory:", background=False) as one, \
            Engine("sqlite:///:memory:", background=False) as two:
        profile = ProfileStore("S", engine=one).start_session("k")
        assert profile is not None
        assert ProfileStore("S", engine=two).get("k") is None


def test_urls_resolve_relative_absolute_and_environment_defaults(monkeypatch: pytest.MonkeyPatch,
                                                                tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    assert persistence_env("sqlite:///rel/p.db")["SQLITE_DBNAME"] == str(tmp_path / "rel" / "p.db")
    assert persistence_env("sqlite:////abs/p.db")["SQLITE_DBNAME"] == "/abs/p.db"
    monkeypatch.delenv("PROFILESTORE_DATABASE_URL", raising=False)
    assert resolve_url(None) == "sqlite:///profilestore.db"
    monkeypatch.setenv("PROFILESTORE_DATABASE_URL", "sqlite:///from-env.db")
    assert resolve_url(None) == "sqlite:///from-env.db"
    with pytest.raises(ValueError, match="unsupported database URL"):
        persistence_env("mysql://host/db")


def test_an_unopenable_database_reports_no_access_and_reads_give_up_with_on_error(tmp_path: Path
                                                                                   ) -> None:
    settings = Settings(start_session_timeout=0.1)
    engine = Engine(f"sqlite:///{tmp_path}/missing-dir/p.db", settings=settings, background=False)
    errors: list[tuple[str, str, str]] = []
    engine.on_error.connect(lambda *args: errors.append(args))
    try:
        assert engine.data_store_state == "NoAccess"
        assert ProfileStore("S", engine=engine).get("k") is None
        assert errors and all(store == "S" and key == "k" for _, store, key in errors)
        assert "cannot open the database" in errors[0][0]
    finally:
        engine.close(timeout=1)


def test_history_shows_an_undecodable_row_as_corrupt_and_keeps_the_rest(db_path: Path) -> None:
    with Engine(f"sqlite:///{db_path}", background=False) as engine:
        store = ProfileStore("S", engine=engine)
        profile = store.start_session("k")
        assert profile is not None
        profile.end_session()
        with sqlite3.connect(db_path) as db:
            db.execute("INSERT INTO stored_events VALUES (?, 5, ?, ?)",
                       (profile_id("S", "k").hex, "no.such.module:Event", b"\xff not json"))
        history = store.history("k")
    assert [e.type for e in history] == ["ProfileCreated", "SessionStarted", "Saved", "SessionEnded",
                                         "Corrupt"]
    assert history[-1].payload == {} and history[-1].timestamp == history[-2].timestamp


def test_a_connection_compiles_a_statement_once_however_often_it_runs(event_log: EventLog) -> None:
    """The library opened connections with a one-statement cache, so every BEGIN in between
    evicted the SELECT and each run compiled it again (a third of a save's CPU)."""
    new_profile(event_log)
    compiled: list[str | None] = []

    def authorizer(action: int, table: str | None, *_: object) -> int:
        if action == sqlite3.SQLITE_SELECT:  # asked once each time a SELECT is compiled
            compiled.append(table)
        return sqlite3.SQLITE_OK

    with event_log.recorder.datastore.get_connection(commit=False) as connection:
        raw = connection._sqlite_conn
        assert raw.execute("PRAGMA secure_delete").fetchone()[0] == 1  # erasure zeroes the bytes
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        raw.set_authorizer(authorizer)
        try:
            for _ in range(3):
                with connection.transaction(commit=False) as cursor:
                    cursor.execute("SELECT count(*) FROM stored_events WHERE originator_version > ?", (0,))
                    assert cursor.fetchone()[0] == 3
        finally:
            raw.set_authorizer(None)
    assert len(compiled) == 1
