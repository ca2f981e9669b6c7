"""engine.transaction(): a trade is stored whole, in one database transaction, or not at all."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.persistence import OperationalError

from profilestore import (
    Engine,
    Profile,
    ProfileStore,
    ProfileStoreError,
    Server,
    SessionLostError,
)


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'p.db'}"


@pytest.fixture
def engine(url: str) -> Iterator[Engine]:
    engine = Engine(url, server=Server(job_id="A"), background=False)
    yield engine
    engine.close(timeout=5)


@pytest.fixture
def store(engine: Engine) -> ProfileStore:
    return ProfileStore("Players", {"gold": 100, "items": []}, engine=engine)


@pytest.fixture
def pair(store: ProfileStore) -> tuple[Profile, Profile]:
    buyer, seller = store.start_session("buyer"), store.start_session("seller")
    assert buyer is not None and seller is not None
    seller.data["items"].append("sword")
    assert seller.save()
    return buyer, seller


def stored(store: ProfileStore, key: str) -> dict[str, Any]:
    profile = store.get(key)
    assert profile is not None
    return profile.data


def trade(engine: Engine, buyer: Profile, seller: Profile) -> None:
    with engine.transaction(buyer, seller):
        buyer.data["gold"] -= 10
        seller.data["gold"] += 10
        seller.data["items"].remove("sword")
        buyer.data["items"].append("sword")


def test_a_trade_stores_both_profiles_together_with_one_timestamp(
        engine: Engine, store: ProfileStore, pair: tuple[Profile, Profile]) -> None:
    buyer, seller = pair
    after: list[str] = []
    buyer.on_after_save.connect(lambda data: after.append("buyer"))
    seller.on_after_save.connect(lambda data: after.append("seller"))
    trade(engine, buyer, seller)
    assert stored(store, "buyer") == {"gold": 90, "items": ["sword"]}
    assert stored(store, "seller") == {"gold": 110, "items": []}
    last = [store.history(key)[-1] for key in ("buyer", "seller")]
    assert [e.type for e in last] == ["Saved", "Saved"] and last[0].timestamp == last[1].timestamp
    assert sorted(after) == ["buyer", "seller"]
    assert buyer.last_saved_data == buyer.data and seller.last_saved_data == seller.data


def test_a_trade_whose_block_raises_stores_nothing_and_restores_the_data(
        engine: Engine, store: ProfileStore, pair: tuple[Profile, Profile]) -> None:
    buyer, seller = pair
    versions = [len(store.history(k)) for k in ("buyer", "seller")]
    with pytest.raises(RuntimeError), engine.transaction(buyer, seller):
        buyer.data["gold"] -= 10
        raise RuntimeError("the buyer changed their mind")
    assert buyer.data == {"gold": 100, "items": []} and seller.data["items"] == ["sword"]
    assert [len(store.history(k)) for k in ("buyer", "seller")] == versions


def test_a_trade_with_a_profile_stolen_meanwhile_stores_nothing_and_raises(
        engine: Engine, store: ProfileStore, pair: tuple[Profile, Profile], url: str) -> None:
    buyer, seller = pair
    with Engine(url, server=Server(job_id="B"), background=False) as other:
        with pytest.raises(SessionLostError), engine.transaction(buyer, seller):
            buyer.data["gold"] -= 10
            seller.data["gold"] += 10
            taken = ProfileStore("Players", engine=other).start_session("seller", steal=True)
            assert taken is not None
        assert buyer.data["gold"] == 100 and seller.data["gold"] == 100
        assert stored(store, "buyer")["gold"] == 100 and stored(store, "seller")["gold"] == 100
        assert not seller.is_active() and buyer.is_active()


def test_an_inactive_profile_is_refused_before_the_block_runs(
        engine: Engine, pair: tuple[Profile, Profile]) -> None:
    buyer, seller = pair
    seller.end_session()
    ran = []
    with pytest.raises(SessionLostError), engine.transaction(buyer, seller):
        ran.append(True)
    assert ran == []


def test_what_cannot_trade_is_refused(engine: Engine, store: ProfileStore,
                                      pair: tuple[Profile, Profile], url: str) -> None:
    buyer, _seller = pair
    mock = store.mock.start_session("m")
    reader = store.get("seller")
    assert mock is not None and reader is not None
    with pytest.raises(ProfileStoreError, match="mix mock and live"), engine.transaction(buyer, mock):
        pass
    with pytest.raises(ProfileStoreError, match="read-only"), engine.transaction(buyer, reader):
        pass
    with pytest.raises(ValueError, match="twice"), engine.transaction(buyer, buyer):
        pass
    with Engine(url, server=Server(job_id="B"), background=False) as other:
        theirs = ProfileStore("Players", engine=other).start_session("theirs")
        assert theirs is not None
        with pytest.raises(ProfileStoreError, match="another engine"), engine.transaction(buyer, theirs):
            pass


def test_save_and_end_session_inside_the_block_are_refused(
        engine: Engine, pair: tuple[Profile, Profile]) -> None:
    buyer, seller = pair
    with pytest.raises(ProfileStoreError, match=r"inside engine\.transaction"), \
            engine.transaction(buyer, seller):
        buyer.save()
    with pytest.raises(ProfileStoreError, match=r"inside engine\.transaction"), \
            engine.transaction(buyer, seller):
        seller.end_session()
    assert buyer.is_active() and seller.is_active()


def test_a_database_failure_at_commit_stores_nothing_restores_and_raises(
        engine: Engine, store: ProfileStore, pair: tuple[Profile, Profile]) -> None:
    buyer, seller = pair
    errors: list[str] = []
    engine.on_error.connect(lambda message, *_: errors.append(message))
    recorder = engine.parts.logs.live.app.recorder
    real = recorder.insert_events

    def failing(*args: Any, **kwargs: Any) -> Any:
        raise OperationalError("disk I/O error (injected)")

    recorder.insert_events = failing
    try:
        with pytest.raises(ProfileStoreError, match="not stored"):
            trade(engine, buyer, seller)
    finally:
        recorder.insert_events = real
    assert buyer.data == {"gold": 100, "items": []} and seller.data == {"gold": 100, "items": ["sword"]}
    assert stored(store, "buyer")["gold"] == 100 and errors
    trade(engine, buyer, seller)  # the same trade goes through once the database is back
    assert stored(store, "seller") == {"gold": 110, "items": []}


def test_no_auto_save_runs_while_the_block_holds_the_profiles(
        engine: Engine, store: ProfileStore, pair: tuple[Profile, Profile]) -> None:
    buyer, seller = pair
    engine.set_constant("AUTO_SAVE_PERIOD", 0.001)
    for profile in pair:
        profile.core.loaded_at -= 10  # old enough to be auto-saved
    saves_before = sum(e.type == "Saved" for e in store.history("buyer"))
    with engine.transaction(buyer, seller):
        buyer.data["gold"] -= 10  # half a trade
        timer = threading.Thread(target=engine.run_pending)
        timer.start()
        timer.join(0.3)
        assert timer.is_alive(), "auto-save must wait for the block"
        assert sum(e.type == "Saved" for e in store.history("buyer")) == saves_before
        seller.data["gold"] += 10
    timer.join(5)
    assert stored(store, "buyer")["gold"] + stored(store, "seller")["gold"] == 200
