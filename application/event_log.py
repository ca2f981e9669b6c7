"""The engine's event store: the library's Application with our mapper, recorder and side rows."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any, cast
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application, ProcessingEvent
from eventsourcing.persistence import IntegrityError, PersistenceError, StoredEvent
from eventsourcing.utils import get_topic

from profilestore.domain.errors import SessionLostError
from profilestore.domain.folding import fold_stored
from profilestore.domain.profile import ProfileAggregate
from profilestore.domain.timeutil import from_us, to_us

from . import clock
from .failures import CorruptStream, DatabaseFailure
from .read_models import KeyLock, ReadModels
from .recorder_port import EventsAfter, ProfileRecorderPort
from .side_rows import ProfileRow, profile_row, side_rows
from .snapshots import SnapshotSchedule, patch_weights

log = logging.getLogger("profilestore")
Conflict = IntegrityError  # another writer appended at our version first


REDACTED_TOPIC = get_topic(ProfileAggregate.Redacted)


def _project(initial: Any, events: Any) -> Any:
    """The repository's projector function: a snapshot or the first event starts the fold."""
    return ProfileAggregate.replay(events, initial)


class ProfileProcessingEvent(ProcessingEvent[UUID]):
    """The library's ProcessingEvent, telling our aggregates apart by class first: its runtime
    Protocol checks cost more than the rest of collecting a save's events."""

    def collect_events(self, *objs: Any, **kwargs: Any) -> None:
        others = []
        for obj in objs:
            if type(obj) is ProfileAggregate:
                self.events.extend(obj.collect_events())
                self.aggregates[obj.id] = obj
            else:
                others.append(obj)
        super().collect_events(*others, **kwargs)


class ProfileEvents(Application[UUID]):
    """One engine's event store; each save also writes the time index and read-model rows,
    and leaves the rest of the read-model rows to `read_models` once it has committed."""

    name = "profilestore"
    read_models: ReadModels | None = None

    def save(self, *objs: Any, **kwargs: Any) -> Any:
        """The library's save, with the processing event above."""
        processing_event = ProfileProcessingEvent()
        processing_event.collect_events(*objs, **kwargs)
        recordings = self._record(processing_event)
        self._take_snapshots(processing_event)
        self._notify(recordings)
        self.notify(processing_event.events)  # the library's deprecated hook, still called
        return recordings

    def _record(self, processing_event: ProcessingEvent[UUID]) -> Any:
        rows, deferred = side_rows(processing_event, to_us(clock.now()))
        processing_event.saved_kwargs.update(rows)
        recordings = super()._record(processing_event)
        if self.read_models is not None:  # committed: the rows it left are owed now
            self.read_models.queue(deferred)
        return recordings


class EventLog:
    """Loads and appends profile aggregates; library failures become DatabaseFailure."""

    def __init__(self, env: dict[str, str], snapshot_interval: Callable[[], int],
                 key_lock: KeyLock | None = None) -> None:
        self._env = env
        self._app: ProfileEvents | None = None
        self._lock = threading.Lock()
        self._snapshots = SnapshotSchedule(snapshot_interval)
        # the `profiles` rows its writes left to write later; `key_lock` gives the lock every
        # write of a (store, key) holds
        self.read_models = ReadModels(self, key_lock)

    @property
    def app(self) -> ProfileEvents:
        """The library application, connected on first use."""
        if self._app is None:
            with self._lock:
                if self._app is None:
                    try:
                        app = ProfileEvents(env=self._env)
                    except Exception as error:  # the driver's own errors too (psycopg's)
                        raise DatabaseFailure(f"cannot open the database: {error}") from None
                    app.read_models = self.read_models
                    self._app = app
        return self._app

    @property
    def recorder(self) -> ProfileRecorderPort:
        """The recorder, with our side-table operations."""
        return cast(ProfileRecorderPort, self.app.recorder)

    def load(self, originator_id: UUID, store: str, key: str, version: int | None = None
             ) -> ProfileAggregate:
        """The aggregate as of `version` (default: latest), replayed from the nearest snapshot at
        or before it (or from the latest Reset, past events that cannot be replayed); version 0
        if the key has no events. CorruptStream if it cannot be replayed."""
        try:
            repository = self.app.repository
            if version is None and repository.cache is not None:
                profile: Any = repository.get(originator_id, projector_func=_project)
            else:
                profile = self._reconstruct(originator_id, version)
        except AggregateNotFoundError:
            return ProfileAggregate.blank(originator_id, store, key)
        except PersistenceError as error:
            self.forget(originator_id)
            raise DatabaseFailure(f"read failed: {error}") from None
        except Exception as error:
            self.forget(originator_id)  # a replay that failed half-way is never reused
            profile = self._load_after_reset(originator_id, version, error)
        if profile.removed:
            self.forget(originator_id)  # an erased profile: its old life is not kept in memory
        if not isinstance(profile.data, dict):
            self.forget(originator_id)
            raise self._corrupt(originator_id, f"replay gave {type(profile.data).__name__}, not dict")
        profile.store_name, profile.key = store, key
        assert isinstance(profile, ProfileAggregate)
        return profile

    def _reconstruct(self, originator_id: UUID, version: int | None) -> ProfileAggregate:
        """The library repository's replay from the nearest snapshot, with the events folded
        from their stored rows (domain/folding.py) rather than decoded one by one."""
        snapshot_store = self.app.repository.snapshot_store
        snapshots = [] if snapshot_store is None else list(
            snapshot_store.get(originator_id, desc=True, limit=1, lte=version))
        initial = ProfileAggregate.replay(cast(Any, snapshots)) if snapshots else None
        rows = self.recorder.select_rows(
            originator_id, gt=snapshots[0].originator_version if snapshots else None, lte=version)
        profile = fold_stored(rows, initial, self._row_decoder(originator_id))
        if profile is None:
            raise AggregateNotFoundError(f"profile {originator_id} version {version} not found")
        return profile

    def _row_decoder(self, originator_id: UUID) -> Callable[[int, str, bytes], Any]:
        """decode() for the stream's (version, topic, state) rows."""
        return lambda version, topic, state: self.decode(StoredEvent(originator_id, version, topic, state))

    def forget(self, originator_id: UUID) -> None:
        """Drop the profile from the library's aggregate cache (the next read replays it)."""
        cache = self.app.repository.cache
        if cache is not None:
            with contextlib.suppress(KeyError):
                cache.get(originator_id, evict=True)

    def _load_after_reset(self, originator_id: UUID, version: int | None, error: Exception
                          ) -> ProfileAggregate:
        reset = self.query("last_reset", originator_id, version)
        if reset is None:
            raise self._corrupt(originator_id, f"events cannot be replayed: {error}")
        try:
            events: list[Any] = list(self.app.events.get(originator_id, gt=reset - 1, lte=version))
            start = ProfileAggregate.blank(originator_id)
            start.position_after(reset - 1, events[0].timestamp)
            profile = ProfileAggregate.replay(events, start)
        except PersistenceError as failure:
            raise DatabaseFailure(f"read failed: {failure}") from None
        except Exception as again:
            raise self._corrupt(originator_id, f"events after the last reset cannot be replayed:"
                                               f" {again}") from None
        assert profile is not None
        return profile

    def after_corrupt(self, originator_id: UUID, store: str, key: str, corrupt: CorruptStream
                      ) -> ProfileAggregate:
        """A blank profile standing after a stream that cannot be replayed, to append to."""
        profile = ProfileAggregate.blank(originator_id, store, key)
        profile.position_after(corrupt.last_version, from_us(corrupt.last_us or 0))
        return profile

    def _corrupt(self, originator_id: UUID, message: str) -> CorruptStream:
        last_version, last_us = self.query("stream_end", originator_id)
        return CorruptStream(message, last_version, last_us)

    def stored_events(self, originator_id: UUID) -> list[StoredEvent]:
        """The profile's stored rows, undecoded, oldest first."""
        try:
            return list(self.app.recorder.select_events(originator_id))
        except PersistenceError as error:
            raise DatabaseFailure(f"read failed: {error}") from None

    def decode(self, stored: StoredEvent) -> Any:
        """A stored row as its event (raises on an undecodable row)."""
        return self.app.mapper.to_domain_event(stored)

    def events(self, originator_id: UUID) -> list[Any]:
        """The profile's events, oldest first."""
        return [self.decode(row) for row in self.stored_events(originator_id)]

    def append(self, *profiles: ProfileAggregate) -> None:
        """Store the pending events of the aggregates in one transaction; Conflict if beaten."""
        before = {p.id: p.version - len(p.pending_events) for p in profiles}
        weights = patch_weights(event for p in profiles for event in p.pending_events)
        try:
            self.app.save(*profiles)
        except Conflict:
            raise
        except PersistenceError as error:
            raise DatabaseFailure(f"write failed: {error}") from None
        self._snapshots.note(before, profiles, weights)

    def append_decided(self, members: Sequence[tuple[ProfileAggregate, Callable[[ProfileAggregate], None]]]
                       ) -> list[ProfileAggregate | SessionLostError]:
        """Decide and store several aggregates in one transaction that takes the write lock
        before reading: each replica is first brought up to date with what others appended
        since (read in that transaction), then decided, so nothing can conflict however hot its
        stream. A decision that raises SessionLostError leaves its member out; the list holds,
        per member, its stored aggregate or that error."""
        outcomes: list[ProfileAggregate | SessionLostError] = []
        before: dict[UUID, int] = {}
        weights: dict[UUID, int] = {}
        deferred: list[ProfileAggregate] = []

        def prepare(after: EventsAfter) -> tuple[Sequence[StoredEvent], dict[str, Any]]:
            outcomes.clear()
            decided = []
            newer = after([(replica.id, replica.version) for replica, _ in members])
            for replica, decide in members:
                if replica.id in newer:
                    fold_stored(newer[replica.id], replica, self._row_decoder(replica.id))
                before[replica.id] = replica.version
                try:
                    decide(replica)
                except SessionLostError as lost:
                    outcomes.append(lost)
                    continue
                outcomes.append(replica)
                decided.append(replica)
            processing = ProfileProcessingEvent()
            processing.collect_events(*decided)
            rows, deferred[:] = side_rows(processing, to_us(clock.now()))
            weights.clear()
            weights.update(patch_weights(processing.events))
            return [self.app.mapper.to_stored_event(e) for e in processing.events], rows

        try:
            self.recorder.insert_decided(prepare)
        except PersistenceError as error:
            raise DatabaseFailure(f"write failed: {error}") from None
        self.read_models.queue(deferred)
        self._snapshots.note(before, [o for o in outcomes if isinstance(o, ProfileAggregate)], weights)
        return outcomes

    def take_due_snapshots(self) -> None:
        """Take the snapshots that came due (application/snapshots.py), after the commits, never
        inside a save; a failure is logged and the snapshot tried again next time."""
        for originator_id, version in self._snapshots.due():
            try:
                profile = self.load(originator_id, "", "", version=version)
                if profile.live and profile.version == version:
                    stored = self.app.mapper.to_stored_event(ProfileAggregate.Snapshot.take(profile))
                    self.recorder.insert_snapshot(stored, REDACTED_TOPIC)
            except (DatabaseFailure, PersistenceError) as error:
                log.warning("snapshot of %s at version %s failed: %s", originator_id, version, error)
                continue
            self._snapshots.taken(originator_id, version)

    def tidy(self) -> None:
        """The store's upkeep off the writers' path (SQLite: a WAL checkpoint now and then);
        a failure is logged and tried again next time."""
        if self._app is not None:
            try:
                self.recorder.tidy()
            except PersistenceError as error:
                log.warning("database upkeep failed: %s", error)

    def erase(self, profile: ProfileAggregate) -> None:
        """Store the pending tombstone and redact every earlier event of the profile."""
        (tombstone,) = profile.collect_events()
        stored = self.app.mapper.to_stored_event(tombstone)
        redacted = ProfileAggregate.Redacted(  # type: ignore[call-arg]
            originator_id=profile.id, originator_version=1, timestamp=tombstone.timestamp,
            session=None)
        redacted_state = self.app.mapper.to_stored_event(redacted).state
        row = (profile.id.hex, tombstone.originator_version, to_us(tombstone.timestamp), "Removed")
        try:
            self.recorder.erase(profile.id, stored, REDACTED_TOPIC, redacted_state, row,
                                profile.store_name, profile.key)
            self.read_models.discard(profile.id)  # its row is gone and must stay gone
        except Conflict:
            raise
        except PersistenceError as error:
            raise DatabaseFailure(f"erase failed: {error}") from None
        finally:  # after the commit too: a read meanwhile may have cached the old life
            self.forget(profile.id)

    def query(self, method: str, *args: Any) -> Any:
        """Call a read-only recorder method; failures become DatabaseFailure."""
        try:
            return getattr(self.recorder, method)(*args)
        except PersistenceError as error:
            raise DatabaseFailure(f"read failed: {error}") from None

    def rebuild_read_models(self) -> int:
        """Rebuild `profiles` and `profile_user_ids` from the events; returns the live count."""
        def row_of(stream: list[StoredEvent]) -> ProfileRow:
            events = []
            for stored in stream:
                try:
                    events.append(self.decode(stored))
                except Exception:  # an undecodable row is left out, as replay does
                    log.warning("rebuild: undecodable event %s v%s", stored.originator_id,
                                stored.originator_version)
            first = UUID(str(stream[0].originator_id))
            profile = ProfileAggregate.replay(events, ProfileAggregate.blank(first))
            assert profile is not None
            return profile_row(profile)

        try:
            return self.recorder.rebuild_read_models(row_of)
        except PersistenceError as error:
            raise DatabaseFailure(f"rebuild failed: {error}") from None

    def close(self) -> None:
        """Close the connections."""
        if self._app is not None:
            self._app.close()
