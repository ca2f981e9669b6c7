"""Engine: one per database and game-server process; owns sessions, timers and shutdown."""

from __future__ import annotations

import atexit
import contextlib
import logging
import signal
import threading
import weakref
from collections.abc import Iterator
from types import FrameType
from typing import Any
from uuid import UUID

from profilestore.domain.errors import StoreClosedError

from . import clock, group_commit
from .autosave import AutoSaveRing
from .claiming import Claimer, Token
from .event_log import EventLog
from .failures import DatabaseFailure
from .following import Follower
from .handle import Profile
from .health import Health
from .saving import Saver
from .settings import Settings
from .signals import Signal
from .trades import transaction
from .urls import memory_env, persistence_env, redact, resolve_url
from .values import Server

log = logging.getLogger("profilestore")


class Engine:
    """Sessions, auto-save, retries and shutdown for one database in one process."""

    def __init__(self, database: str | None = None, *, server: Server | None = None,
                 settings: Settings | None = None, background: bool = True) -> None:
        if server is not None and not isinstance(server, Server):
            raise TypeError(f"server must be a Server, not {type(server).__name__}")
        if settings is not None and not isinstance(settings, Settings):
            raise TypeError(f"settings must be a Settings, not {type(settings).__name__}")
        self.server = server or Server()
        self.settings = settings or Settings()
        self.on_error = Signal("on_error")
        self.on_overwrite = Signal("on_overwrite")
        self.on_critical_toggle = Signal("on_critical_toggle")
        self.is_closing = False
        self._closed = False
        self._url = resolve_url(database)
        self._live = EventLog(persistence_env(self._url), self._snapshot_interval,
                              lambda store, key: self._key_lock((False, store, key)))
        self._mock: EventLog | None = None
        self._health = Health(self)
        self._sessions: dict[Token, Profile] = {}
        self._live_by_id: dict[UUID, Profile] = {}  # held live profiles, for the follower
        self._key_locks: dict[Token, threading.RLock] = {}
        self._registry = threading.RLock()
        self._busy = 0
        self._busy_changed = threading.Condition()
        self._close_lock = threading.Lock()
        self._closed_event = threading.Event()
        self._pending_lock = threading.Lock()
        self._stop = threading.Event()
        self._wakeup = threading.Event()  # set by close() and when other servers wrote (LISTEN)
        self._inbox: list[Profile] = []  # held profiles this engine sent messages to
        self._autosave = AutoSaveRing()
        self._saver = Saver(self)
        self._claimer = Claimer(self)
        self._follower = Follower(self)
        self._connect()
        self._follower.start()
        self._thread: threading.Thread | None = None
        if background:
            self._thread = threading.Thread(target=self._loop, name="profilestore", daemon=True)
            self._thread.start()
        atexit.register(_close_at_exit, weakref.ref(self))

    def __repr__(self) -> str:
        return f"<Engine {redact(self._url)!r} {self.server.place_id}/{self.server.job_id}>"

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ---- state -----------------------------------------------------------------------------

    @property
    def is_critical_state(self) -> bool:
        """True while database errors are frequent (ProfileStore's IsCriticalState)."""
        return self._health.is_critical

    @property
    def data_store_state(self) -> str:
        """NotReady, then Access, NoAccess or NoInternet; it never changes after that."""
        return self._health.data_store_state

    def _snapshot_interval(self) -> int:
        return self.settings.snapshot_interval

    def set_constant(self, name: str, value: float) -> None:
        """Change a setting by ProfileStore's constant name, e.g. AUTO_SAVE_PERIOD."""
        self.settings = self.settings.with_constant(name, value)

    def _connect(self) -> None:
        try:
            self._live.app  # noqa: B018 - opening creates the tables
        except DatabaseFailure as error:
            self._health.refused(reachable=True)
            self._health.report(str(error))
        else:
            self._health.answered()

    # ---- work that is due ------------------------------------------------------------------

    def run_pending(self) -> None:
        """Do every timed job that is due now, on the caller's thread."""
        if not self._pending_lock.acquire(blocking=False):
            return
        try:
            self._health.tick()
            if not self.is_closing:
                self._deliver_inbox()
                self._follower.poll_if_due()
                group_commit.auto_save(self, self._autosave.due(self.settings.auto_save_period))
            self._saver.retry_due()
            self._flush(catch_up=not self.is_closing)
            for event_log in (self._live, self._mock):
                if event_log is not None:
                    event_log.take_due_snapshots()
                    event_log.tidy()
        finally:
            self._pending_lock.release()

    def flush_read_models(self) -> bool:
        """Write every `profiles` row this engine owes now; False if the database failed (they stay owed)."""
        return self._flush(catch_up=False)

    def _flush(self, *, catch_up: bool) -> bool:
        """Write the owed read-model rows of both event logs; with `catch_up`, also the rows
        other engines left unwritten for three poll_intervals (a crashed engine's)."""
        grace = 3 * self.settings.poll_interval if catch_up else None
        flushed = self._live.read_models.flush(grace)
        mock = self._mock
        return (mock is None or mock.read_models.flush()) and flushed

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_pending()
            except Exception:
                log.exception("engine thread: a timed job failed")
            self._wakeup.wait(0.05)
            self._wakeup.clear()

    # ---- registry and per-key order ----------------------------------------------------------

    def _log(self, mock: bool) -> EventLog:
        if not mock:
            return self._live
        with self._registry:
            if self._mock is None:
                self._mock = EventLog(memory_env(), self._snapshot_interval,
                                      lambda store, key: self._key_lock((True, store, key)))
            return self._mock

    def _key_lock(self, token: Token) -> threading.RLock:
        with self._registry:
            return self._key_locks.setdefault(token, threading.RLock())

    def _active(self, token: Token) -> Profile | None:
        with self._registry:
            return self._sessions.get(token)

    def _inbox_add(self, profile: Profile) -> None:
        with self._registry:
            if profile not in self._inbox:
                self._inbox.append(profile)

    def _deliver_inbox(self) -> None:
        with self._registry:
            profiles, self._inbox = self._inbox, []
        delivered = []
        for profile in profiles:
            try:
                if self._saver.react(profile):
                    delivered.append(profile)
            except DatabaseFailure as error:
                self._health.report(str(error), profile.profile_store.name, profile.key)
                self._inbox_add(profile)
        group_commit.auto_save(self, delivered)  # the handlers' effect, with the processed ids

    def _held(self, originator_id: UUID) -> Profile | None:
        """The live profile this engine holds with that aggregate id, if any."""
        with self._registry:
            return self._live_by_id.get(originator_id)

    def _register(self, profile: Profile) -> None:
        with self._registry:
            self._sessions[profile.profile_store._token(profile.key)] = profile
            if not profile.profile_store._is_mock:
                self._live_by_id[profile._replica.id] = profile
        self._autosave.add(profile)

    def _unregister(self, profile: Profile) -> None:
        token = profile.profile_store._token(profile.key)
        with self._registry:
            if self._sessions.get(token) is profile:
                del self._sessions[token]
            if self._live_by_id.get(profile._replica.id) is profile:
                del self._live_by_id[profile._replica.id]
        self._autosave.remove(profile)

    @contextlib.contextmanager
    def _in_flight(self) -> Iterator[None]:
        """Count a load or save in progress, so close() can wait for it."""
        with self._busy_changed:
            self._busy += 1
        try:
            yield
        finally:
            with self._busy_changed:
                self._busy -= 1
                self._busy_changed.notify_all()

    # ---- users and erasure ---------------------------------------------------------------------

    def find_user(self, user_id: int) -> list[tuple[str, str]]:
        """(store_name, key) of live profiles whose user ids hold `user_id`."""
        if isinstance(user_id, bool) or not isinstance(user_id, int):
            raise TypeError(f"user ids are int, not {type(user_id).__name__}")
        self._check_open()
        found: list[tuple[str, str]] = self._live.query("find_user", user_id)
        return found

    def transaction(self, *profiles: Profile) -> contextlib.AbstractContextManager[None]:
        """`with engine.transaction(a, b):` change both; stored together, or neither (SPEC §6)."""
        return transaction(self, *profiles)

    def rebuild_read_models(self) -> None:
        """Drop the SQL read models and rebuild them from the events."""
        self._check_open()
        count = self._live.rebuild_read_models()
        log.info("read models rebuilt: %d live profiles", count)

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosedError("the engine is closed")

    def erase_user(self, user_id: int) -> list[tuple[str, str]]:
        """Remove every live profile that holds `user_id`; returns what was removed."""
        from .store import ProfileStore
        removed = []
        for store_name, key in self.find_user(user_id):
            if ProfileStore(store_name, engine=self).remove(key):
                removed.append((store_name, key))
        return removed

    # ---- shutdown ------------------------------------------------------------------------------

    def close(self, timeout: float | None = 30) -> None:
        """End every session with a final save, wait for work in flight, stop, disconnect."""
        with self._close_lock:
            first = not self.is_closing
            self.is_closing = True
        if not first:
            self._closed_event.wait(timeout)
            return
        deadline = None if timeout is None else clock.real_monotonic() + timeout

        def left() -> float | None:
            return None if deadline is None else max(deadline - clock.real_monotonic(), 0.0)

        worker = threading.Thread(target=self._shutdown_saves, args=(deadline,), daemon=True,
                                  name="profilestore-close")
        worker.start()
        worker.join(left())
        with self._busy_changed:
            self._busy_changed.wait_for(lambda: self._busy == 0, left())
        for profile in self._saver.unsaved():
            message = (f"could not save {profile.profile_store.name}/{profile.key} before close:"
                       " its last changes are lost and its session stays held until taken")
            log.error(message)
            self._health.report(message, profile.profile_store.name, profile.key)
        self._stop.set()
        self._wakeup.set()
        self._follower.stop()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(left())
        self._flush(catch_up=False)  # after the final saves, while the connections are open
        self._closed = True
        self._disconnect_when_idle(worker)
        self._closed_event.set()

    def _disconnect_when_idle(self, worker: threading.Thread) -> None:
        """Close the database connections now if nothing uses them, else once the work still
        running past close()'s timeout ends: closing a connection another thread is running a
        statement on crashes SQLite's Python module."""
        engine_thread = self._thread if self._thread is not threading.current_thread() else None

        def idle() -> bool:
            return not worker.is_alive() and self._busy == 0 and not (
                engine_thread is not None and engine_thread.is_alive())

        def disconnect() -> None:
            worker.join()
            if engine_thread is not None:
                engine_thread.join()
            with self._busy_changed:
                self._busy_changed.wait_for(lambda: self._busy == 0)
            for event_log in (self._live, self._mock):
                if event_log is not None:
                    event_log.close()

        if idle():
            disconnect()
        else:
            threading.Thread(target=disconnect, daemon=True, name="profilestore-disconnect").start()

    def _shutdown_saves(self, deadline: float | None) -> None:
        with self._registry:
            profiles = list(self._sessions.values())
        for profile in profiles:
            try:
                self._saver.end(profile, "Shutdown")
            except Exception:
                log.exception("final save of %r at shutdown failed", profile)
        pause, backoff = threading.Event(), 1.0
        while self._saver.pending():
            remaining = None if deadline is None else deadline - clock.real_monotonic()
            if remaining is not None and remaining <= 0:
                return
            pause.wait(backoff if remaining is None else min(backoff, remaining))
            self._saver.retry_due(force=True)
            backoff = min(backoff * 2, 8.0)

    def install_signal_handlers(self) -> None:
        """Close the engine on SIGTERM and SIGINT (call from the main thread)."""
        for signum in (signal.SIGTERM, signal.SIGINT):
            previous = signal.getsignal(signum)

            def handler(number: int, frame: FrameType | None, previous: Any = previous) -> None:
                self.close()
                if callable(previous):
                    previous(number, frame)
                elif number == signal.SIGINT:
                    raise KeyboardInterrupt
                else:
                    raise SystemExit(128 + number)

            signal.signal(signum, handler)


def _close_at_exit(ref: weakref.ref[Engine]) -> None:
    engine = ref()
    if engine is not None and not engine._closed:
        engine.close()
