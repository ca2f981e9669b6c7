"""A trader killed with SIGKILL at random moments never leaves a trade half-stored."""

from __future__ import annotations

import random
import signal
import time

import pytest
from e2e.game_server import serve_trading

from profilestore import Engine, ProfileStore


@pytest.mark.slow
def test_gold_traded_between_six_profiles_survives_any_number_of_kills_exactly(spawn, db_url: str
                                                                              ) -> None:
    dice = random.Random(2026)
    for _ in range(8):
        trader = spawn(db_url, "T", target=serve_trading)  # up once it took the six profiles over
        time.sleep(dice.uniform(0.05, 0.4))
        trader.signal(signal.SIGKILL)
        trader.wait(10)
    with Engine(db_url, background=False) as engine:
        store = ProfileStore("Players", {"coins": 0}, engine=engine)
        coins = [store.get(f"p{n}").data["coins"] for n in range(6)]  # type: ignore[union-attr]
        trades = sum(e.type == "Saved" and bool(e.payload["patch"]) for e in store.history("p0"))
    assert sum(coins) == 0, f"coins created or destroyed: {coins}"
    assert trades > 5 and any(coins), "no trade was stored: the test proved nothing"
