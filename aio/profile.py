"""AsyncProfile: a Profile whose data belongs to the event loop, with coroutine writes."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from profilestore.application.handle import Profile
from profilestore.application.profile_core import ProfileCore
from profilestore.application.values import KeyInfo
from profilestore.domain.errors import ProfileStoreError

from .bridge import LoopBridge, deliver_held, held_messages
from .signals import AsyncSignal
from .workers import Workers

if TYPE_CHECKING:
    from .store import AsyncProfileStore


class AsyncProfile:
    """The profile's data, metadata and user ids, changed on the loop without a lock; `save()`,
    `end_session()` and `set()` are coroutines whose database work runs off the loop."""

    def __init__(self, profile: Profile, store: AsyncProfileStore, bridge: LoopBridge,
                 workers: Workers) -> None:
        self.sync = profile
        self.profile_store = store
        self.key = profile.key
        self.session = profile.session
        self.session_load_count = profile.session_load_count
        self.first_session_time = profile.first_session_time
        self._bridge, self._workers = bridge, workers
        self.on_save = AsyncSignal(profile.on_save, bridge, plain_only=True)
        self.on_last_save = AsyncSignal(profile.on_last_save, bridge, plain_only=True)
        self.on_session_end = AsyncSignal(profile.on_session_end, bridge)
        self.on_after_save = AsyncSignal(profile.on_after_save, bridge)

    def __repr__(self) -> str:
        return f"<AsyncProfile {self.profile_store.name!r}/{self.key!r} {self.core.status}>"

    @property
    def core(self) -> ProfileCore:
        """The engine's side of the profile (internal)."""
        return self.sync.core

    # ---- data: plain attributes, on the loop ----------------------------------------------------

    @property
    def data(self) -> Any:
        """The profile's data (a dict, or the store's model instance)."""
        return self.sync.data

    @data.setter
    def data(self, value: Any) -> None:
        self.sync.data = value

    @property
    def metadata(self) -> dict[str, Any]:
        """Saved with the profile, small."""
        return self.sync.metadata

    @metadata.setter
    def metadata(self, value: dict[str, Any]) -> None:
        self.sync.metadata = value

    @property
    def last_saved_data(self) -> Any:
        """What the last committed save stored (a copy)."""
        return self.sync.last_saved_data

    @property
    def key_info(self) -> KeyInfo:
        """Times, saved version, user ids and metadata as last stored."""
        return self.sync.key_info

    @property
    def user_ids(self) -> tuple[int, ...]:
        """User ids associated with the profile."""
        return self.sync.user_ids

    @property
    def loaded_at(self) -> float:
        """When this engine loaded the profile (the clock's seconds)."""
        return self.sync.loaded_at

    def add_user_id(self, user_id: int) -> None:
        """Associate a user id (duplicates ignored)."""
        self.sync.add_user_id(user_id)

    def remove_user_id(self, user_id: int) -> None:
        """Forget a user id."""
        self.sync.remove_user_id(user_id)

    def reconcile(self) -> None:
        """Fill keys missing from `data` from the template (typed stores: nothing to do)."""
        self.sync.reconcile()

    def is_active(self) -> bool:
        """True while this engine holds the session."""
        return self.sync.is_active()

    def message_handler(self, handler: Callable[[dict[str, Any], Callable[[], None]], Any]) -> None:
        """Handle messages on the loop: `handler(message, processed)`, a plain or a coroutine
        function (awaited before the next handler sees the message). Messages already held are
        handed to it now (a coroutine handler: in a task, one after another)."""
        if not callable(handler):
            raise TypeError(f"message_handler takes a callable, not {type(handler).__name__}")
        core = self.core
        if not core.read_only and not core.is_active():
            return
        if inspect.iscoroutinefunction(handler):
            held = held_messages(core)
            core.handlers.append(handler)
            self._bridge.loop.create_task(deliver_held(core, handler, held))
        else:
            core.add_handler(handler)

    # ---- writes: coroutines --------------------------------------------------------------------

    async def save(self) -> bool:
        """Save now; True once committed. Cancelling the awaiting task does not cancel the write."""
        self._check_not_trading("save()")
        if self.core.read_only:
            raise ProfileStoreError("save() is for session profiles; use set() on a read-only one")
        return await self._workers.run(self.sync.save)

    async def end_session(self) -> None:
        """Save for the last time and release the session (safe to call twice)."""
        self._check_not_trading("end_session()")
        await self._workers.run(self.sync.end_session)

    async def set(self) -> bool:
        """Write this read-only profile as the newest saved version (a rollback)."""
        return await self._workers.run(self.sync.set)

    def _check_not_trading(self, call: str) -> None:
        if self.core.trading is not None and self.core.trading == self._bridge.thread:
            raise ProfileStoreError(f"{call} inside engine.transaction(): the trade saves on exit")
