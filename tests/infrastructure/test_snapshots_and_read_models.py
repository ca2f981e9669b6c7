"""Snapshots bound replay; erasure reaches snapshots and rewritten rows; read models rebuild."""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.persistence import OperationalError
from freezegun import freeze_time

from profilestore import Engine, ProfileStore, Settings
from profilestore.application.event_log import REDACTED_TOPIC
from profilestore.domain.profile import ProfileAggregate, profile_id

START = datetime(2026, 3, 1, tzinfo=UTC)


class CountingReads:
    """Wraps the recorder: remembers how many event rows each read of a stream returned."""

    def __init__(self, recorder: Any) -> None:
        self._recorder, self.rows_per_read = recorder, []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._recorder, name)

    def select_events(self, *args: Any, **kwargs: Any) -> Any:
        rows = self._recorder.select_events(*args, **kwargs)
        self.rows_per_read.append(len(rows))
        return rows

    def select_rows(self, *args: Any, **kwargs: Any) -> Any:  # reads at a version or time
        rows = self._recorder.select_rows(*args, **kwargs)
        self.rows_per_read.append(len(rows))
        return rows


@pytest.fixture
def engine() -> Iterator[Engine]:
    engine = Engine("sqlite:///:memory:", settings=Settings(snapshot_interval=100), background=False)
    yield engine
    engine.close(timeout=5)


@pytest.mark.slow
def test_a_profile_with_10000_events_read_at_random_times_replays_at_most_one_interval(
        engine: Engine) -> None:
    store = ProfileStore("S", {"coins": 0}, engine=engine)
    with freeze_time(START) as frozen:
        profile = store.start_session("whale")  # versions 1 and 2
        assert profile is not None
        for coins in range(1, 9999):  # one Saved per second: versions 3 .. 10000
            frozen.tick(1)
            profile.data["coins"] = coins
            assert profile.save()
        engine.run_pending()  # snapshots are taken here, after the commits
    app = engine.parts.logs.live.app
    counting = CountingReads(app.events.recorder)
    app.events.recorder = app.recorder = counting
    for second in random.Random(7).sample(range(1, 9999), 200):
        at = START + timedelta(seconds=second, milliseconds=500)
        seen = store.get("whale", at=at)
        assert seen is not None and seen.data == {"coins": second}
    assert max(counting.rows_per_read) <= engine.settings.snapshot_interval
    latest = store.get("whale")
    assert latest is not None and latest.key_info.version == "10000"


def test_whole_lists_replaced_as_often_as_the_profile_is_large_bring_a_snapshot_early(engine: Engine
                                                                                       ) -> None:
    store = ProfileStore("S", {"items": []}, engine=engine)
    profile = store.start_session("k")
    assert profile is not None
    profile.data["items"] = [{"uid": i, "level": i % 7} for i in range(1_000)]
    profile.save()  # an add of 1,000 elements: as much as the profile holds
    for key in ("level", "uid", "level"):  # each sort is one replace of the whole list
        profile.data["items"].sort(key=lambda item, key=key: (item[key], -item["uid"]))
        profile.save()
    engine.run_pending()
    with sqlite3.connect(engine.parts.logs.live.app.factory.datastore.pool.db_name, uri=True) as db:
        versions = [row[0] for row in db.execute("SELECT originator_version FROM stored_snapshots")]
    assert versions and max(versions) < engine.settings.snapshot_interval
    reads = CountingReads(engine.parts.logs.live.app.recorder)
    engine.parts.logs.live.app.repository.cache = None  # replay from the stored rows
    engine.parts.logs.live._app.recorder = reads  # type: ignore[union-attr]
    assert store.get("k", version=profile.key_info.version).data == profile.data
    assert max(reads.rows_per_read) <= 2, "the early snapshot stands at or next to the last sort"


def test_small_patches_never_bring_a_snapshot_before_the_interval(engine: Engine) -> None:
    store = ProfileStore("S", {"items": [{"qty": 0}] * 300}, engine=engine)
    profile = store.start_session("k")
    assert profile is not None
    for qty in range(1, 40):
        profile.data["items"][qty]["qty"] = qty
        profile.save()
    engine.run_pending()
    with sqlite3.connect(engine.parts.logs.live.app.factory.datastore.pool.db_name, uri=True) as db:
        assert db.execute("SELECT count(*) FROM stored_snapshots").fetchone()[0] == 0


def test_a_failing_snapshot_never_makes_a_committed_save_look_failed(engine: Engine) -> None:
    engine.set_constant("SNAPSHOT_INTERVAL", 3)
    store = ProfileStore("S", {"coins": 0}, engine=engine)
    profile = store.start_session("k")
    assert profile is not None
    recorder = engine.parts.logs.live.app.recorder

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise OperationalError("disk full (injected)")

    real, recorder.insert_snapshot = recorder.insert_snapshot, refuse
    profile.data["coins"] = 1
    assert profile.save() is True
    engine.run_pending()  # the snapshot fails and is logged
    recorder.insert_snapshot = real
    engine.run_pending()  # ... and is taken at the next chance
    with sqlite3.connect(engine.parts.logs.live.app.factory.datastore.pool.db_name, uri=True) as db:
        assert db.execute("SELECT originator_version FROM stored_snapshots").fetchall() == [(3,)]


def test_removed_data_leaves_no_byte_behind_in_snapshots_or_rewritten_read_model_rows(tmp_path: Path
                                                                                    ) -> None:
    path = tmp_path / "p.db"
    with Engine(f"sqlite:///{path}", settings=Settings(snapshot_interval=4), background=False) as engine:
        store = ProfileStore("S", engine=engine)
        profile = store.start_session("k")
        assert profile is not None
        secrets = [f"SECRET-{n:04d}-zq" for n in range(12)]
        for secret in secrets:  # each save rewrites the read-model row: old rows free pages
            profile.data["note"] = secret
            assert profile.save()
            engine.run_pending()
        with sqlite3.connect(path) as db:
            assert db.execute("SELECT count(*) FROM stored_snapshots").fetchone()[0] >= 3
        profile.end_session()
        assert store.remove("k")
    found = {secret for secret in secrets for file in tmp_path.iterdir()
             if secret.encode() in file.read_bytes()}
    assert found == set()


def test_a_snapshot_of_an_erased_version_is_never_stored(engine: Engine) -> None:
    store = ProfileStore("S", engine=engine)
    profile = store.start_session("k")
    assert profile is not None
    profile.data["note"] = "private"
    profile.end_session()
    pid, event_log = profile_id("S", "k"), engine.parts.logs.live
    before_erasure = event_log.load(pid, "S", "k")
    stale_snapshot = event_log.app.mapper.to_stored_event(ProfileAggregate.Snapshot.take(before_erasure))
    assert store.remove("k")
    event_log.recorder.insert_snapshot(stale_snapshot, REDACTED_TOPIC)
    assert store.get("k") is None
    with sqlite3.connect(event_log.app.factory.datastore.pool.db_name, uri=True) as db:
        assert db.execute("SELECT count(*) FROM stored_snapshots").fetchone()[0] == 0


def read_models(path: Path) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    with sqlite3.connect(path) as db:
        return (db.execute("SELECT * FROM profiles ORDER BY store, key").fetchall(),
                db.execute("SELECT * FROM profile_user_ids ORDER BY user_id, store, key").fetchall())


def test_read_models_rebuilt_from_the_events_equal_the_live_ones(tmp_path: Path) -> None:
    path = tmp_path / "p.db"
    with Engine(f"sqlite:///{path}", background=False) as engine:
        players = ProfileStore("Players", {"coins": 0}, engine=engine)
        guilds = ProfileStore("Guilds", engine=engine)
        for n in range(6):
            profile = players.start_session(f"p{n}")
            assert profile is not None
            profile.data["coins"] = n * 10
            profile.metadata = {"level": n}
            profile.add_user_id(100 + n % 3)
            profile.end_session()
        held = guilds.start_session("g1")  # an active session: the row records its owner
        assert held is not None
        held.add_user_id(101)
        assert held.save()
        assert players.remove("p2")
        assert engine.flush_read_models()  # the rows that lag the saves (SPEC §5)
        live = read_models(path)
        engine.rebuild_read_models()
        assert read_models(path) == live
        assert list(players.keys()) == ["p0", "p1", "p3", "p4", "p5"]
        live_keys = [("Guilds", "g1")] + [("Players", k) for k in ("p0", "p1", "p3", "p4", "p5")]
        assert [row[:2] for row in live[0]] == live_keys
        assert engine.find_user(101) == [("Guilds", "g1"), ("Players", "p1"), ("Players", "p4")]
