"""§8 "Cancellation": a cancelled start_session gives up as `cancel` does (this engine holds and
claims nothing; nobody else waits for session_steal); a cancelled save()/end_session()/set()
still writes, and the profile stays consistent."""

from __future__ import annotations

import asyncio
import random
import time

from loop_helpers import FAST, eventually, other_server, run

from profilestore import ProfileStore, Server
from profilestore.aio import AsyncEngine, AsyncProfile, AsyncProfileStore


async def cancelled(task: asyncio.Task[object]) -> bool:
    """Cancel `task` and wait for it; True if it ended cancelled (False: it had finished)."""
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        return True
    return False


def started_by(history: list, job_id: str) -> int:
    return sum(1 for e in history if e.type == "SessionStarted" and e.session["job_id"] == job_id)


def test_cancelling_a_start_that_waits_for_a_held_key_gives_up(db_url: str) -> None:
    async def main() -> None:
        async with other_server(db_url, "holder", background=False) as holder, \
                other_server(db_url, "next") as next_server, \
                AsyncEngine(db_url, server=Server(job_id="A"), settings=FAST) as engine:
            held = ProfileStore("S", {"n": 0}, engine=holder).start_session("k")
            held.data["n"] = 1
            store = AsyncProfileStore("S", {"n": 0}, engine=engine)
            waiting = asyncio.create_task(store.start_session("k"))
            await asyncio.sleep(0.2)  # the request is written; the holder does not answer yet
            assert await cancelled(waiting)

            # our request may still make the holder release: the profile is then simply free
            await asyncio.to_thread(holder.run_pending)
            assert not held.is_active()
            await asyncio.sleep(0.3)  # six polls: time enough for a claim we must not make
            assert started_by(await store.history("k"), "A") == 0
            started = time.monotonic()
            theirs = await asyncio.to_thread(
                ProfileStore("S", {"n": 0}, engine=next_server).start_session, "k")
            assert theirs is not None and theirs.data == {"n": 1}
            assert time.monotonic() - started < 3, "nobody waits for session_steal (30 s)"
            await asyncio.to_thread(theirs.end_session)

            again = await store.start_session("k")  # the same engine starts it again
            assert again is not None and again.data == {"n": 1}
            await again.end_session()

    run(main())


def test_a_start_cancelled_at_any_moment_leaves_no_session_behind(db_url: str) -> None:
    """Cancelled before, during or just after the claim: either the task got the profile, or
    this engine holds no session for the key (the next start_session gets it at once)."""
    async def main() -> tuple[int, int]:
        rng = random.Random(8)
        given = gave_up = 0
        async with AsyncEngine(db_url, server=Server(job_id="A"), settings=FAST) as engine:
            store = AsyncProfileStore("S", {"n": 0}, engine=engine)
            for round_ in range(30):
                task = asyncio.create_task(store.start_session("k"))
                await asyncio.sleep(rng.choice([0, 0.001, 0.003, 0.006, 0.01]))
                if await cancelled(task):
                    gave_up += 1
                else:
                    given += 1
                    profile = task.result()
                    assert isinstance(profile, AsyncProfile) and profile.is_active()
                    await profile.end_session()
                profile = await asyncio.wait_for(store.start_session("k"), 3)
                assert profile is not None and profile.is_active(), round_
                profile.data["n"] += 1
                await profile.end_session()
            history = await store.history("k")
            started = [e for e in history if e.type == "SessionStarted"]
            ended = [e for e in history if e.type == "SessionEnded"]
            assert len(started) == len(ended), "every session claimed here was released"
            assert (await store.get("k")).data == {"n": 30}
        return given, gave_up

    _given, gave_up = run(main())
    assert gave_up > 0


def test_a_save_end_session_or_set_cancelled_mid_write_still_writes(db_url: str) -> None:
    """Each task is cancelled once its write is under way (its on_save / on_last_save fired)."""
    async def main() -> None:
        async with AsyncEngine(db_url, settings=FAST) as engine:
            store = AsyncProfileStore("S", {"n": 0}, engine=engine)
            profile = await store.start_session("k")
            after: list[dict] = []
            profile.on_after_save.connect(after.append)

            profile.data["n"] = 1
            under_way = asyncio.create_task(profile.on_save.wait(5))
            saving = asyncio.create_task(profile.save())
            await under_way
            assert await cancelled(saving)
            await eventually(lambda: after == [{"n": 1}])
            assert profile.is_active() and profile.last_saved_data == {"n": 1}
            history = await store.history("k")
            assert history[-1].type == "Saved" and history[-1].payload["patch"]
            assert profile.key_info.version == str(history[-1].version)
            profile.data["n"] = 2
            assert await profile.save() is True  # the profile goes on as usual
            assert (await store.get("k")).data == {"n": 2}

            profile.data["n"] = 3
            under_way = asyncio.create_task(profile.on_last_save.wait(5))
            ending = asyncio.create_task(profile.end_session())
            assert await under_way == ("Manual",)
            assert await cancelled(ending)
            await eventually(lambda: not profile.is_active() and len(after) == 3)
            assert profile.last_saved_data == {"n": 3}
            assert (await store.history("k"))[-1].payload["reason"] == "Manual"
            await profile.end_session()  # safe again

            old = await store.get("k", version=1)
            under_way = asyncio.create_task(old.on_save.wait(5))
            setting = asyncio.create_task(old.set())
            await under_way
            assert await cancelled(setting)
            deadline = time.monotonic() + 5
            while (await store.history("k"))[-1].type != "Overwritten":
                assert time.monotonic() < deadline, "the cancelled set() never wrote"
                await asyncio.sleep(0.01)
            assert (await store.get("k")).data == {"n": 0}
            again = await store.start_session("k")
            assert again.data == {"n": 0}
            await again.end_session()

    run(main())


def test_cancelled_writes_complete_however_soon_they_are_cancelled(tmp_path) -> None:
    async def main() -> tuple[int, int]:
        async with AsyncEngine(f"sqlite:///{tmp_path / 'busy.db'}", settings=FAST) as engine:
            store = AsyncProfileStore("S", {"n": 0}, engine=engine)
            profiles = await asyncio.gather(*(store.start_session(f"k{i}") for i in range(100)))
            for profile in profiles:
                profile.data["n"] = 1
            saves = [asyncio.create_task(profile.save()) for profile in profiles]
            await asyncio.sleep(0)  # every save is under way
            for task in saves:
                task.cancel()
            await asyncio.gather(*saves, return_exceptions=True)
            await asyncio.sleep(0.5)
            saved = sum(profile.last_saved_data == {"n": 1} for profile in profiles)
            ends = [asyncio.create_task(profile.end_session()) for profile in profiles]
            await asyncio.sleep(0)
            for task in ends:
                task.cancel()
            await asyncio.gather(*ends, return_exceptions=True)
            await asyncio.sleep(0.5)
            ended = sum(not profile.is_active() for profile in profiles)
            return saved, ended

    saved, ended = run(main())
    assert (saved, ended) == (100, 100)
