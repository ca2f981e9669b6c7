"""Error reporting, critical state and the data store state of one engine."""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable

from . import clock
from .settings import Settings
from .signals import Signal

log = logging.getLogger("profilestore")


class Health:
    """Counts failed database attempts and turns critical state on and off as the settings say."""

    def __init__(self, settings: Callable[[], Settings], on_error: Signal,
                 on_critical_toggle: Signal) -> None:
        self._settings = settings
        self._on_error = on_error
        self._on_critical_toggle = on_critical_toggle
        self._errors: deque[float] = deque()
        self._lock = threading.Lock()
        self.is_critical = False
        self._critical_since = 0.0
        self.data_store_state = "NotReady"

    def report(self, message: str, store_name: str = "", key: str = "") -> None:
        """Log a failure, count it, and fire `on_error(message, store_name, key)`."""
        log.warning("%s (store %r, key %r)", message, store_name, key)
        with self._lock:
            self._errors.append(clock.seconds())
        self._on_error.fire(message, store_name, key)

    def answered(self) -> None:
        """The database answered: the state becomes Access, once."""
        if self.data_store_state == "NotReady":
            self.data_store_state = "Access"

    def refused(self, reachable: bool) -> None:
        """The database refused us (NoAccess) or could not be reached (NoInternet), once."""
        if self.data_store_state == "NotReady":
            self.data_store_state = "NoAccess" if reachable else "NoInternet"

    def tick(self) -> None:
        """Expire old errors and enter or leave critical state (ProfileStore's heartbeat rule)."""
        settings, now = self._settings(), clock.seconds()
        with self._lock:
            count = len(self._errors)
            toggle: bool | None = None
            if count >= settings.critical_state_error_count:
                if not self.is_critical:
                    toggle = True
                self.is_critical, self._critical_since = True, now
            elif self.is_critical and now - self._critical_since > settings.critical_state_expire:
                self.is_critical, toggle = False, False
            while self._errors and now - self._errors[0] > settings.critical_state_error_expire:
                self._errors.popleft()
        if toggle is not None:
            log.warning("critical state %s", "entered" if toggle else "left")
            self._on_critical_toggle.fire(toggle)
