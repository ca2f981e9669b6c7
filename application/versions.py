"""Past states: the version at a time, saved versions in a window, and the history of a profile.

Times are found in the time index written with the events (integer epoch microseconds, one
indexed query); the state at a version is then replayed from the nearest snapshot.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from eventsourcing.persistence import StoredEvent

from profilestore.domain.profile import SAVED_VERSION_TYPES, ProfileAggregate, profile_id
from profilestore.domain.timeutil import EPOCH, from_us, to_ms

from .event_log import EventLog
from .values import HistoryEntry

P = TypeVar("P")

_NOT_PAYLOAD = {"originator_id", "originator_version", "timestamp", "session"}
SAVED_KINDS = sorted(SAVED_VERSION_TYPES)


def state_at_ms(event_log: EventLog, store: str, key: str, at_ms: int) -> ProfileAggregate | None:
    """The profile as of `at_ms` (None before its first event)."""
    pid = profile_id(store, key)
    version = event_log.query("version_at", pid, at_ms)
    return None if version is None else event_log.load(pid, store, key, version=version)


def history_entries(rows: list[tuple[StoredEvent, int | None]], decode: Callable[[StoredEvent], Any],
                    low: int | None, high: int | None) -> list[HistoryEntry]:
    """History rows, undecodable ones as `Corrupt`, redacted ones left out."""
    entries, previous = [], EPOCH
    for stored, micros in rows:
        indexed = previous if micros is None else from_us(micros)
        try:
            event = decode(stored)
        except Exception:
            entry = HistoryEntry(version=stored.originator_version, type="Corrupt",
                                 timestamp=indexed, session=None, payload={})
        else:
            kind = type(event).__name__
            if kind == "Redacted":
                continue
            payload = {k: v for k, v in vars(event).items() if k not in _NOT_PAYLOAD}
            if kind == "Saved":
                payload = {k: v for k, v in payload.items() if v is not None}
            entry = HistoryEntry(version=event.originator_version, type=kind,
                                 timestamp=event.timestamp, session=event.session, payload=payload)
        previous = entry.timestamp
        moment = to_ms(entry.timestamp)
        if (low is None or moment >= low) and (high is None or moment <= high):
            entries.append(entry)
    return entries


class VersionQuery(Generic[P]):
    """Read-only profiles of a key's saved versions, in order; `next()` or iterate."""

    def __init__(self, list_versions: Callable[[], list[int]], read: Callable[[int], P | None],
                 closing: Callable[[], bool]) -> None:
        self._list_versions, self._read, self._closing = list_versions, read, closing
        self._versions: list[int] | None = None
        self._lock = threading.Lock()

    def next(self) -> P | None:
        """The next version's profile, or None when there are no more."""
        if self._closing():
            return None
        with self._lock:  # one reader at a time keeps the results in order
            if self._versions is None:
                self._versions = self._list_versions()
            while self._versions:
                profile = self._read(self._versions.pop(0))
                if profile is not None:
                    return profile
            return None

    def __iter__(self) -> Iterator[P]:
        return self

    def __next__(self) -> P:
        profile = self.next()
        if profile is None:
            raise StopIteration
        return profile
