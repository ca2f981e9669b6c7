"""Signals around saves, auto-save, last_saved_data, key info, reconcile and Signal itself."""

from __future__ import annotations

import pytest
from freezegun import freeze_time

from profilestore import Engine, ProfileStore, Signal


def test_end_session_fires_save_last_save_session_end_then_after_save_before_returning(
        store: ProfileStore) -> None:
    profile = store.start_session("order")
    assert profile is not None
    seen = []
    profile.on_save.connect(lambda: seen.append(("on_save",)))
    profile.on_last_save.connect(lambda reason: seen.append(("on_last_save", reason)))
    profile.on_session_end.connect(lambda: seen.append(("on_session_end",)))
    profile.on_after_save.connect(lambda saved: seen.append(("on_after_save", dict(saved))))
    profile.data["Counter"] = 4

    profile.end_session()

    assert seen == [
        ("on_save",),
        ("on_last_save", "Manual"),
        ("on_session_end",),
        ("on_after_save", {"Counter": 4, "Array": []}),
    ]


def test_a_profile_is_active_inside_on_last_save_and_inactive_inside_on_session_end(
        store: ProfileStore) -> None:
    profile = store.start_session("active-flag")
    seen = {}
    profile.on_save.connect(lambda: seen.setdefault("on_save", profile.is_active()))
    profile.on_last_save.connect(lambda reason: seen.setdefault("on_last_save", profile.is_active()))
    profile.on_session_end.connect(lambda: seen.setdefault("on_session_end", profile.is_active()))
    profile.end_session()
    assert seen == {"on_save": True, "on_last_save": True, "on_session_end": False}


def test_a_profile_is_inactive_inside_on_session_end_and_after_end_session(store: ProfileStore) -> None:
    profile = store.start_session("inactive-flag")
    seen = []
    profile.on_session_end.connect(lambda: seen.append(profile.is_active()))
    profile.end_session()
    assert seen == [False]
    assert not profile.is_active()


def test_changes_made_in_on_last_save_are_saved_but_later_ones_are_not(store: ProfileStore) -> None:
    profile = store.start_session("last-words")

    def last_save(reason: str) -> None:
        profile.data["Counter"] = 42
        profile.metadata["Why"] = reason
        profile.add_user_id(7)

    profile.on_last_save.connect(last_save)
    profile.on_session_end.connect(lambda: profile.data.__setitem__("TooLate", True))
    profile.end_session()

    got = store.get("last-words")
    assert got.data == {"Counter": 42, "Array": []}
    assert got.metadata == {"Why": "Manual"}
    assert got.user_ids == (7,)
    assert profile.data["TooLate"] is True, "the ended profile's data stays readable in memory"


def test_handlers_run_in_registration_order(store: ProfileStore) -> None:
    profile = store.start_session("fifo")
    calls = []
    for n in range(5):
        profile.on_save.connect(lambda n=n: calls.append(n))
    profile.save()
    assert calls == [0, 1, 2, 3, 4]
    profile.end_session()


def test_last_saved_data_is_a_separate_copy_updated_by_auto_save(engine: Engine, store: ProfileStore
                                                                 ) -> None:
    engine.set_constant("AUTO_SAVE_PERIOD", 10)
    with freeze_time("2026-01-01 00:00:00") as frozen:
        profile = store.start_session("last-saved")
        assert profile is not None
        profile.data["LoadedFirstTime"] = True
        profile.data["PurchaseIds"] = ["a"]
        assert profile.last_saved_data is not profile.data
        assert profile.last_saved_data == {"Counter": 0, "Array": []}

        after_save = []
        profile.on_after_save.connect(lambda saved: after_save.append(saved))
        frozen.tick(5)
        engine.run_pending()
        assert after_save == [], "no auto-save before the period has passed"
        frozen.tick(6)
        engine.run_pending()

        assert len(after_save) == 1
        expected = {"Counter": 0, "Array": [], "LoadedFirstTime": True, "PurchaseIds": ["a"]}
        assert profile.last_saved_data == expected
        assert after_save[0] == expected
        assert profile.last_saved_data is not profile.data
        profile.data["PurchaseIds"].append("b")
        assert profile.last_saved_data["PurchaseIds"] == ["a"], "last_saved_data is a deep copy"
        assert store.get("last-saved").data == expected
        profile.end_session()


def test_every_auto_save_writes_a_saved_event_even_when_nothing_changed(engine: Engine,
                                                                      store: ProfileStore) -> None:
    engine.set_constant("AUTO_SAVE_PERIOD", 10)
    with freeze_time("2026-01-01 00:00:00") as frozen:
        profile = store.start_session("heartbeat")
        for _ in range(3):
            frozen.tick(11)
            engine.run_pending()
        saved = [entry for entry in store.history("heartbeat") if entry.type == "Saved"]
        assert len(saved) == 3
        assert all(entry.payload["patch"] == [] for entry in saved)
        profile.end_session()


def test_key_info_shows_metadata_and_user_ids_after_end_session(store: ProfileStore) -> None:
    profile = store.start_session("key-info")
    profile.metadata = {"Color": [0.955, 0, 0], "Dedication": "Veteran"}
    for user_id in (2312310, 50, 420):
        profile.add_user_id(user_id)
    profile.remove_user_id(50)
    profile.end_session()

    info = profile.key_info
    assert info.metadata == {"Color": [0.955, 0, 0], "Dedication": "Veteran"}
    assert 2312310 in info.user_ids and 420 in info.user_ids
    assert 50 not in info.user_ids
    assert info.user_ids == (2312310, 420), "insertion order is kept"

    got = store.get("key-info")
    assert got.key_info.metadata == info.metadata
    assert got.key_info.user_ids == (2312310, 420)
    assert got.user_ids == (2312310, 420)


def test_add_user_id_ignores_duplicates_and_accepts_negative_ids(store: ProfileStore) -> None:
    profile = store.start_session("ids")
    profile.add_user_id(5)
    profile.add_user_id(-3)
    profile.add_user_id(5)
    assert profile.user_ids == (5, -3)
    profile.remove_user_id(999)  # absent: nothing happens
    assert profile.user_ids == (5, -3)
    profile.end_session()
    assert store.get("ids").user_ids == (5, -3)


def test_reconcile_fills_missing_keys_but_keeps_a_value_of_another_type(store: ProfileStore) -> None:
    profile = store.start_session("reconcile")
    profile.data = {"Array": False}
    profile.reconcile()
    assert profile.data["Counter"] == 0
    assert profile.data["Array"] is False
    profile.end_session()
    assert store.get("reconcile").data == {"Counter": 0, "Array": False}


def test_reconcile_fills_nested_dicts_and_never_merges_lists(engine: Engine) -> None:
    template = {"Stats": {"Level": 1, "Skills": {"Fire": 0, "Ice": 0}}, "Items": ["starter"], "Gold": 5}
    store = ProfileStore("Nested", template, engine=engine)
    profile = store.start_session("p")
    profile.data = {"Stats": {"Skills": {"Fire": 3}}, "Items": [], "Gold": 100}
    profile.reconcile()
    assert profile.data == {
        "Stats": {"Level": 1, "Skills": {"Fire": 3, "Ice": 0}},
        "Items": [],
        "Gold": 100,
    }
    profile.data["Stats"]["Skills"]["Ice"] = 9
    assert store.template["Stats"]["Skills"]["Ice"] == 0, "filled values are copies of the template"
    profile.end_session()


def test_save_returns_true_and_bumps_the_saved_version(store: ProfileStore) -> None:
    profile = store.start_session("save")
    before = int(profile.key_info.version)
    profile.data["Counter"] = 1
    assert profile.save() is True
    after = int(profile.key_info.version)
    assert after > before
    assert profile.last_saved_data == {"Counter": 1, "Array": []}
    got = store.get("save")
    assert got.data == {"Counter": 1, "Array": []}
    assert got.key_info.version == str(after)
    assert profile.is_active(), "save() keeps the session"
    profile.end_session()


def test_a_raising_handler_does_not_stop_later_handlers_or_the_save(store: ProfileStore) -> None:
    profile = store.start_session("boom")
    later = []

    def explode() -> None:
        raise RuntimeError("handler bug")

    profile.on_save.connect(explode)
    profile.on_save.connect(lambda: later.append("on_save"))
    profile.on_after_save.connect(lambda saved: explode())
    profile.on_after_save.connect(lambda saved: later.append("on_after_save"))
    profile.data["Counter"] = 8

    assert profile.save() is True
    assert later == ["on_save", "on_after_save"]
    assert store.get("boom").data["Counter"] == 8

    profile.on_last_save.connect(lambda reason: explode())
    profile.data["Counter"] = 9
    profile.end_session()
    assert not profile.is_active()
    assert store.get("boom").data["Counter"] == 9


def test_a_disconnected_handler_is_no_longer_called(store: ProfileStore) -> None:
    profile = store.start_session("disconnect")
    calls = []
    connection = profile.on_save.connect(lambda: calls.append(1))
    profile.save()
    connection.disconnect()
    connection.disconnect()  # safe twice
    profile.save()
    assert calls == [1]
    profile.end_session()


def test_signal_wait_returns_the_arguments_of_the_next_fire(store: ProfileStore, in_thread) -> None:
    profile = store.start_session("wait")
    profile.data["Counter"] = 12
    waiter = in_thread(profile.on_after_save.wait, 5)
    for _ in range(200):  # fire until the waiter, registered at some point, has seen one
        profile.save()
        if waiter.join(0.02):
            break
    (saved,) = waiter.outcome()
    assert saved == {"Counter": 12, "Array": []}
    profile.end_session()


def test_signal_wait_raises_timeout_error_when_nothing_fires() -> None:
    signal = Signal()
    with pytest.raises(TimeoutError):
        signal.wait(timeout=0.05)


def test_key_info_and_last_saved_data_are_current_when_on_after_save_fires(store: ProfileStore) -> None:
    profile = store.start_session("current")
    seen = []
    profile.on_after_save.connect(
        lambda saved: seen.append((profile.key_info.version, dict(profile.last_saved_data), saved)))
    profile.data["Counter"] = 1
    profile.save()
    profile.data["Counter"] = 2
    profile.end_session()
    versions = [int(store.get("current", version=v).key_info.version) for v, _, _ in seen]
    assert versions == [int(v) for v, _, _ in seen]
    assert [last["Counter"] for _, last, _ in seen] == [1, 2]
    assert [saved["Counter"] for _, _, saved in seen] == [1, 2]


def test_save_on_an_ended_session_returns_false_and_writes_nothing(store: ProfileStore) -> None:
    profile = store.start_session("ended")
    profile.end_session()
    before = len(store.history("ended"))
    profile.data["Counter"] = 50
    assert profile.save() is False
    assert len(store.history("ended")) == before
    assert store.get("ended").data["Counter"] == 0


def test_a_manual_save_resets_the_auto_save_timer(engine: Engine, store: ProfileStore) -> None:
    engine.set_constant("AUTO_SAVE_PERIOD", 10)
    with freeze_time("2026-01-01 00:00:00") as frozen:
        profile = store.start_session("timer")
        saves = []
        profile.on_after_save.connect(saves.append)
        frozen.tick(9)
        engine.run_pending()
        assert profile.save() is True
        assert len(saves) == 1
        frozen.tick(2)  # 11 s after the start, 2 s after the manual save
        engine.run_pending()
        assert len(saves) == 1, "the auto-save timer restarted at the manual save"
        frozen.tick(9)
        engine.run_pending()
        assert len(saves) == 2
        profile.end_session()


def test_each_active_profile_is_auto_saved_about_once_per_period(engine: Engine, store: ProfileStore) -> None:
    engine.set_constant("AUTO_SAVE_PERIOD", 10)
    with freeze_time("2026-01-01 00:00:00") as frozen:
        profiles = [store.start_session(f"ring-{n}") for n in range(4)]
        counts = [0] * len(profiles)
        for n, profile in enumerate(profiles):
            profile.on_after_save.connect(lambda saved, n=n: counts.__setitem__(n, counts[n] + 1))
        for _ in range(60):  # 60 s in 1 s steps: about six periods
            frozen.tick(1)
            engine.run_pending()
        assert all(4 <= count <= 7 for count in counts), counts
        for profile in profiles:
            profile.end_session()


def test_history_never_goes_back_in_time_when_the_clock_does(store: ProfileStore) -> None:
    with freeze_time("2026-01-01 00:01:00") as frozen:
        profile = store.start_session("skew")
        frozen.move_to("2026-01-01 00:00:00")  # the server's clock jumps back a minute
        profile.data["Counter"] = 1
        profile.save()
        profile.end_session()
    stamps = [entry.timestamp for entry in store.history("skew")]
    assert stamps == sorted(stamps)
