"""The demo: a game backend on one database, with the invariants checked at the end.

Several server processes (`server.py`) host players who join, earn, trade atomically, hop
between servers and receive gifts while offline. Midway one server is killed with SIGKILL and
its players are recovered on the others; a bad admin script wipes one offline player's coins
and an operator rolls that player back by replay. Then every player logs in once more (held
gifts are applied) and the report checks that no item was duplicated or lost, every gift was
applied exactly once, and no coin was created or lost.
"""

from __future__ import annotations

import multiprocessing
import queue
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from uuid import uuid4

from profilestore import Engine, ProfileStore
from profilestore.application import clock
from profilestore.application.urls import resolve_url
from profilestore.domain.timeutil import to_ms

from .server import DEMO, STARTING_ITEMS, Player, attach, serve


@dataclass
class DemoReport:
    """Counts of what happened, and each invariant with whether it held."""

    counts: Counter[str] = field(default_factory=Counter)
    checks: list[tuple[str, bool, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Every invariant held."""
        return all(ok for _, ok, _ in self.checks)


class DemoRun:
    """The orchestrator: gives the servers orders, sends gifts, kills, rolls back, checks."""

    def __init__(self, url: str, players: int, servers: int, seconds: float,
                 say: Callable[[str], None], status: Callable[[dict[str, Any]], None]) -> None:
        self.url, self.seconds, self.say, self.status = url, seconds, say, status
        run = uuid4().hex[:6]
        self.keys = [f"player-{run}-{n:03d}" for n in range(players)]
        self.names = [f"server-{chr(65 + n)}" for n in range(servers)]
        self.context = multiprocessing.get_context("spawn")  # an engine is not usable across fork()
        self.news: Any = self.context.Queue()
        self.orders: dict[str, Any] = {name: self.context.Queue() for name in self.names}
        self.processes: dict[str, Any] = {}
        self.where: dict[str, str] = {}  # confirmed by the server
        # Orders not yet confirmed: key -> the servers still working on one. A key can have two
        # (a hop ordered before a kill, and the recovery after it); it is settled when all answered.
        self.pending: dict[str, set[str]] = {}
        self.frozen: set[str] = set()  # no more orders (the admin script's victim)
        self.online: dict[str, int] = {}
        self.trades: dict[str, int] = {}
        self.gifts: list[int] = []
        self.report = DemoReport()
        self.dice = random.Random(run)

    # ---- the run -------------------------------------------------------------------------------

    def run(self) -> DemoReport:
        with Engine(self.url, background=False) as operator:
            store = ProfileStore(DEMO.store, DEMO.model, engine=operator)
            self.start_servers()
            for n, key in enumerate(self.keys):
                self.order(self.names[n % len(self.names)], "join", key)
            started, killed, bugged = time.monotonic(), False, None
            while (elapsed := time.monotonic() - started) < self.seconds:
                self.listen()
                self.act(store)
                if not killed and elapsed > self.seconds * 0.4 and len(self.processes) > 1:
                    killed = self.kill_one()
                if bugged is None and elapsed > self.seconds * 0.7:
                    bugged = self.bad_admin_script(store)
                self.status({"elapsed": elapsed, "online": dict(self.online), **self.report.counts,
                             "trades": sum(self.trades.values())})
            # On a loaded machine one pass of the loop can outlast the story's moments: make
            # sure it has its kill (and the recovery) and its bug all the same.
            settle, late_kill = time.monotonic() + 15, not killed
            while (bugged is None or not killed or (late_kill and self.pending)) \
                    and time.monotonic() < settle:
                self.listen()
                if not killed and len(self.processes) > 1:
                    killed = self.kill_one()
                elif bugged is None:
                    bugged = self.bad_admin_script(store)
            self.stop_servers()
            self.report.counts["trades"] = sum(self.trades.values())
            if bugged is not None:
                self.operator_rollback(store, *bugged)
            self.last_login(store)
            self.check(store)
        return self.report

    def start_servers(self) -> None:
        for name in self.names:
            process = self.context.Process(target=serve, args=(self.url, name, self.orders[name],
                                                              self.news), daemon=True)
            process.start()
            self.processes[name] = process
        ready = 0
        while ready < len(self.names):
            ready += self.next_news(timeout=60)[0] == "up"
        self.say(f"{len(self.names)} servers up, {len(self.keys)} players joining")

    def order(self, server: str, order: str, key: str = "") -> None:
        if key:
            self.pending.setdefault(key, set()).add(server)
        self.orders[server].put((order, key))

    def next_news(self, timeout: float) -> tuple[Any, ...]:
        try:
            news: tuple[Any, ...] = self.news.get(timeout=timeout)
        except queue.Empty:
            raise RuntimeError("the demo servers went quiet") from None
        return news

    def listen(self) -> None:
        deadline = time.monotonic() + 0.1
        while time.monotonic() < deadline:
            try:
                news = self.news.get(timeout=max(deadline - time.monotonic(), 0.001))
            except queue.Empty:
                return
            kind, server, *rest = news
            if kind == "joined":
                key = rest[0]
                if self.where.get(key) not in (None, server):
                    self.report.counts["hand-overs"] += 1
                self.where[key] = server
            elif kind == "left":
                self.where.pop(rest[0], None)
            if kind in ("joined", "left", "not-here", "join-failed"):
                self.pending.get(rest[0], set()).discard(server)
                if not self.pending.get(rest[0], True):
                    del self.pending[rest[0]]
            elif kind == "counters" and server in self.processes:
                self.online[news[1]], self.trades[news[1]] = news[2], news[3]

    def act(self, store: ProfileStore) -> None:
        dice, live = self.dice, list(self.processes)
        idle = [k for k in self.keys if k not in self.pending and k not in self.frozen]
        placed = [k for k in idle if k in self.where]
        offline = [k for k in idle if k not in self.where]
        roll = dice.random()
        if roll < 0.3 and placed and len(live) > 1:  # a player hops to another server
            key = dice.choice(placed)
            self.order(dice.choice([s for s in live if s != self.where[key]]), "join", key)
            self.report.counts["hops"] += 1
        elif roll < 0.4 and placed:  # a player goes offline
            key = dice.choice(placed)
            self.order(self.where[key], "leave", key)
        elif roll < 0.5 and offline:  # and comes back
            self.order(dice.choice(live), "join", dice.choice(offline))
        else:  # a gift, to a player online or not
            gift = len(self.gifts) + 1
            if store.message(dice.choice(self.keys), {"gift": gift, "coins": 10}):
                self.gifts.append(gift)
                self.report.counts["gifts sent"] += 1

    def kill_one(self) -> bool:
        name = self.names[0]
        self.processes.pop(name).kill()
        self.online.pop(name, None)
        self.trades.pop(name, None)
        for key, servers in list(self.pending.items()):
            servers.discard(name)  # that order died with the server
            if not servers:
                del self.pending[key]
        orphans = sorted(k for k, server in self.where.items() if server == name)
        for key in orphans:
            del self.where[key]
        self.say(f"{name} killed with SIGKILL holding {len(orphans)} players; recovering them")
        for n, key in enumerate(orphans):  # taken after session_steal: the owner is dead
            self.order(list(self.processes)[n % len(self.processes)], "join", key)
        self.report.counts["players recovered"] += len(orphans)
        return True

    def bad_admin_script(self, store: ProfileStore) -> tuple[str, int, int] | None:
        victims = [k for k in self.keys if k not in self.where and k not in self.pending]
        if not victims:  # nobody offline yet: send an idle player offline, try again later
            idle = [k for k in self.keys if k in self.where and k not in self.pending]
            if idle:
                self.order(self.where[idle[0]], "leave", idle[0])
            return None
        key = victims[0]
        self.frozen.add(key)  # offline for good: nothing happens to it between bug and rollback
        payload = store.get(key)
        if payload is None:
            return None
        coins, when = payload.data.coins, to_ms(clock.now())
        payload.data.coins = 0
        payload.set()
        self.say(f"a bad admin script wiped {key}'s {coins} coins")
        return key, coins, when

    def stop_servers(self) -> None:
        for name in self.processes:
            self.order(name, "stop")
        for process in self.processes.values():
            process.join(60)
        self.say("servers stopped")

    def operator_rollback(self, store: ProfileStore, key: str, coins: int, wiped_at: int) -> None:
        before = store.version_query(key, "Descending", None, wiped_at - 1).next()
        restored = before is not None and before.set()
        latest = store.get(key)
        back = latest is not None and latest.data.coins == coins
        self.say(f"operator rollback of {key} to version {before.key_info.version if before else '?'}:"
                 f" {latest.data.coins if latest else '?'} coins")
        self.report.checks.append(("rollback restored the wiped coins", bool(restored and back),
                                   f"{coins} coins"))

    def last_login(self, store: ProfileStore) -> None:
        for key in self.keys:  # every player once more: held gifts are applied
            profile = store.start_session(key, steal=True)
            if profile is not None:
                attach(profile)
                profile.end_session()

    # ---- the invariants ------------------------------------------------------------------------

    def check(self, store: ProfileStore) -> None:
        stored = {key: profile.data for key in self.keys if (profile := store.get(key)) is not None}
        players: list[Player] = list(stored.values())
        coins = sum(p.coins for p in players)
        expected = sum(Player().coins + p.earned + p.gift_coins for p in players)
        self.report.checks.append(("no coin created or lost", coins == expected,
                                   f"{coins} stored = starting coins + earned + gifts ({expected})"))
        items = Counter(item.uid for p in players for item in p.items)
        granted = {f"{key}:{kind}" for key, p in stored.items() if p.granted for kind in STARTING_ITEMS}
        self.report.checks.append(("no item duplicated or lost",
                                   set(items) == granted and all(n == 1 for n in items.values()),
                                   f"{len(items)} items, each held once"))
        applied = sorted(g for p in players for g in p.gifts)
        self.report.checks.append(("every gift applied exactly once", applied == sorted(self.gifts),
                                   f"{len(applied)} of {len(self.gifts)} gifts"))


def run_demo(database: str | None, say: Callable[[str], None],
             status: Callable[[dict[str, Any]], None] = lambda counters: None, *,
             players: int = 50, servers: int = 3, seconds: float = 20.0) -> DemoReport:
    """Run the simulated backend on `database` (default: the embedded SQLite file)."""
    if players < 2 or servers < 2 or seconds <= 0:
        raise ValueError("the demo needs at least 2 players, 2 servers and some seconds")
    return DemoRun(resolve_url(database), players, servers, seconds, say, status).run()
