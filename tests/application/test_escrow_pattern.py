"""The escrow pattern of docs/trades.md moves an item between servers exactly once, crash or not."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from profilestore import Engine, ProfileStore, Server, Settings

TRADES = Path(__file__).resolve().parents[2] / "docs" / "trades.md"
FAST = Settings(poll_interval=0.001, first_load_repeat=0.01, load_repeat_period=0.01, session_steal=0.05)


@pytest.fixture
def escrow() -> dict[str, Any]:
    """send_item, flush_outbox and receive_items exactly as docs/trades.md shows them."""
    block = next(b for b in re.findall(r"```python\n(.*?)```", TRADES.read_text(), flags=re.S)
                 if "def send_item" in b)
    namespace: dict[str, Any] = {}
    exec(compile(block, str(TRADES), "exec"), namespace)
    return namespace


@pytest.fixture
def servers(tmp_path: Path) -> Any:
    url = f"sqlite:///{tmp_path / 'p.db'}"
    engines = [Engine(url, server=Server(job_id=name), settings=FAST, background=False) for name in "AB"]
    yield [ProfileStore("Players", {"items": []}, engine=e) for e in engines], engines
    for engine in engines:
        engine.close(timeout=5)


def items(store: ProfileStore, key: str) -> list[str]:
    profile = store.get(key)
    assert profile is not None
    return profile.data["items"]


def test_an_item_sent_to_a_buyer_on_another_server_arrives_once(escrow: dict[str, Any], servers: Any
                                                                ) -> None:
    (on_a, on_b), (_engine_a, engine_b) = servers
    seller, buyer = on_a.start_session("seller"), on_b.start_session("buyer")
    assert seller is not None and buyer is not None
    seller.data["items"] = ["sword"]
    assert seller.save()
    escrow["receive_items"](buyer)
    escrow["send_item"](on_a, seller, "buyer", "sword", "t1")
    engine_b.run_pending()  # the buyer's server delivers, applies, saves
    assert items(on_a, "seller") == [] and items(on_b, "buyer") == ["sword"]


def test_a_seller_that_crashes_between_save_and_send_sends_at_its_next_session(
        escrow: dict[str, Any], servers: Any) -> None:
    (on_a, on_b), (_engine_a, engine_b) = servers
    seller, buyer = on_a.start_session("seller"), on_b.start_session("buyer")
    assert seller is not None and buyer is not None
    seller.data["items"] = ["sword"]
    escrow["receive_items"](buyer)
    with seller.lock:  # send_item's first half, then the server dies before the message
        seller.data["items"].remove("sword")
        seller.data.setdefault("outbox", {})["t1"] = {"to": "buyer", "item": "sword"}
    assert seller.save()
    restarted = on_b.start_session("seller", steal=True)  # the seller comes back on server B
    assert restarted is not None and restarted.data["outbox"] == {"t1": {"to": "buyer", "item": "sword"}}
    escrow["flush_outbox"](on_b, restarted)
    assert restarted.save()
    engine_b.run_pending()
    assert items(on_b, "buyer") == ["sword"] and items(on_b, "seller") == []


def test_a_trade_sent_twice_moves_the_item_once(escrow: dict[str, Any], servers: Any) -> None:
    (on_a, on_b), (_engine_a, engine_b) = servers
    buyer = on_b.start_session("buyer")
    assert buyer is not None
    escrow["receive_items"](buyer)
    for _ in range(2):  # a crash after the send but before the outbox entry was removed
        assert on_a.message("buyer", {"trade_id": "t9", "item": "shield"})
    engine_b.run_pending()
    assert items(on_b, "buyer") == ["shield"]
