"""Gifts sent by other processes to a held profile are applied exactly once, even across a crash."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from typing import Any

from profilestore import Engine, ProfileStore, Server, Settings

FAST = Settings(poll_interval=0.05, first_load_repeat=0.2, load_repeat_period=0.2, session_steal=1.0)


def coins(db_url: str, key: str) -> int:
    with Engine(db_url, background=False) as engine:
        profile = ProfileStore("Players", {"coins": 0}, engine=engine).get(key)
        return -1 if profile is None else int(profile.data["coins"])


def wait_for(condition: Callable[[], bool], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_forty_gifts_from_four_sender_processes_are_applied_exactly_forty_times(spawn, db_url: str
                                                                               ) -> None:
    holder = spawn(db_url, "H")
    holder.hold("p1")  # its message handler adds each gift's coins
    senders = [spawn(db_url, f"S{n}") for n in range(4)]
    for sender in senders:
        sender.gift("p1", {"coins": 1}, times=10, every=0.02)
    for sender in senders:
        sender.gifted("p1", 10)
    wait_for(lambda: coins(db_url, "p1") >= 40)  # the holder saves what its handler applied
    holder.signal(signal.SIGTERM)
    assert holder.wait(20) == 128 + signal.SIGTERM
    assert coins(db_url, "p1") == 40
    with Engine(db_url, background=False) as engine:
        profile = ProfileStore("Players", {"coins": 0}, engine=engine).get("p1")
        left: list[Any] = []
        assert profile is not None
        profile.message_handler(lambda message, processed: left.append(message))
        assert left == []


def test_a_holder_killed_midway_and_another_server_finishing_end_at_exactly_the_number_sent(
        spawn, db_url: str) -> None:
    holder = spawn(db_url, "H")
    holder.hold("p1")
    sender = spawn(db_url, "S")
    sender.gift("p1", {"coins": 1}, times=40, every=0.02)
    wait_for(lambda: coins(db_url, "p1") >= 10)
    holder.signal(signal.SIGKILL)  # some gifts applied, some maybe unsaved
    holder.wait(10)
    assert coins(db_url, "p1") < 40, "the holder finished before it was killed: nothing was tested"
    sender.gifted("p1", 40)
    with Engine(db_url, server=Server(job_id="B"), settings=FAST) as engine:
        store = ProfileStore("Players", {"coins": 0}, engine=engine)
        profile = store.start_session("p1")  # taken after session_steal: the holder is dead
        assert profile is not None

        def apply_gift(message: dict[str, int], processed: Callable[[], None]) -> None:
            profile.data["coins"] += message["coins"]
            processed()

        profile.message_handler(apply_gift)
        profile.end_session()
    assert coins(db_url, "p1") == 40
