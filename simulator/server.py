"""One game server of the demo, run as its own OS process.

Players join and leave on the orchestrator's orders; while online they earn coins, trade with
players on the same server (atomically), and receive gifts. Every coin a player earns is also
counted in `earned`, and every gift's coins in `gift_coins`, in the same data: whatever is
stored, the books balance.
"""

from __future__ import annotations

import logging
import queue
import random
import threading
from typing import Any

from profilestore import Engine, Profile, ProfileStore, ProfileStoreError, Server, Settings

TEMPLATE: dict[str, Any] = {"coins": 100, "earned": 0, "gift_coins": 0, "items": [], "gifts": [],
                            "granted": False}
SETTINGS = Settings(auto_save_period=2.0, poll_interval=0.1, first_load_repeat=0.5,
                    load_repeat_period=0.5, session_steal=2.0)


def attach(profile: Profile) -> None:
    """Grant a new player their starting items, and apply gifts once each."""
    with profile.lock:
        if not profile.data["granted"]:
            profile.data["items"] = [f"{profile.key}:sword", f"{profile.key}:shield"]
            profile.data["granted"] = True

    def gift(message: dict[str, Any], processed: Any) -> None:
        profile.data["coins"] += message["coins"]
        profile.data["gift_coins"] += message["coins"]
        profile.data["gifts"].append(message["gift"])
        processed()

    profile.message_handler(gift)


def serve(url: str, name: str, orders: Any, news: Any) -> None:
    """The server's main loop: obey orders, play the online players, report counters."""
    logging.getLogger("profilestore").setLevel(logging.ERROR)  # hand-overs are the point here
    with Engine(url, server=Server(place_id="demo", job_id=name), settings=SETTINGS) as engine:
        store = ProfileStore("PlayerData", TEMPLATE, engine=engine)
        online: dict[str, Profile] = {}
        lock = threading.Lock()  # joins land from their own threads
        dice, counters = random.Random(name), {"trades": 0}
        joining: list[threading.Thread] = []
        news.put(("up", name))
        while True:
            try:
                order, key = orders.get(timeout=0.05)
            except queue.Empty:
                order, key = "", ""
            if order == "stop":
                break
            if order == "join":
                joining.append(threading.Thread(target=_join, args=(store, key, online, lock, news, name)))
                joining[-1].start()
            with lock:
                leaving = online.pop(key, None) if order == "leave" else None
                if order == "leave" and leaving is None:
                    news.put(("not-here", name, key))
                for gone in [k for k, p in online.items() if not p.is_active()]:
                    del online[gone]  # handed over to another server
                players = [p for p in online.values() if p.is_active()]
            if leaving is not None:
                leaving.end_session()
                news.put(("left", name, key))
            _play(engine, players, dice, counters)
            news.put(("counters", name, len(players), counters["trades"]))
        for thread in joining:
            thread.join(10)


def _join(store: ProfileStore, key: str, online: dict[str, Profile], lock: threading.Lock,
          news: Any, name: str) -> None:
    try:
        profile = store.start_session(key)
    except ProfileStoreError:
        profile = None  # already here
    if profile is None:  # or another server asked after us: the last requester wins
        news.put(("join-failed", name, key))
        return
    attach(profile)
    with lock:
        online[key] = profile
    news.put(("joined", name, key, profile.session_load_count))


def _play(engine: Engine, players: list[Profile], dice: random.Random, counters: dict[str, int]
          ) -> None:
    for profile in players:
        with profile.lock:
            if profile.is_active():
                coins = dice.randint(1, 5)
                profile.data["coins"] += coins
                profile.data["earned"] += coins
    if len(players) >= 2 and dice.random() < 0.5:
        buyer, seller = dice.sample(players, 2)
        try:
            with engine.transaction(buyer, seller):
                price = dice.randint(1, 10)
                buyer.data["coins"] -= price
                seller.data["coins"] += price
                if seller.data["items"]:
                    item = seller.data["items"].pop(dice.randrange(len(seller.data["items"])))
                    buyer.data["items"].append(item)
            counters["trades"] += 1
        except ProfileStoreError:
            pass  # one of them was handed over meanwhile: the trade was not stored
