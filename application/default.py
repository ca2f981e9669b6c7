"""The process-wide engine made on first use."""

from __future__ import annotations

import os
import threading

from .engine import Engine

_lock = threading.Lock()
_engine: Engine | None = None
_pid = 0


def default_engine() -> Engine:
    """The process's default engine (a new one in a forked child)."""
    global _engine, _pid
    with _lock:
        if _engine is None or _pid != os.getpid() or _engine.parts.lifecycle.closed:
            _engine, _pid = Engine(), os.getpid()
        return _engine
