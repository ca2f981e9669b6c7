"""The profile aggregate: one profile's stream of facts, and the session rules that decide them."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any
from uuid import UUID, uuid5

import orjson
from eventsourcing.domain import Aggregate
from eventsourcing.domain import Snapshot as LibrarySnapshot
from eventsourcing.utils import get_topic

from .copying import deepcopy_sharing_immutables, json_copy
from .diff import make_patch, patched
from .errors import ProfileStoreError, SessionLostError
from .timeutil import from_us, to_us

Session = dict[str, str]
JsonDict = dict[str, Any]

_NAMESPACE = UUID("5f2b6c1e-3c1d-4d0e-9a57-0c6f3b8e2a11")
SAVED_VERSION_TYPES = frozenset({"ProfileCreated", "Saved", "Overwritten", "Reset", "Migrated"})


class MessageQueueFull(ProfileStoreError):
    """The profile holds max_message_queue messages that no committed save has removed."""


def profile_id(store_name: str, key: str) -> UUID:
    """The aggregate id of (store, key): injective because the pair is JSON-encoded first."""
    return uuid5(_NAMESPACE, json.dumps([store_name, key]))


def describe(session: Session | None) -> str:
    """A session for messages: place/job."""
    return "nobody" if session is None else f"{session['place_id']}/{session['job_id']}"


_JSON_STATE = frozenset({"metadata"})  # attributes that only ever hold checked JSON
_SHARED_STATE = frozenset({"data"})  # JSON that is replaced, never changed in place: shared


class ProfileAggregate(Aggregate):
    """A profile's saved data, its session owner and epoch, and the rules for changing them."""

    def __deepcopy__(self, memo: dict[int, Any]) -> ProfileAggregate:
        """The aggregate cache copies on every read: immutables and the data shared, other JSON
        values copied."""
        return deepcopy_sharing_immutables(self, memo, _JSON_STATE, _SHARED_STATE)

    class ProfileCreated(Aggregate.Event):
        """The key came to life with the store template."""

        store_name: str
        key: str
        data: JsonDict
        session: Session | None
        schema: int = 0  # the data's schema (events from before migrations existed: 0)
        readable_from: int = 0  # the lowest schema whose servers may read it

        def apply(self, profile: ProfileAggregate) -> None:
            profile._begin_life(self)

    class SessionStarted(Aggregate.Event):
        """A server claimed the session; the epoch grew by one."""

        session: Session
        session_load_count: int

        def apply(self, profile: ProfileAggregate) -> None:
            profile.session = self.session
            profile.session_load_count = self.session_load_count
            profile.requested_by = None
            profile.owner_active_at = self.timestamp

    class SessionRequested(Aggregate.Event):
        """A server asked the owner to save and release."""

        session: Session

        def apply(self, profile: ProfileAggregate) -> None:
            profile.requested_by = self.session
            profile.requested_at = self.timestamp

    class MessageQueued(Aggregate.Event):
        """A message was sent to the profile; it is held until a save records it processed."""

        session: Session | None
        message_id: int
        message: JsonDict

        def apply(self, profile: ProfileAggregate) -> None:
            profile.messages[self.message_id] = copy.deepcopy(self.message)
            profile.last_message_id = self.message_id

    class SessionEnded(Aggregate.Event):
        """The session ended: released by its owner, or taken, overwritten, or shut down."""

        session: Session | None
        reason: str
        ended_session: Session | None

        def apply(self, profile: ProfileAggregate) -> None:
            profile.session = None
            profile.owner_active_at = None

    class Saved(Aggregate.Event):
        """The owner stored a change: an RFC 6902 patch from the previous saved data."""

        session: Session
        patch: list[JsonDict]
        processed_messages: list[int]
        metadata: JsonDict | None
        user_ids: list[int] | None

        def apply(self, profile: ProfileAggregate) -> None:
            profile.apply_saved(self.patch, None if self.metadata is None else copy.deepcopy(self.metadata),
                                 None if self.user_ids is None else list(self.user_ids),
                                 self.processed_messages, self.originator_version)
            profile.saved_at = profile.owner_active_at = self.timestamp  # mutate() sets modified_on

    class Overwritten(Aggregate.Event):
        """A read-only profile's data was written as the newest saved version (a rollback)."""

        session: Session | None
        from_version: int
        data: JsonDict
        metadata: JsonDict
        user_ids: list[int]
        processed_messages: list[int]
        schema: int = 0
        readable_from: int = 0

        def apply(self, profile: ProfileAggregate) -> None:
            profile.data = json_copy(self.data)
            profile.schema, profile.readable_from = self.schema, self.readable_from
            profile.metadata = copy.deepcopy(self.metadata)
            profile.user_ids = list(self.user_ids)
            profile._drop_messages(self.processed_messages)
            profile._mark_saved(self)

    class Migrated(Aggregate.Event):
        """The data was migrated from one schema to a later one (every missing step at once),
        in the transaction of the claim that needed it: a saved version."""

        session: Session | None
        from_schema: int
        to_schema: int
        patch: list[JsonDict]
        readable_from: int

        def apply(self, profile: ProfileAggregate) -> None:
            if self.patch:
                profile.data = patched(profile.data, self.patch)
            profile.schema, profile.readable_from = self.to_schema, self.readable_from
            profile._mark_saved(self)

    class Reset(Aggregate.Event):
        """The stored events could not be replayed: the profile restarts from the template.

        Replay starts here; the corrupt rows before it stay untouched for forensics."""

        session: Session | None
        data: JsonDict
        schema: int = 0
        readable_from: int = 0

        def apply(self, profile: ProfileAggregate) -> None:
            profile._end_life()
            profile.live, profile.removed = True, False
            profile.data = json_copy(self.data)
            profile.schema, profile.readable_from = self.schema, self.readable_from
            profile.created_at = self.timestamp
            profile.life_version = self.originator_version
            profile._mark_saved(self)

    class Removed(Aggregate.Event):
        """The profile was erased; this data-free tombstone keeps the highest version."""

        store_name: str
        key: str
        session: Session | None

        def apply(self, profile: ProfileAggregate) -> None:
            profile._end_life()
            profile.store_name, profile.key = self.store_name, self.key
            profile.removed = True

    class Redacted(Aggregate.Event):
        """An event whose content was erased by a later removal."""

        session: Session | None

        def apply(self, profile: ProfileAggregate) -> None:
            pass

    class Snapshot(LibrarySnapshot):
        """The whole state at a version, as plain JSON (datetimes as epoch microseconds)."""

        @classmethod
        def take(cls, aggregate: Any) -> Any:
            return cls(originator_id=aggregate.id, originator_version=aggregate.version,
                       timestamp=aggregate.modified_on, topic=get_topic(type(aggregate)),
                       state=aggregate.snapshot_state())

        def mutate(self, _: Any) -> Any:
            return ProfileAggregate.from_snapshot(self.originator_id, self.originator_version,
                                                 self.timestamp, self.state)

    # ---- construction and replay -------------------------------------------------------------

    @classmethod
    def blank(cls, originator_id: UUID, store_name: str = "", key: str = "") -> ProfileAggregate:
        """An aggregate with no events yet (version 0), ready for its first event."""
        profile = cls.__new__(cls)
        profile.__base_init__(originator_id, 0, datetime.min)
        profile._end_life()
        profile.store_name, profile.key = store_name, key
        profile.removed = False
        profile.session_load_count = 0
        profile.life_version = 0
        return profile

    @classmethod
    def replay(cls, events: Iterable[Aggregate.Event], initial: ProfileAggregate | None = None
               ) -> ProfileAggregate | None:
        """Fold events into an aggregate (the repository's projector function)."""
        profile = initial
        for event in events:
            if profile is None and not isinstance(event, LibrarySnapshot):
                profile = cls.blank(event.originator_id)
            profile = event.mutate(profile)
        return profile

    _TIMES = ("created_at", "saved_at", "owner_active_at", "requested_at")
    _VALUES = ("store_name", "key", "live", "removed", "data", "metadata", "user_ids",
               "saved_version", "session", "requested_by", "session_load_count", "life_version",
               "last_message_id", "schema", "readable_from")
    _SINCE_MIGRATIONS = frozenset({"schema", "readable_from"})  # older snapshots lack them: 0

    def snapshot_state(self) -> JsonDict:
        """The state as JSON values, for a snapshot."""
        state = {name: getattr(self, name) if name in _SHARED_STATE else json_copy(getattr(self, name))
                 for name in self._VALUES}
        for name in self._TIMES:
            moment = getattr(self, name)
            state[name] = None if moment is None else to_us(moment)
        state["messages"] = [[message_id, copy.deepcopy(message)]
                             for message_id, message in self.messages.items()]
        return state

    @classmethod
    def from_snapshot(cls, originator_id: UUID, version: int, timestamp: datetime, state: JsonDict
                      ) -> ProfileAggregate:
        """The aggregate a snapshot describes."""
        profile = cls.blank(originator_id)
        for name in cls._VALUES:  # the data is never changed in place: it need not be copied
            if name in cls._SINCE_MIGRATIONS:
                setattr(profile, name, state.get(name, 0))
            else:
                setattr(profile, name, state[name] if name in _SHARED_STATE else json_copy(state[name]))
        for name in cls._TIMES:
            setattr(profile, name, None if state[name] is None else from_us(state[name]))
        profile.messages = {message_id: message for message_id, message in state["messages"]}
        profile._version = version
        profile._modified_on = timestamp
        return profile

    def _end_life(self) -> None:
        self.live = False
        self.data: JsonDict = {}
        self.metadata: JsonDict = {}
        self.user_ids: list[int] = []
        self.created_at: datetime | None = None
        self.saved_version = 0
        self.saved_at: datetime | None = None
        self.session: Session | None = None
        self.owner_active_at: datetime | None = None
        self.requested_by: Session | None = None
        self.requested_at: datetime | None = None
        self.messages: dict[int, JsonDict] = {}
        self.last_message_id = 0
        self.schema = 0
        self.readable_from = 0

    def _begin_life(self, event: ProfileAggregate.ProfileCreated) -> None:
        self._end_life()
        self.live, self.removed = True, False
        self.store_name, self.key = event.store_name, event.key
        self.data = json_copy(event.data)
        self.schema, self.readable_from = event.schema, event.readable_from
        self.created_at = event.timestamp
        self.session_load_count = 0
        self.life_version = event.originator_version
        self._mark_saved(event)

    def _drop_messages(self, message_ids: Iterable[int]) -> None:
        for message_id in message_ids:
            self.messages.pop(message_id, None)

    def _mark_saved(self, event: Aggregate.Event) -> None:
        self.saved_version = event.originator_version
        self.saved_at = event.timestamp

    def apply_saved(self, patch: list[JsonDict], metadata: JsonDict | None, user_ids: list[int] | None,
                    processed_messages: Iterable[int], version: int, *, copy_values: bool = True,
                    copied: set[int] | None = None) -> None:
        """What a Saved event does but set its times (metadata and user ids: private copies; the
        patch's values copied in unless `copy_values` is False, for a patch decoded for this).

        The data is never changed in place: the patch makes a new document that shares what it
        did not change, so copies of the aggregate (the cache's, a Profile's last saved data)
        share the data instead of copying it. `copied`: see diff.patched."""
        if patch:
            self.data = patched(self.data, patch, copy_values=copy_values, copied=copied)
        if metadata is not None:
            self.metadata = metadata
        if user_ids is not None:
            self.user_ids = user_ids
        self._drop_messages(processed_messages)
        self.saved_version = version

    def stamp_saved(self, timestamp: datetime) -> None:
        """A Saved event's times: saved, last heard from the owner, modified."""
        self.saved_at, self.owner_active_at, self._modified_on = timestamp, timestamp, timestamp

    def _stamp(self, now: datetime) -> datetime:
        """max(now, previous event's timestamp): a history never goes back in time."""
        return now if self.version == 0 or now > self.modified_on else self.modified_on

    def position_after(self, version: int, timestamp: datetime) -> None:
        """Stand at `version` (the stream's highest) without replaying it: for a Reset or a
        tombstone appended after events that cannot be replayed."""
        self._version, self._modified_on = version, timestamp

    # ---- questions the application asks -------------------------------------------------------

    def is_owned_by(self, session: Session, epoch: int | None = None) -> bool:
        """True if `session` holds the session (in epoch `epoch`, when given)."""
        return self.live and self.session == session and (
            epoch is None or epoch == self.session_load_count
        )

    def owner_is_dead(self, now: datetime, assume_dead: float) -> bool:
        """The owner wrote nothing under its session for longer than `assume_dead` seconds."""
        if self.session is None or self.owner_active_at is None:
            return False
        return (now - self.owner_active_at).total_seconds() > assume_dead

    # ---- commands: check, then record --------------------------------------------------------

    def create(self, template: JsonDict, session: Session | None, now: datetime, schema: int = 0,
               readable_from: int = 0) -> None:
        """Bring a key with no live events to life with the template (data at `schema`)."""
        if self.live:
            raise ProfileStoreError(f"profile {self.store_name!r}/{self.key!r} already exists")
        self.trigger_event(self.ProfileCreated, timestamp=self._stamp(now), store_name=self.store_name,
                           key=self.key, data=copy.deepcopy(template), session=session,
                           schema=schema, readable_from=readable_from)

    def migrate(self, data: JsonDict, to_schema: int, readable_from: int, session: Session | None,
                now: datetime) -> None:
        """Record `data`, the stored data migrated to `to_schema`, as the newest saved version."""
        if not self.live:
            raise ProfileStoreError(f"profile {self.store_name!r}/{self.key!r} has no live events")
        if to_schema <= self.schema:
            raise ProfileStoreError(f"profile {self.store_name!r}/{self.key!r} is at schema"
                                    f" {self.schema} already, not below {to_schema}")
        self.trigger_event(self.Migrated, timestamp=self._stamp(now), session=session,
                           from_schema=self.schema, to_schema=to_schema,
                           patch=make_patch(self.data, data), readable_from=readable_from)

    def start_session(self, session: Session, now: datetime) -> None:
        """Claim a free session (or re-take one this server's identity already holds)."""
        if self.session is not None and self.session != session:
            raise SessionLostError(f"the session is held by {describe(self.session)}")
        self.trigger_event(self.SessionStarted, timestamp=self._stamp(now), session=session,
                           session_load_count=self.session_load_count + 1)

    def take_session(self, session: Session, now: datetime) -> None:
        """Take a session another server holds, without its release (steal or assume-dead)."""
        if self.session is None or self.session == session:
            raise ProfileStoreError("there is no other owner to take the session from")
        stamp = self._stamp(now)
        self.trigger_event(self.SessionEnded, timestamp=stamp, session=session, reason="Stolen",
                           ended_session=self.session)
        self.start_session(session, stamp)

    def request_session(self, session: Session, now: datetime) -> None:
        """Ask the owner to save and release."""
        if self.session is None or self.session == session:
            raise ProfileStoreError("there is no other owner to request the session from")
        self.trigger_event(self.SessionRequested, timestamp=self._stamp(now), session=session)

    def check_owner(self, session: Session, epoch: int) -> None:
        """Raise SessionLostError unless `session` still holds this epoch."""
        if not self.is_owned_by(session, epoch):
            if not self.live:
                raise SessionLostError("the profile was removed")
            raise SessionLostError(
                f"the session is now held by {describe(self.session)}"
                f" (epoch {self.session_load_count}, ours was {epoch})"
            )

    def save(self, session: Session, epoch: int, now: datetime, data: JsonDict | None,
             metadata: JsonDict | None = None, user_ids: list[int] | None = None,
             processed_messages: Iterable[int] = (), *, patch: list[JsonDict] | None = None) -> None:
        """Record the owner's data as a patch from the last saved data (None: an empty patch).
        `patch`, instead of `data`: that patch from this profile's data, already made (and
        checked) by the caller."""
        self.check_owner(session, epoch)
        if patch is None:
            patch = [] if data is None else make_patch(self.data, data)
        if metadata is not None and _same_json(metadata, self.metadata):
            metadata = None
        if user_ids is not None and list(user_ids) == self.user_ids:
            user_ids = None
        self.trigger_event(self.Saved, timestamp=self._stamp(now), session=session, patch=patch,
                           processed_messages=sorted(processed_messages),
                           metadata=copy.deepcopy(metadata),
                           user_ids=None if user_ids is None else list(user_ids))

    def end_session(self, session: Session, epoch: int, reason: str, now: datetime) -> None:
        """The owner releases its session."""
        self.check_owner(session, epoch)
        self.trigger_event(self.SessionEnded, timestamp=self._stamp(now), session=session,
                           reason=reason, ended_session=session)

    def reset(self, template: JsonDict, now: datetime, schema: int = 0, readable_from: int = 0
              ) -> None:
        """Restart a profile whose events cannot be replayed from the template."""
        self.trigger_event(self.Reset, timestamp=self._stamp(now), session=None,
                           data=copy.deepcopy(template), schema=schema, readable_from=readable_from)

    def queue_message(self, message: JsonDict, max_queue: int, now: datetime) -> None:
        """Hold a message for the profile, with the next message id; MessageQueueFull at the
        limit (nothing is ever dropped to make room)."""
        if not self.live:
            raise ProfileStoreError(f"profile {self.store_name!r}/{self.key!r} has no live events")
        if len(self.messages) >= max_queue:
            raise MessageQueueFull(
                f"profile {self.store_name!r}/{self.key!r} holds {len(self.messages)} messages,"
                f" the limit (max_message_queue); none was dropped")
        self.trigger_event(self.MessageQueued, timestamp=self._stamp(now), session=None,
                           message_id=self.last_message_id + 1, message=copy.deepcopy(message))

    def overwrite(self, read_version: int, data: JsonDict, metadata: JsonDict, user_ids: list[int],
                  processed_messages: Iterable[int], now: datetime,
                  schema: tuple[int, int] | None = None) -> None:
        """Write a read-only profile (read at `read_version`) as the newest saved version, its
        data at `schema` (schema, readable_from; default: the stored one's).

        A session held anywhere ends first, in the same transaction. A profile read before a
        removal is refused: a rollback never brings erased data back."""
        at, readable = schema if schema is not None else (self.schema, self.readable_from)
        if not self.live or self.life_version > read_version:
            raise ProfileStoreError(
                f"profile {self.store_name!r}/{self.key!r} was removed after it was read;"
                " set() would bring erased data back")
        stamp = self._stamp(now)
        if self.session is not None:
            self.trigger_event(self.SessionEnded, timestamp=stamp, session=None,
                               reason="Overwritten", ended_session=self.session)
        self.trigger_event(self.Overwritten, timestamp=stamp, session=None, from_version=read_version,
                           data=json_copy(data), metadata=copy.deepcopy(metadata),
                           user_ids=list(user_ids), processed_messages=sorted(processed_messages),
                           schema=at, readable_from=readable)

    def remove(self, now: datetime) -> None:
        """Erase the profile: a tombstone at the highest version."""
        self.trigger_event(self.Removed, timestamp=self._stamp(now), store_name=self.store_name,
                           key=self.key, session=None)


def _same_json(a: JsonDict, b: JsonDict) -> bool:
    option = orjson.OPT_SORT_KEYS
    return orjson.dumps(a, option=option) == orjson.dumps(b, option=option)

