"""Sessions on one engine: start, change, end, read back; repeat starts; concurrent starts; mock."""

from __future__ import annotations

import threading
import time

import pytest

from profilestore import Engine, ProfileStore, ProfileStoreError, Settings


def test_a_change_made_in_a_session_is_seen_by_get_after_end_session(store: ProfileStore) -> None:
    profile = store.start_session("player")
    assert profile is not None and profile.is_active()
    assert profile.data == {"Counter": 0, "Array": []}
    profile.data["Counter"] = 7
    profile.data["Array"].append("sword")
    profile.end_session()

    got = store.get("player")
    assert got is not None
    assert got.data == {"Counter": 7, "Array": ["sword"]}
    assert not got.is_active()


def test_two_rapid_sessions_on_one_server_count_twice_and_remove_erases_the_key(store: ProfileStore) -> None:
    for _ in range(2):
        profile = store.start_session("rapid")
        assert profile is not None
        profile.data["Counter"] = profile.data.get("Counter", 0) + 1
        profile.end_session()

    got = store.get("rapid")
    assert got is not None and got.data["Counter"] == 2
    assert store.remove("rapid") is True
    assert store.get("rapid") is None


def test_a_second_start_session_on_an_active_key_raises_and_a_start_after_end_works(
        store: ProfileStore) -> None:
    first = store.start_session("repeat")
    assert first is not None
    with pytest.raises(ProfileStoreError):
        store.start_session("repeat")
    assert first.is_active(), "the failed second start must not disturb the first session"
    first.end_session()

    second = store.start_session("repeat")
    assert second is not None and second.is_active()
    second.end_session()
    third = store.start_session("repeat")
    assert third is not None and third.is_active()
    third.end_session()


def test_of_three_concurrent_start_session_calls_only_the_last_caller_gets_the_profile(
        make_engine, in_thread) -> None:
    settings = Settings(poll_interval=0.1)
    holder_engine, waiter_engine = make_engine("holder", settings), make_engine("waiter", settings)
    holder = ProfileStore("Store1", {"Counter": 0}, engine=holder_engine).start_session("grab")
    assert holder is not None
    waiters = ProfileStore("Store1", {"Counter": 0}, engine=waiter_engine)

    calls = []
    for _ in range(3):
        calls.append(in_thread(waiters.start_session, "grab"))
        time.sleep(0.2)  # the first caller is already waiting on the holder when the next one calls
    assert not any(call.done for call in calls), "nobody can claim while the holder keeps the session"

    holder.end_session()
    results = [call.outcome(timeout=10) for call in calls]

    assert results[0] is None
    assert results[1] is None
    assert results[2] is not None and results[2].is_active()
    results[2].end_session()


def test_the_same_key_can_be_active_in_the_live_store_and_its_mock_at_once(store: ProfileStore) -> None:
    mock = store.mock
    assert mock.mock is mock
    assert mock.name == store.name and mock.template == store.template

    in_mock = mock.start_session("shared")
    live = store.start_session("shared")
    assert in_mock is not None and live is not None
    assert in_mock.is_active() and live.is_active()

    in_mock.data["Counter"] = 99
    in_mock.data["MockOnly"] = True
    live.data["Counter"] = 1
    in_mock.end_session()
    live.end_session()

    assert store.get("shared").data == {"Counter": 1, "Array": []}
    assert mock.get("shared").data == {"Counter": 99, "Array": [], "MockOnly": True}


def test_mock_profiles_never_appear_in_the_live_store(store: ProfileStore) -> None:
    profile = store.mock.start_session("only-in-mock")
    assert profile is not None
    profile.data["Counter"] = 5
    profile.end_session()

    assert store.get("only-in-mock") is None
    assert "only-in-mock" not in list(store.keys())
    assert list(store.mock.keys()) == ["only-in-mock"]
    assert store.mock.remove("only-in-mock") is True
    assert store.mock.get("only-in-mock") is None


def test_calling_end_session_twice_is_safe_and_ends_the_session_once(store: ProfileStore) -> None:
    profile = store.start_session("twice")
    assert profile is not None
    ended = []
    profile.on_session_end.connect(lambda: ended.append(True))
    profile.data["Counter"] = 3
    profile.end_session()
    profile.end_session()

    assert ended == [True]
    assert not profile.is_active()
    kinds = [entry.type for entry in store.history("twice")]
    assert kinds.count("SessionEnded") == 1
    assert store.get("twice").data["Counter"] == 3


def test_session_load_count_grows_by_one_per_session(store: ProfileStore) -> None:
    counts = []
    first_times = set()
    for _ in range(3):
        profile = store.start_session("loads")
        assert profile is not None
        counts.append(profile.session_load_count)
        first_times.add(profile.first_session_time)
        profile.end_session()
    assert counts == [1, 2, 3]
    assert len(first_times) == 1, "first_session_time stays the profile's creation time"


def test_a_profile_started_again_after_removal_begins_from_the_template(store: ProfileStore) -> None:
    profile = store.start_session("reborn")
    profile.data["Counter"] = 10
    profile.end_session()
    assert store.remove("reborn") is True

    again = store.start_session("reborn")
    assert again is not None
    assert again.data == {"Counter": 0, "Array": []}
    assert again.session_load_count == 1
    again.end_session()


def test_keys_lists_live_keys_in_ascending_order(store: ProfileStore) -> None:
    for key in ["delta", "alpha", "charlie", "bravo"]:
        store.start_session(key).end_session()
    assert store.remove("charlie") is True
    assert list(store.keys()) == ["alpha", "bravo", "delta"]


def test_keys_of_one_store_do_not_include_another_stores_keys(engine: Engine) -> None:
    first = ProfileStore("First", engine=engine)
    second = ProfileStore("Second", engine=engine)
    first.start_session("a").end_session()
    second.start_session("b").end_session()
    assert list(first.keys()) == ["a"]
    assert list(second.keys()) == ["b"]


def test_a_session_profile_records_this_servers_session(store: ProfileStore, engine: Engine) -> None:
    profile = store.start_session("who")
    assert profile.session == {"place_id": engine.server.place_id, "job_id": engine.server.job_id}
    assert profile.key == "who"
    assert profile.profile_store is store
    profile.end_session()


def test_a_second_start_session_on_an_active_mock_key_raises_too(store: ProfileStore) -> None:
    first = store.mock.start_session("mock-repeat")
    with pytest.raises(ProfileStoreError):
        store.mock.start_session("mock-repeat")
    first.end_session()
    again = store.mock.start_session("mock-repeat")
    assert again is not None and again.session_load_count == 2
    again.end_session()


def test_two_store_objects_with_one_name_share_sessions_but_keep_their_own_templates(engine: Engine
                                                                                    ) -> None:
    old = ProfileStore("Shared", {"Coins": 0}, engine=engine)
    new = ProfileStore("Shared", {"Coins": 0, "Gems": 0}, engine=engine)
    profile = old.start_session("p")
    with pytest.raises(ProfileStoreError):
        new.start_session("p")
    profile.end_session()
    again = new.start_session("p")
    assert again.data == {"Coins": 0}
    again.reconcile()
    assert again.data == {"Coins": 0, "Gems": 0}
    again.end_session()
    assert new.start_session("fresh").data == {"Coins": 0, "Gems": 0}


def test_a_new_session_on_this_engine_waits_for_the_last_sessions_final_save(
        store: ProfileStore) -> None:
    # The ended session leaves this engine's registry before its final save is written (its
    # on_session_end fires first): a start_session of the key meanwhile finds the session still
    # recorded as this server's and must not re-claim it ahead of that save, which would then be
    # refused (lost session) and its change lost.
    profile = store.start_session("k")
    assert profile is not None
    profile.data["coins"] = 5
    restarted: list[object] = []

    def start_again() -> None:
        restarted.append(store.start_session("k"))

    def meanwhile() -> None:
        starter = threading.Thread(target=start_again)
        starter.start()
        starter.join(0.5)  # the start runs while the final save has not been written

    profile.on_session_end.connect(meanwhile)
    profile.end_session()
    deadline = time.monotonic() + 10
    while not restarted and time.monotonic() < deadline:
        time.sleep(0.01)
    again = restarted[0]
    assert again is not None and again.data["coins"] == 5
    assert again.session_load_count == profile.session_load_count + 1
    ended = [e for e in store.history("k") if e.type == "SessionEnded"]
    assert [e.payload["reason"] for e in ended] == ["Manual"]
    again.end_session()
