"""§8 "One thread for game data": everything the library does with an async profile's data,
signals and message handlers happens on the loop's thread, between callbacks, so game code on
the loop changes data without a lock and no save stores half of a change."""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from loop_helpers import FAST, eventually, loop_thread, other_server, run
from pydantic import BaseModel, field_serializer

from profilestore import ProfileStore, Server
from profilestore.aio import AsyncEngine, AsyncProfile, AsyncProfileStore

SIGNALS = ("on_save", "on_last_save", "on_session_end", "on_after_save")


@pytest.fixture
def switch_threads_often() -> Iterator[None]:
    """Let threads interleave every few microseconds, so a save off the loop would hit a
    half-made change."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    yield
    sys.setswitchinterval(before)


class Recorder:
    """Which threads ran each kind of handler, and the on_last_save reasons."""

    def __init__(self) -> None:
        self.threads: dict[str, set[int]] = defaultdict(set)
        self.reasons: dict[str, list[str]] = defaultdict(list)
        self.messages: dict[str, list[Any]] = defaultdict(list)

    def note(self, what: str) -> None:
        self.threads[what].add(threading.get_ident())

    def handler(self, what: str) -> Callable[..., None]:
        return lambda *args: self.note(what)

    def watch(self, profile: AsyncProfile, label: str) -> None:
        """Plain handlers on every signal, a plain and a coroutine message handler."""
        for name in SIGNALS:
            getattr(profile, name).connect(self.handler(f"{label}.{name}"))
        profile.on_last_save.connect(self.reasons[label].append)

        def plain(message: dict[str, Any], processed: Callable[[], None]) -> None:
            self.note(f"{label}.message")

        async def coroutine(message: dict[str, Any], processed: Callable[[], None]) -> None:
            await asyncio.sleep(0)
            self.note(f"{label}.async message")
            self.messages[label].append(message)
            processed()

        profile.message_handler(plain)
        profile.message_handler(coroutine)


def test_every_handler_the_library_runs_for_an_async_profile_runs_on_the_loops_thread(
        db_url: str) -> None:
    async def main() -> tuple[int, Recorder]:
        here, seen = loop_thread(), Recorder()
        settings = FAST.model_copy(update={"auto_save_period": 0.05})
        async with AsyncEngine(db_url, server=Server(job_id="A"), settings=settings) as engine:
            store = AsyncProfileStore("S", {"n": 0}, engine=engine)
            async with other_server(db_url, "B") as other:
                theirs = ProfileStore("S", {"n": 0}, engine=other)

                # auto-saves, messages from this engine and from another one, save, end_session
                mine = await store.start_session("mine")
                seen.watch(mine, "mine")
                assert await store.message("mine", {"from": "A"})
                assert await asyncio.to_thread(theirs.message, "mine", {"from": "B"})

                def auto_saved() -> bool:
                    return len(seen.threads["mine.on_after_save"]) > 0 and len(seen.messages["mine"]) == 2
                await eventually(auto_saved)
                saved_before = [e for e in await store.history("mine") if e.type == "Saved"]
                assert saved_before, "auto-saves ran"
                assert await mine.save()
                await mine.end_session()

                # a hand-over to the other server, and a session it steals
                handed = await store.start_session("handed")
                seen.watch(handed, "handed")
                taken = await asyncio.to_thread(theirs.start_session, "handed")
                assert taken is not None and not handed.is_active()
                await asyncio.to_thread(taken.end_session)
                stolen = await store.start_session("stolen")
                seen.watch(stolen, "stolen")
                thief = await asyncio.to_thread(theirs.start_session, "stolen", steal=True)
                await eventually(lambda: not stolen.is_active())
                await asyncio.to_thread(thief.end_session)

            # removal, set() on a read-only profile, a trade
            removed = await store.start_session("removed")
            seen.watch(removed, "removed")
            assert await store.remove("removed")
            assert not removed.is_active()
            rolled = await store.start_session("rolled")
            seen.watch(rolled, "rolled")
            old = await store.get("rolled", version=1)
            seen.watch(old, "read-only")
            assert await old.set()
            a, b = await store.start_session("a"), await store.start_session("b")
            seen.watch(a, "trade")
            seen.watch(b, "trade")
            async with engine.transaction(a, b):
                a.data["n"], b.data["n"] = 1, 2

            # the final saves at aclose
            last = await store.start_session("last")
            seen.watch(last, "last")
            await store.mock.start_session("last")
        return here, seen

    here, seen = run(main())
    assert seen.reasons["mine"] == ["Manual"] and seen.reasons["handed"] == ["External"]
    assert seen.reasons["last"] == ["Shutdown"] and seen.reasons["trade"] == ["Shutdown"] * 2
    assert seen.reasons["stolen"] == [] and seen.reasons["removed"] == []
    assert sorted(m["from"] for m in seen.messages["mine"]) == ["A", "B"]
    expected = {f"{label}.{name}" for label in ("mine", "handed", "last", "trade")
                for name in SIGNALS}
    expected |= {"mine.message", "mine.async message", "stolen.on_session_end",
                 "removed.on_session_end", "rolled.on_session_end", "read-only.on_save"}
    missing = expected - set(seen.threads)
    assert not missing, f"never ran: {sorted(missing)}"
    off_loop = {what: threads for what, threads in seen.threads.items() if threads != {here}}
    assert not off_loop, f"ran off the loop's thread: {sorted(off_loop)}"


DUMPED_ON: set[int] = set()


class Tracked(BaseModel):
    """A typed profile whose every dump (what a save stores) notes the thread it ran on."""

    a: int = 0
    b: int = 0

    @field_serializer("a")
    def _noted(self, value: int) -> int:
        DUMPED_ON.add(threading.get_ident())
        return value


def test_typed_data_is_read_for_saves_only_on_the_loops_thread(db_url: str) -> None:
    """Auto-saves, a message handler's change, a save, a hand-over and the final save at aclose
    all dump the model on the loop's thread."""
    DUMPED_ON.clear()

    async def main() -> int:
        here = loop_thread()
        settings = FAST.model_copy(update={"auto_save_period": 0.02})
        async with AsyncEngine(db_url, server=Server(job_id="A"), settings=settings) as engine:
            store = AsyncProfileStore("T", Tracked, engine=engine)
            profile = await store.start_session("k")

            def on_message(message: dict[str, Any], processed: Callable[[], None]) -> None:
                profile.data.a += message["add"]
                profile.data.b += message["add"]
                processed()
            profile.message_handler(on_message)
            async with other_server(db_url, "B") as other:
                raw = ProfileStore("T", engine=other)  # a dict store: no model dumps over there
                assert await asyncio.to_thread(raw.message, "k", {"add": 2})
                await eventually(lambda: profile.last_saved_data.a == 2)
                assert await profile.save()
                taken = await asyncio.to_thread(raw.start_session, "k")
                assert taken.data == {"a": 2, "b": 2} and not profile.is_active()
                await asyncio.to_thread(taken.end_session)
            await store.start_session("final")
        return here

    here = run(main())
    assert {here} == DUMPED_ON


def test_no_stored_version_holds_half_of_a_change(db_url: str, switch_threads_often: None) -> None:
    """A task sets a and b to the same new value with no await between (and busy work between
    them) while auto-saves run every few ms and another task saves; then another server takes
    the session mid-game. Every stored version has a == b."""
    async def main() -> list[tuple[int, int]]:
        settings = FAST.model_copy(update={"auto_save_period": 0.005})
        async with AsyncEngine(db_url, server=Server(job_id="A"), settings=settings) as engine, \
                other_server(db_url, "B") as other:
            store = AsyncProfileStore("S", {"a": 0, "b": 0}, engine=engine)
            profile = await store.start_session("k")

            async def play() -> int:
                value = 0
                while profile.is_active():
                    value += 1
                    profile.data["a"] = value
                    sum(range(3000))  # a window for any thread that would read data now
                    profile.data["b"] = value
                    await asyncio.sleep(0)
                return value

            async def save_often() -> None:
                while profile.is_active():
                    await profile.save()
                    await asyncio.sleep(0.003)

            game, saver = asyncio.create_task(play()), asyncio.create_task(save_often())
            await asyncio.sleep(0.6)
            taken = await asyncio.to_thread(ProfileStore("S", engine=other).start_session, "k")
            played = await game
            await saver
            assert taken is not None and played > 50
            assert taken.data["a"] == taken.data["b"]
            await asyncio.to_thread(taken.end_session)
            started = time.monotonic()
            versions = [(p.data["a"], p.data["b"]) async for p in store.version_query("k")]
            assert time.monotonic() - started < 10
            return versions

    versions = run(main(), timeout=40)
    assert len(versions) > 10, "auto-saves and saves stored versions"
    torn = [version for version in versions if version[0] != version[1]]
    assert not torn, f"{len(torn)} of {len(versions)} stored versions hold half a change: {torn[:5]}"
