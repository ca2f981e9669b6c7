"""What the asyncio tests share (conftest.py puts this folder on sys.path): run a coroutine on a
fresh loop, fast settings, a loop ticker, and a second (sync) game server on the same database
whose blocking calls run off the loop."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import threading
import time
from collections.abc import AsyncIterator, Coroutine
from typing import Any, TypeVar

from profilestore import Engine, Server, Settings

T = TypeVar("T")

# Hand-overs within a poll or two; nobody steals or is assumed dead during a test.
FAST = Settings(poll_interval=0.05, first_load_repeat=0.1, load_repeat_period=0.1,
                session_steal=30.0, assume_dead=120.0, start_session_timeout=10.0)


def run(coroutine: Coroutine[Any, Any, T], timeout: float = 30) -> T:
    """Run `coroutine` to completion on a new event loop (no pytest-asyncio here), bounded."""
    return asyncio.run(asyncio.wait_for(coroutine, timeout))


def loop_thread() -> int:
    """The thread the running loop runs on (call from a coroutine)."""
    asyncio.get_running_loop()
    return threading.get_ident()


async def eventually(check: Any, timeout: float = 5.0, step: float = 0.01) -> None:
    """Wait (on the loop) until `check()` is true; AssertionError after `timeout` s."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout} s: {check}")
        await asyncio.sleep(step)


class Ticker:
    """A task on the loop that wakes every `period` s; `max_gap` is the longest time between
    two wakes: how long the loop was kept from running anything else. The objects made before
    it starts are frozen out of the garbage collector meanwhile: a full collection over what
    earlier tests left in this process pauses every thread for tens of ms, and is not the
    library's doing."""

    def __init__(self, period: float = 0.002) -> None:
        self.period = period
        self.max_gap = 0.0
        self.ticks = 0
        self._task: asyncio.Task[None] | None = None

    async def _tick(self) -> None:
        last = time.monotonic()
        while True:
            await asyncio.sleep(self.period)
            now = time.monotonic()
            self.max_gap, self.ticks, last = max(self.max_gap, now - last), self.ticks + 1, now

    async def __aenter__(self) -> Ticker:
        gc.collect()
        gc.freeze()
        self._task = asyncio.create_task(self._tick())
        await asyncio.sleep(0)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        gc.unfreeze()


@contextlib.asynccontextmanager
async def other_server(url: str, job_id: str = "other", *, background: bool = True,
                       settings: Settings = FAST) -> AsyncIterator[Engine]:
    """A sync Engine on the same database, as another game server; closed off the loop (its
    hand-overs may need the async engine's loop to answer)."""
    engine = Engine(url, server=Server(job_id=job_id), settings=settings, background=background)
    try:
        yield engine
    finally:
        await asyncio.to_thread(engine.close, 10)
