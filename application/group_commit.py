"""Group commit: the auto-saves due in one tick stored in one database transaction.

Each profile behaves as its own auto-save would (on_save, the snapshot, a heartbeat for data that
cannot be saved, on_after_save); only the commit is shared. What cannot join the group is saved
one by one afterwards: a profile whose lock is held elsewhere (game code, a trade), one whose
replica must be re-read first. The group's saves are decided under the store's write lock, on
replicas brought up to date with what others appended meanwhile (Writes.decide_group), so a group
of busy profiles (messages arriving all the time) never loses its commit to a conflict; a member
whose session turned out lost ends, and the others are stored.
"""

from __future__ import annotations

import contextlib
import logging
import threading

from .failures import DatabaseFailure
from .profile_core import Lock, ProfileCore
from .saving import Saver, Snapshot
from .sessions import Sessions
from .writes import Writes

Member = tuple[ProfileCore, "Snapshot | None"]
log = logging.getLogger("profilestore")


def _try_enter(stack: contextlib.ExitStack, lock: Lock | threading.RLock) -> bool:
    """Take `lock` without waiting, released when `stack` closes; False if it is held elsewhere."""
    if not lock.acquire(blocking=False):
        return False
    stack.callback(lock.release)
    return True


class GroupCommit:
    """Auto-saves several held profiles in one transaction per event log."""

    def __init__(self, writes: Writes, saver: Saver, sessions: Sessions) -> None:
        self._writes = writes
        self._saver = saver
        self._sessions = sessions

    def auto_save(self, cores: list[ProfileCore]) -> None:
        """Auto-save `cores`: those that can, in one transaction per event log; the rest alone."""
        alone: list[ProfileCore] = []
        for mock in (False, True):
            group = [core for core in cores if core.token.mock is mock]
            if group:
                alone += self._save_group(group)
        for core in alone:
            self._saver.save(core, auto=True)

    def _save_group(self, cores: list[ProfileCore]) -> list[ProfileCore]:
        """Store the group's saves in one transaction, holding every member's locks until it is
        stored; returns the profiles left to save one by one."""
        alone: list[ProfileCore] = []
        members: list[Member] = []
        with contextlib.ExitStack() as held, self._writes.in_flight:
            for core in sorted(cores, key=lambda c: c.token):
                with contextlib.ExitStack() as locks:
                    if not (_try_enter(locks, core.lock)
                            and _try_enter(locks, self._writes.key_locks(core.token))) or core.stale:
                        alone.append(core)
                        continue
                    if not core.is_active():
                        continue
                    members.append((core, self._saver.prepared(core, auto=True)))
                    held.push(locks.pop_all())
            if members:
                self._store(members)
        return alone

    def _store(self, members: list[Member]) -> None:
        saver = self._saver
        try:
            errors = self._writes.decide_group(
                [(core, saver.owned_save(core, snap)) for core, snap in members])
        except DatabaseFailure as error:
            for core, _ in members:
                self._writes.health.report(str(error), core.store_name, core.key)
            return
        except Exception as error:  # e.g. another server's events that cannot be replayed
            log.warning("group save failed (%s): saving its profiles one by one", error)
            for core, snap in members:
                saver.store(core, snap)
            return
        self._sessions.ring.touch_many([core for (core, _), error in zip(members, errors, strict=True)
                                        if error is None])
        for (core, snap), lost in zip(members, errors, strict=True):
            if lost is not None:
                saver.lose(core, str(lost))
            else:
                saver.stored(core, snap, touch=False)
