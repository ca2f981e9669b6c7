"""What the application needs of a recorder beyond the `eventsourcing` library's interface: the
port the SQLite and PostgreSQL recorders (infrastructure/) fill, chosen by topic at run time."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol
from uuid import UUID

from eventsourcing.persistence import Notification, StoredEvent

from .side_rows import ProfileRow


class ProfileRecorderPort(Protocol):
    """What the application needs of a recorder beyond the library's interface."""

    def erase(self, originator_id: UUID, tombstone: StoredEvent, redacted_topic: str,
              redacted_state: bytes, timestamp: tuple[str, int, int, str], store: str, key: str
              ) -> None: ...

    def insert_snapshot(self, snapshot: StoredEvent, redacted_topic: str) -> None: ...

    def version_at(self, originator_id: UUID, at_ms: int) -> int | None: ...

    def saved_versions(self, originator_id: UUID, kinds: Sequence[str], low_ms: int | None,
                       high_ms: int | None) -> list[int]: ...

    def select_history(self, originator_id: UUID) -> list[tuple[StoredEvent, int | None]]: ...

    def last_reset(self, originator_id: UUID, version: int | None) -> int | None: ...

    def stream_end(self, originator_id: UUID) -> tuple[int, int | None]: ...

    def select_keys(self, store: str) -> list[str]: ...

    def find_user(self, user_id: int) -> list[tuple[str, str]]: ...

    def rebuild_read_models(self, row_of: Callable[[list[StoredEvent]], ProfileRow]) -> int: ...

    def watch(self, on_change: Callable[[], None]) -> Callable[[], None] | None: ...

    def tidy(self) -> None: ...

    def max_notification_id(self) -> int | None: ...

    def select_notifications(self, start: int | None, limit: int, stop: int | None = None,
                             topics: Sequence[str] = (), *, inclusive_of_start: bool = True
                             ) -> Sequence[Notification]: ...

    def select_rows(self, originator_id: UUID, *, gt: int | None = None, lte: int | None = None
                    ) -> list[StoredRow]: ...

    def insert_decided(self, prepare: Decide) -> None: ...

    def write_deferred(self, rows: Sequence[dict[str, Any]], done: Sequence[tuple[str, int]]) -> None: ...

    def pending_markers(self, queued_before_us: int) -> list[tuple[str, str, str, int]]: ...


StoredRow = tuple[int, str, bytes]  # (version, topic, state) of one stored event of a stream
# the newer stored rows of the (stream, version) pairs given, for the streams that have any
EventsAfter = Callable[[Sequence[tuple[UUID, int]]], dict[UUID, list[StoredRow]]]
# insert_decided's callback: given EventsAfter, the events to insert and their side rows (keyword
# arguments of the recorder's insert)
Decide = Callable[[EventsAfter], tuple[Sequence[StoredEvent], dict[str, Any]]]
