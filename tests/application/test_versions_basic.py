"""Saved versions, reads as of a time, version queries and history, driven by a frozen clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from freezegun import freeze_time

from profilestore import Engine, ProfileStore, SortDirection

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


@pytest.fixture
def saved_three_times(store: ProfileStore) -> ProfileStore:
    """Key "gold": created at T0 (v1), session v2, Gold=10 at T0+10s (v3), Gold=20 at T0+20s (v4),
    session ended at T0+20s (v5)."""
    with freeze_time(T0) as frozen:
        profile = store.start_session("gold")
        frozen.tick(10)
        profile.data["Gold"] = 10
        assert profile.save() is True
        frozen.tick(10)
        profile.data["Gold"] = 20
        profile.end_session()
    return store


def test_history_of_a_session_lists_its_events_in_order(engine: Engine, saved_three_times: ProfileStore
                                                        ) -> None:
    history = saved_three_times.history("gold")
    assert [entry.type for entry in history] == [
        "ProfileCreated", "SessionStarted", "Saved", "Saved", "SessionEnded"]
    assert [entry.version for entry in history] == [1, 2, 3, 4, 5]
    me = {"place_id": engine.server.place_id, "job_id": engine.server.job_id}
    assert all(entry.session == me for entry in history)
    assert history[0].payload["data"] == {"Counter": 0, "Array": []}
    assert history[1].payload["session_load_count"] == 1
    assert history[2].payload["patch"] == [{"op": "add", "path": "/Gold", "value": 10}]
    assert history[3].payload["patch"] == [{"op": "replace", "path": "/Gold", "value": 20}]
    assert history[4].payload["reason"] == "Manual"
    assert history[0].timestamp == T0
    assert history[2].timestamp == T0 + timedelta(seconds=10)
    assert history[4].timestamp == T0 + timedelta(seconds=20)
    assert all(entry.timestamp.tzinfo is not None for entry in history)


def test_history_since_and_until_are_inclusive_bounds_on_event_times(saved_three_times: ProfileStore
                                                                     ) -> None:
    store = saved_three_times
    ten = T0 + timedelta(seconds=10)
    assert [e.version for e in store.history("gold", since=ten)] == [3, 4, 5]
    assert [e.version for e in store.history("gold", until=ten)] == [1, 2, 3]
    assert [e.version for e in store.history("gold", since=ms(ten), until=ms(ten))] == [3]
    assert store.history("never-written") == []


def test_get_by_version_gives_that_saved_versions_data(saved_three_times: ProfileStore) -> None:
    store = saved_three_times
    assert store.get("gold", version=1).data == {"Counter": 0, "Array": []}
    assert store.get("gold", version=3).data == {"Counter": 0, "Array": [], "Gold": 10}
    assert store.get("gold", version="4").data == {"Counter": 0, "Array": [], "Gold": 20}
    assert store.get("gold", version=3).key_info.version == "3"


def test_get_by_a_version_that_is_not_a_saved_version_gives_none(saved_three_times: ProfileStore) -> None:
    store = saved_three_times
    assert store.get("gold", version=2) is None, "v2 is a SessionStarted"
    assert store.get("gold", version=5) is None, "v5 is a SessionEnded"
    assert store.get("gold", version=99) is None
    assert store.get("no-such-key", version=1) is None


def test_a_read_only_profile_is_never_active(saved_three_times: ProfileStore) -> None:
    got = saved_three_times.get("gold")
    assert not got.is_active()
    assert got.key_info.version == "4"
    assert got.session is None, "the session had ended by the latest state"
    during = saved_three_times.get("gold", version=3)
    assert during.session is not None and during.session["job_id"] == \
        saved_three_times.engine.server.job_id


def test_version_query_lists_saved_versions_oldest_first(saved_three_times: ProfileStore) -> None:
    found = list(saved_three_times.version_query("gold"))
    assert [p.key_info.version for p in found] == ["1", "3", "4"]
    assert [p.data.get("Gold") for p in found] == [None, 10, 20]
    assert [p.key_info.updated_time for p in found] == [ms(T0), ms(T0) + 10_000, ms(T0) + 20_000]
    assert {p.key_info.created_time for p in found} == {ms(T0)}
    assert not any(p.is_active() for p in found)


def test_version_query_descending_lists_newest_first_through_next(saved_three_times: ProfileStore) -> None:
    query = saved_three_times.version_query("gold", SortDirection.DESCENDING)
    versions = []
    while (profile := query.next()) is not None:
        versions.append(profile.key_info.version)
    assert versions == ["4", "3", "1"]
    assert query.next() is None
    by_string = saved_three_times.version_query("gold", "Descending")
    assert [p.key_info.version for p in by_string] == ["4", "3", "1"]


def test_version_query_rejects_an_unknown_sort_direction(saved_three_times: ProfileStore) -> None:
    with pytest.raises(ValueError):
        saved_three_times.version_query("gold", "Sideways")


def test_version_query_keeps_only_versions_between_min_and_max_date(saved_three_times: ProfileStore) -> None:
    store = saved_three_times
    ten, twenty = T0 + timedelta(seconds=10), T0 + timedelta(seconds=20)
    assert [p.key_info.version for p in store.version_query("gold", min_date=ten)] == ["3", "4"]
    assert [p.key_info.version for p in store.version_query("gold", max_date=ten)] == ["1", "3"]
    between = store.version_query("gold", min_date=ms(ten), max_date=ms(ten))
    assert [p.key_info.version for p in between] == ["3"]
    assert list(store.version_query("gold", min_date=twenty, max_date=ten)) == []
    assert list(store.version_query("no-such-key")) == []


def test_get_at_a_time_gives_the_state_then_and_none_before_creation(saved_three_times: ProfileStore
                                                                     ) -> None:
    store = saved_three_times
    assert store.get("gold", at=T0 - timedelta(seconds=1)) is None
    assert store.get("gold", at=T0).data == {"Counter": 0, "Array": []}
    assert store.get("gold", at=T0 + timedelta(seconds=15)).data["Gold"] == 10
    assert store.get("gold", at=ms(T0) + 20_000).data["Gold"] == 20
    naive = datetime(2026, 1, 1, 0, 0, 12)  # read as UTC
    assert store.get("gold", at=naive).data["Gold"] == 10
    assert store.get("gold", at=T0 + timedelta(days=365)).data["Gold"] == 20, "the future gives the latest"


def test_a_removed_profile_has_no_versions_and_only_a_tombstone_in_history(
        saved_three_times: ProfileStore) -> None:
    store = saved_three_times
    assert store.remove("gold") is True
    assert store.get("gold") is None
    assert store.get("gold", version=3) is None
    assert list(store.version_query("gold")) == []
    assert [entry.type for entry in store.history("gold")] == ["Removed"]
    assert store.history("gold")[0].version == 6, "versions are never reused"
    assert store.history("gold")[0].session is None


def test_versions_work_in_the_mock_store(store: ProfileStore) -> None:
    mock = store.mock
    with freeze_time(T0) as frozen:
        profile = mock.start_session("m")
        frozen.tick(5)
        profile.data["Counter"] = 1
        profile.end_session()
    assert [p.data["Counter"] for p in mock.version_query("m")] == [0, 1]
    assert mock.get("m", version=1).data["Counter"] == 0
    assert mock.get("m", at=T0).data["Counter"] == 0
    assert store.history("m") == []
