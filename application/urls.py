"""Database URLs to the library's persistence settings (topic strings, never imports)."""

from __future__ import annotations

import os
from urllib.parse import parse_qs
from uuid import uuid4

DEFAULT_URL = "sqlite:///profilestore.db"
_SQLITE = "sqlite:///"
_COMMON = {
    "MAPPER_TOPIC": "profilestore.infrastructure.mapper:JsonMapper",
    "SQLITE_LOCK_TIMEOUT": "5",
    "IS_SNAPSHOTTING_ENABLED": "y",  # a snapshot store; snapshots are taken by the engine
}


def resolve_url(database: str | None) -> str:
    """The URL given, else PROFILESTORE_DATABASE_URL, else the default SQLite file."""
    if database is not None and not isinstance(database, str):
        raise TypeError(f"database must be a URL str, not {type(database).__name__}")
    return database or os.environ.get("PROFILESTORE_DATABASE_URL") or DEFAULT_URL


def persistence_env(url: str) -> dict[str, str]:
    """The library environment for a database URL."""
    if url.startswith(_SQLITE):
        path, _, query = url[len(_SQLITE):].partition("?")
        if not path:
            raise ValueError(f"database URL {url!r} names no file")
        if path == ":memory:":
            name = f"file:profilestore-{uuid4().hex}?mode=memory&cache=shared"
        else:
            name = os.path.abspath(path)
        return {"PERSISTENCE_MODULE": "profilestore.infrastructure.sqlite", "SQLITE_DBNAME": name,
                **_COMMON, **_sqlite_options(url, query)}
    if url.startswith(("postgresql://", "postgres://")):
        raise ValueError("PostgreSQL URLs are not supported by this version yet; use sqlite:///...")
    raise ValueError(f"unsupported database URL {url!r}: use sqlite:///path.db or sqlite:///:memory:")


def _sqlite_options(url: str, query: str) -> dict[str, str]:
    """`?timeout=SECONDS`: how long a write waits for another connection's lock (default 5)."""
    options = parse_qs(query, keep_blank_values=True)
    unknown = set(options) - {"timeout"}
    if unknown:
        raise ValueError(f"unknown option {sorted(unknown)[0]!r} in database URL {url!r}")
    if "timeout" not in options:
        return {}
    value = options["timeout"][-1]
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"timeout in database URL {url!r} must be whole seconds >= 1, got {value!r}")
    return {"SQLITE_LOCK_TIMEOUT": value}


def memory_env() -> dict[str, str]:
    """A private in-memory database (the mock store's)."""
    return persistence_env(_SQLITE + ":memory:")
