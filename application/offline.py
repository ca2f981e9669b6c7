"""Offline migration: bring stored profiles no server holds to a store's schema, one transaction
each, without claiming them (`profilestore migrate`). Held ones migrate at their next session."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from profilestore.domain.diff import make_patch
from profilestore.domain.errors import ProfileStoreError
from profilestore.domain.profile import ProfileAggregate
from profilestore.domain.shape import StoreShape

from . import clock
from .failures import CorruptStream
from .profile_core import Token
from .writes import FAILED

if TYPE_CHECKING:
    from .store import ProfileStore


Status = Literal["migrated", "current", "held", "refused"]


@dataclass
class Outcome:
    """What happened to one key: migrated, current (nothing to do), held (a server holds its
    session), or refused (the reason in `detail`); `patch` is the migration's (dry runs too)."""

    key: str
    status: Status
    detail: str = ""
    patch: list[dict[str, Any]] = field(default_factory=list)


def migrate_stored(store: ProfileStore, key: str, *, dry_run: bool = False) -> Outcome:
    """Migrate one stored profile of `store` (live, not mock) to the store's schema."""
    if store.mock is store:
        raise ValueError("offline migration is for live stores, not mock ones")
    shape = StoreShape(store.template, store.migrations)
    writes = store.engine.parts.writes
    token = Token(False, store.name, key)

    def decide(replica: ProfileAggregate) -> Outcome:
        if not replica.live:
            return Outcome(key, "current", "no live profile (removed meanwhile)")
        if replica.session is not None:
            return Outcome(key, "held", "a server holds its session: it migrates at the next one")
        from_schema = replica.schema
        if from_schema > shape.schema:
            return Outcome(key, "refused", f"stored at schema {from_schema}, newer than the"
                           f" store's {shape.schema}: is the store's code the newest?")
        if from_schema == shape.schema:
            return Outcome(key, "current", f"at schema {from_schema}")
        try:
            admitted = shape.admit(replica)
        except ProfileStoreError as why:  # a DataError: a step failed, or data does not validate
            return Outcome(key, "refused", str(why))
        assert admitted.migrated is not None
        patch = make_patch(replica.data, admitted.migrated)
        if not dry_run:  # appended by writes.decide, in its own transaction
            replica.migrate(admitted.migrated, shape.schema, shape.readable_from, None, clock.now())
        return Outcome(key, "migrated", f"schema {from_schema} -> {shape.schema}", patch)

    def attempt() -> Outcome:
        try:
            return writes.decide(token, lambda: writes.load(token), decide)[1]
        except CorruptStream as corrupt:
            return Outcome(key, "refused", f"its events cannot be replayed: {corrupt}")

    outcome = writes.retrying(token, attempt)
    if outcome is FAILED:
        return Outcome(key, "refused", "the database did not answer")
    result: Outcome = outcome
    return result
