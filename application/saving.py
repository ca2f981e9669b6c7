"""Saves, final saves and lost sessions of the profiles this engine holds, and `set()`."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from profilestore.domain.errors import DataError, ProfileStoreError, SessionLostError, StoreClosedError
from profilestore.domain.profile import ProfileAggregate, describe
from profilestore.domain.validation import (
    check_metadata,
    checked_given_patch,
    checked_patch,
    encode_and_copy,
)

from . import clock
from .failures import CorruptStream, DatabaseFailure
from .profile_core import ProfileCore, Token
from .sessions import Sessions
from .settings import Settings
from .writes import Writes

log = logging.getLogger("profilestore")


@dataclass
class Snapshot:
    """A private, checked copy of what a save stores: the data whole, or (a session profile's
    usual save) as the patch from its replica's data, which is the last saved data."""

    data: dict[str, Any] | None
    patch: list[dict[str, Any]] | None
    metadata: dict[str, Any]
    user_ids: list[int]
    processed: list[int]  # message ids whose effect is in `data`: stored in the same event

    def decide(self, replica: ProfileAggregate, session: dict[str, str], epoch: int, now: datetime
               ) -> None:
        """Record this save on the replica."""
        replica.save(session, epoch, now, self.data, self.metadata, self.user_ids, self.processed,
                     patch=self.patch)


def committed(core: ProfileCore, snap: Snapshot | None) -> None:
    """The core's bookkeeping after its replica stored `snap` (None: a save without data)."""
    if snap is None:
        core.committed(core.replica)
    else:
        core.committed(core.replica, data=snap.data, patch=snap.patch, processed=snap.processed)


@dataclass
class FinalRetry:
    """A final save that failed and is tried again with backoff."""

    core: ProfileCore
    snapshot: Snapshot | None
    reason: str
    next_at: float
    backoff: float = 1.0


class Saver:
    """Writes of held profiles: save, end (final save), lose; final-save retries; set()."""

    def __init__(self, writes: Writes, sessions: Sessions, settings: Callable[[], Settings],
                 closing: Callable[[], bool], closed: Callable[[], bool]) -> None:
        self._writes = writes
        self._health = writes.health
        self._sessions = sessions
        self._settings = settings
        self._closing = closing
        self._closed = closed
        self._retries: list[FinalRetry] = []
        self._unsaved: list[ProfileCore] = []  # ended here, final save not yet stored
        self._lock = threading.Lock()

    # ---- the pieces ----------------------------------------------------------------------------

    def snapshot(self, core: ProfileCore, *, whole: bool = False) -> Snapshot:
        """Check and copy data, metadata and user ids under the profile's lock. The data goes as
        a patch from the replica's data, costing the change, unless `whole` is asked for or the
        replica may hold a write that was not stored (after a failed attempt)."""
        settings = self._settings()
        with core.lock:
            metadata = orjson.loads(check_metadata(core.metadata, settings.max_metadata_chars))
            user_ids, processed = list(core.user_ids), list(core.processed)
            whole = whole or core.stale
            value, patch = core.data, None
            if core.codec is not None:  # the model as JSON, and the patch if made from the change
                value, patch = core.codec.dump(core.data, core.replica.data, diff=not whole,
                                               keep_unknown=core.newer_schema, memo=core.dump_memo)
            if whole:
                _, data = encode_and_copy(value, "data", settings.max_data_bytes)
                return Snapshot(data, None, metadata, user_ids, processed)
            if patch is not None:
                patch = checked_given_patch(value, patch, "data", settings.max_data_bytes)
            else:
                patch = checked_patch(core.replica.data, value, "data", settings.max_data_bytes)
            return Snapshot(None, patch, metadata, user_ids, processed)

    def _prepared(self, core: ProfileCore, auto: bool) -> Snapshot | None:
        """on_save, then the snapshot: what game code changed in on_save is saved."""
        core.on_save.fire()
        return self.checked_snapshot(core, auto=auto)

    def prepared(self, core: ProfileCore, *, auto: bool) -> Snapshot | None:
        """on_save and the snapshot of an auto-save, where the data belongs (core.owned)."""
        return core.owned(lambda: self._prepared(core, auto))

    def checked_snapshot(self, core: ProfileCore, *, auto: bool) -> Snapshot | None:
        """The snapshot a save stores; for an auto-save of data that cannot be saved, None (a
        heartbeat) and the error reported; for a manual save, the DataError raised."""
        try:
            return self.snapshot(core)
        except DataError as error:
            self._health.report(str(error), core.store_name, core.key)
            if not auto:
                raise
            return None

    @staticmethod
    def owned_save(core: ProfileCore, snap: Snapshot | None) -> Callable[[ProfileAggregate], None]:
        """The decision of a save under the profile's session (the domain checks it still holds)."""
        session, epoch, now = core.session or {}, core.session_load_count, clock.now()

        def command(replica: ProfileAggregate) -> None:
            if snap is None:
                replica.save(session, epoch, now, None)
            else:
                snap.decide(replica, session, epoch, now)
        return command

    # ---- save ------------------------------------------------------------------------------

    def save(self, core: ProfileCore, *, auto: bool) -> bool:
        """A normal save (one attempt). Auto-saves write a heartbeat even when data is bad."""
        if not core.is_active():
            log.warning("save() of %r ignored: the session is not active", core)
            return False
        # Lock order, everywhere: profile.lock, then the key lock. Game code that holds
        # profile.lock may call save(); the lock is re-entrant, so this cannot deadlock.
        with core.lock, self._writes.holding(core.token):
            if not core.is_active():
                log.warning("save() of %r ignored: the session is not active", core)
                return False
            return self.store(core, core.owned(lambda: self._prepared(core, auto)))

    def store(self, core: ProfileCore, snap: Snapshot | None) -> bool:
        """Write the save decided from `snap` (the caller holds the profile's lock); False if
        the session was lost or the database failed (reported)."""
        decide = self.owned_save(core, snap)
        try:
            self._writes.decide_held([core], lambda replicas: decide(replicas[0]))
        except SessionLostError as error:
            self.lose(core, str(error))
            return False
        except DatabaseFailure as error:
            self._health.report(str(error), core.store_name, core.key)
            return False
        self.stored(core, snap)
        return True

    def stored(self, core: ProfileCore, snap: Snapshot | None, *, touch: bool = True) -> None:
        """What follows a committed save: bookkeeping, the auto-save timer (unless the caller
        restarts it), on_after_save."""
        committed(core, snap)
        if touch:
            self._sessions.ring.touch(core)
        core.owned(core.after_save)

    # ---- end -------------------------------------------------------------------------------

    def end(self, core: ProfileCore, reason: str) -> bool:
        """End the session with a final save; False if it was not active (ended already)."""
        with core.status_lock:
            if core.status != "active" or core.end_claimed:
                return False
            core.end_claimed = True  # still active: on_save/on_last_save see is_active()
        def last_snapshot() -> tuple[Snapshot | None, bool]:
            with core.lock:
                core.on_save.fire()
                core.on_last_save.fire(reason)
                try:
                    snap: Snapshot | None = self.snapshot(core)
                except DataError as error:
                    self._health.report(str(error), core.store_name, core.key)
                    if reason == "Manual":
                        core.end_claimed = False
                        raise
                    snap = None
                # Inactive before the lock is released: game code that checks is_active()
                # under profile.lock can never change data after this snapshot was taken.
                return snap, core.mark_inactive()

        with self._writes.in_flight:
            with core.lock:  # taken here too: an event loop's lock holds other threads only
                snap, inactive = core.owned(last_snapshot)
            if inactive:
                with self._lock:
                    self._unsaved.append(core)
                self._after_inactive(core)
                self._final_write(core, snap, reason, retry=True)
        return True

    def _final_write(self, core: ProfileCore, snap: Snapshot | None, reason: str, *, retry: bool
                     ) -> bool:
        session, epoch, now = core.session or {}, core.session_load_count, clock.now()

        def decide(replicas: list[ProfileAggregate]) -> None:
            if snap is not None:
                snap.decide(replicas[0], session, epoch, now)
            replicas[0].end_session(session, epoch, reason, now)

        try:
            self._writes.decide_held([core], decide)
        except SessionLostError as error:
            log.info("final save of %r skipped: %s", core, error)
            self._landed(core)
            return True
        except DatabaseFailure as error:
            self._health.report(f"final save failed: {error}", core.store_name, core.key)
            if retry:
                self._schedule(FinalRetry(core, snap, reason, clock.seconds() + 1.0))
            return False
        committed(core, snap)
        self._landed(core)

        def after() -> None:
            with core.lock:
                core.after_save()
        core.owned(after)
        return True

    def _landed(self, core: ProfileCore) -> None:
        with self._lock:
            if core in self._unsaved:
                self._unsaved.remove(core)

    def ending(self, token: Token) -> bool:
        """Whether a session of this profile ended here and its final save is not stored yet."""
        with self._lock:
            return any(core.token == token for core in self._unsaved)

    def unsaved(self) -> list[ProfileCore]:
        """Profiles whose session ended here but whose final save is not stored yet."""
        with self._lock:
            return list(self._unsaved)

    def _after_inactive(self, core: ProfileCore) -> None:
        """Stop auto-saving and following the profile, then fire on_session_end."""
        self._sessions.remove(core)

        def end() -> None:
            with core.lock:
                core.on_session_end.fire()
        core.owned(end)

    def lose(self, core: ProfileCore, why: str) -> None:
        """The session was taken, overwritten or removed: end it here, unsaved changes dropped."""
        if core.mark_inactive():
            self._after_inactive(core)
            log.warning("session of %s/%s lost: %s", core.store_name, core.key, why)

    # ---- set() --------------------------------------------------------------------------

    def overwrite(self, core: ProfileCore) -> bool:
        """A read-only profile's data as the newest saved version; the session anywhere ends."""
        if self._closed():
            raise StoreClosedError("the engine is closed")
        def whole() -> Snapshot:
            with core.lock:
                core.on_save.fire()
                try:
                    return self.snapshot(core, whole=True)
                except DataError as error:
                    self._health.report(str(error), core.store_name, core.key)
                    raise

        with core.lock:
            snap = core.owned(whole)
        assert snap.data is not None
        data, token = snap.data, core.token
        read_version, now = core.replica.saved_version, clock.now()

        def load() -> ProfileAggregate:
            try:
                return self._writes.load(token)
            except CorruptStream as corrupt:
                raise ProfileStoreError(f"set() on a profile whose events cannot be replayed"
                                        f" ({corrupt}); start_session or message resets it") from None

        try:
            fresh, _ = self._writes.decide(token, load, lambda replica: replica.overwrite(
                read_version, data, snap.metadata, snap.user_ids, snap.processed, now,
                schema=core.schema))
        except DatabaseFailure as error:
            self._health.report(str(error), core.store_name, core.key)
            return False
        active = self._sessions.active(token)
        if active is not None:
            self.lose(active, "overwritten by set()")
        core.committed(fresh, data=data, processed=snap.processed)
        return True

    # ---- other servers wrote -------------------------------------------------------------

    def react(self, core: ProfileCore) -> bool:
        """Re-read a held profile another server wrote to, and let the domain say what follows:
        a request from another server ends the session with a final save ("External"); a session
        that is no longer ours (taken, overwritten, removed) ends here without one. True when new
        messages were delivered: their handlers' effect waits for the caller's auto-save."""
        session, epoch = core.session or {}, core.session_load_count
        with self._writes.key_locks(core.token):
            if not core.is_active():
                return False
            try:
                fresh = self._writes.load(core.token)
            except CorruptStream as corrupt:
                raise DatabaseFailure(f"the stored events cannot be replayed: {corrupt}") from None
            core.replica, core.stale = fresh, False
            owned = fresh.is_owned_by(session, epoch)
            requested = fresh.requested_by not in (None, session)
        if not owned:
            self.lose(core, f"another server wrote to it (now {describe(fresh.session)})")
        elif requested:
            log.info("%r requested by %s: handing over", core, describe(fresh.requested_by))
            self.end(core, "External")
        else:
            return core.deliver() and core.is_active()
        return False

    # ---- final-save retries ----------------------------------------------------------------

    def _schedule(self, retry: FinalRetry) -> None:
        with self._lock:
            self._retries.append(retry)

    def pending(self, token: Token | None = None) -> list[FinalRetry]:
        """Final saves still to retry (for one key, when given)."""
        with self._lock:
            return [r for r in self._retries if token is None or r.core.token == token]

    def retry_due(self, *, force: bool = False, token: Token | None = None) -> None:
        """Try again the final saves that are due (all of them when `force`)."""
        cap = 8.0 if self._closing() else 20.0
        for retry in self.pending(token):
            if not force and clock.seconds() < retry.next_at:
                continue
            if self._final_write(retry.core, retry.snapshot, retry.reason, retry=False):
                with self._lock:  # the close worker and the engine thread may both get here
                    if retry in self._retries:
                        self._retries.remove(retry)
            else:
                retry.backoff = min(retry.backoff * 2, cap)
                retry.next_at = clock.seconds() + retry.backoff
