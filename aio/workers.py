"""Blocking work off the event loop: a pool for database calls, a thread of its own for each
call that may wait long (a start_session waiting for a hand-over), so that calls waiting for held
keys never hold up calls on free ones."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
POOL_SIZE = 32


class Workers:
    """An asyncio engine's threads for blocking calls."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._pool = concurrent.futures.ThreadPoolExecutor(POOL_SIZE, "profilestore-aio")
        self._closed = False
        self._launches: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        threading.Thread(target=self._launcher, name="profilestore-aio-launcher",
                         daemon=True).start()

    async def run(self, work: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """`work(*args, **kwargs)` on a pooled thread. Cancelling the awaiting task does not stop
        or drop it, even before a thread has picked it up: the work is shielded. After close()
        (the engine is closed, so every call answers at once) it runs here."""
        if self._closed:
            return work(*args, **kwargs)
        submitted = self._pool.submit(functools.partial(work, *args, **kwargs))
        return await asyncio.shield(asyncio.wrap_future(submitted, loop=self._loop))

    def start(self, work: Callable[[], T]) -> asyncio.Future[T]:
        """`work()` on a thread of its own; its outcome as a future of the loop."""
        outcome: asyncio.Future[T] = self._loop.create_future()

        def settle(result: T | None, error: BaseException | None) -> None:
            if outcome.done():
                return
            if error is not None:
                outcome.set_exception(error)
            else:
                outcome.set_result(result)  # type: ignore[arg-type]

        def run() -> None:
            try:
                result, error = work(), None
            except BaseException as failure:
                result, error = None, failure
            with contextlib.suppress(RuntimeError):  # the loop closed: nobody waits for it
                self._loop.call_soon_threadsafe(settle, result, error)

        if self._closed:
            run()
        else:
            self._launches.put(run)  # Thread.start() waits for the thread: not on the loop
        return outcome

    def _launcher(self) -> None:
        while (run := self._launches.get()) is not None:
            threading.Thread(target=run, name="profilestore-aio-wait", daemon=True).start()

    def close(self) -> None:
        """Let the threads go (the engine is closed); later calls run on the caller's thread."""
        self._closed = True
        self._launches.put(None)
        self._pool.shutdown(wait=False)

