"""AsyncProfileStore (§8): the store's attributes and views, its calls as coroutines,
version_query as an async iterator, typed templates and migrations through the async API."""

from __future__ import annotations

import inspect
from datetime import timedelta

import pytest
from loop_helpers import FAST, run
from pydantic import BaseModel

from profilestore import (
    DataError,
    HistoryEntry,
    InvalidKeyError,
    ProfileStore,
    ProfileStoreError,
    SortDirection,
)
from profilestore.aio import AsyncEngine, AsyncProfile, AsyncProfileStore, AsyncVersionQuery


class Item(BaseModel):
    uid: str
    kind: str
    qty: int = 1


class Player(BaseModel):
    coins: int = 0
    items: list[Item] = []


class PlayerWithGems(Player):
    gems: int = 0


def add_gems(data: dict) -> dict:
    return {**data, "gems": 0}


def test_attributes_and_views() -> None:
    async def main() -> None:
        async with AsyncEngine("sqlite:///:memory:", settings=FAST) as engine:
            template = {"n": 0, "bag": []}
            store = AsyncProfileStore("S", template, engine=engine)
            template["n"] = 99  # deep-copied
            assert store.name == "S" and store.template == {"n": 0, "bag": []}
            assert store.engine is engine
            assert isinstance(store.sync, ProfileStore) and store.sync.engine is engine.sync
            mock, raw = store.mock, store.raw
            assert isinstance(mock, AsyncProfileStore) and mock.mock is mock and store.mock is mock
            assert mock.sync is store.sync.mock and mock.engine is engine and mock.name == "S"
            assert isinstance(raw, AsyncProfileStore) and raw.sync is store.sync.raw
            for name in ("start_session", "message", "get", "remove", "history", "keys"):
                assert inspect.iscoroutinefunction(getattr(store, name)), name
            assert not inspect.iscoroutinefunction(store.version_query)
            with pytest.raises(InvalidKeyError):
                AsyncProfileStore("", engine=engine)
            with pytest.raises(InvalidKeyError):
                AsyncProfileStore("x" * 51, engine=engine)
            with pytest.raises(TypeError):
                AsyncProfileStore(5, engine=engine)  # type: ignore[arg-type]
            with pytest.raises(TypeError):
                AsyncProfileStore("T", {"bad": {1, 2}}, engine=engine)
            with pytest.raises(InvalidKeyError):
                await store.get("")

    run(main())


def test_sessions_messages_reads_history_keys_and_removal(db_url: str) -> None:
    async def main() -> None:
        async with AsyncEngine(db_url, settings=FAST) as engine:
            store = AsyncProfileStore("S", {"n": 0}, engine=engine)
            profile = await store.start_session("k")
            assert isinstance(profile, AsyncProfile) and profile.is_active()
            with pytest.raises(ProfileStoreError, match="already active"):
                await store.start_session("k")
            profile.data["n"] = 1
            assert await profile.save() is True
            profile.data["n"] = 2
            await profile.end_session()

            assert await store.message("m", {"gift": 5}) is True
            with pytest.raises(DataError):
                await store.message("m", {"bad": b"bytes"})
            keys = await store.keys()
            assert isinstance(keys, list) and keys == ["k", "m"]

            latest = await store.get("k")
            assert isinstance(latest, AsyncProfile) and latest.data == {"n": 2}
            assert not latest.is_active() and latest.session is None
            first = await store.get("k", version=1)
            assert first.data == {"n": 0} and first.key_info.version == "1"
            assert await store.get("k", "3") is not None
            assert await store.get("k", version=2) is None  # SessionStarted: not a saved version
            assert await store.get("nobody") is None
            with pytest.raises(ValueError):
                await store.get("k", version="x")
            held: list[dict] = []
            only_messages = await store.get("m")
            only_messages.message_handler(lambda message, processed: held.append(message))
            assert only_messages.data == {"n": 0} and held == [{"gift": 5}]

            history = await store.history("k")
            assert all(isinstance(entry, HistoryEntry) for entry in history)
            assert [entry.type for entry in history] == [
                "ProfileCreated", "SessionStarted", "Saved", "Saved", "SessionEnded"]
            assert history[-1].payload["reason"] == "Manual"
            assert history[1].session == engine.server.as_session()
            since = await store.history("k", since=history[-1].timestamp)
            assert since == history[-len(since):] and history[-1] in since
            assert await store.history("k", until=history[0].timestamp - timedelta(seconds=1)) == []

            assert await store.remove("k") is True
            assert await store.get("k") is None and await store.keys() == ["m"]
            assert [entry.type for entry in await store.history("k")] == ["Removed"]
            assert await store.remove("never") is True

            again = await store.start_session("k")
            assert again.data == {"n": 0} and again.session_load_count == 1
            await again.end_session()

    run(main())


def test_version_query_is_an_async_iterator(db_url: str) -> None:
    async def main() -> None:
        async with AsyncEngine(db_url, settings=FAST) as engine:
            store = AsyncProfileStore("S", {"n": 0}, engine=engine)
            profile = await store.start_session("k")
            for n in (1, 2, 3):
                profile.data["n"] = n
                assert await profile.save() is True
            await profile.end_session()

            query = store.version_query("k")
            assert isinstance(query, AsyncVersionQuery)
            first = await query.next()
            assert isinstance(first, AsyncProfile) and first.data == {"n": 0}
            rest = [p.data["n"] async for p in query]
            assert rest == [1, 2, 3, 3]  # the final save stored no change
            assert await query.next() is None

            newest_first = [p.key_info.version async for p in store.version_query(
                "k", SortDirection.DESCENDING)]
            oldest_first = [p.key_info.version async for p in store.version_query("k", "Ascending")]
            assert newest_first == oldest_first[::-1] and len(oldest_first) == 5
            second = await store.get("k", version=oldest_first[1])
            window = store.version_query("k", min_date=second.key_info.updated_time,
                                         max_date=second.key_info.updated_time)
            assert [p.key_info.version async for p in window][:1] == [oldest_first[1]]
            assert [p async for p in store.version_query("k", min_date=2, max_date=1)] == []
            with pytest.raises(ValueError):
                store.version_query("k", "Sideways")

    run(main())


def test_mock_profiles_are_isolated_from_live_ones() -> None:
    async def main() -> None:
        async with AsyncEngine("sqlite:///:memory:", settings=FAST) as engine:
            store = AsyncProfileStore("S", {"n": 0}, engine=engine)
            live, mock = await store.start_session("k"), await store.mock.start_session("k")
            assert live.is_active() and mock.is_active()
            mock.data["n"] = 5
            assert await mock.save() is True
            assert (await store.mock.get("k")).data == {"n": 5}
            assert (await store.get("k")).data == {"n": 0}
            assert [p.data["n"] async for p in store.mock.version_query("k")] == [0, 5]
            await mock.end_session()
            await live.end_session()
            assert await store.mock.keys() == ["k"] and await store.keys() == ["k"]

    run(main())


def test_typed_profiles_and_one_migrated_event_through_the_async_api(db_url: str) -> None:
    async def main() -> None:
        async with AsyncEngine(db_url, settings=FAST) as engine:
            old = AsyncProfileStore("Players", Player, engine=engine)
            assert old.template is Player
            profile = await old.start_session("p1")
            assert isinstance(profile.data, Player)
            profile.data.coins += 10
            profile.data.items.append(Item(uid="u1", kind="sword"))
            with pytest.raises(DataError, match=r"data\['items'\]\[0\]\['qty'\]"):
                profile.data = {"items": [{"uid": "u", "kind": "k", "qty": "many"}]}
            with pytest.raises(TypeError):
                profile.data = 5
            await profile.end_session()
            stored = await old.raw.get("p1")
            assert stored.data == {"coins": 10, "items": [{"uid": "u1", "kind": "sword", "qty": 1}]}

            new = AsyncProfileStore("Players", PlayerWithGems, engine=engine, migrations=[add_gems])
            read = await new.get("p1")
            assert isinstance(read.data, PlayerWithGems) and read.data.gems == 0
            assert not [e for e in await new.history("p1") if e.type == "Migrated"], \
                "a read never writes"
            migrated = await new.start_session("p1")
            assert isinstance(migrated.data, PlayerWithGems)
            assert migrated.data.coins == 10 and migrated.data.gems == 0
            migrated.data.gems += 3
            await migrated.end_session()

            history = await new.history("p1")
            assert [e.payload["from_schema"] for e in history if e.type == "Migrated"] == [0]
            versions = [p async for p in new.raw.version_query("p1")]
            assert "gems" not in versions[0].data and versions[-1].data["gems"] == 3
            assert (await new.raw.get("p1")).data["gems"] == 3
            with pytest.raises(ProfileStoreError, match="schema"):
                await old.start_session("p1")  # an older server refuses a newer schema

    run(main())
