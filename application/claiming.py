"""start_session: claim a free session, or request, wait, and take one another server holds."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from profilestore.domain.profile import ProfileAggregate, profile_id

from . import clock
from .event_log import Conflict
from .failures import DatabaseFailure
from .handle import Profile

if TYPE_CHECKING:
    from .engine import Engine
    from .store import ProfileStore

Token = tuple[bool, str, str]  # (mock, store name, key): what the engine's per-key registries use


@dataclass
class StartJob:
    """One key's start in progress on this engine; the latest caller's ticket gets the profile."""

    steal: bool
    cancel: Callable[[], bool] | None
    ticket: int = 0
    done: threading.Event = field(default_factory=threading.Event)
    result: Profile | None = None
    cancelled: bool = False

    def is_cancelled(self) -> bool:
        """Poll the latest caller's cancel; latched once true."""
        if not self.cancelled and self.cancel is not None:
            self.cancelled = bool(self.cancel())
        return self.cancelled


class Claimer:
    """Runs start jobs: ProfileStore's conflict protocol, with the event store as the referee."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._jobs: dict[Token, StartJob] = {}
        self._lock = threading.Lock()

    def start(self, store: ProfileStore, key: str, steal: bool,
              cancel: Callable[[], bool] | None) -> Profile | None:
        """Join or run the key's start job; None unless this call is the latest when it ends."""
        token = store._token(key)
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
                job.result = self._run(store, key, job)
            finally:
                with self._lock:
                    del self._jobs[token]
                job.done.set()
        else:
            job.done.wait()
        return job.result if ticket == job.ticket else None

    def _run(self, store: ProfileStore, key: str, job: StartJob) -> Profile | None:
        engine, settings = self._engine, self._engine.settings
        started = clock.seconds()
        event_log, pid = engine._log(store._is_mock), profile_id(store.name, key)
        backoff, next_reread = 1.0, 0.0
        requested_at: datetime | None = None

        def stop() -> bool:
            return engine.is_closing or job.is_cancelled()

        while not stop():
            now, now_s = clock.now(), clock.seconds()
            try:
                engine._saver.retry_due(force=True, token=store._token(key))
                with engine._key_lock(store._token(key)), engine._in_flight():
                    replica = store._load_or_reset(event_log, pid, key)
                    action = self._decide(replica, store, job, requested_at, next_reread, now)
                    if action == "give up":
                        return None
                    if action in ("claim", "request"):
                        event_log.append(replica)
                        engine._health.answered()
            except Conflict:
                continue  # someone wrote first: re-read and decide again
            except DatabaseFailure as error:
                engine._health.report(str(error), store.name, key)
                if job.cancel is None and now_s - started >= settings.start_session_timeout:
                    return None
                clock.sleep_until(clock.seconds() + backoff, stop)
                backoff = min(backoff * 2, 20.0)
                continue
            if action == "claim":
                return self._activate(store, replica, job)
            if action == "request":
                requested_at = now
                next_reread = now_s + settings.first_load_repeat
            elif action == "reread":
                next_reread = now_s + settings.load_repeat_period
            clock.sleep_until(min(now_s + settings.poll_interval, next_reread),
                              _stop_or_news(stop, engine, engine._follower.changes))
        return None

    def _decide(self, replica: ProfileAggregate, store: ProfileStore, job: StartJob,
                requested_at: datetime | None, next_reread: float, now: datetime) -> str:
        """Record the next step on the replica; returns claim, request, wait, reread or give up."""
        engine, settings = self._engine, self._engine.settings
        me = engine.server.as_session()
        if not replica.live:
            replica.create(store.template, me, now)
        if replica.session is None or replica.session == me:
            replica.start_session(me, now)
            return "claim"
        if job.steal or replica.owner_is_dead(now, settings.assume_dead):
            replica.take_session(me, now)
            return "claim"
        if requested_at is None:
            replica.request_session(me, now)
            return "request"
        if replica.requested_by != me:
            return "give up"  # another server asked after us: the last requester wins
        if clock.seconds() < next_reread:
            return "wait"
        if (now - requested_at).total_seconds() >= settings.session_steal:
            replica.take_session(me, now)
            return "claim"
        return "reread"

    def _activate(self, store: ProfileStore, replica: ProfileAggregate, job: StartJob
                  ) -> Profile | None:
        engine = self._engine
        profile = Profile(store, replica, session=engine.server.as_session(), read_only=False)
        if engine.is_closing or job.is_cancelled():
            engine._register(profile)
            engine._saver.end(profile, "Manual")  # claimed just as we gave up: release it
            return None
        engine._register(profile)
        return profile


def _stop_or_news(stop: Callable[[], bool], engine: Engine, heard: int) -> Callable[[], bool]:
    """Wake a wait when asked to stop, or when other servers wrote since `heard` (LISTEN)."""
    return lambda: stop() or engine._follower.changes != heard
