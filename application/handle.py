"""Profile: a player's data in a session (from start_session) or read-only (from get)."""

from __future__ import annotations

import copy
import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from profilestore.domain.copying import json_copy
from profilestore.domain.diff import patched
from profilestore.domain.errors import ProfileStoreError
from profilestore.domain.profile import ProfileAggregate, Session
from profilestore.domain.timeutil import to_ms

from . import clock
from .signals import Signal
from .values import KeyInfo

if TYPE_CHECKING:
    from .saving import Snapshot
    from .store import ProfileStore

log = logging.getLogger("profilestore")


class Profile:
    """A profile's data, metadata and user ids, its session state and its signals."""

    def __init__(self, store: ProfileStore, aggregate: ProfileAggregate, *,
                 session: Session | None, read_only: bool) -> None:
        self.profile_store = store
        self.key = aggregate.key
        self.lock = threading.RLock()
        self.on_save = Signal("on_save")
        self.on_last_save = Signal("on_last_save")
        self.on_session_end = Signal("on_session_end")
        self.on_after_save = Signal("on_after_save")
        self._read_only = read_only
        self._state = "read" if read_only else "active"
        self._state_lock = threading.Lock()
        self._trading: int | None = None  # the thread running a transaction() block on it
        self._end_claimed = False  # one final save per session, whoever asks first
        self._replica = aggregate
        self._stale = False
        self.session: dict[str, str] | None = copy.deepcopy(session)
        self.session_load_count = aggregate.session_load_count
        created = aggregate.created_at
        self.first_session_time = int(created.timestamp()) if created is not None else 0
        self._data: dict[str, Any] = json_copy(aggregate.data)
        self._metadata: dict[str, Any] = json_copy(aggregate.metadata)
        self._user_ids: list[int] = list(aggregate.user_ids)
        self._saved_data = aggregate.data  # never changed in place (shared with the replica)
        self._last_saved: dict[str, Any] | None = None  # its copy for game code, made when asked
        self._key_info = _key_info(aggregate)
        self._processed: list[int] = []  # message ids its handlers processed, not yet saved
        self._delivered: set[int] = set()  # message ids handed to the handlers this session
        self._handlers: list[Callable[[dict[str, Any], Callable[[], None]], Any]] = []
        self.loaded_at = clock.seconds()

    def __repr__(self) -> str:
        return f"<Profile {self.profile_store.name!r}/{self.key!r} {self._state}>"

    # ---- data -----------------------------------------------------------------------------

    @property
    def data(self) -> dict[str, Any]:
        """The profile's data; changes are saved while the session is active."""
        return self._data

    @data.setter
    def data(self, value: dict[str, Any]) -> None:
        if not isinstance(value, dict):
            raise TypeError(f"Profile.data must be a dict, not {type(value).__name__}")
        self._data = value

    @property
    def metadata(self) -> dict[str, Any]:
        """Saved with the profile (ProfileStore's RobloxMetaData), small."""
        return self._metadata

    @metadata.setter
    def metadata(self, value: dict[str, Any]) -> None:
        if not isinstance(value, dict):
            raise TypeError(f"Profile.metadata must be a dict, not {type(value).__name__}")
        self._metadata = value

    @property
    def last_saved_data(self) -> dict[str, Any]:
        """What the last committed save stored (a copy distinct from `data`)."""
        if self._last_saved is None:
            self._last_saved = json_copy(self._saved_data)
        return self._last_saved

    @property
    def key_info(self) -> KeyInfo:
        """Created and updated times, saved version, user ids and metadata as last stored."""
        return self._key_info

    @property
    def user_ids(self) -> tuple[int, ...]:
        """User ids associated with the profile, for erasure requests."""
        return tuple(self._user_ids)

    def add_user_id(self, user_id: int) -> None:
        """Associate a user id (duplicates ignored)."""
        _check_user_id(user_id)
        with self.lock:
            if user_id not in self._user_ids:
                self._user_ids.append(user_id)

    def remove_user_id(self, user_id: int) -> None:
        """Forget a user id."""
        _check_user_id(user_id)
        with self.lock:
            if user_id in self._user_ids:
                self._user_ids.remove(user_id)

    def reconcile(self) -> None:
        """Fill keys missing from `data` from the store template, recursively into dicts."""
        with self.lock:
            _reconcile(self._data, self.profile_store.template)

    # ---- messages ---------------------------------------------------------------------------

    def message_handler(self, handler: Callable[[dict[str, Any], Callable[[], None]], Any]) -> None:
        """Handle messages: `handler(message, processed)`. Messages already held and not processed
        are handed to it now, on this thread; new ones later, on the engine thread."""
        if not callable(handler):
            raise TypeError(f"message_handler takes a callable, not {type(handler).__name__}")
        if not self._read_only and not self.is_active():
            return
        with self.lock:
            self._handlers.append(handler)
            for message_id, message in sorted(self._replica.messages.items()):
                if message_id not in self._processed:
                    self._delivered.add(message_id)
                    handler(copy.deepcopy(message), self._processed_callback(message_id))

    def _deliver_new(self) -> bool:
        """Hand messages not yet delivered in this session to the handlers, in registration order;
        True if a handler processed one."""
        processed_any = False
        with self.lock:
            for message_id, message in sorted(self._replica.messages.items()):
                if message_id in self._delivered or message_id in self._processed:
                    continue
                self._delivered.add(message_id)
                for handler in list(self._handlers):
                    try:
                        handler(copy.deepcopy(message), self._processed_callback(message_id))
                    except Exception:
                        log.exception("a message handler of %r raised", self)
                    if message_id in self._processed:
                        processed_any = True
                        break  # later handlers don't see a processed message
        return processed_any

    def _processed_callback(self, message_id: int) -> Callable[[], None]:
        def processed() -> None:
            with self.lock:
                if message_id not in self._processed:
                    self._processed.append(message_id)
        return processed

    # ---- session --------------------------------------------------------------------------

    def is_active(self) -> bool:
        """True while this engine holds the session and changes to `data` will be saved."""
        return self._state == "active"

    def save(self) -> bool:
        """Save now; True once committed, False if the database failed or the session ended."""
        if self._read_only:
            raise ProfileStoreError("save() is for session profiles; use set() on a read-only one")
        self._check_not_trading("save()")
        return self.profile_store.engine._saver.save(self, auto=False)

    def end_session(self) -> None:
        """Save for the last time and release the session (safe to call twice)."""
        if self._read_only:
            return
        self._check_not_trading("end_session()")
        self.profile_store.engine._saver.end(self, "Manual")

    def _check_not_trading(self, call: str) -> None:
        if self._trading == threading.get_ident():
            raise ProfileStoreError(f"{call} inside engine.transaction(): the trade saves on exit")

    def set(self) -> bool:
        """Write this read-only profile as the newest saved version (a rollback); True once
        committed. A session held anywhere on the key ends ("Overwritten")."""
        if not self._read_only:
            raise ProfileStoreError("set() is for read-only profiles from get() or version_query()")
        return self.profile_store.engine._saver.overwrite(self)

    def _committed(self, aggregate: ProfileAggregate, saved: Snapshot | None) -> None:
        """Bookkeeping after a commit: the replica, last saved data, key info, processed ids."""
        self._replica = aggregate
        if saved is not None and saved.processed:
            with self.lock:
                self._processed = [i for i in self._processed if i not in saved.processed]
        self._saved_data = aggregate.data
        if saved is not None and saved.data is not None:
            self._last_saved = saved.data
        elif saved is not None and saved.patch and self._last_saved is not None:
            # a new object: what game code or handlers were given earlier stays as it was
            self._last_saved = patched(self._last_saved, saved.patch)
        self._key_info = _key_info(aggregate)

    def _after_save(self) -> None:
        """Fire on_after_save(last_saved_data), copying the data only if someone listens."""
        if self.on_after_save.listened:
            self.on_after_save.fire(self.last_saved_data)


def _key_info(aggregate: ProfileAggregate) -> KeyInfo:
    created, saved = aggregate.created_at, aggregate.saved_at
    return KeyInfo(
        created_time=to_ms(created) if created else 0,
        updated_time=to_ms(saved) if saved else 0,
        version=str(aggregate.saved_version),
        user_ids=tuple(aggregate.user_ids),
        metadata=json_copy(aggregate.metadata),
    )


def _check_user_id(user_id: object) -> None:
    if isinstance(user_id, bool) or not isinstance(user_id, int):
        raise TypeError(f"user ids are int, not {type(user_id).__name__}")


def _reconcile(target: dict[str, Any], template: dict[str, Any]) -> None:
    for key, value in template.items():
        if key not in target:
            target[key] = copy.deepcopy(value)
        elif isinstance(target[key], dict) and isinstance(value, dict):
            _reconcile(target[key], value)
