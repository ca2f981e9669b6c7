"""What every benchmark scenario shares: the result record, raw baselines' settings, timing."""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
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
    with engine.parts.logs.live.app.recorder.datastore.get_connection(commit=False) as connection:  # type: ignore[attr-defined]
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


# ---- the databases a scenario runs on -----------------------------------------------------------


class RawDatabase:
    """The baseline's plain connection: sqlite3 with the library's PRAGMAs, or psycopg in a
    throwaway schema of the same server as the engine. SQL is written with `?` placeholders."""

    def __init__(self, connection: Any, backend: str) -> None:
        self.connection, self.backend = connection, backend
        self.blob = "BLOB" if backend == "sqlite" else "BYTEA"
        self.serial = "INTEGER PRIMARY KEY" if backend == "sqlite" else "BIGSERIAL PRIMARY KEY"

    def _sql(self, sql: str) -> str:
        return sql if self.backend == "sqlite" else sql.replace("?", "%s")

    def run(self, sql: str, params: tuple[Any, ...] = ()) -> Any:
        return self.connection.execute(self._sql(sql), params)

    def run_many(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        if self.backend == "sqlite":
            self.connection.executemany(sql, rows)
        else:
            with self.connection.cursor() as cursor:
                cursor.executemany(self._sql(sql), rows)

    def begin(self) -> None:
        if self.backend == "sqlite":  # psycopg opens a transaction by itself
            self.connection.execute("BEGIN")

    def commit(self) -> None:
        self.connection.execute("COMMIT") if self.backend == "sqlite" else self.connection.commit()

    def settings(self) -> dict[str, Any]:
        if self.backend == "sqlite":
            return pragmas(self.connection)
        return server_settings(self.connection)


def server_settings(connection: Any) -> dict[str, Any]:
    """A PostgreSQL connection's durability settings (the engine's and the baseline's are one
    server's)."""
    shown = {}
    for name in ("synchronous_commit", "fsync", "wal_sync_method"):
        row = connection.execute(f"SHOW {name}").fetchone()
        shown[name] = next(iter(row.values())) if isinstance(row, dict) else row[0]
    return shown


def postgres_base_url() -> str | None:
    """The server for the PostgreSQL columns, None when it is not set or not reachable."""
    import os

    url = os.environ.get("PROFILESTORE_BENCH_POSTGRES_URL") or os.environ.get(
        "PROFILESTORE_TEST_POSTGRES_URL")
    if not url:
        return None
    try:
        import psycopg

        psycopg.connect(url, connect_timeout=3).close()
    except Exception:
        return None
    return url


@contextmanager
def database(backend: str, folder: Path, name: str) -> Iterator[tuple[str, RawDatabase]]:
    """An engine URL and a baseline connection, both on empty storage of `backend`: two files
    in `folder`, or two fresh schemas (dropped afterwards) on the PostgreSQL server."""
    if backend == "sqlite":
        raw = raw_connection(folder / f"{name}-raw.db")
        try:
            yield f"sqlite:///{folder / f'{name}.db'}", RawDatabase(raw, "sqlite")
        finally:
            raw.close()
        return
    import psycopg

    base = postgres_base_url()
    assert base is not None
    tag = uuid.uuid4().hex[:10]
    engine_schema, raw_schema = f"bench_{name}_{tag}", f"bench_{name}_raw_{tag}"
    with psycopg.connect(base, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {raw_schema}")
        try:
            with psycopg.connect(base, options=f"-c search_path={raw_schema}") as raw:
                yield f"{base}{'&' if '?' in base else '?'}schema={engine_schema}", \
                    RawDatabase(raw, "postgresql")
        finally:
            admin.execute(f"DROP SCHEMA IF EXISTS {raw_schema} CASCADE")
            admin.execute(f"DROP SCHEMA IF EXISTS {engine_schema} CASCADE")


def engine_settings(engine: Engine) -> dict[str, Any]:
    """The engine's durability settings as its own connections see them."""
    if engine._url.startswith("sqlite"):
        return engine_pragmas(engine)
    recorder: Any = engine.parts.logs.live.app.recorder
    with recorder.datastore.get_connection() as connection:
        return server_settings(connection)


def report(results: list[Result], quick: bool) -> None:
    """Print the table; a quick run's targets are marked not judged (small sizes: a smoke test)."""
    if quick:
        for result in results:
            result.target += " (quick run: not judged)"
    print_table(results)


def print_table(results: list[Result]) -> None:
    print(f"{'scenario':<52} {'value':>12} {'baseline':>12} {'ratio':>7}  target     met")
    for result in results:
        print(f"{result.name[:52]:<52} {result.value:>12.1f} {result.baseline_value:>12.1f}"
              f" {result.ratio:>7.3f}  {result.target:<10} {'yes' if result.met else 'NO'}")
        print(f"    vs {result.baseline_name}; {json.dumps(result.settings)}")
