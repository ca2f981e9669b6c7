"""Following other servers: read the notification log and let owners react to what they wrote.

Every `poll_interval` the engine reads the notifications after the last one it saw, filtered to
the event types an owner reacts to. On PostgreSQL the recorder also LISTENs: a NOTIFY from any
writer wakes the engine to read at once, and polling stays the fallback (SQLite cannot push).
For each one that concerns a profile held here, the owner re-reads the profile and the domain
decides: a request from another server ends the session with a final save ("External"); a
session that is no longer ours (taken, overwritten, removed) ends here without one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING
from uuid import UUID

from eventsourcing.persistence import PersistenceError
from eventsourcing.utils import get_topic

from profilestore.domain.profile import ProfileAggregate

from . import clock, group_commit
from .failures import DatabaseFailure

if TYPE_CHECKING:
    from .engine import Engine
    from .handle import Profile

log = logging.getLogger("profilestore")
PAGE = 500
REACT_TO = [get_topic(cls) for cls in (
    ProfileAggregate.SessionRequested, ProfileAggregate.SessionStarted,
    ProfileAggregate.SessionEnded, ProfileAggregate.Removed, ProfileAggregate.MessageQueued,
)]


class Follower:
    """Reads what other servers wrote since the last poll and makes this engine's owners react."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._last_id: int | None = None
        self._next_poll = 0.0
        self._recheck: set[UUID] = set()
        self._unwatch: Callable[[], None] | None = None
        self.changes = 0  # how many times other writers were heard of (LISTEN)

    def start(self) -> None:
        """Begin after everything written so far (earlier events predate our sessions)."""
        try:
            self._last_id = self._engine._live.app.recorder.max_notification_id() or 0
            self._unwatch = self._engine._live.recorder.watch(self.wake)
        except (PersistenceError, DatabaseFailure):
            self._last_id = None  # tried again at the first poll

    def wake(self) -> None:
        """Someone wrote: poll at the engine thread's next turn, and wake it now."""
        self.changes += 1
        self._next_poll = 0.0
        self._engine._wakeup.set()

    def stop(self) -> None:
        """Stop listening (polling stops with the engine thread)."""
        if self._unwatch is not None:
            self._unwatch()
            self._unwatch = None

    def poll_if_due(self) -> None:
        """Poll when `poll_interval` has passed since the last poll."""
        now = clock.seconds()
        if now < self._next_poll:
            return
        self._next_poll = now + self._engine.settings.poll_interval
        try:
            self.poll()
        except DatabaseFailure as error:
            self._engine._health.report(f"following other servers failed: {error}")

    def poll(self) -> None:
        """Read every new notification of interest and react to it."""
        recorder = self._engine._live.app.recorder
        try:
            if self._last_id is None:
                self._last_id = recorder.max_notification_id() or 0
                if self._unwatch is None:
                    self._unwatch = self._engine._live.recorder.watch(self.wake)
                return
            recheck, self._recheck = self._recheck, set()
            delivered = [p for p in map(self._react, recheck) if p is not None]
            while True:
                page = recorder.select_notifications(self._last_id, PAGE, topics=REACT_TO,
                                                     inclusive_of_start=False)
                if page:
                    self._last_id = page[-1].id
                # one re-read per profile covers all its notifications in the page
                for originator_id in dict.fromkeys(UUID(str(n.originator_id)) for n in page):
                    profile = self._react(originator_id)
                    if profile is not None:
                        delivered.append(profile)
                if len(page) < PAGE:
                    break
        except PersistenceError as error:
            raise DatabaseFailure(f"read failed: {error}") from None
        # the handlers' effect with the processed ids: one transaction for every profile
        group_commit.auto_save(self._engine, list(dict.fromkeys(delivered)))

    def _react(self, originator_id: UUID) -> Profile | None:
        """React to news of a held profile; the profile when new messages were delivered."""
        profile = self._engine._held(originator_id)
        if profile is None or not profile.is_active():
            return None
        try:
            return profile if self._engine._saver.react(profile) else None
        except DatabaseFailure as error:
            self._engine._health.report(str(error), profile.profile_store.name, profile.key)
            self._recheck.add(originator_id)  # look again at the next poll
            return None
