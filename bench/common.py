"""What every benchmark scenario shares: the result record, raw baselines' settings, timing."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from profilestore import Engine, Settings

QUIET = Settings(auto_save_period=86_400, snapshot_interval=100)


@dataclass
class Result:
    name: str
    value: float
    unit: str
    baseline_name: str
    baseline_value: float
    ratio: float
    target: str
    met: bool
    settings: dict[str, Any] = field(default_factory=dict)


def pragmas(connection: sqlite3.Connection) -> dict[str, Any]:
    return {name: connection.execute(f"PRAGMA {name}").fetchone()[0]
            for name in ("journal_mode", "synchronous")}


def engine_pragmas(engine: Engine) -> dict[str, Any]:
    with engine._live.app.recorder.datastore.get_connection(commit=False) as connection:  # type: ignore[attr-defined]
        return pragmas(connection._sqlite_conn)


def raw_connection(path: Path) -> sqlite3.Connection:
    """A plain sqlite3 connection with the library's settings: WAL, default synchronous (FULL)."""
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=FULL")
    return connection


def rate(count: int, work: Callable[[], None]) -> float:
    started = time.perf_counter()
    work()
    return count / (time.perf_counter() - started)


def blob(i: int, size: int) -> dict[str, Any]:
    """Profile data of about `size` bytes of JSON."""
    return {"coins": i, "level": 1, "inventory": [f"item-{n:04d}-{'x' * 20}" for n in range(size // 32)]}


def p99(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
