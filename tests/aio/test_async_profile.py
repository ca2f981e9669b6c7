"""AsyncProfile (§8): Profile's attributes and plain methods, save/end_session/set as
coroutines, and `async with engine.transaction(...)` (§6 through the async API)."""

from __future__ import annotations

import asyncio
import inspect

import pytest
from loop_helpers import FAST, eventually, other_server, run

from profilestore import (
    DataError,
    KeyInfo,
    ProfileStore,
    ProfileStoreError,
    Server,
    SessionLostError,
)
from profilestore.aio import AsyncEngine, AsyncProfileStore

TEMPLATE = {"gold": 100, "items": [], "stats": {"level": 1}}


def test_attributes_and_plain_methods() -> None:
    async def main() -> None:
        async with AsyncEngine("sqlite:///:memory:", server=Server(job_id="A"), settings=FAST) as engine:
            store = AsyncProfileStore("S", TEMPLATE, engine=engine)
            profile = await store.start_session("k")
            assert profile.key == "k" and profile.profile_store is store
            assert profile.session == {"place_id": "local", "job_id": "A"}
            assert profile.session_load_count == 1 and isinstance(profile.first_session_time, int)
            assert profile.data == TEMPLATE and profile.data is not store.template
            assert isinstance(profile.key_info, KeyInfo) and profile.key_info.version == "1"
            for name in ("save", "end_session", "set"):
                assert inspect.iscoroutinefunction(getattr(profile, name)), name
            for name in ("is_active", "reconcile", "add_user_id", "remove_user_id",
                         "message_handler"):
                assert not inspect.iscoroutinefunction(getattr(profile, name)), name

            profile.data["gold"] = 150
            profile.metadata = {"note": "vip"}
            profile.add_user_id(7)
            profile.add_user_id(7)
            profile.add_user_id(-3)
            profile.remove_user_id(-3)
            assert profile.user_ids == (7,)
            with pytest.raises(TypeError):
                profile.add_user_id(True)
            with pytest.raises(TypeError):
                profile.data = ["not", "a", "dict"]
            with pytest.raises(TypeError):
                profile.metadata = "nope"  # type: ignore[assignment]
            del profile.data["stats"]
            profile.reconcile()
            assert profile.data["stats"] == {"level": 1}
            assert profile.last_saved_data == TEMPLATE

            assert await profile.save() is True
            assert profile.last_saved_data["gold"] == 150
            assert profile.last_saved_data is not profile.data
            assert profile.key_info.version == "3"
            assert profile.key_info.metadata == {"note": "vip"} and profile.key_info.user_ids == (7,)
            profile.data = {"gold": 1}
            assert profile.is_active()
            await profile.end_session()
            assert not profile.is_active() and profile.data == {"gold": 1}
            await profile.end_session()  # safe twice
            assert await profile.save() is False  # inactive: logged, nothing written
            stored = await store.get("k")
            assert stored.data == {"gold": 1} and stored.user_ids == (7,)
            assert stored.metadata == {"note": "vip"}
            with pytest.raises(ProfileStoreError):
                await stored.save()  # read-only

    run(main())


def test_a_bad_save_raises_and_keeps_the_session() -> None:
    async def main() -> None:
        async with AsyncEngine("sqlite:///:memory:", settings=FAST) as engine:
            profile = await AsyncProfileStore("S", {}, engine=engine).start_session("k")
            profile.data["bad"] = (1, 2)
            with pytest.raises(DataError, match=r"data\['bad'\]"):
                await profile.end_session()
            assert profile.is_active()
            profile.data["bad"] = [1, 2]
            await profile.end_session()
            assert not profile.is_active()

    run(main())


def test_set_rolls_back_and_ends_the_session_held_here(db_url: str) -> None:
    async def main() -> None:
        async with AsyncEngine(db_url, settings=FAST) as engine:
            store = AsyncProfileStore("S", {"n": 0}, engine=engine)
            profile = await store.start_session("k")
            profile.data["n"] = 1
            await profile.save()
            ended, last = [], []
            profile.on_session_end.connect(lambda: ended.append(True))
            profile.on_last_save.connect(last.append)
            old = await store.get("k", version=1)
            with pytest.raises(ProfileStoreError):
                await profile.set()  # a session profile
            saves: list[bool] = []
            old.on_save.connect(lambda: saves.append(True))
            assert await old.set() is True
            assert saves == [True] and ended == [True] and last == []
            assert not profile.is_active()
            assert (await store.get("k")).data == {"n": 0}
            history = await store.history("k")
            assert [e.type for e in history][-2:] == ["SessionEnded", "Overwritten"]
            assert history[-2].payload["reason"] == "Overwritten"
            assert history[-1].payload["from_version"] == 1

    run(main())


def test_a_trade_stores_both_profiles_in_one_transaction(db_url: str) -> None:
    async def main() -> None:
        async with AsyncEngine(db_url, settings=FAST) as engine:
            store = AsyncProfileStore("S", TEMPLATE, engine=engine)
            other_store = AsyncProfileStore("Other", {"gold": 0}, engine=engine)
            buyer, seller = await store.start_session("b"), await other_store.start_session("s")
            seller.data["items"] = ["sword"]
            saved: list[str] = []
            buyer.on_after_save.connect(lambda data: saved.append("buyer"))
            seller.on_after_save.connect(lambda data: saved.append("seller"))
            async with engine.transaction(buyer, seller):
                buyer.data["gold"] -= 10
                await asyncio.sleep(0.01)  # the block may await
                seller.data["gold"] += 10
                seller.data["items"].remove("sword")
                buyer.data["items"].append("sword")
            await eventually(lambda: sorted(saved) == ["buyer", "seller"])
            assert buyer.last_saved_data["items"] == ["sword"] and seller.last_saved_data["gold"] == 10
            b_saved = [e for e in await store.history("b") if e.type == "Saved"]
            s_saved = [e for e in await other_store.history("s") if e.type == "Saved"]
            assert len(b_saved) == len(s_saved) == 1
            assert b_saved[0].timestamp == s_saved[0].timestamp, "one trade, one timestamp"
            await buyer.end_session()
            await seller.end_session()

    run(main())


def test_save_and_end_session_inside_a_trade_raise() -> None:
    async def main() -> None:
        async with AsyncEngine("sqlite:///:memory:", settings=FAST) as engine:
            store = AsyncProfileStore("S", TEMPLATE, engine=engine)
            a, b = await store.start_session("a"), await store.start_session("b")
            async with engine.transaction(a, b):
                a.data["gold"] = 5
                with pytest.raises(ProfileStoreError):
                    await a.save()
                with pytest.raises(ProfileStoreError):
                    await b.end_session()
            assert a.is_active() and b.is_active()
            assert a.last_saved_data["gold"] == 5
            await a.end_session()
            await b.end_session()

    run(main())


def test_an_exception_in_the_block_restores_data_and_stores_nothing(db_url: str) -> None:
    async def main() -> None:
        async with AsyncEngine(db_url, settings=FAST) as engine:
            store = AsyncProfileStore("S", TEMPLATE, engine=engine)
            a, b = await store.start_session("a"), await store.start_session("b")
            a.metadata = {"m": 1}
            with pytest.raises(KeyError):
                async with engine.transaction(a, b):
                    a.data["gold"] = 0
                    a.data["items"].append("sword")
                    a.metadata["m"] = 2
                    b.add_user_id(5)
                    await asyncio.sleep(0)
                    raise KeyError("the block failed")
            assert a.data == TEMPLATE and a.metadata == {"m": 1} and b.user_ids == ()
            assert a.is_active() and b.is_active()
            for key in ("a", "b"):
                assert "Saved" not in [e.type for e in await store.history(key)]
            with pytest.raises(DataError):  # data that cannot be saved: neither is stored
                async with engine.transaction(a, b):
                    a.data["gold"] = 1
                    b.data["bad"] = {1}
            assert a.data == TEMPLATE and "bad" not in b.data
            for key in ("a", "b"):
                assert "Saved" not in [e.type for e in await store.history(key)]

    run(main())


def test_a_trade_refuses_what_cannot_take_part() -> None:
    async def main() -> None:
        async with AsyncEngine("sqlite:///:memory:", settings=FAST) as engine, \
                AsyncEngine("sqlite:///:memory:", settings=FAST) as elsewhere:
            store = AsyncProfileStore("S", TEMPLATE, engine=engine)
            a, mock = await store.start_session("a"), await store.mock.start_session("m")
            read = await store.get("a")
            foreign = await AsyncProfileStore("S", TEMPLATE, engine=elsewhere).start_session("f")
            with pytest.raises(ValueError):
                async with engine.transaction(a, a):
                    pass
            for others in ((a, mock), (a, read), (a, foreign)):
                with pytest.raises(ProfileStoreError):
                    async with engine.transaction(*others):
                        pass
            ended = await store.start_session("ended")
            await ended.end_session()
            with pytest.raises(SessionLostError):
                async with engine.transaction(a, ended):
                    pytest.fail("the block runs only when every profile is active")
                    return
            assert a.is_active()

    run(main())


def test_a_hand_over_waits_for_the_trade_block(db_url: str) -> None:
    async def main() -> None:
        async with AsyncEngine(db_url, server=Server(job_id="A"), settings=FAST) as engine, \
                other_server(db_url, "B") as other:
            store = AsyncProfileStore("S", {"gold": 100}, engine=engine)
            buyer, seller = await store.start_session("buyer"), await store.start_session("seller")
            taking = asyncio.create_task(asyncio.to_thread(
                ProfileStore("S", {"gold": 100}, engine=other).start_session, "seller"))
            trade_error: BaseException | None = None
            try:
                async with engine.transaction(buyer, seller):
                    seller.data["gold"] += 10
                    await asyncio.sleep(0.5)  # ten polls: the request arrives meanwhile
                    buyer.data["gold"] -= 10
            except SessionLostError as error:
                trade_error = error
            taken = await taking
            assert taken is not None
            buyer_gold = (await store.get("buyer")).data["gold"] if trade_error else buyer.data["gold"]
            await asyncio.to_thread(taken.end_session)
            assert taken.data["gold"] + buyer_gold == 200, "gold was made or lost by half a trade"
            assert trade_error is None, "the hand-over waits for the block"

    run(main())
