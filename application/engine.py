"""Engine: one per database and game-server process; builds the parts, holds the public API."""

from __future__ import annotations

import atexit
import contextlib
import logging
import signal
import threading
import weakref
from types import FrameType
from typing import Any

from . import clock
from .failures import DatabaseFailure
from .parts import Signals, build
from .profile_core import Held, Token
from .settings import Settings
from .signals import Signal
from .urls import reachable, redact, resolve_url
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
        self._url = resolve_url(database)
        self._stop = threading.Event()
        self._wakeup = threading.Event()  # set by close() and when other servers wrote (LISTEN)
        self._close_lock = threading.Lock()
        self._closed_event = threading.Event()
        self._pending_lock = threading.Lock()
        self.parts = build(self._url, self.server.as_session(), lambda: self.settings,
                           Signals(self.on_error, self.on_overwrite, self.on_critical_toggle),
                           self._wakeup.set)
        self._connect()
        self.parts.follower.start()
        if background:
            thread = threading.Thread(target=self._loop, name="profilestore", daemon=True)
            self.parts.lifecycle.thread = thread
            thread.start()
        atexit.register(_close_at_exit, weakref.ref(self))

    def __repr__(self) -> str:
        return f"<Engine {redact(self._url)!r} {self.server.place_id}/{self.server.job_id}>"

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ---- state -----------------------------------------------------------------------------

    @property
    def is_closing(self) -> bool:
        """True from the moment close() is called."""
        return self.parts.lifecycle.closing

    @property
    def is_critical_state(self) -> bool:
        """True while database errors are frequent (ProfileStore's IsCriticalState)."""
        return self.parts.health.is_critical

    @property
    def data_store_state(self) -> str:
        """NotReady, then Access, NoAccess or NoInternet; it never changes after that."""
        return self.parts.health.data_store_state

    def set_constant(self, name: str, value: float) -> None:
        """Change a setting by ProfileStore's constant name, e.g. AUTO_SAVE_PERIOD."""
        self.settings = self.settings.with_constant(name, value)

    def _connect(self) -> None:
        try:
            self.parts.logs.live.app  # noqa: B018 - opening creates the tables
        except DatabaseFailure as error:
            self.parts.health.refused(reachable=reachable(self._url))
            self.parts.health.report(str(error))
        else:
            self.parts.health.answered()

    # ---- work that is due ------------------------------------------------------------------

    def run_pending(self) -> None:
        """Do every timed job that is due now, on the caller's thread."""
        if not self._pending_lock.acquire(blocking=False):
            return
        parts = self.parts
        try:
            parts.health.tick()
            if not self.is_closing:
                parts.follower.deliver_inbox()
                parts.follower.poll_if_due()
                parts.group.auto_save(parts.sessions.ring.due(self.settings.auto_save_period))
            parts.saver.retry_due()
            self._flush(catch_up=not self.is_closing)
            parts.logs.upkeep()
        finally:
            self._pending_lock.release()

    def flush_read_models(self) -> bool:
        """Write every `profiles` row this engine owes now; False if the database failed (they stay owed)."""
        return self._flush(catch_up=False)

    def _flush(self, *, catch_up: bool) -> bool:
        """Write the owed read-model rows; with `catch_up`, also the rows other engines left
        unwritten for three poll_intervals (a crashed engine's)."""
        return self.parts.logs.flush_read_models(
            3 * self.settings.poll_interval if catch_up else None)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_pending()
            except Exception:
                log.exception("engine thread: a timed job failed")
            self._wakeup.wait(0.05)
            self._wakeup.clear()

    # ---- users and erasure ---------------------------------------------------------------------

    def find_user(self, user_id: int) -> list[tuple[str, str]]:
        """(store_name, key) of live profiles whose user ids hold `user_id`."""
        if isinstance(user_id, bool) or not isinstance(user_id, int):
            raise TypeError(f"user ids are int, not {type(user_id).__name__}")
        self.parts.lifecycle.check_open()
        try:
            found: list[tuple[str, str]] = self.parts.logs.live.query("find_user", user_id)
        except DatabaseFailure as error:
            self.parts.health.report(str(error))
            raise
        return found

    def transaction(self, *profiles: Held) -> contextlib.AbstractContextManager[None]:
        """`with engine.transaction(a, b):` change both; stored together, or neither."""
        return self.parts.trades.transaction(self, profiles)

    def rebuild_read_models(self) -> None:
        """Drop the SQL read models and rebuild them from the events."""
        self.parts.lifecycle.check_open()
        count = self.parts.logs.live.rebuild_read_models()
        log.info("read models rebuilt: %d live profiles", count)

    def erase_user(self, user_id: int) -> list[tuple[str, str]]:
        """Remove every live profile that holds `user_id`; returns what was removed."""
        removed = []
        for store_name, key in self.find_user(user_id):
            if self.parts.remover.remove(Token(False, store_name, key)):
                removed.append((store_name, key))
        return removed

    # ---- shutdown ------------------------------------------------------------------------------

    def close(self, timeout: float | None = 30) -> None:
        """End every session with a final save, wait for work in flight, stop, disconnect."""
        parts = self.parts
        with self._close_lock:
            first = not parts.lifecycle.closing
            parts.lifecycle.closing = True
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
        parts.writes.in_flight.wait_idle(left())
        # past the deadline: the final saves not stored, and the sessions whose final save had
        # not even begun (they are saved one after another)
        late = parts.saver.unsaved() + [core for core in parts.sessions.all() if core.is_active()]
        for core in late:
            message = (f"could not save {core.store_name}/{core.key} before close's deadline: its"
                       " final save goes on being tried while the process lives; if it never"
                       " lands, its last changes are lost and its session stays held until taken")
            log.error(message)
            parts.health.report(message, core.store_name, core.key)
        self._stop.set()
        self._wakeup.set()
        parts.follower.stop()
        thread = parts.lifecycle.thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(left())
        self._flush(catch_up=False)  # after the final saves, while the connections are open
        parts.lifecycle.closed = True
        self._disconnect_when_idle(worker)
        self._closed_event.set()

    def _disconnect_when_idle(self, worker: threading.Thread) -> None:
        """Close the database connections now if nothing uses them, else once the work still
        running past close()'s timeout ends: closing a connection another thread is running a
        statement on crashes SQLite's Python module."""
        thread = self.parts.lifecycle.thread
        engine_thread = thread if thread is not threading.current_thread() else None
        in_flight = self.parts.writes.in_flight

        def idle() -> bool:
            return not worker.is_alive() and in_flight.idle() and not (
                engine_thread is not None and engine_thread.is_alive())

        def disconnect() -> None:
            worker.join()
            if engine_thread is not None:
                engine_thread.join()
            in_flight.wait_idle()
            self.parts.logs.close()

        if idle():
            disconnect()
        else:
            threading.Thread(target=disconnect, daemon=True, name="profilestore-disconnect").start()

    def _shutdown_saves(self, deadline: float | None) -> None:
        saver = self.parts.saver
        for core in self.parts.sessions.all():
            try:
                saver.end(core, "Shutdown")
            except Exception:
                log.exception("final save of %r at shutdown failed", core)
        pause, backoff = threading.Event(), 1.0
        while saver.pending():
            remaining = None if deadline is None else deadline - clock.real_monotonic()
            if remaining is not None and remaining <= 0:
                return
            pause.wait(backoff if remaining is None else min(backoff, remaining))
            saver.retry_due(force=True)
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
    if engine is not None and not engine.parts.lifecycle.closed:
        engine.close()
