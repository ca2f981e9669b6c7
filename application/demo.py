"""The demo: two game-server processes on one database; a player hops from A to B.

A player joins server A and earns coins (auto-saved); then joins server B, which asks A for
the profile: A makes its final save ("External") and releases, B claims it within a poll.
The player earns more on B and leaves. The demo then checks that no coin was lost.
"""

from __future__ import annotations

import multiprocessing
import queue
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import uuid4

from profilestore.domain.values import HistoryEntry, Server

from .engine import Engine
from .settings import Settings
from .store import ProfileStore
from .urls import resolve_url

DEMO_SETTINGS = Settings(auto_save_period=1.0, poll_interval=0.1)
TEMPLATE: dict[str, Any] = {"coins": 0, "items": []}


@dataclass
class DemoReport:
    """What the demo found."""

    key: str
    earned: dict[str, int]
    stored_coins: int
    history: list[HistoryEntry]

    @property
    def no_coin_lost(self) -> bool:
        """Every coin earned on either server is in the stored profile."""
        return self.stored_coins == sum(self.earned.values())


def run_demo(database: str | None, say: Callable[[str], None], seconds: float = 2.0) -> DemoReport:
    """Play the hop on `database` (default: the embedded SQLite file) and check the coins."""
    url, key = resolve_url(database), f"player-{uuid4().hex[:8]}"
    context = multiprocessing.get_context("spawn")  # an engine is not usable across fork()
    news: Any = context.Queue()
    server_a = context.Process(target=_server_a, args=(url, key, seconds, news))
    server_a.start()
    _relay(news, say, until="A autosaved")
    server_b = context.Process(target=_server_b, args=(url, key, seconds / 2, news))
    server_b.start()
    earned: dict[str, int] = {}
    while len(earned) < 2:
        message = _relay(news, say, until="earned")
        server, coins = message.split()[2:4]
        earned[server] = int(coins)
    for process in (server_a, server_b):
        process.join(30)
    with Engine(url, background=False) as engine:
        store = ProfileStore("PlayerData", TEMPLATE, engine=engine)
        profile = store.get(key)
        stored = -1 if profile is None else int(profile.data["coins"])
        return DemoReport(key, earned, stored, store.history(key))


def _relay(news: Any, say: Callable[[str], None], until: str) -> str:
    """Print what the servers report until a message containing `until` arrives."""
    while True:
        try:
            message: str = news.get(timeout=60)
        except queue.Empty:
            raise RuntimeError(f"the demo servers went quiet (waiting for {until!r})") from None
        if message.startswith("@"):
            if until in message:
                return message
            continue
        say(message)


def _server_a(url: str, key: str, seconds: float, news: Any) -> None:
    with Engine(url, server=Server(place_id="demo", job_id="A"), settings=DEMO_SETTINGS) as engine:
        store = ProfileStore("PlayerData", TEMPLATE, engine=engine)
        profile = store.start_session(key)
        assert profile is not None
        news.put(f"server A: {key} joined (session #{profile.session_load_count})")

        def saved(data: dict[str, Any]) -> None:
            news.put(f"server A: saved, {data['coins']} coins stored")
            news.put("@ A autosaved")

        profile.on_after_save.connect(saved)
        profile.on_last_save.connect(lambda reason: news.put(
            f"server A: {key} is wanted elsewhere -> final save ({reason})"))
        earned, started = 0, time.monotonic()
        while True:
            with profile.lock:  # checked under the lock: no coin after the final snapshot
                if not profile.is_active():
                    break
                if time.monotonic() - started < seconds * 2:
                    profile.data["coins"] += 10
                    earned += 10
            time.sleep(0.1)
        news.put(f"server A: released {key} after earning {earned} coins")
        news.put(f"@ earned A {earned}")


def _server_b(url: str, key: str, seconds: float, news: Any) -> None:
    with Engine(url, server=Server(place_id="demo", job_id="B"), settings=DEMO_SETTINGS) as engine:
        store = ProfileStore("PlayerData", TEMPLATE, engine=engine)
        news.put(f"server B: {key} hops to server B, asking server A for the profile")
        asked = time.monotonic()
        profile = store.start_session(key)
        assert profile is not None
        waited = (time.monotonic() - asked) * 1000
        news.put(f"server B: got {key} after {waited:.0f} ms with {profile.data['coins']} coins")
        earned, until = 0, time.monotonic() + seconds
        while time.monotonic() < until:
            with profile.lock:
                profile.data["coins"] += 5
                if earned % 25 == 0:
                    profile.data["items"].append("gem")
            earned += 5
            time.sleep(0.1)
        profile.end_session()
        news.put(f"server B: {key} left with {profile.data['coins']} coins")
        news.put(f"@ earned B {earned}")
