"""The engine's event logs (the database's, and a private in-memory one for mock stores), the
per-profile locks every write holds, and the count of work in flight that close() waits for."""

from __future__ import annotations

import threading
from collections.abc import Callable
from types import TracebackType

from .event_log import EventLog
from .profile_core import Token
from .urls import memory_env, persistence_env


class KeyLocks:
    """One re-entrant lock per profile: writes of a key on this engine happen one at a time."""

    def __init__(self) -> None:
        self._locks: dict[Token, threading.RLock] = {}
        self._lock = threading.Lock()

    def __call__(self, token: Token) -> threading.RLock:
        with self._lock:
            return self._locks.setdefault(token, threading.RLock())


class InFlight:
    """Loads and writes in progress (`with in_flight:` counts one), so close() can wait for them."""

    def __init__(self) -> None:
        self._count = 0
        self._changed = threading.Condition()

    def __enter__(self) -> None:
        with self._changed:
            self._count += 1

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        with self._changed:
            self._count -= 1
            self._changed.notify_all()

    def idle(self) -> bool:
        """True when nothing is in flight."""
        return self._count == 0

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until nothing is in flight (at most `timeout` s); True if idle."""
        with self._changed:
            return self._changed.wait_for(lambda: self._count == 0, timeout)


class EventLogs:
    """The live event log, opened from the database URL, and the mock one, made on first use."""

    def __init__(self, url: str, snapshot_interval: Callable[[], int], key_locks: KeyLocks) -> None:
        self._snapshot_interval = snapshot_interval
        self._key_locks = key_locks
        self.live = EventLog(persistence_env(url), snapshot_interval,
                             lambda store, key: key_locks(Token(False, store, key)))
        self._mock: EventLog | None = None
        self._lock = threading.Lock()

    def of(self, mock: bool) -> EventLog:
        """The mock event log if `mock`, else the live one."""
        if not mock:
            return self.live
        with self._lock:
            if self._mock is None:
                self._mock = EventLog(memory_env(), self._snapshot_interval,
                                      lambda store, key: self._key_locks(Token(True, store, key)))
            return self._mock

    def opened(self) -> list[EventLog]:
        """The live log, and the mock one if it was made."""
        with self._lock:
            return [self.live] if self._mock is None else [self.live, self._mock]

    def flush_read_models(self, grace: float | None) -> bool:
        """Write the owed read-model rows of both logs (application/read_models.py); with a
        `grace`, also the live rows other engines left unwritten for that long. False if the
        database failed."""
        logs = self.opened()
        flushed = logs[0].read_models.flush(grace)
        return all([log.read_models.flush() for log in logs[1:]]) and flushed

    def upkeep(self) -> None:
        """Snapshots that came due and the database's upkeep, off the writers' path."""
        for event_log in self.opened():
            event_log.take_due_snapshots()
            event_log.tidy()

    def close(self) -> None:
        """Close every connection."""
        for event_log in self.opened():
            event_log.close()
