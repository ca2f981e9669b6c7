"""Game servers of the demo's simulator (profilestore.simulator.server), each in an OS process of
its own, driven by orders as the demo drives them; the end-to-end tests' `spawn` starts them."""

from __future__ import annotations

import multiprocessing
import os
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from profilestore import Settings
from profilestore.simulator.server import Game


class Coins(BaseModel):
    """The tests' player: stored as {"coins": 0}, which the tests read back through dict stores."""

    coins: int = 0


# Short settings, so the tests need no long waits; auto-save never comes on its own.
FAST = Settings(poll_interval=0.05, first_load_repeat=0.2, load_repeat_period=0.2,
                session_steal=1.0, auto_save_period=600.0, assume_dead=1200.0)
# The tests' game: Coins profiles that do only what they are ordered, and keep no ledger.
PLAYERS = Game(store="Players", model=Coins, settings=FAST, ledger=False, autoplay=False)
CONTEXT = multiprocessing.get_context("spawn")  # an engine is not usable across fork()


class ServerProcess:
    """A game server in a process of its own: orders go in, its news is collected as it comes."""

    def __init__(self, url: str, name: str, game: Game, target: Callable[..., None]) -> None:
        self.name = name
        self.orders: Any = CONTEXT.Queue()
        self._news: Any = CONTEXT.Queue()
        self.process = CONTEXT.Process(target=target, args=(url, name, self.orders, self._news, game),
                                       daemon=True)
        self.process.start()
        self.news: list[tuple[Any, ...]] = []
        self._seen = 0  # news up to here was expected already
        self.expect("up", timeout=60)

    # ---- news ----------------------------------------------------------------------------------

    def _read(self, timeout: float) -> bool:
        """Collect the next news; False if none came within `timeout`."""
        try:
            self.news.append(self._news.get(timeout=timeout))
            return True
        except queue.Empty:
            return False

    def expect(self, kind: str | tuple[str, ...], *fields: object, timeout: float = 20
               ) -> tuple[Any, ...]:
        """The next news (after the last one expected) of this kind (or one of these kinds) whose
        fields after the server's name start with `fields`; fails if the process ends first."""
        kinds = (kind,) if isinstance(kind, str) else kind
        deadline = time.monotonic() + timeout
        while True:
            for index in range(self._seen, len(self.news)):
                news = self.news[index]
                if news[0] in kinds and news[2:2 + len(fields)] == fields:
                    self._seen = index + 1
                    return news
            if self._read(0.1):
                continue
            if self.process.exitcode is not None and not self._read(0.5):
                raise AssertionError(f"{self.name} exited ({self.process.exitcode}) before "
                                     f"{(kind, *fields)}; news: {self.news}")
            if time.monotonic() > deadline:
                raise AssertionError(f"no {(kind, *fields)} from {self.name} within {timeout} s; "
                                     f"news: {self.news}")

    def settle(self, seconds: float) -> list[tuple[Any, ...]]:
        """Collect the news of the next `seconds`."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            self._read(left)
        return self.news

    # ---- orders (see profilestore.simulator.server) ------------------------------------------

    def order(self, *order: object) -> None:
        self.orders.put(order)

    def join(self, key: str, steal: bool = False) -> bool:
        """Start a session on `key`; False if another server asked for it after us."""
        self.order("join", key, steal)
        return self.expect(("joined", "join-failed"), key)[0] == "joined"

    def hold(self, key: str, **data: object) -> None:
        """Start a session on `key` and set these fields of its data, unsaved."""
        assert self.join(key), f"{self.name} could not take {key}"
        if data:
            assert self.set(key, **data)

    def set(self, key: str, **data: object) -> bool:
        """Set fields of a held profile's data, unsaved; False if it was handed over."""
        self.order("set", key, data)
        return self.expect(("changed", "not-here"), key)[0] == "changed"

    def earn(self, key: str, coins: int) -> bool:
        """Add coins to a held profile, unsaved; False if it was handed over."""
        self.order("earn", key, coins)
        return self.expect(("changed", "not-here"), key)[0] == "changed"

    def save(self, key: str) -> bool:
        """Save a held profile; False if that failed or it was handed over."""
        self.order("save", key)
        return self.expect(("saved", "not-here"), key)[-1] is True

    def leave(self, key: str) -> None:
        """End the session on `key` (if it was not handed over meanwhile)."""
        self.order("leave", key)
        self.expect(("left", "not-here"), key)

    def gift(self, key: str, message: dict[str, Any], times: int, every: float) -> None:
        """Order `times` gifts of `message` to `key`, `every` seconds apart, in the background;
        `gifted` waits for them."""
        def send() -> None:
            for _ in range(times):
                self.order("gift", key, message)
                time.sleep(every)

        threading.Thread(target=send, daemon=True).start()

    def gifted(self, key: str, times: int, timeout: float = 20) -> None:
        """Wait until `times` gifts to `key` are queued, each accepted."""
        for _ in range(times):
            assert self.expect("gifted", key, timeout=timeout)[-1] is True

    # ---- the process ---------------------------------------------------------------------------

    def signal(self, number: int) -> None:
        os.kill(self.process.pid, number)

    def wait(self, timeout: float) -> int | None:
        """The exit code once the process has ended (None if it runs on after `timeout`)."""
        self.process.join(timeout)
        return self.process.exitcode

    def stop(self, timeout: float = 60) -> int | None:
        """Order the server to stop; its exit code."""
        self.order("stop")
        return self.wait(timeout)

    def end(self) -> None:
        """Kill the process if it still runs; let its queues go."""
        if self.process.exitcode is None:
            self.process.kill()
        self.process.join(10)
        for channel in (self.orders, self._news):
            channel.cancel_join_thread()
            channel.close()
