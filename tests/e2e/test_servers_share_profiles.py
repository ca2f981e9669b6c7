"""Several game-server processes on one SQLite file: hand-over, steal, dead servers, removal."""

from __future__ import annotations

import random
import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest
from e2e.game_server import serve_silent
from support.servers import PLAYERS, ServerProcess

from profilestore import Engine, ProfileStore, Server, Settings

B_SETTINGS = Settings(poll_interval=0.05, first_load_repeat=0.2, load_repeat_period=0.2,
                      session_steal=1.0)


@pytest.fixture
def server_b(db_url: str) -> Iterator[ProfileStore]:
    """This test process as server B."""
    engine = Engine(db_url, server=Server(job_id="B"), settings=B_SETTINGS)
    yield ProfileStore("Players", {"coins": 0}, engine=engine)
    engine.close(timeout=10)


def tail(store: ProfileStore, key: str, count: int) -> list[tuple[str, str | None, str | None]]:
    return [(e.type, e.payload.get("reason"), e.session and e.session["job_id"])
            for e in store.history(key)[-count:]]


@pytest.mark.slow
def test_three_processes_hopping_between_the_same_profiles_lose_no_increment(spawn, db_url: str
                                                                            ) -> None:
    keys, rounds = ["p1", "p2", "p3"], 40
    # Hopping servers are all alive and answer every request: a steal there would only mean a
    # process was descheduled for a whole second on a loaded machine, and a stolen session's
    # unsaved change is lost by design (ProfileStore's too). So they never steal, and every
    # increment counts.
    never_steal = replace(PLAYERS, settings=PLAYERS.settings.model_copy(update={"session_steal": 60.0}))
    servers = [spawn(db_url, job, never_steal) for job in "ACD"]

    def hop(server: ServerProcess, keys: list[str]) -> None:
        for _ in range(rounds):
            for key in keys:
                # False: another server asked after us, or took it before the coin; ask again
                while not (server.join(key) and server.earn(key, 1)):
                    pass
                time.sleep(random.uniform(0, 0.004))  # play a moment: uneven holds break lockstep
                server.leave(key)

    # All three play at once, so they really contend; each walks the keys from a different one,
    # so each next key is one another server holds.
    with ThreadPoolExecutor(len(servers)) as pool:
        hops = [pool.submit(hop, server, keys[n:] + keys[:n]) for n, server in enumerate(servers)]
        for done in hops:
            done.result(timeout=240)
    for server in servers:
        assert server.stop() == 0, server.news
    with Engine(db_url, background=False) as engine:
        store = ProfileStore("Players", {"coins": 0}, engine=engine)
        handovers = 0
        for key in keys:
            history = store.history(key)
            assert not [e for e in history if e.payload.get("reason") == "Stolen"], \
                "live servers that answer every request hand over; none steals"
            profile = store.get(key)
            assert profile is not None and profile.data["coins"] == 3 * rounds
            jobs = {e.session["job_id"] for e in history if e.type == "SessionStarted"}
            assert jobs == {"A", "C", "D"}
            handovers += sum(e.type == "SessionRequested" for e in history)
        assert handovers > 0, "the servers never contended, so the test proved nothing"



def test_a_killed_owner_loses_only_unsaved_changes_and_is_taken_after_session_steal(
        spawn, db_url: str, server_b: ProfileStore) -> None:
    owner = spawn(db_url, "A")
    owner.hold("p1", coins=10)
    assert owner.save("p1")
    assert owner.set("p1", coins=1010)  # unsaved
    owner.signal(signal.SIGKILL)
    owner.wait(10)
    started = time.monotonic()
    profile = server_b.start_session("p1")
    waited = time.monotonic() - started
    assert profile is not None and profile.data == {"coins": 10}
    assert waited >= B_SETTINGS.session_steal
    assert tail(server_b, "p1", 3) == [("SessionRequested", None, "B"), ("SessionEnded", "Stolen", "B"),
                                      ("SessionStarted", None, "B")]


def test_a_silent_owner_is_taken_at_once_after_assume_dead(spawn, db_url: str) -> None:
    owner = spawn(db_url, "A", target=serve_silent)
    owner.hold("p1", coins=10)
    assert owner.save("p1")
    assert owner.set("p1", coins=1010)  # unsaved
    time.sleep(0.6)  # the owner's newest event grows older than assume_dead
    with Engine(db_url, server=Server(job_id="B"),
                settings=B_SETTINGS.model_copy(update={"assume_dead": 0.5})) as engine:
        store = ProfileStore("Players", {"coins": 0}, engine=engine)
        started = time.monotonic()
        profile = store.start_session("p1")
        assert time.monotonic() - started < B_SETTINGS.session_steal
        assert profile is not None and profile.data == {"coins": 10}
        assert tail(store, "p1", 2) == [("SessionEnded", "Stolen", "B"), ("SessionStarted", None, "B")]
        profile.end_session()


def test_an_owner_asked_by_another_server_hands_over_with_its_unsaved_change(
        spawn, db_url: str, server_b: ProfileStore) -> None:
    owner = spawn(db_url, "A")
    owner.hold("p1", coins=5)  # never saved by the owner itself
    ready = len(owner.news)
    started = time.monotonic()
    profile = server_b.start_session("p1")
    assert time.monotonic() - started < B_SETTINGS.session_steal, "a live owner hands over, no steal"
    assert profile is not None and profile.data == {"coins": 5}
    owner.expect("session-end", "p1")
    assert owner.news[ready:] == [("last-save", "A", "p1", "External"), ("session-end", "A", "p1")]
    assert tail(server_b, "p1", 4) == [("SessionRequested", None, "B"), ("Saved", None, "A"),
                                      ("SessionEnded", "External", "A"), ("SessionStarted", None, "B")]


def test_a_steal_ends_the_old_session_without_on_last_save(spawn, db_url: str,
                                                          server_b: ProfileStore) -> None:
    owner = spawn(db_url, "A")
    owner.hold("p1", coins=5)
    profile = server_b.start_session("p1", steal=True)
    assert profile is not None and profile.data == {"coins": 0}, "the owner's unsaved change is gone"
    owner.expect("session-end", "p1")
    assert ("last-save", "A", "p1", "External") not in owner.news
    assert not any(news[0] == "last-save" for news in owner.news)


def test_remove_from_one_server_ends_the_session_on_another_which_never_writes_it_back(
        spawn, db_url: str, server_b: ProfileStore) -> None:
    owner = spawn(db_url, "A")
    owner.hold("p1", coins=5)
    assert server_b.remove("p1")
    owner.expect("session-end", "p1")
    owner.signal(signal.SIGTERM)  # shutdown: nothing of p1 is left to save
    owner.wait(20)
    assert not any(news[0] == "last-save" for news in owner.settle(0.5))
    assert server_b.get("p1") is None
    assert [e.type for e in server_b.history("p1")] == ["Removed"]
