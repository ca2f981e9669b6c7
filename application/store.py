"""ProfileStore: a named set of profiles with one template, live or mock."""

from __future__ import annotations

import copy
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel

from profilestore.domain.errors import ProfileStoreError, StoreClosedError
from profilestore.domain.migrations import Migration
from profilestore.domain.profile import MessageQueueFull, ProfileAggregate, profile_id
from profilestore.domain.shape import StoreShape
from profilestore.domain.timeutil import time_bound_ms
from profilestore.domain.validation import check_key, encode_json

from . import clock
from .failures import CorruptStream
from .handle import Profile
from .profile_core import ProfileCore, Token
from .values import HistoryEntry, SortDirection
from .versions import SAVED_KINDS, VersionQuery, history_entries, state_at_ms
from .writes import FAILED

if TYPE_CHECKING:
    from .engine import Engine
    from .parts import Parts

log = logging.getLogger("profilestore")
T = TypeVar("T")


class ProfileStore:
    """Profiles of one name on one engine: sessions, reads, removal and history."""

    def __init__(self, name: str, template: dict[str, Any] | type[BaseModel] | None = None, *,
                 engine: Engine | None = None,
                 migrations: Sequence[Callable[[dict[str, Any]], dict[str, Any]] | Migration] = ()
                 ) -> None:
        if engine is None:
            from .default import default_engine
            engine = default_engine()
        self.engine = engine
        self.name = check_key(name, "store name", engine.settings.max_key_length)
        self._shape = StoreShape(template, migrations)
        self._is_mock = False
        self._views: dict[str, ProfileStore] = {}  # the mock and raw views, made on first use
        self._views_lock = threading.Lock()

    def __repr__(self) -> str:
        kind = " (mock)" if self._is_mock else ""
        return f"<ProfileStore {self.name!r}{kind}{' (raw)' if self._shape.raw else ''}>"

    @property
    def template(self) -> Any:
        """The data a new profile starts from: a dict, or the model class of a typed store."""
        return self._shape.template

    @property
    def migrations(self) -> tuple[Migration, ...]:
        """The store's migrations, in order; its schema is how many there are."""
        return self._shape.migrations

    @property
    def schema(self) -> int:
        """The schema this store writes: the number of its migrations."""
        return self._shape.schema

    @property
    def mock(self) -> ProfileStore:
        """The same store in the engine's private in-memory event store."""
        if self._is_mock:
            return self
        return self._view("mock", lambda view: setattr(view, "_is_mock", True))

    @property
    def raw(self) -> ProfileStore:
        """The same store with no model and no migrations: plain dict data exactly as stored,
        for reading and repairing data that no longer validates."""
        if self._shape.raw:
            return self
        return self._view("raw", lambda view: setattr(view, "_shape", self._shape.as_raw()))

    def _view(self, kind: str, change: Callable[[ProfileStore], None]) -> ProfileStore:
        with self._views_lock:
            if kind not in self._views:
                view = copy.copy(self)
                view._views, view._views_lock = {}, threading.Lock()
                change(view)
                self._views[kind] = view
            return self._views[kind]

    @property
    def _parts(self) -> Parts:
        return self.engine.parts

    def _token(self, key: object) -> Token:
        """The checked key as the engine's token for it."""
        return Token(self._is_mock, self.name,
                     check_key(key, "profile key", self.engine.settings.max_key_length))

    def _profile(self, replica: ProfileAggregate, token: Token, read_only: bool, value: Any
                 ) -> Profile:
        """A profile of `replica`, whose data game code sees as `value` (shape.admit's)."""
        session = replica.session if read_only else self.engine.server.as_session()
        shape = self._shape
        core = ProfileCore(replica, token, session=session, read_only=read_only, owner=self.engine,
                           data=value, codec=shape.codec, schema=shape.schema_of(replica),
                           bridge=self._parts.bridge)
        core.newer_schema = replica.schema > shape.schema
        return Profile(self, core)

    def _readable(self, replica: ProfileAggregate, token: Token) -> Profile | None:
        """A read-only profile of `replica` as this store may read it (migrated, validated),
        or None, logged, when it may not: nothing is written."""
        try:
            admitted = self._shape.admit(replica)
        except ProfileStoreError as why:  # DataError included
            log.warning("%r/%r version %s cannot be read here: %s", self.name, token.key,
                        replica.saved_version, why)
            return None
        return self._profile(replica, token, True, admitted.value)

    # ---- sessions ------------------------------------------------------------------------

    def start_session(self, key: str, *, steal: bool = False,
                      cancel: Callable[[], bool] | None = None) -> Profile | None:
        """Claim the profile's session; blocks until claimed or given up (None)."""
        token = self._token(key)
        if cancel is not None and not callable(cancel):
            raise TypeError(f"cancel must be callable, not {type(cancel).__name__}")
        engine = self.engine
        if engine.is_closing:
            return None
        if self._parts.lifecycle.on_engine_thread():
            raise ProfileStoreError("start_session() on the engine thread would deadlock")
        if self._parts.sessions.active(token) is not None:
            raise ProfileStoreError(f"profile {self.name!r}/{token.key!r} is already active on this engine")
        return self._parts.claimer.start(
            token, self._shape, lambda replica, value: self._profile(replica, token, False, value),
            bool(steal), cancel)

    # ---- reads ---------------------------------------------------------------------------

    def get(self, key: str, version: int | str | None = None, *, at: Any = None) -> Profile | None:
        """A read-only profile: the latest state, a saved version, or the state as of `at`."""
        token = self._token(key)
        if version is not None and at is not None:
            raise ValueError("give version or at, not both")
        wanted = _parse_version(version)
        at_ms = None if at is None else time_bound_ms(at, "at")
        if self.engine.is_closing:
            return None
        writes = self._parts.writes

        def read() -> ProfileAggregate | None:
            try:
                if at_ms is not None:
                    return state_at_ms(writes.log_of(token), self.name, token.key, at_ms)
                replica = writes.load(token, version=wanted)
            except CorruptStream as corrupt:
                return self._template_view(token, corrupt) if wanted is None else None
            if wanted is not None and replica.saved_version != wanted:
                return None
            return replica

        replica = writes.retrying(token, read)
        if replica is FAILED or replica is None or not replica.live:
            return None
        return self._readable(replica, token)

    def version_query(self, key: str, sort_direction: SortDirection | str = SortDirection.ASCENDING,
                      min_date: Any = None, max_date: Any = None) -> VersionQuery[Profile]:
        """One read-only profile per saved version in [min_date, max_date], oldest first by default."""
        token = self._token(key)
        direction = SortDirection(sort_direction)
        low = None if min_date is None else time_bound_ms(min_date, "min_date")
        high = None if max_date is None else time_bound_ms(max_date, "max_date")
        writes, pid = self._parts.writes, profile_id(self.name, token.key)

        def versions() -> list[int]:
            if low is not None and high is not None and low > high:
                return []
            found = writes.retrying(token, lambda: writes.log_of(token).query(
                "saved_versions", pid, SAVED_KINDS, low, high))
            if not isinstance(found, list):
                return []
            return found[::-1] if direction is SortDirection.DESCENDING else found

        def read(version: int) -> Profile | None:
            def attempt() -> ProfileAggregate | None:
                try:
                    replica = writes.load(token, version=version)
                except CorruptStream:
                    return None  # a version that cannot be replayed is left out; nothing is written
                return replica if replica.live and replica.saved_version == version else None

            replica = writes.retrying(token, attempt)
            if not isinstance(replica, ProfileAggregate):
                return None
            return self._readable(replica, token)

        return VersionQuery(versions, read, lambda: self.engine.is_closing)

    def history(self, key: str, *, since: Any = None, until: Any = None) -> list[HistoryEntry]:
        """The profile's events, oldest first, between `since` and `until` (inclusive)."""
        token = self._token(key)
        low = None if since is None else time_bound_ms(since, "since")
        high = None if until is None else time_bound_ms(until, "until")
        self._check_open()
        event_log, pid = self._parts.writes.log_of(token), profile_id(self.name, token.key)
        entries = self._answered(token, lambda: history_entries(
            event_log.query("select_history", pid), event_log.decode, low, high))
        return list(entries)

    def keys(self) -> Iterator[str]:
        """Keys with live profiles, ascending."""
        self._check_open()
        token = Token(self._is_mock, self.name, "")
        event_log = self._parts.writes.log_of(token)
        return iter(self._answered(token, lambda: event_log.query("select_keys", self.name)))

    # ---- writes without a session ----------------------------------------------------------

    def message(self, key: str, message: dict[str, Any]) -> bool:
        """Send a message to the profile, held or not; True once committed. False (and on_error)
        when the profile already holds max_message_queue messages."""
        token = self._token(key)
        engine, parts = self.engine, self._parts
        encode_json(message, "message", engine.settings.max_data_bytes)
        if engine.is_closing:
            return False
        writes = parts.writes

        def queue(replica: ProfileAggregate) -> bool:
            if not replica.live:
                replica.create(self._shape.template_data, None, clock.now(), *self._shape.new_schema)
            try:
                replica.queue_message(message, engine.settings.max_message_queue, clock.now())
            except MessageQueueFull as full:
                writes.health.report(str(full), self.name, token.key)
                return False
            return True

        sent = writes.retrying(token, lambda: writes.decide(
            token, lambda: writes.load_or_reset(token, self._shape), queue)[1])
        if sent is FAILED:
            return False
        held = parts.sessions.active(token)
        if sent and held is not None:
            parts.sessions.sent_to(held)  # delivered by this engine's next run_pending
        return bool(sent)

    def remove(self, key: str) -> bool:
        """Erase the profile: a tombstone, every earlier event redacted, the session ended."""
        return self._parts.remover.remove(self._token(key))

    # ---- helpers ----------------------------------------------------------------------------

    def _template_view(self, token: Token, corrupt: CorruptStream) -> ProfileAggregate:
        """What get() shows of a profile that cannot be replayed: the template, nothing written."""
        replica = self._parts.writes.after_corrupt(token, corrupt)
        replica.reset(self._shape.template_data, clock.now(), *self._shape.new_schema)
        replica.collect_events()  # never stored
        return replica

    def _check_open(self) -> None:
        self._parts.lifecycle.check_open()

    def _answered(self, token: Token, attempt: Callable[[], T]) -> T:
        """`attempt`, retried on database failures; StoreClosedError if it never answered."""
        result = self._parts.writes.retrying(token, attempt)
        if result is FAILED:
            raise StoreClosedError("the database did not answer; see on_error")
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
