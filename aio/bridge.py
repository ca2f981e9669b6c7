"""The bridge between an engine's threads and the event loop its asyncio profiles belong to.

The engine's own thread (auto-saves, following other servers, delivering messages) and the
worker threads that run an async call's database work reach a profile's data only through
`LoopBridge.call` and `LoopBridge.deliver`, which run the work on the loop's thread, between
its callbacks, and wait for it. Game code on the loop therefore changes data without a lock.
A profile's lock (`LoopLock`) does not exclude the loop's own thread, which owns the data; it
still orders the other threads among themselves (a save against an auto-save).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import copy
import inspect
import logging
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from profilestore.application.profile_core import ProfileCore

log = logging.getLogger("profilestore")
T = TypeVar("T")


class LoopLock:
    """A re-entrant lock that the loop's thread always holds: a no-op there, an RLock elsewhere.
    `hold()` takes the real lock for the loop's thread too (a trade's block)."""

    def __init__(self, loop_thread: int) -> None:
        self._loop_thread = loop_thread
        self._lock = threading.RLock()

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        if threading.get_ident() == self._loop_thread:
            return True
        return self._lock.acquire(blocking, timeout)

    def release(self) -> None:
        if threading.get_ident() != self._loop_thread:
            self._lock.release()

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc_info: object) -> None:
        self.release()

    def try_hold(self) -> bool:
        """Take the real lock from the loop's thread, without waiting; True if taken."""
        return self._lock.acquire(blocking=False)

    def unhold(self) -> None:
        """Release what try_hold took."""
        self._lock.release()


class LoopBridge:
    """One event loop as the owner of an engine's profiles (application.profile_core.Bridge)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.thread = threading.get_ident()  # made on the loop's thread

    def on_loop(self) -> bool:
        """True when called on the loop's thread."""
        return threading.get_ident() == self.thread

    def lock(self) -> LoopLock:
        return LoopLock(self.thread)

    def call(self, work: Callable[[], T]) -> T:
        if self.on_loop():
            return work()
        done: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            if done.set_running_or_notify_cancel():
                try:
                    done.set_result(work())
                except BaseException as error:  # handed to the waiting thread
                    done.set_exception(error)

        return self._wait(done, lambda: self.loop.call_soon_threadsafe(run), work)

    def run(self, coroutine: Callable[[], Coroutine[Any, Any, T]], fallback: Callable[[], T]) -> T:
        """Run a coroutine on the loop from another thread and wait for its result; `fallback`
        on this thread when the loop no longer runs."""
        if self.on_loop():
            return fallback()
        done: concurrent.futures.Future[T] = concurrent.futures.Future()

        def start() -> None:
            if not done.set_running_or_notify_cancel():
                return
            task = self.loop.create_task(coroutine())

            def finished(task: asyncio.Task[T]) -> None:
                if task.cancelled():
                    done.set_exception(concurrent.futures.CancelledError())
                elif task.exception() is not None:
                    done.set_exception(task.exception())  # type: ignore[arg-type]
                else:
                    done.set_result(task.result())
            task.add_done_callback(finished)

        return self._wait(done, lambda: self.loop.call_soon_threadsafe(start), fallback)

    def _wait(self, done: concurrent.futures.Future[T], schedule: Callable[[], Any],
              fallback: Callable[[], T]) -> T:
        """Schedule on the loop and wait; if the loop stops (or closed) before the work began,
        the work runs here instead: nothing else could run it any more."""
        try:
            schedule()
        except RuntimeError:  # the loop is closed
            return fallback()
        while True:
            try:
                return done.result(timeout=0.5)
            except concurrent.futures.TimeoutError:
                if not self.loop.is_running() and done.cancel():
                    return fallback()

    def deliver(self, core: ProfileCore) -> bool:
        return self.run(lambda: deliver(core), core.deliver_new)


async def deliver(core: ProfileCore) -> bool:
    """ProfileCore.deliver_new on the loop, awaiting coroutine handlers one after another: a
    message's next handler sees it after the previous one finished, unless it was processed."""
    processed_any = False
    for message_id, message in core.undelivered():
        for handler in list(core.handlers):
            try:
                result = handler(copy.deepcopy(message), core.processed_callback(message_id))
                if inspect.isawaitable(result):
                    await result
            except Exception:
                log.exception("a message handler of %r raised", core)
            if message_id in core.processed:
                processed_any = True
                break
    return processed_any


def held_messages(core: ProfileCore) -> list[int]:
    """The ids of the messages held and not processed, marked delivered (as a new handler gets
    them at once, later deliveries leave them to it): call on the loop, before the handler is
    added."""
    ids = [message_id for message_id in sorted(core.replica.messages)
           if message_id not in core.processed]
    core.delivered.update(ids)
    return ids


async def deliver_held(core: ProfileCore, handler: Callable[..., Any], ids: list[int]) -> None:
    """A new coroutine handler's turn at the held messages `ids`, oldest first."""
    for message_id in ids:
        message = core.replica.messages.get(message_id)
        if message is None or message_id in core.processed:
            continue
        try:
            await handler(copy.deepcopy(message), core.processed_callback(message_id))
        except Exception:
            log.exception("a message handler of %r raised", core)
