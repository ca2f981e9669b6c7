"""Removal: a profile erased (a tombstone, every earlier event redacted), its session ended."""

from __future__ import annotations

from collections.abc import Callable

from profilestore.domain.profile import ProfileAggregate

from . import clock
from .failures import CorruptStream
from .profile_core import Token
from .saving import Saver
from .sessions import Sessions
from .writes import FAILED, Writes


class Remover:
    """`store.remove(key)` and `engine.erase_user(user_id)`."""

    def __init__(self, writes: Writes, saver: Saver, sessions: Sessions,
                 closing: Callable[[], bool]) -> None:
        self._writes = writes
        self._saver = saver
        self._sessions = sessions
        self._closing = closing

    def remove(self, token: Token) -> bool:
        """Erase the profile; True once done (also when it never existed), False if the engine is
        closing or the database did not answer (reported)."""
        if self._closing():
            return False
        writes = self._writes
        unreadable: list[ProfileAggregate] = []

        def load() -> ProfileAggregate:
            try:
                return writes.load(token)
            except CorruptStream as corrupt:
                unreadable.append(writes.after_corrupt(token, corrupt))
                return unreadable[-1]

        def tombstone(replica: ProfileAggregate) -> bool:
            if replica.live or replica in unreadable:  # erasure reaches unreadable rows too
                replica.remove(clock.now())
            return True

        def erase() -> bool:
            self._saver.retry_due(force=True, token=token)
            return writes.decide(token, load, tombstone, writes.log_of(token).erase)[1]

        if writes.retrying(token, erase) is FAILED:
            return False
        active = self._sessions.active(token)
        if active is not None:
            self._saver.lose(active, "the profile was removed")
        return True
