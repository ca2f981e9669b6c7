"""Game code on its own threads, changing data while the engine saves and ends sessions."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator

import pytest

from profilestore import Engine, ProfileStore, Server, Settings


@pytest.fixture(autouse=True)
def switch_threads_often() -> Iterator[None]:
    """Switch threads every microsecond, so a race window of a few statements is hit."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(before)


def play_until_inactive(profile, earned: list[int]) -> threading.Thread:
    """A game thread: under the lock, checks is_active() and adds a coin, as fast as it can."""
    def play() -> None:
        while True:
            with profile.lock:
                if not profile.is_active():
                    return
                profile.data["coins"] += 1
                earned[0] += 1
    thread = threading.Thread(target=play, daemon=True)
    thread.start()
    return thread


def test_a_change_made_while_is_active_under_the_lock_is_in_the_final_save() -> None:
    """The game thread is waiting for the lock when the final save lets go of it."""
    with Engine("sqlite:///:memory:", background=False) as engine:
        store = ProfileStore("S", {"coins": 0}, engine=engine)
        for round_ in range(20):
            profile = store.start_session(f"k{round_}")
            go, earned = threading.Event(), [0]

            def add_one_coin_if_active(profile=profile, go=go, earned=earned) -> None:
                go.wait(5)
                with profile.lock:  # blocks until the final save releases the lock
                    if profile.is_active():
                        profile.data["coins"] += 1
                        earned[0] += 1

            thread = threading.Thread(target=add_one_coin_if_active, daemon=True)
            thread.start()
            profile.on_last_save.connect(lambda reason, go=go: (go.set(), time.sleep(0.002)))
            profile.end_session()
            thread.join(5)
            assert store.get(f"k{round_}").data == {"coins": earned[0]}


def test_a_hand_over_to_another_server_carries_every_coin_earned_while_active(tmp_path) -> None:
    url, fast = f"sqlite:///{tmp_path / 'p.db'}", Settings(poll_interval=0.05)
    with Engine(url, server=Server(job_id="A"), settings=fast) as a, \
            Engine(url, server=Server(job_id="B"), settings=fast) as b:
        profile = ProfileStore("S", {"coins": 0}, engine=a).start_session("k")
        earned = [0]
        thread = play_until_inactive(profile, earned)
        time.sleep(0.05)
        taken = ProfileStore("S", {"coins": 0}, engine=b).start_session("k")
        thread.join(5)
        assert taken is not None and earned[0] > 0 and taken.data == {"coins": earned[0]}
        taken.end_session()
