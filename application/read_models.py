"""The `profiles` rows an engine owes the database, written off the save path (SPEC §5).

A write stores, in its own transaction, only a small marker for each profile whose `profiles`
row it leaves to write later (application/side_rows.py). Once it has committed, the profile is
queued here, coalesced: per profile, the newest aggregate stored and its version. `flush` writes
every queued row in one transaction, serialising the data then: from the aggregate the write
stored, under the profile's key lock and only while no later write has touched it (so its data,
version and times are of one write), else from a fresh load of the committed events.
Given a grace period it also writes the rows of markers older than that which it has not queued
itself: a crashed engine's. Every row is written only over a lower `event_version`, so it never
goes backwards and never brings back a removed profile's row.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol
from uuid import UUID

from eventsourcing.persistence import PersistenceError

from profilestore.domain.profile import ProfileAggregate
from profilestore.domain.timeutil import to_us

from . import clock
from .failures import CorruptStream, DatabaseFailure
from .side_rows import deferred_row

log = logging.getLogger("profilestore")
KeyLock = Callable[[str, str], Any]  # (store, key) -> the lock every write of that key holds


class EventLogPort(Protocol):
    """What the read models use of the event log (application/event_log.py), which makes them."""

    @property
    def recorder(self) -> Any: ...

    def load(self, originator_id: UUID, store: str, key: str) -> ProfileAggregate: ...

    def query(self, method: str, *args: Any) -> Any: ...


@dataclass(frozen=True)
class Pending:
    """A profile whose row is owed: the aggregate a committed write stored, at `version`."""

    store: str
    key: str
    version: int
    profile: ProfileAggregate


class ReadModels:
    """The rows one event log's writes left to write later, and the writing of them."""

    def __init__(self, event_log: EventLogPort, key_lock: KeyLock | None = None) -> None:
        self._event_log = event_log
        self._key_lock = key_lock
        self._queue: dict[UUID, Pending] = {}
        self._queue_lock = threading.Lock()
        self._flushing = threading.Lock()  # one flush at a time
        self._next_catch_up = 0.0
        self._failing = False

    def queue(self, profiles: Iterable[ProfileAggregate]) -> None:
        """Owe the rows of these just committed aggregates (a newer one replaces an older)."""
        with self._queue_lock:
            for profile in profiles:
                queued = self._queue.get(profile.id)
                if queued is None or queued.version < profile.version:
                    self._queue[profile.id] = Pending(profile.store_name, profile.key, profile.version,
                                                      profile)

    def discard(self, originator_id: UUID) -> None:
        """Owe nothing for a removed profile (its row is gone; it must stay gone)."""
        with self._queue_lock:
            self._queue.pop(originator_id, None)

    def pending(self) -> int:
        """How many rows are owed."""
        with self._queue_lock:
            return len(self._queue)

    def flush(self, catch_up_after: float | None = None) -> bool:
        """Write every owed row in one transaction. With `catch_up_after` (seconds), also the
        rows of markers queued longer ago than that and not owed here (looked for at most once
        per third of it). False if the database failed: the rows stay owed, the failure is
        logged, nothing is raised."""
        with self._flushing:
            with self._queue_lock:
                owed = dict(self._queue)
            try:
                rows, done = self._rows(owed)
                if catch_up_after is not None and clock.seconds() >= self._next_catch_up:
                    self._next_catch_up = clock.seconds() + catch_up_after / 3
                    self._catch_up(owed, catch_up_after, rows, done)
                if rows or done:
                    self._event_log.recorder.write_deferred(rows, done)
            except (PersistenceError, DatabaseFailure) as error:
                (log.debug if self._failing else log.warning)(
                    "writing read-model rows failed (%d owed; tried again next tick): %s", len(owed), error)
                self._failing = True
                return False
            except Exception:  # never into game code: the rows stay owed
                log.exception("writing read-model rows failed (%d owed; tried again next tick)", len(owed))
                return False
            self._failing = False
            with self._queue_lock:
                for originator_id, written in owed.items():
                    if self._queue.get(originator_id) is written:
                        del self._queue[originator_id]
            return True

    def _rows(self, owed: dict[UUID, Pending]) -> tuple[list[dict[str, Any]], list[tuple[str, int]]]:
        """The rows of the owed profiles and the markers they settle."""
        rows: list[dict[str, Any]] = []
        done: list[tuple[str, int]] = []
        for originator_id, pending in owed.items():
            row = self._stored_row(pending)
            if row is None:
                self._add_loaded(originator_id, pending.store, pending.key, pending.version, rows, done)
            else:
                rows.append(row)
                done.append((originator_id.hex, pending.version))
        return rows, done

    def _add_loaded(self, originator_id: UUID, store: str, key: str, version: int,
                    rows: list[dict[str, Any]], done: list[tuple[str, int]]) -> None:
        """Add the row of the committed aggregate, loaded now, to settle a marker of `version`:
        none for a removed profile, nor for one that cannot be replayed (its row is left as it
        is; rebuild_read_models or its next write settle it)."""
        try:
            profile = self._event_log.load(originator_id, store, key)
        except CorruptStream as corrupt:
            log.warning("read-model row of %s/%s not written: %s", store, key, corrupt)
            done.append((originator_id.hex, version))
            return
        if not profile.live:
            done.append((originator_id.hex, version))
        elif profile.version >= version:  # (else not visible here yet: next time)
            rows.append(deferred_row(profile))
            done.append((originator_id.hex, profile.version))

    def _stored_row(self, pending: Pending) -> dict[str, Any] | None:
        """The row of the aggregate the write stored, if it still holds that version and its
        key lock is free now (never waited for: a save may hold it, or the caller may, in a
        handler); None means: load it."""
        lock = None if self._key_lock is None else self._key_lock(pending.store, pending.key)
        if lock is not None and not lock.acquire(blocking=False):
            return None
        try:
            profile = pending.profile
            if profile.version != pending.version or not profile.live:
                return None
            return deferred_row(profile)
        finally:
            if lock is not None:
                lock.release()

    def _catch_up(self, owed: dict[UUID, Pending], grace: float, rows: list[dict[str, Any]],
                  done: list[tuple[str, int]]) -> None:
        """Add the rows of markers older than `grace` seconds that nobody here owes."""
        stale_before = to_us(clock.now()) - int(grace * 1_000_000)
        for hex_id, store, key, version in self._event_log.query("pending_markers", stale_before):
            originator_id = UUID(hex_id)
            if originator_id not in owed:
                self._add_loaded(originator_id, store, key, version, rows, done)
