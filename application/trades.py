"""Atomic trades: several profiles' changes stored in one database transaction, or not at all."""

from __future__ import annotations

import contextlib
import copy
import threading
from collections.abc import Callable, Iterator
from typing import Any

from profilestore.domain.errors import DataError, ProfileStoreError, SessionLostError, StoreClosedError
from profilestore.domain.profile import ProfileAggregate

from . import clock
from .failures import DatabaseFailure
from .profile_core import Held, ProfileCore
from .saving import Saver, Snapshot, committed
from .sessions import Sessions
from .writes import Writes

State = tuple[Any, Any, list[int]]


class Trades:
    """`engine.transaction(...)`: the profiles' locks held while the block runs, their changes
    stored together on a clean exit, or none of them (data restored) otherwise."""

    def __init__(self, writes: Writes, saver: Saver, sessions: Sessions,
                 closed: Callable[[], bool]) -> None:
        self._writes = writes
        self._saver = saver
        self._sessions = sessions
        self._closed = closed

    @contextlib.contextmanager
    def transaction(self, owner: object, profiles: tuple[Held, ...]) -> Iterator[None]:
        """The trade of `profiles`, which must be session profiles of the engine `owner`."""
        cores = self._check(owner, profiles)
        if self._closed():
            raise StoreClosedError("the engine is closed")
        with contextlib.ExitStack() as locks:
            for core in cores:
                locks.enter_context(core.lock)
            before = self.begin(cores)
            try:
                yield
            except BaseException:
                self.abandon(cores, before)
                raise
            self.commit(cores, before)

    def check(self, owner: object, profiles: tuple[Held, ...]) -> list[ProfileCore]:
        """The profiles' cores in lock order; refuses what cannot take part."""
        if self._closed():
            raise StoreClosedError("the engine is closed")
        return self._check(owner, profiles)

    @staticmethod
    def begin(cores: list[ProfileCore]) -> list[State]:
        """Mark the block running on this thread; the state to restore. The caller holds the
        profiles (their locks, or their event loop)."""
        lost = [core for core in cores if not core.is_active()]
        if lost:
            raise SessionLostError(f"{lost[0]!r} is not active")
        me = threading.get_ident()
        for core in cores:
            core.trading = me
        return [_state(core) for core in cores]

    @staticmethod
    def abandon(cores: list[ProfileCore], before: list[State]) -> None:
        """The block failed: its changes are undone."""
        for core in cores:
            core.trading = None
        _restore(cores, before)

    @staticmethod
    def _check(owner: object, profiles: tuple[Held, ...]) -> list[ProfileCore]:
        """The profiles' cores in lock order; refuses what cannot take part."""
        if len({id(p) for p in profiles}) != len(profiles):
            raise ValueError("a profile is named twice in one transaction")
        if not profiles:
            raise ValueError("transaction() needs at least one profile")
        cores = [profile.core for profile in profiles]
        for core in cores:
            if core.read_only:
                raise ProfileStoreError(f"{core!r} is read-only: only session profiles can trade")
            if core.owner is not owner:
                raise ProfileStoreError(f"{core!r} belongs to another engine")
        if len({core.token.mock for core in cores}) > 1:
            raise ProfileStoreError("a transaction cannot mix mock and live profiles")
        return sorted(cores, key=lambda core: core.token)

    def commit(self, cores: list[ProfileCore], before: list[State]) -> None:
        """Store every profile's changes in one transaction, or restore them all and raise."""
        health = self._writes.health
        for core in cores:
            core.trading = None

        def snapshots() -> list[Snapshot]:
            for core in cores:
                core.on_save.fire()
            return [self._saver.snapshot(core) for core in cores]

        try:
            snaps = cores[0].owned(snapshots)
        except DataError as error:
            _restore(cores, before)
            health.report(str(error))
            raise
        try:
            self._writes.decide_held(cores, _decide_all(cores, snaps))
        except SessionLostError:
            _restore(cores, before)
            for core in cores:  # a session that is gone ends here, as after any lost save
                if not core.replica.is_owned_by(core.session or {}, core.session_load_count):
                    self._saver.lose(core, "lost before the trade was stored")
            raise
        except DatabaseFailure as error:
            _restore(cores, before)
            health.report(f"trade failed: {error}")
            raise ProfileStoreError(f"the trade was not stored: {error}") from None
        def bookkeeping() -> None:
            for core, snap in zip(cores, snaps, strict=True):
                committed(core, snap)
                self._sessions.ring.touch(core)
                core.after_save()
        cores[0].owned(bookkeeping)


def _decide_all(cores: list[ProfileCore], snaps: list[Snapshot]
                ) -> Callable[[list[ProfileAggregate]], None]:
    """Every profile's Saved, with one timestamp for the whole trade: no read as of a time sees
    half of it."""
    def decide(replicas: list[ProfileAggregate]) -> None:
        now = max([clock.now(), *(r.modified_on for r in replicas if r.version)])
        for core, replica, snap in zip(cores, replicas, snaps, strict=True):
            snap.decide(replica, core.session or {}, core.session_load_count, now)
    return decide


def _state(core: ProfileCore) -> State:
    return core.owned(lambda: (copy.deepcopy(core.data), copy.deepcopy(core.metadata),
                               list(core.user_ids)))


def _restore(cores: list[ProfileCore], before: list[State]) -> None:
    def restore() -> None:
        for core, (data, metadata, user_ids) in zip(cores, before, strict=True):
            core.data, core.metadata, core.user_ids = data, metadata, user_ids
    cores[0].owned(restore)
