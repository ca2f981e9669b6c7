"""Atomic trades: several profiles' changes stored in one database transaction, or not at all."""

from __future__ import annotations

import contextlib
import copy
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from profilestore.domain.errors import DataError, ProfileStoreError, SessionLostError

from . import clock
from .event_log import MAX_CONFLICT_RETRIES, Conflict
from .failures import CorruptStream, DatabaseFailure
from .saving import Snapshot

if TYPE_CHECKING:
    from .engine import Engine
    from .handle import Profile


def check_trade(engine: Engine, profiles: tuple[Profile, ...]) -> list[Profile]:
    """The profiles in lock order; refuses what cannot take part."""
    if len({id(p) for p in profiles}) != len(profiles):
        raise ValueError("a profile is named twice in one transaction")
    if not profiles:
        raise ValueError("transaction() needs at least one profile")
    for profile in profiles:
        if profile._read_only:
            raise ProfileStoreError(f"{profile!r} is read-only: only session profiles can trade")
        if profile.profile_store.engine is not engine:
            raise ProfileStoreError(f"{profile!r} belongs to another engine")
    if len({p.profile_store._is_mock for p in profiles}) > 1:
        raise ProfileStoreError("a transaction cannot mix mock and live profiles")
    return sorted(profiles, key=lambda p: p.profile_store._token(p.key))


@contextlib.contextmanager
def transaction(engine: Engine, *profiles: Profile) -> Iterator[None]:
    """Hold the profiles' locks while the block runs; store all their changes in one database
    transaction on a clean exit, or none of them (data restored) otherwise."""
    ordered = check_trade(engine, profiles)
    engine._check_open()
    with contextlib.ExitStack() as locks:
        for profile in ordered:
            locks.enter_context(profile.lock)
        lost = [p for p in ordered if not p.is_active()]
        if lost:
            raise SessionLostError(f"{lost[0]!r} is not active")
        before = [_state(p) for p in ordered]
        me = threading.get_ident()
        for profile in ordered:
            profile._trading = me
        try:
            yield
        except BaseException:
            _restore(ordered, before)
            raise
        finally:
            for profile in ordered:
                profile._trading = None
        _commit(engine, ordered, before)


def _state(profile: Profile) -> tuple[Any, Any, list[int]]:
    return copy.deepcopy(profile._data), copy.deepcopy(profile._metadata), list(profile._user_ids)


def _restore(profiles: list[Profile], before: list[tuple[Any, Any, list[int]]]) -> None:
    for profile, (data, metadata, user_ids) in zip(profiles, before, strict=True):
        profile._data, profile._metadata, profile._user_ids = data, metadata, user_ids


def _commit(engine: Engine, profiles: list[Profile], before: list[tuple[Any, Any, list[int]]]) -> None:
    saver = engine._saver
    for profile in profiles:
        profile.on_save.fire()
    try:
        snaps = [saver.snapshot(p) for p in profiles]
    except DataError as error:
        _restore(profiles, before)
        engine._health.report(str(error))
        raise
    try:
        _write_all(engine, profiles, snaps)
    except SessionLostError:
        _restore(profiles, before)
        for profile in profiles:  # a session that is gone ends here, as after any lost save
            if not profile._replica.is_owned_by(profile.session or {}, profile.session_load_count):
                saver.lose(profile, "lost before the trade was stored")
        raise
    except DatabaseFailure as error:
        _restore(profiles, before)
        engine._health.report(f"trade failed: {error}")
        raise ProfileStoreError(f"the trade was not stored: {error}") from None
    for profile, snap in zip(profiles, snaps, strict=True):
        profile._committed(profile._replica, snap)
        engine._autosave.touch(profile)
        profile._after_save()


def _write_all(engine: Engine, profiles: list[Profile], snaps: list[Snapshot]) -> None:
    """Every profile's Saved in one append, decided again on fresh replicas after a conflict."""
    event_log = engine._log(profiles[0].profile_store._is_mock)
    with contextlib.ExitStack() as key_locks:
        for token in sorted(p.profile_store._token(p.key) for p in profiles):
            key_locks.enter_context(engine._key_lock(token))
        for _ in range(MAX_CONFLICT_RETRIES):
            replicas = []
            for profile in profiles:
                if profile._stale:
                    try:
                        profile._replica = event_log.load(profile._replica.id, profile.profile_store.name,
                                                          profile.key)
                    except CorruptStream as corrupt:
                        raise DatabaseFailure(f"events cannot be replayed: {corrupt}") from None
                    profile._stale = False
                replicas.append(profile._replica)
            # one timestamp for the whole trade: no read as of a time sees half of it
            now = max([clock.now(), *(r.modified_on for r in replicas if r.version)])
            try:
                for profile, replica, snap in zip(profiles, replicas, snaps, strict=True):
                    snap.decide(replica, profile.session or {}, profile.session_load_count, now)
                event_log.append(*replicas)
            except Conflict:
                for profile in profiles:
                    profile._stale = True
                continue
            except BaseException:
                for profile in profiles:
                    profile._stale = True
                raise
            engine._health.answered()
            return
        raise DatabaseFailure(f"gave up after {MAX_CONFLICT_RETRIES} conflicting writes")
