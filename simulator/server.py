"""One game server, run as its own OS process: the demo's (run.py), and the end-to-end tests'.

A server hosts players on the orders it is given and reports what happens as news; both are
tuples on multiprocessing queues. Orders: ("join", key[, steal]), ("leave", key), ("set", key,
changes) and ("earn", key, coins) (in the data, unsaved), ("save", key), ("gift", key, message)
(a message to a player anywhere), ("stop",). News: ("up", server), then ("joined", server, key,
session_load_count) or ("join-failed", server, key), ("left" | "changed" | "not-here", server,
key), ("saved" | "gifted", server, key, done), and the sessions' signals as
("last-save", server, key, reason) and ("session-end", server, key).

What it hosts is a `Game`: a typed store (a pydantic model with a `coins` field) and how it is
played. The demo's (`DEMO`, on `Player`) plays on its own: while online, players earn coins and
trade with players on the same server (atomically) every tick, and the server reports
("counters", server, players online, trades). It keeps a ledger in the data: every coin a player
earns is also counted in `earned`, every gift's coins in `gift_coins`, and each new player is
granted two items once. Whatever is stored, the books balance.
"""

from __future__ import annotations

import logging
import queue
import random
import threading
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from profilestore import Engine, Profile, ProfileStore, ProfileStoreError, Server, Settings


class Item(BaseModel):
    """An item, named for its whole life by `uid` whoever holds it: the invariants count uids."""

    uid: str  # "<the key of the player it was granted to>:<kind>"
    kind: str


class Player(BaseModel):
    """A player of the demo's game, with its ledger."""

    coins: int = 100  # what a new player starts with
    earned: int = 0  # every coin earned by playing
    gift_coins: int = 0  # every coin received in gifts
    items: list[Item] = []
    gifts: list[int] = []  # the number of every gift applied
    granted: bool = False  # the starting items were handed out


STARTING_ITEMS = ("sword", "shield")
SETTINGS = Settings(auto_save_period=2.0, poll_interval=0.1, first_load_repeat=0.5,
                    load_repeat_period=0.5, session_steal=2.0)


@dataclass(frozen=True)
class Game:
    """What a server hosts: the store and its model (at least `coins: int`; with the ledger, the
    fields of `Player`), the engine's settings, whether the data keeps the ledger, and whether
    online players play on their own every tick (which trades `items` too)."""

    store: str = "PlayerData"
    model: type[BaseModel] = Player
    settings: Settings = SETTINGS
    ledger: bool = True
    autoplay: bool = True


DEMO = Game()


def attach(profile: Profile, ledger: bool = True) -> None:
    """Apply gifts once each, adding their coins; with the ledger, also grant a new player their
    starting items and book each gift."""
    if ledger:
        with profile.lock:
            if not profile.data.granted:
                profile.data.items = [Item(uid=f"{profile.key}:{kind}", kind=kind)
                                      for kind in STARTING_ITEMS]
                profile.data.granted = True

    def gift(message: dict[str, Any], processed: Any) -> None:
        profile.data.coins += message["coins"]
        if ledger:
            profile.data.gift_coins += message["coins"]
            profile.data.gifts.append(message["gift"])
        processed()

    profile.message_handler(gift)


def serve(url: str, name: str, orders: Any, news: Any, game: Game = DEMO) -> None:
    """The server's process: an engine that closes on SIGTERM (every profile saved), and its
    players, until the order to stop."""
    logging.getLogger("profilestore").setLevel(logging.ERROR)  # hand-overs are the point here
    with Engine(url, server=Server(place_id="demo", job_id=name), settings=game.settings) as engine:
        engine.install_signal_handlers()
        GameServer(engine, name, news, game).run(orders)


class GameServer:
    """One server's players and what it does with them, on an open engine."""

    def __init__(self, engine: Engine, name: str, news: Any, game: Game) -> None:
        self.engine, self.name, self.news, self.game = engine, name, news, game
        self.store = ProfileStore(game.store, game.model, engine=engine)
        self.online: dict[str, Profile] = {}
        self.lock = threading.Lock()  # joins land from their own threads
        self.joining: list[threading.Thread] = []
        self.dice, self.trades = random.Random(name), 0

    def run(self, orders: Any) -> None:
        """Obey orders until told to stop; every tick, let the online players play (autoplay)."""
        self.news.put(("up", self.name))
        while True:
            try:
                order: tuple[Any, ...] = orders.get(timeout=0.05)
            except queue.Empty:
                order = ("",)
            if order[0] == "stop":
                break
            if order[0]:
                self.obey(*order)
            with self.lock:
                for gone in [k for k, p in self.online.items() if not p.is_active()]:
                    del self.online[gone]  # handed over to another server
                players = list(self.online.values())
            if self.game.autoplay:
                self._play(players)
                self.news.put(("counters", self.name, len(players), self.trades))
        for thread in self.joining:
            thread.join(10)

    def obey(self, verb: str, key: str, *args: Any) -> None:
        """Carry out one order (the module's docstring lists them) and report it."""
        if verb == "join":
            self.joining.append(threading.Thread(target=self._join, args=(key, *args)))
            self.joining[-1].start()
            return
        if verb == "gift":
            self.news.put(("gifted", self.name, key, self.store.message(key, args[0])))
            return
        with self.lock:
            profile = self.online.pop(key, None) if verb == "leave" else self.online.get(key)
        if profile is None:
            self.news.put(("not-here", self.name, key))
        elif verb == "leave":
            profile.end_session()
            self.news.put(("left", self.name, key))
        elif verb == "save":
            self.news.put(("saved", self.name, key, profile.save()))
        else:  # "set" or "earn"
            changed = self._change(profile, verb, args[0])
            self.news.put(("changed" if changed else "not-here", self.name, key))

    def _change(self, profile: Profile, verb: str, value: Any) -> bool:
        """Set fields of the data ("set": {field: value}) or add coins ("earn"), unless the
        profile was handed over (checked under its lock, so a hand-over's last save has the change
        or it is refused). The model checks a set value at the next save."""
        with profile.lock:
            if not profile.is_active():
                return False
            if verb == "set":
                for name, field_value in value.items():
                    setattr(profile.data, name, field_value)
            else:
                self._earn(profile, value)
            return True

    def _earn(self, profile: Profile, coins: int) -> None:
        profile.data.coins += coins
        if self.game.ledger:
            profile.data.earned += coins

    def _join(self, key: str, steal: bool = False) -> None:
        try:
            profile = self.store.start_session(key, steal=steal)
        except ProfileStoreError:
            profile = None  # already here
        if profile is None:  # or another server asked after us: the last requester wins
            self.news.put(("join-failed", self.name, key))
            return
        news, name = self.news, self.name
        profile.on_last_save.connect(lambda reason: news.put(("last-save", name, key, str(reason))))
        profile.on_session_end.connect(lambda: news.put(("session-end", name, key)))
        attach(profile, self.game.ledger)
        with self.lock:
            self.online[key] = profile
        self.news.put(("joined", self.name, key, profile.session_load_count))

    def _play(self, players: list[Profile]) -> None:
        dice = self.dice
        for profile in players:
            with profile.lock:
                if profile.is_active():
                    self._earn(profile, dice.randint(1, 5))
        if len(players) >= 2 and dice.random() < 0.5:
            buyer, seller = dice.sample(players, 2)
            try:
                with self.engine.transaction(buyer, seller):
                    price = dice.randint(1, 10)
                    buyer.data.coins -= price
                    seller.data.coins += price
                    if seller.data.items:
                        item = seller.data.items.pop(dice.randrange(len(seller.data.items)))
                        buyer.data.items.append(item)
                self.trades += 1
            except ProfileStoreError:
                pass  # one of them was handed over meanwhile: the trade was not stored
