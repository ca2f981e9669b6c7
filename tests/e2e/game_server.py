"""Game servers that misbehave on purpose, which the demo's simulator must not have.

The end-to-end tests run the simulator's servers (profilestore.simulator.server); these three
are what a real server, and so the demo's, never does, and a test needs to see survived. Each
runs in its own process like the simulator's `serve`, on the same orders and news.

- `serve_silent`: an engine without its thread: no heartbeat, no auto-save, no answer to
  another server's request, as a hung process looks to the others.
- `serve_unclosed`: returns when told to stop without closing its engine, so what is unsaved
  is saved only by the engine's atexit hook.
- `serve_trading`: takes six profiles (steal=True) and trades gold between random pairs as fast
  as it can, pausing inside every trade and auto-saving every 50 ms, so that a kill lands in the
  middle of trades and saves race them. It obeys no order.
"""

from __future__ import annotations

import random
import time
from typing import Any

from profilestore import Engine, ProfileStore, Server
from profilestore.simulator.server import Game, GameServer


def serve_silent(url: str, name: str, orders: Any, news: Any, game: Game) -> None:
    with Engine(url, server=Server(job_id=name), settings=game.settings, background=False) as engine:
        GameServer(engine, name, news, game).run(orders)


def serve_unclosed(url: str, name: str, orders: Any, news: Any, game: Game) -> None:
    engine = Engine(url, server=Server(job_id=name), settings=game.settings)
    GameServer(engine, name, news, game).run(orders)


def serve_trading(url: str, name: str, orders: Any, news: Any, game: Game) -> None:
    with Engine(url, server=Server(job_id=name), settings=game.settings) as engine:
        engine.set_constant("AUTO_SAVE_PERIOD", 0.05)
        store = ProfileStore(game.store, game.model, engine=engine)
        profiles = [store.start_session(f"p{n}", steal=True) for n in range(6)]
        assert all(p is not None for p in profiles)
        news.put(("up", name))
        dice = random.Random()
        while True:
            buyer, seller = dice.sample(profiles, 2)
            amount = dice.randint(1, 20)
            with engine.transaction(buyer, seller):  # type: ignore[arg-type]
                buyer.data.coins -= amount  # type: ignore[union-attr]
                time.sleep(0.0005)  # half a trade done: a kill here must store neither half
                seller.data.coins += amount  # type: ignore[union-attr]
