"""ProfileStore: a named set of profiles with one template, live or mock."""

from __future__ import annotations

import copy
import logging
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID

from profilestore.domain.errors import ProfileStoreError, StoreClosedError
from profilestore.domain.profile import MessageQueueFull, ProfileAggregate, profile_id
from profilestore.domain.timeutil import time_bound_ms
from profilestore.domain.validation import check_key, check_template, encode_json

from . import clock
from .event_log import EventLog
from .failures import CorruptStream, DatabaseFailure
from .handle import Profile
from .values import HistoryEntry, SortDirection
from .versions import VersionQuery, history_entries, state_at_ms

if TYPE_CHECKING:
    from .engine import Engine

log = logging.getLogger("profilestore")
T = TypeVar("T")
_FAILED: Any = object()


class ProfileStore:
    """Profiles of one name on one engine: sessions, reads, removal and history."""

    def __init__(self, name: str, template: dict[str, Any] | None = None, *,
                 engine: Engine | None = None) -> None:
        if engine is None:
            from .default import default_engine
            engine = default_engine()
        self.engine = engine
        self.name = check_key(name, "store name", engine.settings.max_key_length)
        self._template = check_template({} if template is None else template)
        self._is_mock = False
        self._mock: ProfileStore | None = None
        self._mock_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<ProfileStore {self.name!r}{' (mock)' if self._is_mock else ''}>"

    @property
    def template(self) -> dict[str, Any]:
        """The data a new profile starts from."""
        return self._template

    @property
    def mock(self) -> ProfileStore:
        """The same store in the engine's private in-memory event store."""
        if self._is_mock:
            return self
        with self._mock_lock:
            if self._mock is None:
                mock = copy.copy(self)
                mock._is_mock, mock._mock, mock._mock_lock = True, None, threading.Lock()
                self._mock = mock
        return self._mock

    def _token(self, key: str) -> tuple[bool, str, str]:
        return self._is_mock, self.name, key

    def _key(self, key: object) -> str:
        return check_key(key, "profile key", self.engine.settings.max_key_length)

    # ---- sessions ------------------------------------------------------------------------

    def start_session(self, key: str, *, steal: bool = False,
                      cancel: Callable[[], bool] | None = None) -> Profile | None:
        """Claim the profile's session; blocks until claimed or given up (None)."""
        key = self._key(key)
        if cancel is not None and not callable(cancel):
            raise TypeError(f"cancel must be callable, not {type(cancel).__name__}")
        engine = self.engine
        if engine.is_closing:
            return None
        if threading.current_thread() is engine._thread:
            raise ProfileStoreError("start_session() on the engine thread would deadlock")
        if engine._active(self._token(key)) is not None:
            raise ProfileStoreError(f"profile {self.name!r}/{key!r} is already active on this engine")
        return engine._claimer.start(self, key, bool(steal), cancel)

    # ---- reads ---------------------------------------------------------------------------

    def get(self, key: str, version: int | str | None = None, *, at: Any = None) -> Profile | None:
        """A read-only profile: the latest state, a saved version, or the state as of `at`."""
        key = self._key(key)
        if version is not None and at is not None:
            raise ValueError("give version or at, not both")
        wanted = _parse_version(version)
        at_ms = None if at is None else time_bound_ms(at, "at")
        if self.engine.is_closing:
            return None
        event_log, pid = self.engine._log(self._is_mock), profile_id(self.name, key)

        def read() -> ProfileAggregate | None:
            try:
                if at_ms is not None:
                    return state_at_ms(event_log, self.name, key, at_ms)
                replica = event_log.load(pid, self.name, key, version=wanted)
            except CorruptStream as corrupt:
                return self._template_view(event_log, pid, key, corrupt) if wanted is None else None
            if wanted is not None and replica.saved_version != wanted:
                return None
            return replica

        replica = self._retrying(key, read)
        if replica is _FAILED or replica is None or not replica.live:
            return None
        return self._read_only(replica)

    def _read_only(self, replica: ProfileAggregate) -> Profile:
        return Profile(self, replica, session=replica.session, read_only=True)

    def version_query(self, key: str, sort_direction: SortDirection | str = SortDirection.ASCENDING,
                      min_date: Any = None, max_date: Any = None) -> VersionQuery:
        """One read-only profile per saved version in [min_date, max_date], oldest first by default."""
        key = self._key(key)
        direction = SortDirection(sort_direction)
        low = None if min_date is None else time_bound_ms(min_date, "min_date")
        high = None if max_date is None else time_bound_ms(max_date, "max_date")
        return VersionQuery(self, key, direction, low, high)

    def history(self, key: str, *, since: Any = None, until: Any = None) -> list[HistoryEntry]:
        """The profile's events, oldest first, between `since` and `until` (inclusive)."""
        key = self._key(key)
        low = None if since is None else time_bound_ms(since, "since")
        high = None if until is None else time_bound_ms(until, "until")
        self._check_open()
        event_log, pid = self.engine._log(self._is_mock), profile_id(self.name, key)
        entries = self._retrying(key, lambda: history_entries(
            event_log.query("select_history", pid), event_log.decode, low, high))
        if entries is _FAILED:
            raise StoreClosedError("the database did not answer; see on_error")
        return list(entries)

    def keys(self) -> Iterator[str]:
        """Keys with live profiles, ascending."""
        self._check_open()
        event_log = self.engine._log(self._is_mock)
        keys = self._retrying("", lambda: event_log.query("select_keys", self.name))
        if keys is _FAILED:
            raise StoreClosedError("the database did not answer; see on_error")
        return iter(keys)

    # ---- writes without a session ----------------------------------------------------------

    def message(self, key: str, message: dict[str, Any]) -> bool:
        """Send a message to the profile, held or not; True once committed. False (and on_error)
        when the profile already holds max_message_queue messages."""
        key = self._key(key)
        engine = self.engine
        encode_json(message, "message", engine.settings.max_data_bytes)
        if engine.is_closing:
            return False
        event_log, pid = engine._log(self._is_mock), profile_id(self.name, key)

        def queue(replica: ProfileAggregate) -> bool:
            if not replica.live:
                replica.create(self._template, None, clock.now())
            try:
                replica.queue_message(message, engine.settings.max_message_queue, clock.now())
            except MessageQueueFull as full:
                engine._health.report(str(full), self.name, key)
                return False
            return True

        def send() -> bool:
            with engine._key_lock(self._token(key)), engine._in_flight():
                return event_log.decide(lambda: self._load_or_reset(event_log, pid, key), queue)[1]

        sent = self._retrying(key, send)
        if sent is _FAILED:
            return False
        held = engine._active(self._token(key))
        if sent and held is not None:
            engine._inbox_add(held)  # delivered by this engine's next run_pending
        return bool(sent)

    def remove(self, key: str) -> bool:
        """Erase the profile: a tombstone, every earlier event redacted, the session ended."""
        key = self._key(key)
        if self.engine.is_closing:
            return False
        engine, pid = self.engine, profile_id(self.name, key)
        event_log = engine._log(self._is_mock)

        unreadable: list[ProfileAggregate] = []

        def load() -> ProfileAggregate:
            try:
                return event_log.load(pid, self.name, key)
            except CorruptStream as corrupt:
                unreadable.append(event_log.after_corrupt(pid, self.name, key, corrupt))
                return unreadable[-1]

        def tombstone(replica: ProfileAggregate) -> bool:
            if replica.live or replica in unreadable:  # erasure reaches unreadable rows too
                replica.remove(clock.now())
            return True

        def erase() -> bool:
            engine._saver.retry_due(force=True, token=self._token(key))
            with engine._key_lock(self._token(key)), engine._in_flight():
                return event_log.decide(load, tombstone, event_log.erase)[1]

        result = self._retrying(key, erase)
        if result is _FAILED:
            return False
        active = engine._active(self._token(key))
        if active is not None:
            engine._saver.lose(active, "the profile was removed")
        return True

    # ---- corrupt events -------------------------------------------------------------------------

    def _load_or_reset(self, event_log: EventLog, pid: UUID, key: str) -> ProfileAggregate:
        """The profile to write to; if its events cannot be replayed, fire on_overwrite and
        restart it from the template with a pending Reset (the corrupt rows stay untouched)."""
        try:
            return event_log.load(pid, self.name, key)
        except CorruptStream as corrupt:
            log.warning("profile %r/%r cannot be replayed (%s): resetting it", self.name, key, corrupt)
            self.engine.on_overwrite.fire(self.name, key)
            replica = event_log.after_corrupt(pid, self.name, key, corrupt)
            replica.reset(self._template, clock.now())
            return replica

    def _template_view(self, event_log: EventLog, pid: UUID, key: str, corrupt: CorruptStream
                       ) -> ProfileAggregate:
        """What get() shows of a profile that cannot be replayed: the template, nothing written."""
        replica = event_log.after_corrupt(pid, self.name, key, corrupt)
        replica.reset(self._template, clock.now())
        replica.collect_events()  # never stored
        return replica

    # ---- helpers ----------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self.engine._closed:
            raise StoreClosedError("the engine is closed")

    def _retrying(self, key: str, attempt: Callable[[], T]) -> T:
        """Retry database failures with backoff up to start_session_timeout; _FAILED after."""
        engine = self.engine
        started, backoff = clock.seconds(), 1.0
        while True:
            try:
                result = attempt()
            except DatabaseFailure as error:
                engine._health.report(str(error), self.name, key)
                if engine.is_closing or clock.seconds() - started >= engine.settings.start_session_timeout:
                    return _FAILED  # type: ignore[no-any-return]
                clock.sleep_until(clock.seconds() + backoff, lambda: engine.is_closing)
                backoff = min(backoff * 2, 20.0)
                continue
            engine._health.answered()
            return result


def _parse_version(version: int | str | None) -> int | None:
    if version is None:
        return None
    if isinstance(version, bool):
        raise ValueError("version must be an int or its decimal string, not bool")
    if isinstance(version, int):
        return version
    if isinstance(version, str) and version.strip().isdigit():
        return int(version)
    raise ValueError(f"version must be an int or its decimal string, got {version!r}")
