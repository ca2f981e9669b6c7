"""§8 "The loop never blocks": a start_session waiting for a hand-over or for a locked database
runs off the loop, a ticker task keeps ticking meanwhile, and calls on free keys complete while
calls on held keys wait."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

from loop_helpers import FAST, Ticker, other_server, run

from profilestore import ProfileStore, Server
from profilestore.aio import AsyncEngine, AsyncProfileStore

MAX_GAP = 0.05  # generous: a blocked loop shows gaps of hundreds of ms


def test_waiting_for_a_hand_over_neither_blocks_the_loop_nor_calls_on_free_keys(db_url: str) -> None:
    """Another server holds "held" and answers only when told, slowly (its on_last_save takes
    0.2 s). Meanwhile the loop keeps ticking and calls on free keys complete."""
    async def main() -> None:
        async with other_server(db_url, "holder", background=False) as holder, \
                AsyncEngine(db_url, server=Server(job_id="A"), settings=FAST) as engine:
            kept = ProfileStore("S", {"n": 0}, engine=holder).start_session("held")
            kept.data["n"] = 41
            kept.on_last_save.connect(lambda reason: time.sleep(0.2))
            store = AsyncProfileStore("S", {"n": 0}, engine=engine)
            async with Ticker() as ticker:
                waiting = asyncio.create_task(store.start_session("held"))
                await asyncio.sleep(0.2)  # a few polls: the request is written, nobody answers
                assert not waiting.done()
                started = time.monotonic()
                free = await asyncio.gather(*(store.start_session(f"free{i}") for i in range(10)))
                assert all(profile is not None for profile in free)
                assert await store.message("free0", {"hi": 1}) is True
                assert (await store.get("free1")).data == {"n": 0}
                assert await store.keys() == ["free" + str(i) for i in sorted(range(10), key=str)] + [
                    "held"]
                await asyncio.gather(*(profile.end_session() for profile in free))
                assert time.monotonic() - started < 5
                assert not waiting.done(), "the held key still waits"
                answering = asyncio.create_task(asyncio.to_thread(holder.run_pending))
                profile = await waiting
                await answering
            assert profile is not None and profile.data == {"n": 41}
            assert ticker.ticks > 50
            assert ticker.max_gap < MAX_GAP, f"the loop stalled {ticker.max_gap * 1000:.0f} ms"
            await profile.end_session()

    run(main())


def test_a_start_session_waiting_for_a_locked_database_does_not_block_the_loop(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"

    async def main() -> None:
        async with AsyncEngine(f"sqlite:///{path}", settings=FAST) as engine:
            store = AsyncProfileStore("S", {"n": 0}, engine=engine)
            await (await store.start_session("warm")).end_session()
            locker = sqlite3.connect(path, isolation_level=None)
            locker.execute("BEGIN EXCLUSIVE")
            try:
                async with Ticker() as ticker:
                    starting = asyncio.create_task(store.start_session("k"))
                    await asyncio.sleep(0.3)
                    assert not starting.done()
                    locker.execute("ROLLBACK")
                    profile = await starting
            finally:
                locker.close()
            assert profile is not None
            assert ticker.max_gap < MAX_GAP, f"the loop stalled {ticker.max_gap * 1000:.0f} ms"
            await profile.end_session()

    run(main())


def test_a_steal_after_session_steal_does_not_block_the_loop(db_url: str) -> None:
    """The holder never answers: the wait ends with a steal after session_steal (0.3 s here)."""
    async def main() -> None:
        patient = FAST.model_copy(update={"session_steal": 0.3})
        async with other_server(db_url, "holder", background=False) as holder, \
                AsyncEngine(db_url, server=Server(job_id="A"), settings=patient) as engine:
            ProfileStore("S", {"n": 0}, engine=holder).start_session("held")
            store = AsyncProfileStore("S", {"n": 0}, engine=engine)
            async with Ticker() as ticker:
                started = time.monotonic()
                profile = await store.start_session("held")
                took = time.monotonic() - started
            assert profile is not None and 0.3 <= took < 5
            assert ticker.max_gap < MAX_GAP, f"the loop stalled {ticker.max_gap * 1000:.0f} ms"
            reasons = [e.payload.get("reason") for e in await store.history("held")
                       if e.type == "SessionEnded"]
            assert reasons == ["Stolen"]
            await profile.end_session()

    run(main())


def test_a_thousand_concurrent_start_sessions_do_not_stall_the_loop(tmp_path: Path) -> None:
    async def main() -> float:
        async with AsyncEngine(f"sqlite:///{tmp_path / 'many.db'}", settings=FAST) as engine:
            store = AsyncProfileStore("S", {"n": 0}, engine=engine)
            async with Ticker() as ticker:
                profiles = await asyncio.gather(*(store.start_session(f"k{i}") for i in range(1000)))
            assert all(profile is not None for profile in profiles)
            await asyncio.gather(*(profile.end_session() for profile in profiles))
            return ticker.max_gap

    max_gap = run(main(), timeout=60)
    assert max_gap < 0.25, f"the loop stalled {max_gap * 1000:.0f} ms"
