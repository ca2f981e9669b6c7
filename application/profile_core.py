"""ProfileCore: the engine's side of one profile, shared by the parts that write and follow it.

Game code holds a `Profile` (application/handle.py), a thin handle over its core; the engine's
parts (saving, claiming, following, trades, the session registry) are handed cores and never a
`Profile`, so none of them imports the handle or the store.
"""

from __future__ import annotations

import copy
import logging
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, NamedTuple, Protocol, TypeVar

from profilestore.domain.copying import json_copy
from profilestore.domain.diff import patched
from profilestore.domain.profile import ProfileAggregate, Session
from profilestore.domain.shape import Schema
from profilestore.domain.timeutil import to_ms
from profilestore.domain.typed import Memo, ModelCodec

from . import clock
from .signals import Signal
from .values import KeyInfo

log = logging.getLogger("profilestore")
Handler = Callable[[dict[str, Any], Callable[[], None]], Any]
T = TypeVar("T")


class Lock(AbstractContextManager[bool], Protocol):
    """What the parts use of a profile's lock (an RLock, or an event loop's lock)."""

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool: ...

    def release(self) -> None: ...


class Bridge(Protocol):
    """The thread a profile's data belongs to, when it is not "any thread holding its lock":
    an asyncio profile's event loop (profilestore/aio). The library's every access to such a
    profile's data, signals and message handlers goes through `call` and `deliver`."""

    def call(self, work: Callable[[], T]) -> T:
        """Run `work` on the owner's thread and return what it returned (or raise)."""

    def deliver(self, core: ProfileCore) -> bool:
        """ProfileCore.deliver_new, run where the handlers must run; True if one processed."""

    def lock(self) -> Lock:
        """The lock for a profile this bridge owns."""


class Token(NamedTuple):
    """Which profile: the key of every per-profile registry and lock (sorted: the lock order)."""

    mock: bool
    store: str
    key: str


class Held(Protocol):
    """What the engine's parts need of a game's profile object: its core."""

    @property
    def core(self) -> ProfileCore: ...


class ProfileCore:
    """A profile's data, metadata and user ids as game code changes them; the replica of its
    stored events; its session status, signals, and the messages its handlers have seen."""

    def __init__(self, aggregate: ProfileAggregate, token: Token, *, session: Session | None,
                 read_only: bool, owner: object = None, data: Any = None,
                 codec: ModelCodec | None = None, schema: Schema | None = None,
                 bridge: Bridge | None = None) -> None:
        self.token = token
        self.owner = owner  # the engine whose store made it (trades refuse another engine's)
        self.bridge = bridge
        self.lock: Lock = threading.RLock() if bridge is None else bridge.lock()
        self.on_save = Signal("on_save")
        self.on_last_save = Signal("on_last_save")
        self.on_session_end = Signal("on_session_end")
        self.on_after_save = Signal("on_after_save")
        self.read_only = read_only
        self.status = "read" if read_only else "active"  # -> "inactive", once
        self.status_lock = threading.Lock()
        self.end_claimed = False  # one final save per session, whoever asks first
        self.trading: int | None = None  # the thread running a transaction() block on it
        self.replica = aggregate
        self.stale = False  # the replica may hold a write that was not stored: re-read it first
        self.session: dict[str, str] | None = copy.deepcopy(session)
        self.session_load_count = aggregate.session_load_count
        # the data as game code sees it: a dict, or the model instance of a typed store (codec)
        self.data: Any = json_copy(aggregate.data) if data is None else data
        self.codec = codec
        self.dump_memo: Memo = {}  # a typed profile's list elements and their last dumps
        # what a write of this data records: (schema, readable_from)
        self.schema: Schema = schema or (aggregate.schema, aggregate.readable_from)
        # stored at a newer schema than the store's (readable here): fields unknown to this
        # server's model are kept when it saves
        self.newer_schema = False
        self.metadata: dict[str, Any] = json_copy(aggregate.metadata)
        self.user_ids: list[int] = list(aggregate.user_ids)
        self.saved_data = aggregate.data  # never changed in place (shared with the replica)
        self.last_saved: dict[str, Any] | None = None  # its copy for game code, made when asked
        self.key_info = key_info(aggregate)
        self.processed: list[int] = []  # message ids its handlers processed, not yet saved
        self.delivered: set[int] = set()  # message ids handed to the handlers this session
        self.handlers: list[Handler] = []
        self.loaded_at = clock.seconds()

    def __repr__(self) -> str:
        return f"<Profile {self.token.store!r}/{self.token.key!r} {self.status}>"

    @property
    def key(self) -> str:
        """The profile's key."""
        return self.token.key

    @property
    def store_name(self) -> str:
        """The name of the profile's store."""
        return self.token.store

    def owned(self, work: Callable[[], T]) -> T:
        """`work` (which reads or changes the data, or runs the profile's handlers) where the
        data belongs: here, or on its bridge's thread."""
        return work() if self.bridge is None else self.bridge.call(work)

    def deliver(self) -> bool:
        """Hand new messages to the handlers where they must run; True if one processed."""
        return self.deliver_new() if self.bridge is None else self.bridge.deliver(self)

    def is_active(self) -> bool:
        """True while this engine holds the session."""
        return self.status == "active"

    def mark_inactive(self) -> bool:
        """Active -> inactive, once; False if it was not active."""
        with self.status_lock:
            if self.status != "active":
                return False
            self.status = "inactive"
            return True

    # ---- what was saved ----------------------------------------------------------------------

    def last_saved_data(self) -> Any:
        """What the last committed save stored, as a copy distinct from `data` (a model
        instance for a typed store)."""
        if self.last_saved is None:
            if self.codec is not None:
                return self.codec.model.model_validate(self.saved_data)
            self.last_saved = json_copy(self.saved_data)
        return self.last_saved

    def committed(self, aggregate: ProfileAggregate, *, data: dict[str, Any] | None = None,
                  patch: list[dict[str, Any]] | None = None, processed: list[int] | None = None
                  ) -> None:
        """Bookkeeping after a commit: the replica, last saved data, key info, processed ids.
        `data` (whole) or `patch` is what the commit stored, when it stored data."""
        self.replica, self.stale = aggregate, False
        if processed:
            with self.lock:
                self.processed = [i for i in self.processed if i not in processed]
        self.saved_data = aggregate.data
        if self.codec is not None:
            self.last_saved = None  # a model made from the saved JSON when asked for
        elif data is not None:
            self.last_saved = data
        elif patch and self.last_saved is not None:
            # a new object: what game code or handlers were given earlier stays as it was
            self.last_saved = patched(self.last_saved, patch)
        self.key_info = key_info(aggregate)

    def after_save(self) -> None:
        """Fire on_after_save(last_saved_data), copying the data only if someone listens."""
        if self.on_after_save.listened:
            self.on_after_save.fire(self.last_saved_data())

    # ---- messages -------------------------------------------------------------------------------

    def add_handler(self, handler: Handler) -> None:
        """Register a handler and hand it, on this thread, the held messages not processed."""
        with self.lock:
            self.handlers.append(handler)
            for message_id, message in sorted(self.replica.messages.items()):
                if message_id not in self.processed:
                    self.delivered.add(message_id)
                    handler(copy.deepcopy(message), self.processed_callback(message_id))

    def undelivered(self) -> list[tuple[int, dict[str, Any]]]:
        """The messages not yet handed to the handlers in this session, oldest first, marked
        delivered now (each is given to them once a session)."""
        found = []
        with self.lock:
            for message_id, message in sorted(self.replica.messages.items()):
                if message_id in self.delivered or message_id in self.processed:
                    continue
                self.delivered.add(message_id)
                found.append((message_id, message))
        return found

    def deliver_new(self) -> bool:
        """Hand messages not yet delivered in this session to the handlers, in registration order;
        True if a handler processed one."""
        processed_any = False
        with self.lock:
            for message_id, message in self.undelivered():
                for handler in list(self.handlers):
                    try:
                        handler(copy.deepcopy(message), self.processed_callback(message_id))
                    except Exception:
                        log.exception("a message handler of %r raised", self)
                    if message_id in self.processed:
                        processed_any = True
                        break  # later handlers don't see a processed message
        return processed_any

    def processed_callback(self, message_id: int) -> Callable[[], None]:
        """The `processed()` a handler calls to mark the message processed."""
        def processed() -> None:
            with self.lock:
                if message_id not in self.processed:
                    self.processed.append(message_id)
        return processed


def key_info(aggregate: ProfileAggregate) -> KeyInfo:
    """The KeyInfo of the aggregate's saved version."""
    created, saved = aggregate.created_at, aggregate.saved_at
    return KeyInfo(
        created_time=to_ms(created) if created else 0,
        updated_time=to_ms(saved) if saved else 0,
        version=str(aggregate.saved_version),
        user_ids=tuple(aggregate.user_ids),
        metadata=json_copy(aggregate.metadata),
    )
