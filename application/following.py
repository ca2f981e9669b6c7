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
from uuid import UUID

from eventsourcing.persistence import PersistenceError
from eventsourcing.utils import get_topic

from profilestore.domain.profile import ProfileAggregate

from . import clock
from .event_log import EventLog
from .failures import DatabaseFailure
from .health import Health
from .profile_core import ProfileCore
from .saving import Saver
from .sessions import Sessions
from .settings import Settings

log = logging.getLogger("profilestore")
PAGE = 500
REACT_TO = [get_topic(cls) for cls in (
    ProfileAggregate.SessionRequested, ProfileAggregate.SessionStarted,
    ProfileAggregate.SessionEnded, ProfileAggregate.Removed, ProfileAggregate.MessageQueued,
)]
AutoSave = Callable[[list[ProfileCore]], None]


class Follower:
    """Reads what other servers wrote since the last poll and makes this engine's owners react;
    delivers the messages this engine sent to profiles it holds."""

    def __init__(self, live: EventLog, sessions: Sessions, saver: Saver, health: Health,
                 auto_save: AutoSave, settings: Callable[[], Settings],
                 wake_engine: Callable[[], None]) -> None:
        self._live = live
        self._sessions = sessions
        self._saver = saver
        self._health = health
        self._auto_save = auto_save  # the handlers' effect with the processed ids, grouped
        self._settings = settings
        self._wake_engine = wake_engine
        self._last_id: int | None = None
        self._next_poll = 0.0
        self._recheck: set[UUID] = set()
        self._unwatch: Callable[[], None] | None = None
        self.changes = 0  # how many times other writers were heard of (LISTEN)

    def start(self) -> None:
        """Begin after everything written so far (earlier events predate our sessions)."""
        try:
            self._last_id = self._live.recorder.max_notification_id() or 0
            self._unwatch = self._live.recorder.watch(self.wake)
        except (PersistenceError, DatabaseFailure):
            self._last_id = None  # tried again at the first poll

    def wake(self) -> None:
        """Someone wrote: poll at the engine thread's next turn, and wake it now."""
        self.changes += 1
        self._next_poll = 0.0
        self._wake_engine()

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
        self._next_poll = now + self._settings().poll_interval
        try:
            self.poll()
        except DatabaseFailure as error:
            self._health.report(f"following other servers failed: {error}")

    def poll(self) -> None:
        """Read every new notification of interest and react to it."""
        recorder = self._live.recorder
        try:
            if self._last_id is None:
                self._last_id = recorder.max_notification_id() or 0
                if self._unwatch is None:
                    self._unwatch = recorder.watch(self.wake)
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
                    core = self._react(originator_id)
                    if core is not None:
                        delivered.append(core)
                if len(page) < PAGE:
                    break
        except PersistenceError as error:
            raise DatabaseFailure(f"read failed: {error}") from None
        # the handlers' effect with the processed ids: one transaction for every profile
        self._auto_save(list(dict.fromkeys(delivered)))

    def _react(self, originator_id: UUID) -> ProfileCore | None:
        """React to news of a held profile; the profile when new messages were delivered."""
        core = self._sessions.held(originator_id)
        if core is None or not core.is_active():
            return None
        try:
            return core if self._saver.react(core) else None
        except DatabaseFailure as error:
            self._health.report(str(error), core.store_name, core.key)
            self._recheck.add(originator_id)  # look again at the next poll
            return None

    def deliver_inbox(self) -> None:
        """Deliver the messages this engine sent to profiles it holds (store.message)."""
        delivered = []
        for core in self._sessions.take_inbox():
            try:
                if self._saver.react(core):
                    delivered.append(core)
            except DatabaseFailure as error:
                self._health.report(str(error), core.store_name, core.key)
                self._sessions.sent_to(core)
        self._auto_save(delivered)  # the handlers' effect, with the processed ids
