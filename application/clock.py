"""The one place the application reads the clock (freezegun moves it all)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime


def now() -> datetime:
    """The current time, aware, UTC."""
    return datetime.now(UTC)


def seconds() -> float:
    """The current time in epoch seconds, for timers."""
    return time.time()


def sleep_until(deadline: float, stop: Callable[[], bool], step: float = 0.05) -> None:
    """Wait until the clock reaches `deadline` or `stop()` is true, re-reading both every `step`
    seconds of real time, so a test can move a frozen clock from another thread."""
    pause = threading.Event()
    while seconds() < deadline and not stop():
        pause.wait(min(step, max(deadline - seconds(), 0.001)))


def real_monotonic() -> float:
    """Real elapsed time, which freezegun does not freeze: for deadlines such as close()'s."""
    return time.clock_gettime(time.CLOCK_MONOTONIC)
