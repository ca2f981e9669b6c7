"""Group commit: the auto-saves due in one tick share one transaction, and each member still
behaves as its own auto-save would when the group cannot be stored as one."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from freezegun import freeze_time
from hypothesis import given
from hypothesis import strategies as st
from support.timeline import TEMPLATE, recorder

from profilestore import Engine, ProfileStore, Settings
from profilestore.application.autosave import AutoSaveRing
from profilestore.application.event_log import Conflict
from profilestore.domain.profile import ProfileAggregate

PERIOD = Settings(auto_save_period=10)


class AppendSpy:
    """Records every transaction an engine's event log writes: how many profiles it stored, and
    whether it was a group (decided under the write lock) or a single append (or its conflict)."""

    def __init__(self, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[tuple[int, str]] = []
        append, append_decided = engine.parts.logs.live.append, engine.parts.logs.live.append_decided

        def single(*profiles: Any) -> None:
            try:
                append(*profiles)
            except Conflict:
                self.calls.append((len(profiles), "conflict"))
                raise
            self.calls.append((len(profiles), "stored"))

        def group(members: Any) -> Any:
            outcomes = append_decided(members)
            self.calls.append((sum(isinstance(o, ProfileAggregate) for o in outcomes), "group"))
            return outcomes

        monkeypatch.setattr(engine.parts.logs.live, "append", single)
        monkeypatch.setattr(engine.parts.logs.live, "append_decided", group)


@pytest.fixture
def two(make_engine: Callable[..., Engine]) -> Iterator[tuple[Engine, ProfileStore, ProfileStore]]:
    """An engine holding sessions, and a store of a second engine on the same database."""
    engine = make_engine("holder", PERIOD)
    other = make_engine("other")
    yield engine, ProfileStore("Store1", TEMPLATE, engine=engine), ProfileStore("Store1", TEMPLATE,
                                                                                 engine=other)


def start(store: ProfileStore, *keys: str) -> list[Any]:
    profiles = [store.start_session(key) for key in keys]
    assert all(p is not None for p in profiles)
    for n, profile in enumerate(profiles):
        profile.data["Counter"] = n + 1
    return profiles


def test_the_saves_due_in_one_tick_are_stored_in_one_transaction(
        two: tuple[Engine, ProfileStore, ProfileStore], monkeypatch: pytest.MonkeyPatch) -> None:
    engine, store, other = two
    with freeze_time("2026-01-01 00:00:00") as frozen:
        profiles = start(store, "a", "b", "c", "d", "e")
        spy = AppendSpy(engine, monkeypatch)
        saved = [recorder(p.on_after_save) for p in profiles]
        frozen.tick(11)
        engine.run_pending()
    assert spy.calls == [(5, "group")]
    assert [len(fired) for fired in saved] == [1] * 5
    assert [other.get(key).data["Counter"] for key in "abcde"] == [1, 2, 3, 4, 5]
    assert [p.last_saved_data["Counter"] for p in profiles] == [1, 2, 3, 4, 5]
    for profile in profiles:
        profile.end_session()


def test_a_profile_locked_by_game_code_is_saved_after_the_group_without_holding_it_up(
        two: tuple[Engine, ProfileStore, ProfileStore], monkeypatch: pytest.MonkeyPatch) -> None:
    engine, store, other = two
    with freeze_time("2026-01-01 00:00:00") as frozen:
        a, b, c = start(store, "a", "b", "c")
        engine.run_pending()  # the follower has read the log: the tick below only saves
        frozen.tick(11)
    spy = AppendSpy(engine, monkeypatch)
    held, release = threading.Event(), threading.Event()

    def game_code() -> None:
        with b.lock:
            held.set()
            release.wait(10)
            b.data["Counter"] = 20  # changed under the lock: the save after it stores this

    game = threading.Thread(target=game_code)
    game.start()
    assert held.wait(10)
    with freeze_time("2026-01-01 00:00:11"):
        tick = threading.Thread(target=engine.run_pending)
        tick.start()
        deadline = time.monotonic() + 10
        while not spy.calls and time.monotonic() < deadline:
            time.sleep(0.01)
        assert spy.calls == [(2, "group")], "a and c were stored while b's lock was held"
        release.set()
        tick.join(10)
        game.join(10)
    assert spy.calls == [(2, "group"), (1, "stored")]
    assert [other.get(key).data["Counter"] for key in "abc"] == [1, 20, 3]
    for profile in (a, b, c):
        profile.end_session()


def test_members_another_server_wrote_to_are_brought_up_to_date_and_stored_in_the_group(
        two: tuple[Engine, ProfileStore, ProfileStore], monkeypatch: pytest.MonkeyPatch) -> None:
    engine, store, other = two
    with freeze_time("2026-01-01 00:00:00") as frozen:
        a, b = start(store, "a", "b")
        got: list[dict[str, Any]] = []
        b.message_handler(lambda message, processed: (got.append(message), processed()))
        # while the group is being prepared another server messages b: b's replica is behind
        a.on_save.connect(lambda: other.message("b", {"gift": 5}))
        spy = AppendSpy(engine, monkeypatch)
        frozen.tick(11)
        engine.run_pending()
        assert spy.calls == [(2, "group")], "no conflict, no one-by-one fallback"
        assert [e.type for e in other.history("b")][-2:] == ["MessageQueued", "Saved"]
        assert a.is_active() and b.is_active()
        assert [other.get(key).data["Counter"] for key in "ab"] == [1, 2]
        frozen.tick(1)
        for _ in range(3):  # the follower sees the message, the handler runs, its effect is saved
            engine.run_pending()
    assert got == [{"gift": 5}]
    a.end_session()
    b.end_session()
    assert other.get("b").data["Counter"] == 2


def test_a_member_whose_session_was_overwritten_ends_and_the_others_are_saved(
        two: tuple[Engine, ProfileStore, ProfileStore], monkeypatch: pytest.MonkeyPatch) -> None:
    engine, store, other = two
    with freeze_time("2026-01-01 00:00:00") as frozen:
        a, b, c = start(store, "a", "b", "c")
        ended = recorder(b.on_session_end)

        def roll_back_b() -> None:  # an operator's rollback lands while the group is decided
            rollback = other.get("b")
            rollback.data["Counter"] = 99
            assert rollback.set() is True

        a.on_save.connect(roll_back_b)
        spy = AppendSpy(engine, monkeypatch)
        frozen.tick(11)
        engine.run_pending()
    assert spy.calls == [(2, "group")], "b's session turned out lost: a and c are stored"
    assert not b.is_active() and ended == [()]
    assert a.is_active() and c.is_active()
    assert [other.get(key).data["Counter"] for key in "abc"] == [1, 99, 3]
    a.end_session()
    c.end_session()


def test_data_that_cannot_be_saved_gives_that_member_a_heartbeat_and_the_others_their_data(
        two: tuple[Engine, ProfileStore, ProfileStore], monkeypatch: pytest.MonkeyPatch) -> None:
    engine, store, other = two
    errors = recorder(engine.on_error)
    with freeze_time("2026-01-01 00:00:00") as frozen:
        a, b = start(store, "a", "b")
        b.data["bag"] = {1, 2}  # a set is not JSON
        spy = AppendSpy(engine, monkeypatch)
        frozen.tick(11)
        engine.run_pending()
    assert spy.calls == [(2, "group")]
    assert len(errors) == 1 and "data['bag']" in errors[0][0] and errors[0][2] == "b"
    assert other.get("a").data["Counter"] == 1
    assert other.get("b").data == TEMPLATE, "b's heartbeat stored no data"
    assert [e.type for e in other.history("b")][-1] == "Saved"
    del b.data["bag"]
    a.end_session()
    b.end_session()


@given(size=st.integers(1, 12), cursor=st.integers(0, 11), picks=st.sets(st.integers(0, 11)))
def test_restarting_many_timers_at_once_leaves_the_ring_as_one_at_a_time_would(
        size: int, cursor: int, picks: set[int]) -> None:
    def ring() -> AutoSaveRing:  # 0..size-1 around the circle, the cursor at `cursor`
        made = AutoSaveRing()
        for n in [*range(size)][cursor % size:] + [*range(size)][:cursor % size]:
            made.add(n)  # type: ignore[arg-type]
        made._last = 0.0
        return made

    def visits(made: AutoSaveRing) -> list[Any]:  # the order the cursor meets them from now on,
        return [*made.order(), made._last > 0]  # and the slot timer

    moved = sorted(n for n in picks if n < size)
    one_at_a_time, at_once = ring(), ring()
    for n in sorted(moved, key=one_at_a_time.order().index):  # as the cursor meets them
        one_at_a_time.touch(n)  # type: ignore[arg-type]
    at_once.touch_many(moved)  # type: ignore[arg-type]
    assert visits(at_once) == visits(one_at_a_time)
