"""Past states: a profile as of a time, its saved versions, and its history."""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from eventsourcing.domain import Aggregate
from eventsourcing.persistence import StoredEvent

from profilestore.domain.profile import SAVED_VERSION_TYPES, ProfileAggregate, profile_id
from profilestore.domain.timeutil import EPOCH, to_ms
from profilestore.domain.values import HistoryEntry, SortDirection

if TYPE_CHECKING:
    from .profile import Profile
    from .store import ProfileStore

_NOT_PAYLOAD = {"originator_id", "originator_version", "timestamp", "session"}


def state_at_ms(events: Iterable[Aggregate.Event], blank: ProfileAggregate, at_ms: int
                ) -> ProfileAggregate | None:
    """The aggregate after every event stamped at or before `at_ms` (None before the first)."""
    for event in events:
        if to_ms(event.timestamp) > at_ms:
            break
        event.mutate(blank)
    return blank if blank.version else None


def saved_versions(events: Iterable[Aggregate.Event], blank: ProfileAggregate,
                   low: int | None, high: int | None) -> list[ProfileAggregate]:
    """A copy of the aggregate at each saved version whose time lies in [low, high]."""
    found = []
    for event in events:
        event.mutate(blank)
        if type(event).__name__ not in SAVED_VERSION_TYPES or not blank.live:
            continue
        moment = to_ms(event.timestamp)
        if (low is None or moment >= low) and (high is None or moment <= high):
            found.append(copy.deepcopy(blank))
    return found


def history_entries(stored: Iterable[StoredEvent], decode: Callable[[StoredEvent], Any],
                    low: int | None, high: int | None) -> list[HistoryEntry]:
    """History rows, undecodable ones as `Corrupt`, redacted ones left out."""
    entries, last_time = [], EPOCH
    for row in stored:
        try:
            event = decode(row)
        except Exception:
            entry = HistoryEntry(version=row.originator_version, type="Corrupt",
                                 timestamp=last_time, session=None, payload={})
        else:
            kind = type(event).__name__
            if kind == "Redacted":
                continue
            last_time = event.timestamp
            payload = {k: v for k, v in vars(event).items() if k not in _NOT_PAYLOAD}
            if kind == "Saved":
                payload = {k: v for k, v in payload.items() if v is not None}
            entry = HistoryEntry(version=event.originator_version, type=kind,
                                 timestamp=last_time, session=event.session, payload=payload)
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
        self._pending: list[ProfileAggregate] | None = None
        self._lock = threading.Lock()

    def next(self) -> Profile | None:
        """The next version's profile, or None when there are no more."""
        store = self._store
        if store.engine.is_closing:
            return None
        with self._lock:
            if self._pending is None:
                self._pending = self._load()
                if self._pending is None:
                    return None
            if not self._pending:
                return None
            replica = self._pending.pop(0)
        return store._read_only(replica)

    def _load(self) -> list[ProfileAggregate] | None:
        if self._low is not None and self._high is not None and self._low > self._high:
            return []
        store = self._store
        event_log, pid = store.engine._log(store._is_mock), profile_id(store.name, self._key)
        blank = ProfileAggregate.blank(pid, store.name, self._key)
        found = store._retrying(self._key, lambda: saved_versions(
            event_log.events(pid), blank, self._low, self._high))
        if not isinstance(found, list):
            return None
        return found[::-1] if self._direction is SortDirection.DESCENDING else found

    def __iter__(self) -> Iterator[Profile]:
        return self

    def __next__(self) -> Profile:
        profile = self.next()
        if profile is None:
            raise StopIteration
        return profile
