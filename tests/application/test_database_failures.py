"""Database failures: reported, counted into critical state, retried as SPEC §4 says."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from eventsourcing.persistence import OperationalError
from freezegun import freeze_time

from profilestore import Engine, ProfileStore, ProfileStoreError


class FaultyRecorder:
    """Wraps the engine's recorder; while `failing`, reads and writes raise a disk error."""

    def __init__(self, recorder: Any) -> None:
        self._recorder = recorder
        self.failing = False

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._recorder, name)
        if name in ("insert_events", "select_events", "erase") and callable(attribute):
            def guarded(*args: Any, **kwargs: Any) -> Any:
                if self.failing:
                    raise OperationalError("disk I/O error (injected)")
                return attribute(*args, **kwargs)
            return guarded
        return attribute


@pytest.fixture
def faults(engine: Engine) -> FaultyRecorder:
    app = engine.parts.logs.live.app
    faulty = FaultyRecorder(app.recorder)
    app.recorder = app.events.recorder = faulty
    return faulty


def test_five_failed_saves_start_critical_state_which_ends_after_a_quiet_period(
        engine: Engine, faults: FaultyRecorder) -> None:
    toggles: list[bool] = []
    errors: list[tuple[str, str, str]] = []
    engine.on_critical_toggle.connect(toggles.append)
    engine.on_error.connect(lambda *args: errors.append(args))
    with freeze_time("2026-01-01") as frozen:
        profile = ProfileStore("S", engine=engine).start_session("k")
        assert profile is not None
        faults.failing = True
        assert [profile.save() for _ in range(5)] == [False] * 5
        assert len(errors) == 5 and all(e[1:] == ("S", "k") and "disk I/O" in e[0] for e in errors)
        engine.run_pending()
        assert engine.is_critical_state and toggles == [True]
        faults.failing = False
        frozen.tick(121)  # the errors leave the window ...
        engine.run_pending()
        assert engine.is_critical_state
        frozen.tick(121)  # ... and critical state ends critical_state_expire after its last trigger
        engine.run_pending()
        assert not engine.is_critical_state and toggles == [True, False]


def test_a_failed_save_returns_false_and_the_change_goes_out_with_a_later_save(
        engine: Engine, faults: FaultyRecorder) -> None:
    store = ProfileStore("S", {"coins": 0}, engine=engine)
    profile = store.start_session("k")
    assert profile is not None
    profile.data["coins"] = 5
    faults.failing = True
    assert profile.save() is False and profile.is_active()
    faults.failing = False
    assert profile.save() is True
    latest = store.get("k")
    assert latest is not None and latest.data == {"coins": 5}


def test_a_failed_final_save_is_retried_in_the_background_until_it_lands_once(
        engine: Engine, faults: FaultyRecorder) -> None:
    store = ProfileStore("S", {"coins": 0}, engine=engine)
    with freeze_time("2026-01-01") as frozen:
        profile = store.start_session("k")
        assert profile is not None
        saved: list[dict[str, Any]] = []
        profile.on_after_save.connect(saved.append)
        profile.data["coins"] = 9
        faults.failing = True
        profile.end_session()  # returns after the first failed attempt
        assert not profile.is_active() and saved == []
        frozen.tick(1.5)
        engine.run_pending()  # still failing: backoff doubles
        assert saved == []
        faults.failing = False
        frozen.tick(2.5)
        engine.run_pending()
        assert saved == [{"coins": 9}]
        frozen.tick(30)
        engine.run_pending()
    ends = [e for e in store.history("k") if e.type == "SessionEnded"]
    assert len(ends) == 1 and ends[0].payload["reason"] == "Manual"


def run_in_thread(call: Any) -> tuple[threading.Thread, list[Any]]:
    box: list[Any] = []
    thread = threading.Thread(target=lambda: box.append(call()), daemon=True)
    thread.start()
    return thread, box


def test_start_session_gives_up_after_start_session_timeout_of_database_errors(
        engine: Engine, faults: FaultyRecorder) -> None:
    engine.set_constant("START_SESSION_TIMEOUT", 30)
    errors: list[str] = []
    engine.on_error.connect(lambda message, *_: errors.append(message))
    faults.failing = True
    with freeze_time("2026-01-01") as frozen:
        thread, box = run_in_thread(lambda: ProfileStore("S", engine=engine).start_session("k"))
        for _ in range(200):
            if not thread.is_alive():
                break
            frozen.tick(1)
            thread.join(0.06)
        assert box == [None]
    assert len(errors) >= 3, "every failed attempt fires on_error"


def test_with_cancel_start_session_keeps_retrying_past_the_timeout_until_cancelled(
        engine: Engine, faults: FaultyRecorder) -> None:
    engine.set_constant("START_SESSION_TIMEOUT", 5)
    cancelled = threading.Event()
    faults.failing = True
    with freeze_time("2026-01-01") as frozen:
        thread, box = run_in_thread(lambda: ProfileStore("S", engine=engine).start_session(
            "k", cancel=cancelled.is_set))
        for _ in range(40):  # 40 s of frozen time, far past the 5 s timeout
            frozen.tick(1)
            thread.join(0.06)
        assert thread.is_alive() and box == []
        cancelled.set()
        thread.join(5)
        assert box == [None]


def test_calls_with_nothing_to_return_raise_a_profilestore_error_when_the_database_fails(
        engine: Engine, faults: FaultyRecorder) -> None:
    def failing(*args: Any, **kwargs: Any) -> Any:
        raise OperationalError("disk I/O error (injected)")

    faults._recorder.find_user = failing
    with pytest.raises(ProfileStoreError, match="disk I/O error"):
        engine.find_user(7)
    with pytest.raises(ProfileStoreError, match="disk I/O error"):
        engine.erase_user(7)
    faults._recorder.rebuild_read_models = failing
    with pytest.raises(ProfileStoreError, match="disk I/O error"):
        engine.rebuild_read_models()
