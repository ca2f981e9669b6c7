"""The engine's event store: the library's Application with our mapper, recorder and side rows."""

from __future__ import annotations

import threading
from typing import Any, Protocol, cast
from uuid import UUID

import orjson
from eventsourcing.application import Application, ProcessingEvent
from eventsourcing.persistence import IntegrityError, PersistenceError, StoredEvent
from eventsourcing.utils import get_topic

from profilestore.domain.profile import ProfileAggregate
from profilestore.domain.timeutil import to_ms, to_us

Conflict = IntegrityError  # another writer appended at our version first


class DatabaseFailure(Exception):
    """A database attempt failed (locked, unreachable, I/O): worth reporting and retrying."""


class ProfileRecorderPort(Protocol):
    """What the application needs of a recorder beyond the library's interface."""

    def erase(self, originator_id: UUID, tombstone: StoredEvent, redacted_topic: str,
              redacted_state: bytes, timestamp: tuple[str, int, int], store: str, key: str
              ) -> None: ...

    def select_keys(self, store: str) -> list[str]: ...

    def find_user(self, user_id: int) -> list[tuple[str, str]]: ...


def profile_row(profile: ProfileAggregate) -> tuple[str, str, dict[str, Any] | None]:
    """The `profiles` read-model row of an aggregate (None: no live profile)."""
    if not profile.live or profile.created_at is None or profile.saved_at is None:
        return profile.store_name, profile.key, None
    return profile.store_name, profile.key, {
        "store": profile.store_name, "key": profile.key, "originator_id": profile.id.hex,
        "version": profile.saved_version, "created_time": to_ms(profile.created_at),
        "updated_time": to_ms(profile.saved_at), "data": orjson.dumps(profile.data).decode(),
        "metadata": orjson.dumps(profile.metadata).decode(),
        "user_ids": orjson.dumps(profile.user_ids).decode(),
        "session": None if profile.session is None else orjson.dumps(profile.session).decode(),
        "user_id_list": list(profile.user_ids),
    }


class ProfileEvents(Application[UUID]):
    """One engine's event store; each save also writes the time index and read-model rows."""

    name = "profilestore"

    def _record(self, processing_event: ProcessingEvent[UUID]) -> Any:
        processing_event.saved_kwargs["timestamps"] = [
            (e.originator_id.hex, e.originator_version, to_us(cast(Any, e).timestamp))
            for e in processing_event.events
        ]
        processing_event.saved_kwargs["profile_rows"] = [
            profile_row(cast(ProfileAggregate, a)) for a in processing_event.aggregates.values()
        ]
        return super()._record(processing_event)


class EventLog:
    """Loads and appends profile aggregates; library failures become DatabaseFailure."""

    def __init__(self, env: dict[str, str]) -> None:
        self._env = env
        self._app: ProfileEvents | None = None
        self._lock = threading.Lock()

    @property
    def app(self) -> ProfileEvents:
        """The library application, connected on first use."""
        if self._app is None:
            with self._lock:
                if self._app is None:
                    try:
                        self._app = ProfileEvents(env=self._env)
                    except (PersistenceError, OSError) as error:
                        raise DatabaseFailure(f"cannot open the database: {error}") from None
        return self._app

    @property
    def recorder(self) -> ProfileRecorderPort:
        """The recorder, with our side-table operations."""
        return cast(ProfileRecorderPort, self.app.recorder)

    def load(self, originator_id: UUID, store: str, key: str, version: int | None = None
             ) -> ProfileAggregate:
        """The aggregate as of `version` (default: latest); version 0 if the key has no events."""
        blank = ProfileAggregate.blank(originator_id, store, key)
        try:
            events: list[Any] = list(self.app.events.get(originator_id, lte=version))
        except PersistenceError as error:
            raise DatabaseFailure(f"read failed: {error}") from None
        profile = ProfileAggregate.replay(events, blank)
        assert profile is not None
        return profile

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
        try:
            self.app.save(*profiles)
        except Conflict:
            raise
        except PersistenceError as error:
            raise DatabaseFailure(f"write failed: {error}") from None

    def erase(self, profile: ProfileAggregate) -> None:
        """Store the pending tombstone and redact every earlier event of the profile."""
        (tombstone,) = profile.collect_events()
        stored = self.app.mapper.to_stored_event(tombstone)
        redacted = ProfileAggregate.Redacted(  # type: ignore[call-arg]
            originator_id=profile.id, originator_version=1, timestamp=tombstone.timestamp,
            session=None)
        redacted_state = self.app.mapper.to_stored_event(redacted).state
        row = (profile.id.hex, tombstone.originator_version, to_us(tombstone.timestamp))
        try:
            self.recorder.erase(profile.id, stored, get_topic(ProfileAggregate.Redacted),
                                redacted_state, row, profile.store_name, profile.key)
        except Conflict:
            raise
        except PersistenceError as error:
            raise DatabaseFailure(f"erase failed: {error}") from None

    def query(self, method: str, *args: Any) -> Any:
        """Call a read-only recorder method; failures become DatabaseFailure."""
        try:
            return getattr(self.recorder, method)(*args)
        except PersistenceError as error:
            raise DatabaseFailure(f"read failed: {error}") from None

    def close(self) -> None:
        """Close the connections."""
        if self._app is not None:
            self._app.close()
