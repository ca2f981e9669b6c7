"""The per-save and per-read statements go through an index, so they cost the same at 1,000 and
at 100,000 profiles (bench scenario 7 measures it; these plans say why)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from profilestore import Engine, ProfileStore
from profilestore.infrastructure.sqlite import newer_events_statement


@pytest.fixture
def database(tmp_path: Path) -> sqlite3.Connection:
    path = tmp_path / "plans.db"
    with Engine(f"sqlite:///{path}", background=False) as engine:
        profile = ProfileStore("S", {}, engine=engine).start_session("k")
        assert profile is not None
        profile.end_session()
    connection = sqlite3.connect(path)
    connection.execute("ANALYZE")
    return connection


def plan(connection: sqlite3.Connection, statement: str, params: dict[str, object]) -> str:
    return " | ".join(row[3] for row in connection.execute(f"EXPLAIN QUERY PLAN {statement}", params))


@pytest.mark.parametrize("statement", [
    "DELETE FROM profile_user_ids WHERE store=:store AND key=:key",  # every user-id change
    "SELECT * FROM profiles WHERE store=:store AND key=:key",
])
def test_a_profiles_read_model_rows_are_found_by_index(database: sqlite3.Connection, statement: str
                                                       ) -> None:
    found = plan(database, statement, {"store": "S", "key": "k"})
    assert "USING" in found and "INDEX" in found, found


def test_a_point_in_time_lookup_steps_down_the_time_index(database: sqlite3.Connection) -> None:
    found = plan(database, "SELECT originator_version FROM profile_timestamps"
                           " WHERE originator_id=:id AND timestamp_us < :end"
                           " ORDER BY timestamp_us DESC, originator_version DESC LIMIT 1",
                 {"id": "x", "end": 1})
    assert "profile_timestamps_by_time" in found and "TEMP B-TREE" not in found, found


def test_a_group_commit_reads_each_members_newer_events_by_one_index_probe(
        database: sqlite3.Connection) -> None:
    """A max() grouped over an IN list read every event of every member: 95 µs for a profile
    with 1,000 events, in the transaction that holds the write lock."""
    statement = newer_events_statement("stored_events")
    found = " | ".join(row[3] for row in database.execute(f"EXPLAIN QUERY PLAN {statement}",
                                                          ('[["x", 1]]',)))
    assert "SCAN s VIRTUAL TABLE" in found, found
    assert "SEARCH e USING INDEX" in found and "originator_version>?" in found, found
