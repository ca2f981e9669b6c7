"""Saves, final saves and lost sessions: every write a session profile makes goes through here."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson

from profilestore.domain.errors import DataError, ProfileStoreError, SessionLostError
from profilestore.domain.profile import ProfileAggregate, describe
from profilestore.domain.validation import check_metadata, checked_patch, encode_and_copy

from . import clock
from .failures import CorruptStream, DatabaseFailure

if TYPE_CHECKING:
    from .engine import Engine
    from .handle import Profile

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


@dataclass
class FinalRetry:
    """A final save that failed and is tried again with backoff."""

    profile: Profile
    snapshot: Snapshot | None
    reason: str
    next_at: float
    backoff: float = 1.0


class Saver:
    """Writes of session profiles: save, end (final save), lose; final-save retries."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._retries: list[FinalRetry] = []
        self._unsaved: list[Profile] = []  # ended here, final save not yet stored
        self._lock = threading.Lock()

    # ---- the pieces ----------------------------------------------------------------------------

    def snapshot(self, profile: Profile, *, whole: bool = False) -> Snapshot:
        """Check and copy data, metadata and user ids under the profile's lock. The data goes as
        a patch from the replica's data, costing the change, unless `whole` is asked for or the
        replica may hold a write that was not stored (after a failed attempt)."""
        settings = self._engine.settings
        with profile.lock:
            metadata = orjson.loads(check_metadata(profile._metadata, settings.max_metadata_chars))
            user_ids, processed = list(profile._user_ids), list(profile._processed)
            if whole or profile._stale:
                _, data = encode_and_copy(profile._data, "data", settings.max_data_bytes)
                return Snapshot(data, None, metadata, user_ids, processed)
            patch = checked_patch(profile._replica.data, profile._data, "data", settings.max_data_bytes)
            return Snapshot(None, patch, metadata, user_ids, processed)

    def write(self, profile: Profile, command: Callable[[ProfileAggregate], None]) -> None:
        """Decide on the newest replica and append; on a conflict re-read and decide again.

        The domain decides whether the session still holds (SessionLostError if not), so a
        conflict caused by another writer's message or request is simply retried.
        """
        store = profile.profile_store
        event_log = self._engine._log(store._is_mock)

        def load() -> ProfileAggregate:
            """The replica this profile last stored, re-read only after a failed attempt."""
            if profile._stale:
                try:
                    profile._replica = event_log.load(profile._replica.id, store.name, profile.key)
                except CorruptStream as corrupt:
                    raise DatabaseFailure(f"the stored events cannot be replayed: {corrupt}") from None
            profile._stale = True  # until this attempt is stored
            return profile._replica

        profile._replica, _ = event_log.decide(load, command)
        profile._stale = False
        self._engine._health.answered()

    def owned_save(self, profile: Profile, snap: Snapshot | None) -> Callable[[ProfileAggregate], None]:
        session, epoch, now = profile.session or {}, profile.session_load_count, clock.now()

        def command(replica: ProfileAggregate) -> None:
            if snap is None:
                replica.save(session, epoch, now, None)
            else:
                snap.decide(replica, session, epoch, now)
        return command

    # ---- save ------------------------------------------------------------------------------

    def save(self, profile: Profile, *, auto: bool) -> bool:
        """A normal save (one attempt). Auto-saves write a heartbeat even when data is bad."""
        if not profile.is_active():
            log.warning("save() of %r ignored: the session is not active", profile)
            return False
        store, engine = profile.profile_store, self._engine
        # Lock order, everywhere: profile.lock, then the key lock. Game code that holds
        # profile.lock may call save(); the lock is re-entrant, so this cannot deadlock.
        with profile.lock, engine._key_lock(store._token(profile.key)), engine._in_flight():
            if not profile.is_active():
                log.warning("save() of %r ignored: the session is not active", profile)
                return False
            profile.on_save.fire()
            return self.store(profile, self.checked_snapshot(profile, auto=auto))

    def checked_snapshot(self, profile: Profile, *, auto: bool) -> Snapshot | None:
        """The snapshot a save stores; for an auto-save of data that cannot be saved, None (a
        heartbeat) and the error reported; for a manual save, the DataError raised."""
        try:
            return self.snapshot(profile)
        except DataError as error:
            self._engine._health.report(str(error), profile.profile_store.name, profile.key)
            if not auto:
                raise
            return None

    def store(self, profile: Profile, snap: Snapshot | None) -> bool:
        """Write the save decided from `snap` (the caller holds the profile's and key's locks);
        False if the session was lost or the database failed (reported)."""
        try:
            self.write(profile, self.owned_save(profile, snap))
        except SessionLostError as error:
            self.lose(profile, str(error))
            return False
        except DatabaseFailure as error:
            self._engine._health.report(str(error), profile.profile_store.name, profile.key)
            return False
        self.stored(profile, snap)
        return True

    def stored(self, profile: Profile, snap: Snapshot | None, *, touch: bool = True) -> None:
        """What follows a committed save: bookkeeping, the auto-save timer (unless the caller
        restarts it), on_after_save."""
        profile._committed(profile._replica, snap)
        if touch:
            self._engine._autosave.touch(profile)
        profile._after_save()

    # ---- end -------------------------------------------------------------------------------

    def end(self, profile: Profile, reason: str) -> bool:
        """End the session with a final save; False if it was not active (ended already)."""
        with profile._state_lock:
            if profile._state != "active" or profile._end_claimed:
                return False
            profile._end_claimed = True  # still active: on_save/on_last_save see is_active()
        store, engine = profile.profile_store, self._engine
        with engine._in_flight():
            with profile.lock:
                profile.on_save.fire()
                profile.on_last_save.fire(reason)
                try:
                    snap: Snapshot | None = self.snapshot(profile)
                except DataError as error:
                    engine._health.report(str(error), store.name, profile.key)
                    if reason == "Manual":
                        profile._end_claimed = False
                        raise
                    snap = None
                # Inactive before the lock is released: game code that checks is_active()
                # under profile.lock can never change data after this snapshot was taken.
                inactive = self._mark_inactive(profile)
            if inactive:
                with self._lock:
                    self._unsaved.append(profile)
                self._after_inactive(profile)
                self._final_write(profile, snap, reason, retry=True)
        return True

    def _final_write(self, profile: Profile, snap: Snapshot | None, reason: str, *, retry: bool
                     ) -> bool:
        store, engine = profile.profile_store, self._engine
        session, epoch, now = profile.session or {}, profile.session_load_count, clock.now()

        def command(replica: ProfileAggregate) -> None:
            if snap is not None:
                snap.decide(replica, session, epoch, now)
            replica.end_session(session, epoch, reason, now)

        with engine._key_lock(store._token(profile.key)):
            try:
                self.write(profile, command)
            except SessionLostError as error:
                log.info("final save of %r skipped: %s", profile, error)
                self._landed(profile)
                return True
            except DatabaseFailure as error:
                engine._health.report(f"final save failed: {error}", store.name, profile.key)
                if retry:
                    self._schedule(FinalRetry(profile, snap, reason, clock.seconds() + 1.0))
                return False
        profile._committed(profile._replica, snap)
        self._landed(profile)
        with profile.lock:
            profile._after_save()
        return True

    def _landed(self, profile: Profile) -> None:
        with self._lock:
            if profile in self._unsaved:
                self._unsaved.remove(profile)

    def unsaved(self) -> list[Profile]:
        """Profiles whose session ended here but whose final save is not stored yet."""
        with self._lock:
            return list(self._unsaved)

    @staticmethod
    def _mark_inactive(profile: Profile) -> bool:
        """Active -> inactive, once; False if it was not active."""
        with profile._state_lock:
            if profile._state != "active":
                return False
            profile._state = "inactive"
            return True

    def _after_inactive(self, profile: Profile) -> None:
        """Stop auto-saving and following the profile, then fire on_session_end."""
        self._engine._unregister(profile)
        with profile.lock:
            profile.on_session_end.fire()

    def lose(self, profile: Profile, why: str) -> None:
        """The session was taken, overwritten or removed: end it here, unsaved changes dropped."""
        if self._mark_inactive(profile):
            self._after_inactive(profile)
            log.warning("session of %s/%s lost: %s", profile.profile_store.name, profile.key, why)

    # ---- set() --------------------------------------------------------------------------

    def overwrite(self, profile: Profile) -> bool:
        """A read-only profile's data as the newest saved version; the session anywhere ends."""
        store, engine = profile.profile_store, self._engine
        store._check_open()
        token = store._token(profile.key)
        with profile.lock:
            profile.on_save.fire()
            try:
                snap = self.snapshot(profile, whole=True)
            except DataError as error:
                engine._health.report(str(error), store.name, profile.key)
                raise
        assert snap.data is not None
        data = snap.data
        read_version, now = profile._replica.saved_version, clock.now()
        event_log = engine._log(store._is_mock)
        def load() -> ProfileAggregate:
            try:
                return event_log.load(profile._replica.id, store.name, profile.key)
            except CorruptStream as corrupt:
                raise ProfileStoreError(f"set() on a profile whose events cannot be replayed"
                                        f" ({corrupt}); start_session or message resets it") from None

        try:
            with engine._key_lock(token), engine._in_flight():
                fresh, _ = event_log.decide(load, lambda replica: replica.overwrite(
                    read_version, data, snap.metadata, snap.user_ids, snap.processed, now))
        except DatabaseFailure as error:
            engine._health.report(str(error), store.name, profile.key)
            return False
        engine._health.answered()
        active = engine._active(token)
        if active is not None:
            self.lose(active, "overwritten by set()")
        profile._committed(fresh, snap)
        return True

    # ---- other servers wrote -------------------------------------------------------------

    def react(self, profile: Profile) -> bool:
        """Re-read a held profile another server wrote to, and let the domain say what follows:
        a request from another server ends the session with a final save ("External"); a session
        that is no longer ours (taken, overwritten, removed) ends here without one. True when new
        messages were delivered: their handlers' effect waits for the caller's auto-save."""
        store, engine = profile.profile_store, self._engine
        session, epoch = profile.session or {}, profile.session_load_count
        with engine._key_lock(store._token(profile.key)):
            if not profile.is_active():
                return False
            try:
                fresh = engine._log(store._is_mock).load(profile._replica.id, store.name, profile.key)
            except CorruptStream as corrupt:
                raise DatabaseFailure(f"the stored events cannot be replayed: {corrupt}") from None
            profile._replica, profile._stale = fresh, False
            owned = fresh.is_owned_by(session, epoch)
            requested = fresh.requested_by not in (None, session)
        if not owned:
            self.lose(profile, f"another server wrote to it (now {describe(fresh.session)})")
        elif requested:
            log.info("%r requested by %s: handing over", profile, describe(fresh.requested_by))
            self.end(profile, "External")
        else:
            return profile._deliver_new() and profile.is_active()
        return False

    # ---- final-save retries ----------------------------------------------------------------

    def _schedule(self, retry: FinalRetry) -> None:
        with self._lock:
            self._retries.append(retry)

    def pending(self, token: tuple[bool, str, str] | None = None) -> list[FinalRetry]:
        """Final saves still to retry (for one key, when given)."""
        with self._lock:
            return [r for r in self._retries
                    if token is None or r.profile.profile_store._token(r.profile.key) == token]

    def retry_due(self, *, force: bool = False, token: tuple[bool, str, str] | None = None) -> None:
        """Try again the final saves that are due (all of them when `force`)."""
        cap = 8.0 if self._engine.is_closing else 20.0
        for retry in self.pending(token):
            if not force and clock.seconds() < retry.next_at:
                continue
            if self._final_write(retry.profile, retry.snapshot, retry.reason, retry=False):
                with self._lock:  # the close worker and the engine thread may both get here
                    if retry in self._retries:
                        self._retries.remove(retry)
            else:
                retry.backoff = min(retry.backoff * 2, cap)
                retry.next_at = clock.seconds() + retry.backoff
