"""Two game servers (two engines on one SQLite file): requests, steals, assume-dead, cancel, removal."""

from __future__ import annotations

import threading

from freezegun import freeze_time

from profilestore import ProfileStore, Settings

FAST = Settings(first_load_repeat=1, load_repeat_period=1, session_steal=3, poll_interval=0.1)
START = "2026-01-01 00:00:00"


def stores(make_engine, settings: Settings = FAST, count: int = 2) -> list[ProfileStore]:
    """The same store on `count` engines (servers A, B, ...) sharing the temp database."""
    return [ProfileStore("Store1", {"Counter": 0}, engine=make_engine(job_id=name, settings=settings))
            for name in "ABC"[:count]]


def tick_until_done(frozen, call, *, step: float = 0.5, limit: int = 100, each=None) -> None:
    """Move the frozen clock in steps while `call` runs, giving it real time to notice each step."""
    for _ in range(limit):
        if call.done:
            return
        frozen.tick(step)
        if each is not None:
            each()
        call.join(0.06)


def kinds(store: ProfileStore, key: str) -> list[str]:
    return [entry.type for entry in store.history(key)]


def test_a_session_held_by_a_silent_server_is_taken_after_session_steal(make_engine, in_thread) -> None:
    a, b = stores(make_engine)
    with freeze_time(START) as frozen:
        held = a.start_session("steal-me")
        held.data["Counter"] = 1
        assert held.save() is True
        held.data["Counter"] = 99  # never saved: lost when the session is taken
        last_save, session_end = [], []
        held.on_last_save.connect(last_save.append)
        held.on_session_end.connect(lambda: session_end.append(True))

        call = in_thread(b.start_session, "steal-me")
        call.join(0.3)
        assert not call.done, "B must wait while A holds the session"
        tick_until_done(frozen, call)
        taken = call.outcome()

        assert taken is not None and taken.is_active()
        assert taken.data == {"Counter": 1}
        assert taken.session == {"place_id": "local", "job_id": "B"}
        history = b.history("steal-me")
        tail = [(e.type, e.payload.get("reason"), e.session["job_id"]) for e in history[-3:]]
        assert tail == [("SessionRequested", None, "B"), ("SessionEnded", "Stolen", "B"),
                        ("SessionStarted", None, "B")]
        assert history[-1].timestamp == history[-2].timestamp, "written together by the taker"

        assert held.save() is False
        assert not held.is_active()
        assert session_end == [True]
        assert last_save == [], "a stolen session gets no on_last_save"
        taken.end_session()
        assert a.get("steal-me").data == {"Counter": 1}


def test_the_taker_waits_at_least_session_steal_after_its_request(make_engine, in_thread) -> None:
    a, b = stores(make_engine)
    with freeze_time(START) as frozen:
        assert a.start_session("patience") is not None
        call = in_thread(b.start_session, "patience")
        tick_until_done(frozen, call, step=0.25)
        taken = call.outcome()
        assert taken is not None
        history = b.history("patience")
        requested = next(e for e in history if e.type == "SessionRequested")
        stolen = next(e for e in history if e.type == "SessionEnded")
        assert (stolen.timestamp - requested.timestamp).total_seconds() >= FAST.session_steal
        taken.end_session()


def test_an_owner_whose_newest_event_is_older_than_assume_dead_is_taken_at_once(make_engine, in_thread
                                                                                ) -> None:
    settings = FAST.model_copy(update={"assume_dead": 5.0})
    a, b = stores(make_engine, settings)
    with freeze_time(START) as frozen:
        held = a.start_session("dead")
        frozen.tick(6)
        taken = in_thread(b.start_session, "dead").outcome(timeout=10)  # no clock moves needed
        assert taken is not None
        assert kinds(b, "dead")[-3:] == ["SessionStarted", "SessionEnded", "SessionStarted"]
        assert b.history("dead")[-2].payload["reason"] == "Stolen"
        assert held.save() is False
        taken.end_session()


def test_an_owner_that_keeps_auto_saving_is_not_assumed_dead(make_engine, in_thread) -> None:
    settings = FAST.model_copy(update={"assume_dead": 5.0, "auto_save_period": 2.0,
                                       "session_steal": 40.0})
    a, b = stores(make_engine, settings)
    with freeze_time(START) as frozen:
        held = a.start_session("alive")
        for _ in range(13):
            frozen.tick(0.5)
            a.engine.run_pending()
        cancelled = threading.Event()
        call = in_thread(b.start_session, "alive", cancel=cancelled.is_set)
        for _ in range(100):
            if "SessionRequested" in kinds(a, "alive"):
                break
            call.join(0.05)
        assert "SessionRequested" in kinds(a, "alive"), "a live owner is asked, not taken"
        cancelled.set()
        assert call.outcome() is None
        assert "Stolen" not in [e.payload.get("reason") for e in a.history("alive")]
        assert held.save() is True


def test_steal_true_takes_the_session_at_once(make_engine, in_thread) -> None:
    a, b = stores(make_engine)
    with freeze_time(START):
        held = a.start_session("debug")
        taken = in_thread(b.start_session, "debug", steal=True).outcome(timeout=10)
        assert taken is not None and taken.is_active()
        history = b.history("debug")
        assert "SessionRequested" not in [e.type for e in history]
        assert [(e.type, e.payload.get("reason")) for e in history[-2:]] == [
            ("SessionEnded", "Stolen"), ("SessionStarted", None)]
        assert held.save() is False
        assert not held.is_active()
        taken.end_session()


def test_a_cancel_that_returns_true_makes_start_session_return_none(make_engine, in_thread) -> None:
    a, b = stores(make_engine)
    held = a.start_session("cancel")
    assert in_thread(b.start_session, "cancel", cancel=lambda: True).outcome() is None
    assert held.is_active()
    assert held.save() is True


def test_cancelling_a_waiting_start_session_returns_none_and_leaves_the_owner_alone(make_engine, in_thread
                                                                                   ) -> None:
    a, b = stores(make_engine)
    with freeze_time(START) as frozen:
        held = a.start_session("cancel-later")
        stop = threading.Event()
        call = in_thread(b.start_session, "cancel-later", cancel=stop.is_set)
        frozen.tick(1.5)
        call.join(0.3)
        assert not call.done
        stop.set()
        assert call.outcome() is None
        assert "Stolen" not in [e.payload.get("reason") for e in b.history("cancel-later")]
        held.data["Counter"] = 3
        assert held.save() is True
        assert b.get("cancel-later").data == {"Counter": 3}


def test_when_another_server_requests_later_the_earlier_requester_gives_up(make_engine, in_thread) -> None:
    a, b, c = stores(make_engine, count=3)
    with freeze_time(START) as frozen:
        assert a.start_session("popular") is not None
        first = in_thread(b.start_session, "popular")
        for _ in range(100):
            if "SessionRequested" in kinds(a, "popular"):
                break
            first.join(0.02)
        frozen.tick(0.2)
        second = in_thread(c.start_session, "popular")
        tick_until_done(frozen, first, step=0.2)
        assert first.outcome() is None, "the last requester wins"
        tick_until_done(frozen, second)
        winner = second.outcome()
        assert winner is not None and winner.session["job_id"] == "C"
        winner.end_session()


def test_a_removal_on_another_server_fences_the_owner_out_for_good(make_engine) -> None:
    a, b = stores(make_engine)
    held = a.start_session("gone")
    held.data["Counter"] = 5
    assert held.save() is True
    last_save = []
    held.on_last_save.connect(last_save.append)

    assert b.remove("gone") is True
    assert held.is_active(), "A learns of the removal only when it next touches the database"
    held.data["Counter"] = 6
    assert held.save() is False
    assert not held.is_active()
    held.end_session()
    assert last_save == []

    assert a.get("gone") is None
    assert b.get("gone") is None
    assert "gone" not in list(b.keys())
    assert kinds(b, "gone") == ["Removed"]


def test_a_removal_on_another_server_is_fenced_against_the_owners_final_save(make_engine) -> None:
    a, b = stores(make_engine)
    held = a.start_session("gone-final")
    held.data["Counter"] = 5
    assert b.remove("gone-final") is True
    held.end_session()
    assert not held.is_active()
    assert a.get("gone-final") is None
    assert kinds(a, "gone-final") == ["Removed"]


def test_the_owner_hands_over_with_an_external_final_save_when_asked(make_engine, in_thread) -> None:
    settings = FAST.model_copy(update={"session_steal": 40.0})
    a, b = stores(make_engine, settings)
    with freeze_time(START) as frozen:
        held = a.start_session("handover")
        held.data["Counter"] = 5  # unsaved, but the External final save stores it
        reasons = []
        held.on_last_save.connect(reasons.append)
        call = in_thread(b.start_session, "handover")
        tick_until_done(frozen, call, step=0.1, limit=40, each=a.engine.run_pending)
        assert call.done, "the owner must release within a poll once asked"
        taken = call.outcome()
        assert taken is not None and taken.data == {"Counter": 5}
        assert reasons == ["External"]
        assert not held.is_active()
        ended = [e.payload["reason"] for e in b.history("handover") if e.type == "SessionEnded"]
        assert ended == ["External"]
        taken.end_session()


def test_an_owner_learns_of_a_steal_at_its_next_poll(make_engine, in_thread) -> None:
    a, b = stores(make_engine)
    with freeze_time(START) as frozen:
        held = a.start_session("notice")
        ended = []
        held.on_session_end.connect(lambda: ended.append(True))
        taken = in_thread(b.start_session, "notice", steal=True).outcome()
        assert taken is not None
        frozen.tick(FAST.poll_interval * 2)
        a.engine.run_pending()
        assert not held.is_active()
        assert ended == [True]
        taken.end_session()


def test_an_owner_learns_of_a_removal_elsewhere_at_its_next_poll(make_engine) -> None:
    a, b = stores(make_engine)
    with freeze_time(START) as frozen:
        held = a.start_session("erased")
        held.data["Counter"] = 4
        last_save, ended = [], []
        held.on_last_save.connect(last_save.append)
        held.on_session_end.connect(lambda: ended.append(True))
        assert b.remove("erased") is True
        frozen.tick(FAST.poll_interval * 2)
        a.engine.run_pending()
        assert not held.is_active()
        assert ended == [True]
        assert last_save == []
        assert a.get("erased") is None
        assert kinds(a, "erased") == ["Removed"]


def test_an_owner_asked_to_hand_over_with_bad_data_reports_it_and_still_releases(make_engine, in_thread
                                                                                  ) -> None:
    settings = FAST.model_copy(update={"session_steal": 40.0})
    a, b = stores(make_engine, settings)
    errors = []
    a.engine.on_error.connect(lambda *args: errors.append(args))
    with freeze_time(START) as frozen:
        held = a.start_session("bad-handover")
        held.data["Counter"] = 2
        assert held.save() is True
        held.data["bag"] = {1, 2}
        call = in_thread(b.start_session, "bad-handover")
        tick_until_done(frozen, call, step=0.1, limit=40, each=a.engine.run_pending)
        taken = call.outcome()
        assert taken is not None
        assert taken.data == {"Counter": 2}, "the last good data stands"
        assert any("data['bag']: set" in error[0] for error in errors)
        assert not held.is_active()
        ended = [e.payload["reason"] for e in b.history("bad-handover") if e.type == "SessionEnded"]
        assert ended == ["External"]
        taken.end_session()


def test_a_save_that_meets_another_servers_request_is_retried_not_taken_as_a_lost_session(
        make_engine, in_thread) -> None:
    a, b = stores(make_engine)
    with freeze_time(START) as frozen:
        held = a.start_session("asked")
        held.data["Counter"] = 5
        call = in_thread(b.start_session, "asked")  # appends SessionRequested, then waits
        for _ in range(100):
            if "SessionRequested" in kinds(a, "asked"):
                break
            call.join(0.02)
        assert held.save() is True, "the owner's save must re-read and append after the request"
        assert held.is_active()
        assert kinds(a, "asked")[-2:] == ["SessionRequested", "Saved"]
        held.end_session()
        tick_until_done(frozen, call, step=0.1)
        assert call.outcome() is not None and call.outcome().data == {"Counter": 5}
