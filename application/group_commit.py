"""Group commit: the auto-saves due in one tick stored in one database transaction.

Each profile behaves as its own auto-save would (on_save, the snapshot, a heartbeat for data that
cannot be saved, on_after_save); only the commit is shared. What cannot join the group is saved
one by one afterwards: a profile whose lock is held elsewhere (game code, a trade), one whose
replica must be re-read first. When another writer beat the group to any of its streams, every
member is decided again and stored on its own, as a conflicting single save would be.
"""

from __future__ import annotations

import contextlib
import threading
from typing import TYPE_CHECKING

from profilestore.domain.errors import SessionLostError

from .event_log import Conflict, DatabaseFailure

if TYPE_CHECKING:
    from profilestore.domain.profile import ProfileAggregate

    from .engine import Engine
    from .profile import Profile
    from .saving import Snapshot

Member = tuple["Profile", "Snapshot | None", "ProfileAggregate"]


def _try_enter(stack: contextlib.ExitStack, lock: threading.RLock) -> bool:
    """Take `lock` without waiting, released when `stack` closes; False if it is held elsewhere."""
    if not lock.acquire(blocking=False):
        return False
    stack.callback(lock.release)
    return True


def auto_save(engine: Engine, profiles: list[Profile]) -> None:
    """Auto-save `profiles`: those that can, in one transaction per event log; the rest alone."""
    alone: list[Profile] = []
    for mock in (False, True):
        group = [p for p in profiles if p.profile_store._is_mock is mock]
        if group:
            alone += _save_group(engine, group)
    for profile in alone:
        engine._saver.save(profile, auto=True)


def _save_group(engine: Engine, profiles: list[Profile]) -> list[Profile]:
    """Store the group's saves in one append, holding every member's locks until it is stored;
    returns the profiles left to save one by one."""
    alone: list[Profile] = []
    members: list[Member] = []
    with contextlib.ExitStack() as held, engine._in_flight():
        for profile in sorted(profiles, key=lambda p: p.profile_store._token(p.key)):
            with contextlib.ExitStack() as locks:
                key_lock = engine._key_lock(profile.profile_store._token(profile.key))
                if not (_try_enter(locks, profile.lock) and _try_enter(locks, key_lock)) \
                        or profile._stale:
                    alone.append(profile)
                    continue
                member = _decide(engine, profile)
                if member is not None:
                    members.append(member)
                    held.push(locks.pop_all())
        if members:
            _store(engine, members)
    return alone


def _decide(engine: Engine, profile: Profile) -> Member | None:
    """Record the profile's Saved on its replica (None: the session ended or was lost)."""
    saver = engine._saver
    if not profile.is_active():
        return None
    profile.on_save.fire()
    snap = saver.checked_snapshot(profile, auto=True)
    replica = profile._replica
    profile._stale = True  # until the group is stored
    try:
        saver.owned_save(profile, snap)(replica)
    except SessionLostError as error:
        saver.lose(profile, str(error))
        return None
    return profile, snap, replica


def _store(engine: Engine, members: list[Member]) -> None:
    saver = engine._saver
    try:
        engine._log(members[0][0].profile_store._is_mock).append(*(m[2] for m in members))
    except Conflict:
        for profile, snap, _ in members:  # re-read (stale) and decide again, one by one
            saver.store(profile, snap)
        return
    except DatabaseFailure as error:
        for profile, _, _ in members:
            engine._health.report(str(error), profile.profile_store.name, profile.key)
        return
    engine._health.answered()
    engine._autosave.touch_many([m[0] for m in members])
    for profile, snap, replica in members:
        profile._replica, profile._stale = replica, False
        saver.stored(profile, snap, touch=False)
