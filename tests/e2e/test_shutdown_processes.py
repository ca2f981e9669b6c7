"""A game server process that is told to stop, or just exits, saves every profile."""

from __future__ import annotations

import signal

from profilestore import Engine, ProfileStore


def saved_state(db_url: str, key: str) -> tuple[dict[str, object] | None, list[str]]:
    with Engine(db_url, background=False) as engine:
        store = ProfileStore("Players", {"coins": 0}, engine=engine)
        profile = store.get(key)
        reasons = [e.payload["reason"] for e in store.history(key) if e.type == "SessionEnded"]
        return (None if profile is None else profile.data), reasons


def test_sigterm_through_install_signal_handlers_saves_every_profile(spawn, db_url: str) -> None:
    server = spawn(db_url, "A", "hold", "p1", 42)
    server.expect("READY")
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(20) == 128 + signal.SIGTERM
    assert server.settle(1) == ["READY", "LAST_SAVE Shutdown", "SESSION_END"]
    assert saved_state(db_url, "p1") == ({"coins": 42}, ["Shutdown"])


def test_a_process_that_exits_without_close_saves_through_atexit(spawn, db_url: str) -> None:
    server = spawn(db_url, "A", "exit", "p1", 7)
    assert server.process.wait(20) == 0, server.process.stderr.read()
    assert saved_state(db_url, "p1") == ({"coins": 7}, ["Shutdown"])
