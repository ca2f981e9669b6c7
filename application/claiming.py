"""start_session: claim a free session, or request, wait, and take one another server holds."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

from profilestore.domain.profile import ProfileAggregate
from profilestore.domain.shape import Admitted, StoreShape

from . import clock
from .profile_core import Held, Token
from .saving import Saver
from .sessions import Sessions
from .settings import Settings
from .writes import FAILED, Writes

H = TypeVar("H", bound=Held)
Make = Callable[[ProfileAggregate, Any], H]  # (claimed aggregate, its data) -> the game's profile


@dataclass
class StartJob(Generic[H]):
    """One key's start in progress on this engine; the latest caller's ticket gets the profile."""

    steal: bool
    cancel: Callable[[], bool] | None
    ticket: int = 0
    done: threading.Event = field(default_factory=threading.Event)
    result: H | None = None
    cancelled: bool = False

    def is_cancelled(self) -> bool:
        """Poll the latest caller's cancel; latched once true."""
        if not self.cancelled and self.cancel is not None:
            self.cancelled = bool(self.cancel())
        return self.cancelled


class Admissions:
    """shape.admit of one start's replicas, run again only when the stored data changed (a save,
    a migration, a new life): a server waiting for a hand-over does not migrate at every poll."""

    def __init__(self, shape: StoreShape) -> None:
        self._shape = shape
        self._key: tuple[int, int, int, int] | None = None
        self.last: Admitted | None = None

    def of(self, replica: ProfileAggregate) -> Admitted:
        """The replica's data as this server may hold it (raises as shape.admit does)."""
        key = (replica.life_version, replica.saved_version, replica.schema, replica.readable_from)
        if self.last is None or key != self._key:
            self.last, self._key = self._shape.admit(replica), key
        return self.last


class Claimer:
    """Runs start jobs: ProfileStore's conflict protocol, with the event store as the referee."""

    def __init__(self, writes: Writes, sessions: Sessions, saver: Saver, me: dict[str, str],
                 settings: Callable[[], Settings], closing: Callable[[], bool],
                 news: Callable[[], int]) -> None:
        self._writes = writes
        self._sessions = sessions
        self._saver = saver
        self._me = me  # this server as the session it writes
        self._settings = settings
        self._closing = closing
        self._news = news  # counts other servers' writes heard of (LISTEN): wakes a wait
        self._jobs: dict[Token, StartJob[Any]] = {}
        self._lock = threading.Lock()

    def start(self, token: Token, shape: StoreShape, make: Make[H], steal: bool,
              cancel: Callable[[], bool] | None) -> H | None:
        """Join or run the key's start job; None unless this call is the latest when it ends.
        `make` turns the claimed aggregate and its data, as `shape.admit` gave it, into the
        game's profile. Raises what `shape.admit` raises (a newer schema, data that does not
        validate, a migration that fails) with nothing written."""
        with self._lock:
            job = self._jobs.get(token)
            runner = job is None
            if job is None:
                job = self._jobs[token] = StartJob(steal, cancel)
            else:
                job.steal, job.cancel, job.cancelled = steal, cancel, False
            job.ticket += 1
            ticket = job.ticket
        if runner:
            try:
                job.result = self._run(token, shape, make, job)
            finally:
                with self._lock:
                    del self._jobs[token]
                job.done.set()
        else:
            job.done.wait()
        result: H | None = job.result if ticket == job.ticket else None
        return result

    def _run(self, token: Token, shape: StoreShape, make: Make[H], job: StartJob[H]) -> H | None:
        writes, started = self._writes, clock.seconds()
        next_reread = 0.0
        requested_at: datetime | None = None
        admissions = Admissions(shape)

        def stop() -> bool:
            return self._closing() or job.is_cancelled()

        def step() -> tuple[ProfileAggregate, str, datetime]:
            self._saver.retry_due(force=True, token=token)
            now = clock.now()
            replica, action = writes.decide(
                token, lambda: writes.load_or_reset(token, shape),
                lambda replica: self._decide(token, replica, shape, job, requested_at, next_reread,
                                             now, admissions))
            return replica, action, now

        while not stop():
            outcome = writes.retrying(token, step, stop=stop, started=started,
                                      give_up=job.cancel is None)
            if outcome is FAILED:
                return None
            replica, action, now = outcome
            now_s, settings = clock.seconds(), self._settings()
            if action == "give up":
                return None
            if action == "claim":
                assert admissions.last is not None
                return self._activate(replica, admissions.last, make, job)
            if action == "ending":  # its final save lands within moments: look again then
                clock.sleep_until(now_s + settings.poll_interval,
                                  lambda: stop() or not self._saver.ending(token), step=0.005)
                continue
            if action == "request":
                requested_at = now
                next_reread = now_s + settings.first_load_repeat
            elif action == "reread":
                next_reread = now_s + settings.load_repeat_period
            clock.sleep_until(min(now_s + settings.poll_interval, next_reread),
                              self._stop_or_news(stop))
        return None

    def _stop_or_news(self, stop: Callable[[], bool]) -> Callable[[], bool]:
        """Wake a wait when asked to stop, or when other servers wrote since now (LISTEN)."""
        heard = self._news()
        return lambda: stop() or self._news() != heard

    def _decide(self, token: Token, replica: ProfileAggregate, shape: StoreShape, job: StartJob[H],
                requested_at: datetime | None, next_reread: float, now: datetime,
                admissions: Admissions) -> str:
        """Record the next step on the replica; returns claim, request, wait, reread, ending
        (this engine's own last session of the key is still being saved) or give up.
        First, whoever holds it, the stored data must be readable here (shape.admit raises); a
        claim records the migration it needed, after the claim, under our session. Waits and
        re-reads do not migrate: only the first decision and a claim need the data."""
        settings, me = self._settings(), self._me
        if not replica.live:
            replica.create(shape.template_data, me, now, *shape.new_schema)
        if requested_at is None:
            admissions.of(replica)
        if replica.session == me and self._saver.ending(token):
            return "ending"  # our own last session's final save is on its way: it goes first
        if replica.session is None or replica.session == me:
            replica.start_session(me, now)
            return self._claimed(replica, shape, admissions.of(replica), now)
        if job.steal or replica.owner_is_dead(now, settings.assume_dead):
            replica.take_session(me, now)
            return self._claimed(replica, shape, admissions.of(replica), now)
        if requested_at is None:
            replica.request_session(me, now)
            return "request"
        if replica.requested_by != me:
            return "give up"  # another server asked after us: the last requester wins
        if clock.seconds() < next_reread:
            return "wait"
        if (now - requested_at).total_seconds() >= settings.session_steal:
            replica.take_session(me, now)
            return self._claimed(replica, shape, admissions.of(replica), now)
        return "reread"

    def _claimed(self, replica: ProfileAggregate, shape: StoreShape, admission: Admitted,
                 now: datetime) -> str:
        if admission.migrated is not None:  # every missing step as one event, in the claim
            replica.migrate(admission.migrated, shape.schema, shape.readable_from, self._me, now)
        return "claim"

    def _activate(self, replica: ProfileAggregate, admission: Admitted, make: Make[H],
                  job: StartJob[H]) -> H | None:
        profile = make(replica, admission.value)
        self._sessions.add(profile.core)
        if self._closing() or job.is_cancelled():
            self._saver.end(profile.core, "Manual")  # claimed just as we gave up: release it
            return None
        return profile
