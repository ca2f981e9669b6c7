"""set(): a read-only profile written as the newest saved version, and the rules around it;
versions and rollbacks in the mock store."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from freezegun import freeze_time
from support.timeline import NOON, TEMPLATE, ms, recorder

from profilestore import (
    DataError,
    Engine,
    ProfileStore,
    ProfileStoreError,
    StoreClosedError,
)

# ---- set() rules -----------------------------------------------------------------------------------


def test_set_on_a_session_profile_is_refused(store: ProfileStore) -> None:
    profile = store.start_session("s")
    profile.data["Counter"] = 5
    with pytest.raises(ProfileStoreError):
        profile.set()
    assert profile.is_active()
    assert profile.save() is True
    profile.end_session()
    assert store.history("s")[-1].type == "SessionEnded"
    assert all(e.type != "Overwritten" for e in store.history("s"))


def test_set_fires_on_save_not_on_after_save_and_updates_the_payloads_own_state(
        store: ProfileStore) -> None:
    with freeze_time(NOON) as frozen:
        store.start_session("p").end_session()
        payload = store.get("p")
        old_version = payload.key_info.version
        saves, after_saves = recorder(payload.on_save), recorder(payload.on_after_save)
        payload.on_save.connect(lambda: payload.data.__setitem__("Counter", 7))  # still stored
        payload.add_user_id(42)
        payload.metadata["note"] = "rolled back"
        frozen.tick(30)
        assert payload.set() is True
    assert saves == [()]
    assert after_saves == []
    assert payload.last_saved_data == {"Counter": 7, "Array": []}
    assert payload.last_saved_data is not payload.data
    overwritten = store.history("p")[-1]
    assert overwritten.type == "Overwritten"
    assert payload.key_info.version == str(overwritten.version) != old_version
    assert payload.key_info.updated_time == ms(NOON) + 30_000
    assert payload.key_info.created_time == ms(NOON)
    assert payload.key_info.user_ids == (42,)
    assert payload.key_info.metadata == {"note": "rolled back"}
    assert not payload.is_active()
    stored = store.get("p")
    assert stored.data == {"Counter": 7, "Array": []}
    assert stored.user_ids == (42,)
    assert stored.metadata == {"note": "rolled back"}


def test_set_ends_a_session_held_on_this_engine_before_it_returns_without_a_last_save(
        store: ProfileStore) -> None:
    with freeze_time(NOON) as frozen:
        profile = store.start_session("held")
        profile.data["Counter"] = 1
        assert profile.save() is True
        payload = store.get("held")
        payload.data["Counter"] = 100
        profile.data["Counter"] = 2  # unsaved: discarded by the overwrite
        last_saves, session_ends = recorder(profile.on_last_save), recorder(profile.on_session_end)
        session_ends_seen_active: list[bool] = []
        profile.on_session_end.connect(lambda: session_ends_seen_active.append(profile.is_active()))
        after_saves = recorder(profile.on_after_save)
        frozen.tick(5)
        assert payload.set() is True
        assert session_ends == [()]
        assert session_ends_seen_active == [False]
        assert last_saves == [] and after_saves == []
        assert not profile.is_active()
        assert profile.save() is False
        profile.end_session()
    history = store.history("held")
    ended, overwritten = history[-2], history[-1]
    assert ended.type == "SessionEnded" and ended.payload["reason"] == "Overwritten"
    assert overwritten.type == "Overwritten"
    assert ended.timestamp == overwritten.timestamp == NOON + timedelta(seconds=5)
    assert overwritten.version == ended.version + 1
    assert store.get("held").data["Counter"] == 100
    assert store.get("held").session is None
    again = store.start_session("held")
    assert again is not None and again.data["Counter"] == 100
    again.end_session()


def test_set_ends_a_session_held_by_another_server_which_can_never_save_over_the_rollback(
        make_engine: Callable[..., Engine]) -> None:
    operator_engine, game_engine = make_engine("operator"), make_engine("game")
    operator = ProfileStore("Players", TEMPLATE, engine=operator_engine)
    game = ProfileStore("Players", TEMPLATE, engine=game_engine)
    with freeze_time(NOON) as frozen:
        game_engine.run_pending()
        profile = game.start_session("p1")
        profile.data["Counter"] = 10
        assert profile.save() is True
        game_engine.run_pending()
        payload = operator.get("p1", version=profile.key_info.version)
        payload.data["Counter"] = 1  # the rollback
        last_saves, session_ends = recorder(profile.on_last_save), recorder(profile.on_session_end)
        profile.data["Counter"] = 999
        frozen.tick(1)
        assert payload.set() is True
        frozen.tick(1)
        game_engine.run_pending()
        assert not profile.is_active()
        assert session_ends == [()] and last_saves == []
        assert profile.save() is False
        profile.end_session()
        frozen.tick(1)
        game_engine.run_pending()
        assert operator.get("p1").data["Counter"] == 1
        assert game.get("p1").data["Counter"] == 1
        history = operator.history("p1")
        assert [e.type for e in history[-2:]] == ["SessionEnded", "Overwritten"]
        assert history[-2].payload["reason"] == "Overwritten"
        assert history[-2].timestamp == history[-1].timestamp
        rejoined = game.start_session("p1")
        assert rejoined is not None and rejoined.data["Counter"] == 1, "the next session loads the rollback"
        rejoined.end_session()


def test_a_server_that_has_not_yet_noticed_the_rollback_cannot_save_over_it(
        make_engine: Callable[..., Engine]) -> None:
    operator_engine, game_engine = make_engine("operator"), make_engine("game")
    operator = ProfileStore("Players", TEMPLATE, engine=operator_engine)
    game = ProfileStore("Players", TEMPLATE, engine=game_engine)
    profile = game.start_session("p2")
    profile.data["Counter"] = 10
    assert profile.save() is True
    payload = operator.get("p2")
    payload.data["Counter"] = 1
    session_ends = recorder(profile.on_session_end)
    assert payload.set() is True

    profile.data["Counter"] = 999
    assert profile.save() is False, "its session was overwritten"
    assert not profile.is_active()
    assert session_ends == [()]
    assert operator.get("p2").data["Counter"] == 1
    assert operator.history("p2")[-1].type == "Overwritten"


def test_a_profile_read_before_a_removal_can_never_be_set_even_after_the_key_is_recreated(
        store: ProfileStore) -> None:
    profile = store.start_session("gone")
    profile.data["Secret"] = "erase me"
    profile.end_session()
    payload = store.get("gone")
    queried = store.version_query("gone", "Descending").next()
    assert store.remove("gone") is True

    with pytest.raises(ProfileStoreError):
        payload.set()
    with pytest.raises(ProfileStoreError):
        queried.set()
    assert store.get("gone") is None

    fresh = store.start_session("gone")
    assert fresh.data == TEMPLATE
    fresh.data["Counter"] = 3
    fresh.end_session()
    with pytest.raises(ProfileStoreError):
        payload.set()
    with pytest.raises(ProfileStoreError):
        queried.set()
    assert store.get("gone").data == {"Counter": 3, "Array": []}
    assert all("Secret" not in p.data for p in store.version_query("gone"))
    assert all(e.type != "Overwritten" for e in store.history("gone"))
    assert store.get("gone", version=payload.key_info.version) is None
    assert store.get("gone", at=payload.key_info.updated_time) is None, "erased data is not readable"


def test_a_payload_read_as_of_a_time_rolls_back_to_that_state(saved_at_noon: ProfileStore) -> None:
    store = saved_at_noon
    payload = store.get("w", at=ms(NOON) + 500)
    assert payload.key_info.version == "3"
    assert payload.set() is True
    assert store.get("w").data["Gold"] == 1
    assert store.history("w")[-1].payload["from_version"] == 3


def test_the_overwritten_event_names_the_saved_version_a_latest_payload_showed(
        store: ProfileStore) -> None:
    profile = store.start_session("latest")
    profile.data["Counter"] = 1
    profile.end_session()  # ends with a SessionEnded after the last Saved
    payload = store.get("latest")
    shown = int(payload.key_info.version)
    assert payload.set() is True
    from_version = store.history("latest")[-1].payload["from_version"]
    assert from_version == shown
    assert store.get("latest", version=from_version).data == payload.data


def test_a_rollback_by_a_server_whose_clock_is_behind_never_goes_back_in_time(store: ProfileStore) -> None:
    with freeze_time(NOON + timedelta(hours=1)) as frozen:
        profile = store.start_session("skew")
        profile.data["Counter"] = 5
        profile.end_session()
        payload = store.get("skew", version=1)
        frozen.move_to(NOON)  # the operator's clock is an hour behind
        assert payload.set() is True
    history = store.history("skew")
    stamps = [e.timestamp for e in history]
    assert stamps == sorted(stamps)
    assert history[-1].type == "Overwritten"
    assert history[-1].timestamp == NOON + timedelta(hours=1)
    assert payload.key_info.updated_time == ms(NOON + timedelta(hours=1))
    newest = store.version_query("skew", "Descending").next()
    assert newest.key_info.version == str(history[-1].version)
    assert newest.data == TEMPLATE
    assert store.get("skew", at=NOON + timedelta(hours=1)).data == TEMPLATE


def test_a_profile_read_on_one_server_cannot_be_set_after_another_server_removed_the_key(
        make_engine: Callable[..., Engine]) -> None:
    reader = ProfileStore("Players", TEMPLATE, engine=make_engine("reader"))
    eraser = ProfileStore("Players", TEMPLATE, engine=make_engine("eraser"))
    profile = reader.start_session("p3")
    profile.data["Secret"] = "erase me"
    profile.end_session()
    payload = reader.get("p3")
    assert eraser.remove("p3") is True
    with pytest.raises(ProfileStoreError):
        payload.set()
    assert reader.get("p3") is None
    assert [e.type for e in eraser.history("p3")] == ["Removed"]


def test_set_with_data_that_cannot_be_saved_raises_and_stores_nothing(store: ProfileStore) -> None:
    store.start_session("bad").end_session()
    before = store.history("bad")
    payload = store.get("bad")
    payload.data["Bag"] = {1, 2}
    with pytest.raises(DataError, match="Bag"):
        payload.set()
    assert store.history("bad") == before
    assert payload.last_saved_data == TEMPLATE
    payload.data["Bag"] = [1, 2]
    assert payload.set() is True
    assert store.get("bad").data["Bag"] == [1, 2]


def test_set_after_the_engine_closed_raises_store_closed(store: ProfileStore, engine: Engine) -> None:
    store.start_session("closed").end_session()
    payload = store.get("closed")
    engine.close(timeout=5)
    with pytest.raises(StoreClosedError):
        payload.set()


# ---- the mock store -------------------------------------------------------------------------------


def test_mock_versions_and_rollbacks_never_see_or_touch_live_data(store: ProfileStore) -> None:
    with freeze_time(NOON) as frozen:
        live = store.start_session("k")
        live.data["Counter"] = 1000
        live.end_session()
        mock_profile = store.mock.start_session("k")
        for counter in (1, 2, 3):
            frozen.tick(60)
            mock_profile.data["Counter"] = counter
            assert mock_profile.save() is True
        mock_profile.end_session()
        frozen.tick(60)

        mock = store.mock
        assert [p.data["Counter"] for p in mock.version_query("k")] == [0, 1, 2, 3, 3]
        assert [p.data["Counter"] for p in mock.version_query("k", "Descending", None,
                                                             NOON + timedelta(seconds=120))] == [2, 1, 0]
        assert mock.get("k", version=3).data["Counter"] == 1
        assert mock.get("k", version="3").data["Counter"] == 1
        assert mock.get("k", version=2) is None
        assert mock.get("k", at=NOON + timedelta(seconds=90)).data["Counter"] == 1

        rollback = mock.version_query("k", "Descending", None, NOON + timedelta(seconds=60)).next()
        assert rollback.data["Counter"] == 1
        assert rollback.set() is True
    assert mock.get("k").data["Counter"] == 1
    assert mock.history("k")[-1].type == "Overwritten"
    assert mock.history("k")[-1].payload["from_version"] == 3
    assert store.get("k").data["Counter"] == 1000
    assert [p.data["Counter"] for p in store.version_query("k")] == [0, 1000]
    assert all(e.type != "Overwritten" for e in store.history("k"))
    store.start_session("only-live").end_session()
    assert list(store.mock.version_query("only-live")) == []
    assert store.mock.get("only-live", version=1) is None
    assert store.mock.get("only-live") is None
