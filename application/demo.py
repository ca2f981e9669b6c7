"""The demo: one game server, one player's session, changes, auto-save, end, and the history."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from uuid import uuid4

from profilestore.domain.values import HistoryEntry

from .engine import Engine
from .store import ProfileStore


def run_demo(database: str | None, say: Callable[[str], None], seconds: float = 3.0
             ) -> tuple[str, list[HistoryEntry]]:
    """Play one session on `database`; returns the player's key and history."""
    with Engine(database) as engine:
        engine.set_constant("AUTO_SAVE_PERIOD", 1.0)
        store = ProfileStore("PlayerData", {"coins": 0, "items": []}, engine=engine)
        key = f"player-{uuid4().hex[:8]}"
        profile = store.start_session(key)
        if profile is None:
            raise RuntimeError(f"could not start a session for {key}")
        saved = threading.Event()
        profile.on_after_save.connect(lambda data: saved.set())
        say(f"{key} joined server {engine.server.job_id[:8]} (session #{profile.session_load_count})")
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            with profile.lock:
                profile.data["coins"] += 10
            say(f"  earned 10 coins -> {profile.data['coins']}")
            time.sleep(0.5)
        with profile.lock:
            profile.data["items"].append("sword")
        saved.wait(2.0)
        say(f"  auto-saved: last saved coins = {profile.last_saved_data['coins']}")
        profile.end_session()
        say(f"{key} left; saved version {profile.key_info.version}")
        latest = store.get(key)
        assert latest is not None and latest.data == profile.data
        return key, store.history(key)
