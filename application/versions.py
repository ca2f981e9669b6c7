"""Past states: the version at a time, saved versions in a window, and the history of a profile.

Times are found in the time index written with the events (integer epoch microseconds, one
indexed query); the state at a version is then replayed from the nearest snapshot.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from eventsourcing.persistence import StoredEvent

from profilestore.domain.profile import SAVED_VERSION_TYPES, ProfileAggregate, profile_id
from profilestore.domain.timeutil import EPOCH, from_us, to_ms

from .event_log import EventLog
from .failures import CorruptStream
from .values import HistoryEntry, SortDirection

if TYPE_CHECKING:
    from .handle import Profile
    from .store import ProfileStore

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


class VersionQuery:
    """Read-only profiles of a key's saved versions, in order; `next()` or iterate."""

    def __init__(self, store: ProfileStore, key: str, direction: SortDirection,
                 low: int | None, high: int | None) -> None:
        self._store, self._key, self._direction = store, key, direction
        self._low, self._high = low, high
        self._versions: list[int] | None = None
        self._lock = threading.Lock()

    def next(self) -> Profile | None:
        """The next version's profile, or None when there are no more."""
        store = self._store
        if store.engine.is_closing:
            return None
        with self._lock:  # one reader at a time keeps the results in order
            if self._versions is None:
                self._versions = self._list()
            while self._versions:
                replica = self._read(self._versions.pop(0))
                if replica is not None:
                    return store._read_only(replica)
            return None

    def _list(self) -> list[int]:
        if self._low is not None and self._high is not None and self._low > self._high:
            return []
        store, pid = self._store, profile_id(self._store.name, self._key)
        event_log = store.engine._log(store._is_mock)
        versions = store._retrying(self._key, lambda: event_log.query(
            "saved_versions", pid, SAVED_KINDS, self._low, self._high))
        if not isinstance(versions, list):
            return []
        return versions[::-1] if self._direction is SortDirection.DESCENDING else versions

    def _read(self, version: int) -> ProfileAggregate | None:
        store = self._store
        event_log = store.engine._log(store._is_mock)
        pid = profile_id(store.name, self._key)

        def read() -> ProfileAggregate | None:
            try:
                replica = event_log.load(pid, store.name, self._key, version=version)
            except CorruptStream:
                return None  # a version that cannot be replayed is left out; nothing is written
            return replica if replica.live and replica.saved_version == version else None

        replica = store._retrying(self._key, read)
        return replica if isinstance(replica, ProfileAggregate) else None

    def __iter__(self) -> Iterator[Profile]:
        return self

    def __next__(self) -> Profile:
        profile = self.next()
        if profile is None:
            raise StopIteration
        return profile

