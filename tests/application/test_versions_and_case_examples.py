"""Rollbacks with set(), version queries over time windows and reads as of a time.

Scenarios from ProfileStore's documentation ("I lost all of my coins on August 14th!", "Studying
data mutation over time") and its own test suite (T1 "Versioning test", T2 "Payload test" without
messages), driven by a frozen clock.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from freezegun import freeze_time
from support.timeline import FAR_FUTURE, NOON, TEMPLATE, ms, recorder, versions

from profilestore import (
    Engine,
    ProfileStore,
    SortDirection,
)

# ---- T1: ProfileStore's "Versioning test" ------------------------------------------------------


def test_a_payload_set_after_a_session_is_the_newest_version_a_descending_query_finds(
        store: ProfileStore) -> None:
    profile = store.start_session("Versioning")
    profile.data["Gold"] = 10
    profile.end_session()

    payload = store.get("Versioning")
    assert payload is not None and payload.data["Gold"] == 10
    payload.data["Gold"] += 10
    assert payload.set() is True

    in_the_future = datetime.now(UTC) + timedelta(seconds=10_000)
    for direction in (SortDirection.DESCENDING, "Descending"):
        result = store.version_query("Versioning", direction, None, in_the_future).next()
        assert result is not None
        assert result.data["Gold"] == 20
        assert result.key_info.version == payload.key_info.version
    assert store.get("Versioning").data["Gold"] == 20
    assert store.history("Versioning")[-1].type == "Overwritten"


# ---- T2: ProfileStore's "Payload test" (messages left out) -----------------------------------------


def test_a_payload_set_over_a_live_session_wins_and_the_sessions_unsaved_change_is_lost(
        store: ProfileStore) -> None:
    profile = store.start_session("PayloadTest")
    profile.data = {"Coins": 68}
    profile.add_user_id(2312310)
    profile.metadata = {"Playtime": 123456}
    assert profile.save() is True
    profile.data["Coins"] = 1_000_000  # never saved: must be lost

    payload = store.get("PayloadTest")
    payload.data["Coins"] += 1
    payload.add_user_id(50)
    ended = recorder(profile.on_session_end)
    assert payload.set() is True

    assert ended == [()], "the session ends before set() returns"
    assert not profile.is_active()
    assert profile.save() is False
    profile.end_session()  # safe, and writes nothing
    after = store.get("PayloadTest")
    assert after.data == {"Coins": 69}
    assert after.metadata == {"Playtime": 123456}
    assert after.key_info.metadata == {"Playtime": 123456}
    assert set(after.user_ids) == {2312310, 50}
    assert set(after.key_info.user_ids) == {2312310, 50}
    assert store.history("PayloadTest")[-1].type == "Overwritten"


# ---- "I lost all of my coins on August 14th!" ----------------------------------------------------


def test_a_player_who_lost_his_coins_on_august_14th_gets_them_back_from_august_13th(
        store: ProfileStore) -> None:
    key = "Player_2312310"
    with freeze_time("2021-08-12 18:00:00") as frozen:
        profile = store.start_session(key)
        profile.data["Coins"] = 1000
        profile.end_session()

        frozen.move_to("2021-08-13 20:00:00")
        profile = store.start_session(key)
        profile.data["Coins"] = 1500
        profile.end_session()

        frozen.move_to("2021-08-14 09:30:00")  # the bug
        profile = store.start_session(key)
        profile.data["Coins"] = 0
        assert profile.save() is True
        bad_version = int(profile.key_info.version)
        frozen.tick(600)
        profile.data["Array"] = ["sword"]  # the player plays on without his coins
        profile.end_session()

        frozen.move_to("2021-08-15 08:00:00")  # the operator steps in
        max_date = datetime(2021, 8, 13, 23, 59, 59, tzinfo=UTC)
        query = store.version_query(key, "Descending", None, max_date)
        before_the_loss = query.next()
        assert before_the_loss is not None
        assert before_the_loss.data["Coins"] == 1500
        assert before_the_loss.key_info.updated_time == ms(datetime(2021, 8, 13, 20, tzinfo=UTC))
        assert not before_the_loss.is_active()
        restored = int(before_the_loss.key_info.version)
        same_by_ms = store.version_query(key, SortDirection.DESCENDING, None, ms(max_date)).next()
        assert same_by_ms.key_info.version == str(restored)

        assert before_the_loss.set() is True
        rolled_back_at = datetime(2021, 8, 15, 8, tzinfo=UTC)

    latest = store.get(key)
    assert latest.data == {"Counter": 0, "Array": [], "Coins": 1500}
    assert latest.key_info.version == before_the_loss.key_info.version
    assert int(latest.key_info.version) > bad_version
    assert latest.key_info.updated_time == ms(rolled_back_at)

    history = store.history(key)
    assert history[-1].type == "Overwritten"
    assert history[-1].payload["from_version"] == restored
    assert history[-1].timestamp == rolled_back_at
    assert history[-1].session is None
    bad = [e for e in history if e.version == bad_version]
    assert bad and bad[0].type == "Saved"
    assert {"op": "replace", "path": "/Coins", "value": 0} in bad[0].payload["patch"]
    # the bad period is still there to study
    assert store.get(key, version=bad_version).data["Coins"] == 0
    assert store.get(key, at=datetime(2021, 8, 14, 12, tzinfo=UTC)).data["Coins"] == 0
    assert [p.data["Coins"] for p in store.version_query(
        key, min_date=datetime(2021, 8, 14, tzinfo=UTC))] == [0, 0, 1500]

    rejoined = store.start_session(key)
    assert rejoined.data["Coins"] == 1500
    rejoined.end_session()


def test_a_rollback_query_before_the_profile_existed_finds_nothing_to_roll_back_to(
        store: ProfileStore) -> None:
    with freeze_time("2021-08-14 09:30:00"):
        store.start_session("late").end_session()
    query = store.version_query("late", "Descending", None, datetime(2021, 8, 13, tzinfo=UTC))
    assert query.next() is None
    assert store.get("late", at=datetime(2021, 8, 13, tzinfo=UTC)) is None


# ---- "Studying data mutation over time" -------------------------------------------------------------


def test_hourly_auto_saves_can_be_studied_over_twelve_hours_oldest_first(
        engine: Engine, store: ProfileStore) -> None:
    start = datetime(2021, 8, 14, 14, 41, 41, tzinfo=UTC)  # 1628952101
    engine.set_constant("AUTO_SAVE_PERIOD", 3600)
    engine.set_constant("ASSUME_DEAD", 3 * 3600)
    saved: dict[int, dict[str, Any]] = {}  # updated_time -> data stored then
    with freeze_time(start) as frozen:
        profile = store.start_session("me")
        saved[profile.key_info.updated_time] = dict(profile.last_saved_data)
        for hour in range(1, 15):
            if hour != 5:  # hour 5: nothing changed, the auto-save still writes a version
                profile.data["Counter"] = hour
                profile.data["Array"] = [*profile.data["Array"], f"item{hour}"]
            version = profile.key_info.version
            frozen.tick(3600)
            engine.run_pending()
            for _ in range(5):  # "about" once per period: a slot may come a second late
                if profile.key_info.version != version:
                    break
                frozen.tick(1)
                engine.run_pending()
            assert profile.key_info.version != version, f"hour {hour} was not auto-saved"
            assert profile.last_saved_data["Counter"] == profile.data["Counter"]
            saved[profile.key_info.updated_time] = {
                "Counter": profile.last_saved_data["Counter"],
                "Array": list(profile.last_saved_data["Array"])}
        profile.end_session()

    finish = ms(start) + 12 * 60 * 60_000
    found = []
    query = store.version_query("me", "Ascending", min_date=start, max_date=finish)
    while (entry := query.next()) is not None:
        found.append(entry)
    times = [p.key_info.updated_time for p in found]
    assert times == sorted(times)
    assert all(ms(start) <= t <= finish for t in times)
    expected = sorted(t for t in saved if ms(start) <= t <= finish)
    assert times == expected
    assert len(found) >= 12
    for entry in found:
        assert entry.data == saved[entry.key_info.updated_time]
        assert entry.key_info.created_time == ms(start)
    assert found[0].data == TEMPLATE
    unchanged = [p for p in found if p.data["Counter"] == 4]
    assert len(unchanged) == 2, "the hour without changes is a version of its own"
    assert int(found[-1].key_info.version) < int(store.get("me").key_info.version)


# ---- windows and bounds ---------------------------------------------------------------------------


def test_a_version_query_with_min_date_after_max_date_yields_nothing(saved_at_noon: ProfileStore) -> None:
    store = saved_at_noon
    query = store.version_query("w", "Ascending", NOON + timedelta(seconds=1), NOON)
    assert query.next() is None
    assert list(store.version_query("w", "Descending", ms(NOON) + 1, ms(NOON))) == []


def test_version_query_bounds_are_inclusive_at_millisecond_precision(saved_at_noon: ProfileStore) -> None:
    store = saved_at_noon
    at_123 = ms(NOON) + 123
    assert versions(store.version_query("w", max_date=at_123)) == ["1", "3"]
    assert versions(store.version_query("w", max_date=at_123 - 1)) == ["1"]
    assert versions(store.version_query("w", min_date=at_123)) == ["3", "4"]
    assert versions(store.version_query("w", min_date=at_123 + 1)) == ["4"]
    assert versions(store.version_query("w", min_date=at_123, max_date=at_123)) == ["3"]
    # datetimes are truncated to the millisecond too, on both sides
    exactly = NOON + timedelta(microseconds=123_000)
    late_in_the_ms = NOON + timedelta(microseconds=123_999)
    assert versions(store.version_query("w", max_date=exactly)) == ["1", "3"]
    assert versions(store.version_query("w", min_date=late_in_the_ms)) == ["3", "4"]
    assert versions(store.version_query("w", min_date=late_in_the_ms, max_date=exactly)) == ["3"]
    assert versions(store.version_query("w", max_date=NOON + timedelta(microseconds=122_999))) == ["1"]


def test_naive_aware_and_epoch_millisecond_bounds_give_the_same_versions(
        saved_at_noon: ProfileStore) -> None:
    store = saved_at_noon
    low, high = NOON + timedelta(milliseconds=100), NOON + timedelta(milliseconds=500)
    plus_two = timezone(timedelta(hours=2))
    forms = [
        (low, high),
        (low.replace(tzinfo=None), high.replace(tzinfo=None)),  # naive: read as UTC
        (ms(low), ms(high)),
        (low.astimezone(plus_two), high.astimezone(plus_two)),
        (low, ms(high)),
    ]
    for low_form, high_form in forms:
        assert versions(store.version_query("w", "Ascending", low_form, high_form)) == ["3"], (
            low_form, high_form)
    assert store.get("w", at=high.replace(tzinfo=None)).data["Gold"] == 1
    assert store.get("w", at=high.astimezone(plus_two)).data["Gold"] == 1
    assert store.get("w", at=ms(high)).data["Gold"] == 1


@pytest.mark.parametrize("direction", ["Up", "descending", "ASCENDING", "", 1])
def test_a_version_query_refuses_a_sort_direction_it_does_not_know(
        saved_at_noon: ProfileStore, direction: Any) -> None:
    with pytest.raises(ValueError):
        saved_at_noon.version_query("w", direction)


def test_iterating_a_query_and_calling_next_give_the_same_profiles_then_none(
        saved_at_noon: ProfileStore) -> None:
    store = saved_at_noon
    for direction in ("Ascending", "Descending"):
        by_iteration = [(p.key_info.version, p.data) for p in store.version_query("w", direction)]
        query = store.version_query("w", direction)
        by_next = []
        while (profile := query.next()) is not None:
            by_next.append((profile.key_info.version, profile.data))
        assert by_iteration == by_next
        assert query.next() is None
        assert query.next() is None
        assert list(query) == []
    assert [v for v, _ in by_next] == ["4", "3", "1"]


def test_versions_saved_within_one_millisecond_are_listed_in_version_order(store: ProfileStore) -> None:
    with freeze_time(NOON):  # the clock never moves: every event has the same timestamp
        profile = store.start_session("same-ms")
        for counter in (1, 2, 3):
            profile.data["Counter"] = counter
            assert profile.save() is True
        profile.end_session()
    ascending = list(store.version_query("same-ms", min_date=NOON, max_date=NOON))
    assert [p.data["Counter"] for p in ascending] == [0, 1, 2, 3, 3], "the final save is a version too"
    assert [int(p.key_info.version) for p in ascending] == sorted(int(p.key_info.version) for p in ascending)
    descending = list(store.version_query("same-ms", "Descending", NOON, NOON))
    assert [p.data["Counter"] for p in descending] == [3, 3, 2, 1, 0]
    assert store.get("same-ms", at=NOON).data["Counter"] == 3


# ---- get(at=) and get(version=) ------------------------------------------------------------------


def test_get_at_a_millisecond_between_two_saves_gives_the_earlier_one(saved_at_noon: ProfileStore) -> None:
    store = saved_at_noon
    assert store.get("w", at=ms(NOON) + 122).data.get("Gold") is None
    assert store.get("w", at=ms(NOON) + 123).data["Gold"] == 1
    assert store.get("w", at=ms(NOON) + 999).data["Gold"] == 1
    assert store.get("w", at=ms(NOON) + 999).key_info.version == "3"
    assert store.get("w", at=ms(NOON) + 1000).data["Gold"] == 2


def test_get_at_before_creation_is_none_and_in_the_future_is_the_latest(
        saved_at_noon: ProfileStore) -> None:
    store = saved_at_noon
    assert store.get("w", at=ms(NOON) - 1) is None
    assert store.get("w", at=NOON - timedelta(days=1)) is None
    assert store.get("w", at=NOON).data == TEMPLATE
    future = store.get("w", at=FAR_FUTURE)
    assert future.data["Gold"] == 2
    assert future.key_info.version == store.get("w").key_info.version == "4"
    assert future.session is None, "the session had ended"
    assert store.get("never", at=FAR_FUTURE) is None


def test_get_by_version_takes_its_decimal_string_and_refuses_non_saved_versions(
        saved_at_noon: ProfileStore) -> None:
    store = saved_at_noon
    kinds = {e.version: e.type for e in store.history("w")}
    assert kinds[2] == "SessionStarted" and kinds[5] == "SessionEnded"
    assert store.get("w", version="3").data["Gold"] == 1
    assert store.get("w", version="3").key_info.version == "3"
    assert store.get("w", version="3").key_info.updated_time == ms(NOON) + 123
    assert store.get("w", version=2) is None
    assert store.get("w", version="2") is None
    assert store.get("w", version=5) is None
    assert store.get("w", version="6") is None
    assert store.get("w", version=0) is None
    assert store.get("w", version=-1) is None
    with pytest.raises(ValueError):
        store.get("w", version="three")
    with pytest.raises(ValueError):
        store.get("w", version=3, at=NOON)
