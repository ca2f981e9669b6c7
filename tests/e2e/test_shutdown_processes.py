"""A game server process that is told to stop, or just exits, saves every profile."""

from __future__ import annotations

import signal

from e2e.game_server import serve_unclosed

from profilestore import Engine, ProfileStore


def saved_state(db_url: str, key: str) -> tuple[dict[str, object] | None, list[str]]:
    with Engine(db_url, background=False) as engine:
        store = ProfileStore("Players", {"coins": 0}, engine=engine)
        profile = store.get(key)
        reasons = [e.payload["reason"] for e in store.history(key) if e.type == "SessionEnded"]
        return (None if profile is None else profile.data), reasons


def test_sigterm_through_install_signal_handlers_saves_every_profile(spawn, db_url: str) -> None:
    server = spawn(db_url, "A")
    server.hold("p1", coins=42)
    ready = len(server.news)
    server.signal(signal.SIGTERM)
    assert server.wait(20) == 128 + signal.SIGTERM
    assert server.settle(1)[ready:] == [("last-save", "A", "p1", "Shutdown"), ("session-end", "A", "p1")]
    assert saved_state(db_url, "p1") == ({"coins": 42}, ["Shutdown"])


def test_a_process_that_exits_without_close_saves_through_atexit(spawn, db_url: str) -> None:
    server = spawn(db_url, "A", target=serve_unclosed)
    server.hold("p1", coins=7)
    assert server.stop(20) == 0, server.news
    assert saved_state(db_url, "p1") == ({"coins": 7}, ["Shutdown"])
