"""Profile: the handle game code holds on a player's data, in a session (from start_session) or
read-only (from get). Its state lives in its core (application/profile_core.py), which the
engine's parts share; the handle checks what game code gives it and forwards the rest."""

from __future__ import annotations

import copy
import threading
from typing import TYPE_CHECKING, Any

from profilestore.domain.errors import ProfileStoreError

from .profile_core import Handler, ProfileCore
from .values import KeyInfo

if TYPE_CHECKING:
    from .store import ProfileStore


class Profile:
    """A profile's data, metadata and user ids, its session state and its signals."""

    def __init__(self, store: ProfileStore, core: ProfileCore) -> None:
        self.profile_store = store
        self.core = core
        self.key = core.key
        self.lock = core.lock
        self.on_save = core.on_save
        self.on_last_save = core.on_last_save
        self.on_session_end = core.on_session_end
        self.on_after_save = core.on_after_save
        self.session = core.session
        self.session_load_count = core.session_load_count
        created = core.replica.created_at
        self.first_session_time = int(created.timestamp()) if created is not None else 0

    def __repr__(self) -> str:
        return repr(self.core)

    # ---- data -----------------------------------------------------------------------------

    @property
    def data(self) -> Any:
        """The profile's data (a dict, or an instance of a typed store's model); changes are
        saved while the session is active."""
        return self.core.data

    @data.setter
    def data(self, value: Any) -> None:
        codec = self.core.codec
        if codec is not None:  # a dict or an instance, validated into the model
            self.core.data = codec.coerce(value)
            return
        if not isinstance(value, dict):
            raise TypeError(f"Profile.data must be a dict, not {type(value).__name__}")
        self.core.data = value

    @property
    def metadata(self) -> dict[str, Any]:
        """Saved with the profile (ProfileStore's RobloxMetaData), small."""
        return self.core.metadata

    @metadata.setter
    def metadata(self, value: dict[str, Any]) -> None:
        if not isinstance(value, dict):
            raise TypeError(f"Profile.metadata must be a dict, not {type(value).__name__}")
        self.core.metadata = value

    @property
    def last_saved_data(self) -> Any:
        """What the last committed save stored (a copy distinct from `data`)."""
        return self.core.last_saved_data()

    @property
    def key_info(self) -> KeyInfo:
        """Created and updated times, saved version, user ids and metadata as last stored."""
        return self.core.key_info

    @property
    def user_ids(self) -> tuple[int, ...]:
        """User ids associated with the profile, for erasure requests."""
        return tuple(self.core.user_ids)

    @property
    def loaded_at(self) -> float:
        """When this engine loaded the profile (the clock's seconds)."""
        return self.core.loaded_at

    def add_user_id(self, user_id: int) -> None:
        """Associate a user id (duplicates ignored)."""
        _check_user_id(user_id)
        with self.lock:
            if user_id not in self.core.user_ids:
                self.core.user_ids.append(user_id)

    def remove_user_id(self, user_id: int) -> None:
        """Forget a user id."""
        _check_user_id(user_id)
        with self.lock:
            if user_id in self.core.user_ids:
                self.core.user_ids.remove(user_id)

    def reconcile(self) -> None:
        """Fill keys missing from `data` from the store template, recursively into dicts (a typed
        store's data has them already: validation fills defaults)."""
        if self.core.codec is not None:
            return
        with self.lock:
            _reconcile(self.core.data, self.profile_store.template)

    # ---- messages ---------------------------------------------------------------------------

    def message_handler(self, handler: Handler) -> None:
        """Handle messages: `handler(message, processed)`. Messages already held and not processed
        are handed to it now, on this thread; new ones later, on the engine thread."""
        if not callable(handler):
            raise TypeError(f"message_handler takes a callable, not {type(handler).__name__}")
        if not self.core.read_only and not self.is_active():
            return
        self.core.add_handler(handler)

    # ---- session --------------------------------------------------------------------------

    def is_active(self) -> bool:
        """True while this engine holds the session and changes to `data` will be saved."""
        return self.core.is_active()

    def save(self) -> bool:
        """Save now; True once committed, False if the database failed or the session ended."""
        if self.core.read_only:
            raise ProfileStoreError("save() is for session profiles; use set() on a read-only one")
        self._check_not_trading("save()")
        return self.profile_store.engine.parts.saver.save(self.core, auto=False)

    def end_session(self) -> None:
        """Save for the last time and release the session (safe to call twice)."""
        if self.core.read_only:
            return
        self._check_not_trading("end_session()")
        self.profile_store.engine.parts.saver.end(self.core, "Manual")

    def _check_not_trading(self, call: str) -> None:
        if self.core.trading == threading.get_ident():
            raise ProfileStoreError(f"{call} inside engine.transaction(): the trade saves on exit")

    def set(self) -> bool:
        """Write this read-only profile as the newest saved version (a rollback); True once
        committed. A session held anywhere on the key ends ("Overwritten")."""
        if not self.core.read_only:
            raise ProfileStoreError("set() is for read-only profiles from get() or version_query()")
        return self.profile_store.engine.parts.saver.overwrite(self.core)


def _check_user_id(user_id: object) -> None:
    if isinstance(user_id, bool) or not isinstance(user_id, int):
        raise TypeError(f"user ids are int, not {type(user_id).__name__}")


def _reconcile(target: dict[str, Any], template: dict[str, Any]) -> None:
    for key, value in template.items():
        if key not in target:
            target[key] = copy.deepcopy(value)
        elif isinstance(target[key], dict) and isinstance(value, dict):
            _reconcile(target[key], value)
