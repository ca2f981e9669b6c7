"""Group commit: the auto-saves due in one tick stored in one database transaction.

Each profile behaves as its own auto-save would (on_save, the snapshot, a heartbeat for data that
cannot be saved, on_after_save); only the commit is shared. What cannot join the group is saved
one by one afterwards: a profile whose lock is held elsewhere (game code, a trade), one whose
replica must be re-read first. The group's saves are decided under the store's write lock, on
replicas brought up to date with what others appended meanwhile, so a group of busy profiles
(messages arriving all the time) never loses its commit to a conflict; a member whose session
turned out lost ends, and the others are stored.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from typing import TYPE_CHECKING

from profilestore.domain.errors import SessionLostError

from .failures import DatabaseFailure

if TYPE_CHECKING:
    from .engine import Engine
    from .handle import Profile
    from .saving import Snapshot

Member = tuple["Profile", "Snapshot | None"]
log = logging.getLogger("profilestore")


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
    """Store the group's saves in one transaction, holding every member's locks until it is
    stored; returns the profiles left to save one by one."""
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
                if not profile.is_active():
                    continue
                profile.on_save.fire()
                members.append((profile, engine._saver.checked_snapshot(profile, auto=True)))
                held.push(locks.pop_all())
        if members:
            _store(engine, members)
    return alone


def _store(engine: Engine, members: list[Member]) -> None:
    """Decide every member's Saved under the write lock, on its replica brought up to date with
    what others appended (messages, requests), and store them all in one transaction."""
    saver = engine._saver
    for profile, _ in members:
        profile._stale = True  # until stored: a failure below leaves the replica to be re-read
    try:
        outcomes = engine._log(members[0][0].profile_store._is_mock).append_decided(
            [(profile._replica, saver.owned_save(profile, snap)) for profile, snap in members])
    except DatabaseFailure as error:
        for profile, _ in members:
            engine._health.report(str(error), profile.profile_store.name, profile.key)
        return
    except Exception as error:  # e.g. another server's events that cannot be replayed
        log.warning("group save failed (%s): saving its profiles one by one", error)
        for profile, snap in members:
            saver.store(profile, snap)
        return
    engine._health.answered()
    engine._autosave.touch_many([m[0] for m, o in zip(members, outcomes, strict=True)
                                 if not isinstance(o, SessionLostError)])
    for (profile, snap), outcome in zip(members, outcomes, strict=True):
        if isinstance(outcome, SessionLostError):
            saver.lose(profile, str(outcome))
        else:
            profile._replica, profile._stale = outcome, False
            saver.stored(profile, snap, touch=False)
