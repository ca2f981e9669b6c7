"""Signal and Connection: handlers run in registration order and never break the caller."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger("profilestore")


class Connection:
    """One handler's link to a signal."""

    def __init__(self, signal: Signal, handler: Callable[..., Any]) -> None:
        self._signal, self.handler = signal, handler

    @property
    def connected(self) -> bool:
        """True until `disconnect()`."""
        return self in self._signal._connections

    def disconnect(self) -> None:
        """Stop calling the handler; safe to call twice."""
        with self._signal._lock:
            if self in self._signal._connections:
                self._signal._connections.remove(self)


class Signal:
    """Handlers connected to an event; exceptions are logged, later handlers still run."""

    def __init__(self, name: str = "signal") -> None:
        self.name = name
        self._connections: list[Connection] = []
        self._waiters: list[tuple[threading.Event, list[tuple[Any, ...]]]] = []
        self._lock = threading.Lock()

    def connect(self, handler: Callable[..., Any]) -> Connection:
        """Call `handler(*args)` on every fire, after the handlers connected before it."""
        if not callable(handler):
            raise TypeError(f"{self.name}.connect takes a callable, not {type(handler).__name__}")
        connection = Connection(self, handler)
        with self._lock:
            self._connections.append(connection)
        return connection

    def wait(self, timeout: float | None = None) -> tuple[Any, ...]:
        """Block until the next fire and return its arguments; TimeoutError after `timeout` s."""
        event, box = threading.Event(), list[tuple[Any, ...]]()
        with self._lock:
            self._waiters.append((event, box))
        if not event.wait(timeout):
            with self._lock:
                if (event, box) in self._waiters:
                    self._waiters.remove((event, box))
            if not box:
                raise TimeoutError(f"{self.name} did not fire within {timeout} s")
        arguments: tuple[Any, ...] = box[0]
        return arguments

    @property
    def listened(self) -> bool:
        """Whether a handler is connected or a wait() is waiting (else firing does nothing)."""
        return bool(self._connections or self._waiters)

    def fire(self, *args: Any) -> None:
        """Run every handler with `args` (internal)."""
        with self._lock:
            connections = list(self._connections)
            waiters, self._waiters = self._waiters, []
        for connection in connections:
            try:
                connection.handler(*args)
            except Exception:
                log.exception("a %s handler raised", self.name)
        for event, box in waiters:
            box.append(args)
            event.set()
