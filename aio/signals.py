"""Signals of asyncio objects: handlers run on the loop (coroutine functions as tasks)."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable
from typing import Any

from profilestore.application.signals import Connection, Signal

from .bridge import LoopBridge

log = logging.getLogger("profilestore")


class AsyncSignal:
    """A `Signal` whose handlers run on the event loop's thread. `plain_only`: a signal whose
    handlers change what is about to be saved (on_save, on_last_save) takes plain functions,
    run at once (the library fires those on the loop, between callbacks)."""

    def __init__(self, signal: Signal, bridge: LoopBridge, *, plain_only: bool = False) -> None:
        self.sync = signal
        self.name = signal.name
        self._bridge = bridge
        self._plain_only = plain_only

    def connect(self, handler: Callable[..., Any]) -> Connection:
        """Run `handler(*args)` on the loop at every fire; a coroutine function runs as a task."""
        if not callable(handler):
            raise TypeError(f"{self.name}.connect takes a callable, not {type(handler).__name__}")
        if self._plain_only and inspect.iscoroutinefunction(handler):
            raise TypeError(f"{self.name} handlers are plain functions: what they change is stored"
                            " by the save that fires them, which cannot wait for a coroutine")
        if self._plain_only:
            return self.sync.connect(handler)
        bridge = self._bridge

        def run(args: tuple[Any, ...]) -> None:
            try:
                result = handler(*args)
                if inspect.isawaitable(result):
                    bridge.loop.create_task(_logged(result, self.name))
            except Exception:
                log.exception("a %s handler raised", self.name)

        def adapter(*args: Any) -> None:
            if bridge.on_loop():
                run(args)
            else:
                try:
                    bridge.loop.call_soon_threadsafe(run, args)
                except RuntimeError:  # the loop is closed: nobody is left to tell
                    log.debug("%s fired after the event loop closed", self.name)

        return self.sync.connect(adapter)

    async def wait(self, timeout: float | None = None) -> tuple[Any, ...]:
        """The arguments of the next fire; TimeoutError after `timeout` seconds."""
        loop, fired = self._bridge.loop, self._bridge.loop.create_future()

        def settle(args: tuple[Any, ...]) -> None:
            if not fired.done():
                fired.set_result(args)

        def on_fire(*args: Any) -> None:
            if self._bridge.on_loop():
                settle(args)
            else:
                loop.call_soon_threadsafe(settle, args)

        connection = self.sync.connect(on_fire)
        try:
            result: tuple[Any, ...] = await asyncio.wait_for(fired, timeout)
        except TimeoutError:
            raise TimeoutError(f"{self.name} did not fire within {timeout} s") from None
        finally:
            connection.disconnect()
        return result

    @property
    def listened(self) -> bool:
        """Whether a handler is connected or a wait() is waiting."""
        return self.sync.listened


async def _logged(awaitable: Any, name: str) -> None:
    try:
        await awaitable
    except Exception:
        log.exception("a %s handler raised", name)
