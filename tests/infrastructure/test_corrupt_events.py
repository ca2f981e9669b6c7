"""Stored events that cannot be replayed: writers reset from the template, readers never write."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from eventsourcing.utils import get_topic

from profilestore import Engine, ProfileStore
from profilestore.domain.profile import ProfileAggregate, profile_id

UNDECODABLE = ("no.such.module:Event", b"\xff not json")
UNKNOWN_TYPE = ("profilestore.domain.profile:ProfileAggregate.NoSuchEvent", b'{"timestamp": 1}')


def not_a_dict(version: int) -> tuple[str, bytes]:
    """A well-formed Saved whose patch turns the data into a list."""
    state = {"timestamp": 1_900_000_000_000_000, "session": None, "metadata": None, "user_ids": None,
             "patch": [{"op": "replace", "path": "", "value": [1, 2]}], "processed_messages": []}
    return get_topic(ProfileAggregate.Saved), orjson.dumps(state)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "p.db"


@pytest.fixture
def engine(path: Path) -> Iterator[Engine]:
    engine = Engine(f"sqlite:///{path}", background=False)
    yield engine
    engine.close(timeout=5)


@pytest.fixture
def store(engine: Engine) -> ProfileStore:
    store = ProfileStore("S", {"coins": 0}, engine=engine)
    profile = store.start_session("k")
    assert profile is not None
    profile.data["coins"] = 50
    profile.end_session()  # versions 1..4
    return store


def inject(path: Path, version: int, row: tuple[str, bytes]) -> None:
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO stored_events VALUES (?, ?, ?, ?)", (profile_id("S", "k").hex, version, *row))


def rows(path: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as db:
        return db.execute("SELECT originator_version, topic, state FROM stored_events"
                          " ORDER BY originator_version").fetchall()


@pytest.mark.parametrize("bad_row", [UNDECODABLE, UNKNOWN_TYPE, not_a_dict(5)],
                         ids=["undecodable", "unknown-type", "not-a-dict"])
def test_start_session_on_corrupt_events_fires_on_overwrite_and_resets_from_the_template(
        engine: Engine, store: ProfileStore, path: Path, bad_row: tuple[str, bytes]) -> None:
    inject(path, 5, bad_row)
    before = rows(path)
    overwrites: list[tuple[str, str]] = []
    engine.on_overwrite.connect(lambda *args: overwrites.append(args))

    profile = store.start_session("k")
    assert profile is not None and profile.data == {"coins": 0}
    assert overwrites == [("S", "k")]
    assert rows(path)[:5] == before, "the corrupt rows stay untouched for forensics"
    types = [e.type for e in store.history("k")]
    assert types[4:] == ["Corrupt" if bad_row != not_a_dict(5) else "Saved", "Reset", "SessionStarted"]
    profile.data["coins"] = 3
    profile.end_session()
    latest = store.get("k")
    assert latest is not None and latest.data == {"coins": 3}  # replay starts at the Reset
    assert overwrites == [("S", "k")], "fired once, at the reset"


def test_get_history_and_version_query_never_write_to_a_corrupt_profile(
        engine: Engine, store: ProfileStore, path: Path) -> None:
    inject(path, 5, UNDECODABLE)
    before = rows(path)
    overwrites: list[Any] = []
    engine.on_overwrite.connect(lambda *args: overwrites.append(args))
    profile = store.get("k")
    assert profile is not None and profile.data == {"coins": 0}  # the template
    assert [e.type for e in store.history("k")][-1] == "Corrupt"
    assert [p.data for p in store.version_query("k")] == [{"coins": 0}, {"coins": 50}]
    assert rows(path) == before and overwrites == []


def test_a_message_to_a_corrupt_profile_resets_it_and_is_kept(engine: Engine, store: ProfileStore,
                                                             path: Path) -> None:
    inject(path, 5, UNDECODABLE)
    overwrites: list[Any] = []
    engine.on_overwrite.connect(lambda *args: overwrites.append(args))
    assert store.message("k", {"gift": 1})
    assert overwrites == [("S", "k")]
    profile = store.get("k")
    assert profile is not None and profile.data == {"coins": 0}
    held: list[Any] = []
    profile.message_handler(lambda message, processed: held.append(message))
    assert held == [{"gift": 1}]


def test_remove_erases_a_corrupt_profile_too(store: ProfileStore, path: Path) -> None:
    inject(path, 5, (UNDECODABLE[0], b"SECRET-IN-A-BROKEN-ROW"))
    assert store.remove("k")
    assert store.get("k") is None and [e.type for e in store.history("k")] == ["Removed"]
    assert all(b"SECRET-IN-A-BROKEN-ROW" not in f.read_bytes() for f in path.parent.iterdir())
