"""The unit of work: how every write of a profile is made, in one place.

A write holds its key's lock (application/event_logs.py gives one per profile) and counts as work
in flight, so `close()` waits for it. It loads the aggregate, lets a decision function record
events on it (the domain refuses what may not happen: a lost session raises SessionLostError),
and appends them at the version it read. When another writer appended first (a Conflict), it
loads and decides again; after MAX_CONFLICT_RETRIES it gives up with a DatabaseFailure. Callers
that retry database failures with backoff do it through `retrying`, which reports each failure
(`on_error`, the critical-state count). Claims, messages, `set()`, `remove`, saves, final saves,
group saves and trades are each one decision function given to one of the methods below.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from profilestore.domain.errors import SessionLostError
from profilestore.domain.profile import ProfileAggregate, profile_id
from profilestore.domain.shape import StoreShape

from . import clock
from .event_log import Conflict, EventLog
from .event_logs import EventLogs, InFlight, KeyLocks
from .failures import CorruptStream, DatabaseFailure
from .health import Health
from .profile_core import ProfileCore, Token
from .settings import Settings
from .signals import Signal

log = logging.getLogger("profilestore")
T = TypeVar("T")
MAX_CONFLICT_RETRIES = 100
FAILED: Any = object()  # what `retrying` returns when it gave up
Decide = Callable[[ProfileAggregate], T]


class Writes:
    """Loads, decides and appends profile writes; re-decides on conflicts; retries failures."""

    def __init__(self, logs: EventLogs, key_locks: KeyLocks, in_flight: InFlight, health: Health,
                 on_overwrite: Signal, settings: Callable[[], Settings],
                 closing: Callable[[], bool]) -> None:
        self.logs = logs
        self.key_locks = key_locks
        self.in_flight = in_flight
        self.health = health
        self._on_overwrite = on_overwrite
        self._settings = settings
        self._closing = closing

    @contextlib.contextmanager
    def holding(self, *tokens: Token) -> Iterator[None]:
        """Hold the keys' locks (in token order) and count as work in flight."""
        with contextlib.ExitStack() as stack:
            for token in sorted(set(tokens)):
                stack.enter_context(self.key_locks(token))
            stack.enter_context(self.in_flight)
            yield

    # ---- loads ---------------------------------------------------------------------------------

    def load(self, token: Token, version: int | None = None) -> ProfileAggregate:
        """The profile's aggregate (version 0 if it has no events); CorruptStream if its events
        cannot be replayed."""
        return self.logs.of(token.mock).load(profile_id(token.store, token.key), token.store,
                                              token.key, version=version)

    def load_or_reset(self, token: Token, shape: StoreShape) -> ProfileAggregate:
        """The profile to write to; if its events cannot be replayed, fire on_overwrite and restart
        it from the template with a pending Reset (the corrupt rows stay untouched)."""
        try:
            return self.load(token)
        except CorruptStream as corrupt:
            log.warning("profile %r/%r cannot be replayed (%s): resetting it", token.store,
                        token.key, corrupt)
            self._on_overwrite.fire(token.store, token.key)
            replica = self.after_corrupt(token, corrupt)
            replica.reset(shape.template_data, clock.now(), *shape.new_schema)
            return replica

    def after_corrupt(self, token: Token, corrupt: CorruptStream) -> ProfileAggregate:
        """A blank aggregate standing after a stream that cannot be replayed."""
        return self.logs.of(token.mock).after_corrupt(
            profile_id(token.store, token.key), token.store, token.key, corrupt)

    def replica(self, core: ProfileCore) -> ProfileAggregate:
        """The replica the profile last stored, re-read only after an attempt that failed; it
        counts as stale until this attempt is stored."""
        if core.stale:
            try:
                core.replica = self.load(core.token)
            except CorruptStream as corrupt:
                raise DatabaseFailure(f"the stored events cannot be replayed: {corrupt}") from None
        core.stale = True
        return core.replica

    # ---- writes --------------------------------------------------------------------------------

    def decide(self, token: Token, load: Callable[[], ProfileAggregate], decide: Decide[T],
               store: Callable[[ProfileAggregate], None] | None = None
               ) -> tuple[ProfileAggregate, T]:
        """Under the key's lock: load, decide, append what was decided (with `store` if given);
        on a conflict load and decide again. Returns the aggregate and what `decide` returned."""
        append = store or self.logs.of(token.mock).append
        with self.holding(token):
            (profile,), result = self._attempts(lambda: [load()], lambda ps: decide(ps[0]), append)
        return profile, result

    def decide_held(self, cores: Sequence[ProfileCore],
                    decide: Callable[[list[ProfileAggregate]], None]) -> None:
        """Writes of profiles this engine holds, decided on their replicas and stored in one
        transaction (a save, a final save, a trade); the cores keep the stored replicas."""
        event_log = self.logs.of(cores[0].token.mock)
        with self.holding(*(core.token for core in cores)):
            replicas, _ = self._attempts(lambda: [self.replica(core) for core in cores], decide,
                                         event_log.append)
        for core, replica in zip(cores, replicas, strict=True):
            core.replica, core.stale = replica, False

    def decide_group(self, members: Sequence[tuple[ProfileCore, Decide[None]]]
                     ) -> list[SessionLostError | None]:
        """Auto-saves of held profiles in one transaction that takes the store's write lock before
        reading, so none can conflict: each replica is brought up to date with what others
        appended, then decided. A member whose decision raised SessionLostError is left out; the
        list gives, per member, that error or None once stored. The caller holds the key locks."""
        for core, _ in members:
            core.stale = True  # until stored: a failure leaves the replica to be re-read
        event_log = self.logs.of(members[0][0].token.mock)
        with self.in_flight:
            outcomes = event_log.append_decided([(core.replica, decide) for core, decide in members])
        self.health.answered()
        errors: list[SessionLostError | None] = []
        for (core, _), outcome in zip(members, outcomes, strict=True):
            if isinstance(outcome, SessionLostError):
                errors.append(outcome)
            else:
                core.replica, core.stale = outcome, False
                errors.append(None)
        return errors

    def _attempts(self, load: Callable[[], list[ProfileAggregate]],
                  decide: Callable[[list[ProfileAggregate]], T],
                  append: Callable[..., None]) -> tuple[list[ProfileAggregate], T]:
        for _ in range(MAX_CONFLICT_RETRIES):
            profiles = load()
            result = decide(profiles)
            pending = [p for p in profiles if p.pending_events]
            if pending:
                try:
                    append(*pending)
                except Conflict:
                    continue  # another writer appended first: load and decide again
            self.health.answered()
            return profiles, result
        raise DatabaseFailure(f"gave up after {MAX_CONFLICT_RETRIES} conflicting writes")

    # ---- database failures ---------------------------------------------------------------------

    def retrying(self, token: Token, attempt: Callable[[], T], *,
                 stop: Callable[[], bool] | None = None, started: float | None = None,
                 give_up: bool = True) -> T:
        """Run `attempt`, retrying database failures with backoff (each reported) until it
        succeeds, or `stop()` (default: the engine closing), or, with `give_up`,
        start_session_timeout seconds have passed since `started`; then FAILED."""
        stop = stop or self._closing
        started = clock.seconds() if started is None else started
        limit = self._settings().start_session_timeout if give_up else None
        backoff = 1.0
        while True:
            try:
                result = attempt()
            except DatabaseFailure as error:
                self.health.report(str(error), token.store, token.key)
                if stop() or (limit is not None and clock.seconds() - started >= limit):
                    return FAILED  # type: ignore[no-any-return]
                clock.sleep_until(clock.seconds() + backoff, stop)
                backoff = min(backoff * 2, 20.0)
                continue
            self.health.answered()
            return result

    def log_of(self, token: Token) -> EventLog:
        """The event log the profile lives in (the mock one for mock stores)."""
        return self.logs.of(token.mock)
