"""Database URLs to the library's persistence settings (topic strings, never imports)."""

from __future__ import annotations

import importlib.util
import os
import re
import socket
from urllib.parse import parse_qs, unquote, urlsplit
from uuid import uuid4

DEFAULT_URL = "sqlite:///profilestore.db"
_SQLITE = "sqlite:///"
_COMMON = {
    "MAPPER_TOPIC": "profilestore.infrastructure.mapper:JsonMapper",
    "SQLITE_LOCK_TIMEOUT": "5",
    "IS_SNAPSHOTTING_ENABLED": "y",  # a snapshot store; snapshots are taken by the engine
    # The library's aggregate cache, fast-forwarded from the store on every read: a profile read
    # again replays only the events since (see EventLog.load for what is never cached).
    "AGGREGATE_CACHE_MAXSIZE": "1000",
    "AGGREGATE_CACHE_FASTFORWARD": "y",
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
        return _cache_off({"PERSISTENCE_MODULE": "profilestore.infrastructure.sqlite",
                           "SQLITE_DBNAME": name, **_COMMON, **_sqlite_options(url, query)})
    if url.startswith(_POSTGRES):
        if importlib.util.find_spec("psycopg") is None:
            raise ModuleNotFoundError("PostgreSQL URLs need the postgres extra:"
                                      " pip install 'profilestore[postgres]'", name="psycopg")
        return _cache_off({"PERSISTENCE_MODULE": "profilestore.infrastructure.postgres", **_COMMON,
                           **_postgres_env(url)})
    raise ValueError(f"unsupported database URL {redact(url)!r}: use sqlite:///path.db,"
                     " sqlite:///:memory: or postgresql://user:password@host:port/dbname")


def _cache_off(env: dict[str, str]) -> dict[str, str]:
    """`cache=0` turns the aggregate cache off (to the library, a size of 0 means unbounded)."""
    if env.get("AGGREGATE_CACHE_MAXSIZE") == "0":
        del env["AGGREGATE_CACHE_MAXSIZE"]
    return env


def _sqlite_options(url: str, query: str) -> dict[str, str]:
    """`?timeout=SECONDS`: how long a write waits for another connection's lock (default 5);
    `?cache=N`: profiles whose replayed state is kept in memory (default 1000, 0: none)."""
    options = parse_qs(query, keep_blank_values=True)
    unknown = set(options) - {"timeout", "cache"}
    if unknown:
        raise ValueError(f"unknown option {sorted(unknown)[0]!r} in database URL {url!r}")
    env = {}
    if "timeout" in options:
        value = options["timeout"][-1]
        if not value.isdigit() or int(value) < 1:
            raise ValueError(f"timeout in database URL {url!r} must be whole seconds >= 1,"
                             f" got {value!r}")
        env["SQLITE_LOCK_TIMEOUT"] = value
    if "cache" in options:
        value = options["cache"][-1]
        if not value.isdigit():
            raise ValueError(f"cache in database URL {url!r} must be a whole number of profiles,"
                             f" got {value!r}")
        env["AGGREGATE_CACHE_MAXSIZE"] = value
    return env


_POSTGRES = ("postgresql://", "postgres://")
# URL query option -> (library variable, what it holds). Pool size and timeouts as the library
# reads them; `create_tables=no` starts a server that expects the tables to exist.
_PG_OPTIONS = {
    "pool_size": ("POSTGRES_POOL_SIZE", "a whole number"),
    "max_overflow": ("POSTGRES_MAX_OVERFLOW", "a whole number"),
    "connect_timeout": ("POSTGRES_CONNECT_TIMEOUT", "whole seconds"),
    "lock_timeout": ("POSTGRES_LOCK_TIMEOUT", "whole seconds"),
    "idle_in_transaction_session_timeout": ("POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT",
                                            "whole seconds"),
    "max_waiting": ("POSTGRES_MAX_WAITING", "a whole number"),
    "conn_max_age": ("POSTGRES_CONN_MAX_AGE", "whole seconds"),
    "schema": ("POSTGRES_SCHEMA", "a schema name"),
    "create_tables": ("CREATE_TABLE", "yes or no"),
    "cache": ("AGGREGATE_CACHE_MAXSIZE", "a whole number"),
}
_PG_DEFAULTS = {"POSTGRES_SCHEMA": "public", "POSTGRES_CONNECT_TIMEOUT": "5",
                "POSTGRES_POOL_SIZE": "2", "POSTGRES_MAX_OVERFLOW": "6",
                "POSTGRES_LOCK_TIMEOUT": "0", "CREATE_TABLE": "yes"}


def redact(url: str) -> str:
    """The URL with any password replaced by ***, for messages and logs."""
    return re.sub(r"^([a-z]+://[^:/@]*:)[^@]*@", r"\1***@", url)


def _postgres_env(url: str) -> dict[str, str]:
    """postgresql://user:password@host:port/dbname?option=value to the library's variables."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise ValueError(f"database URL {redact(url)!r} is malformed: {error}") from None
    dbname = unquote(parts.path.lstrip("/"))
    if not dbname:
        raise ValueError(f"database URL {redact(url)!r} names no database")
    env = {**_PG_DEFAULTS, "POSTGRES_DBNAME": dbname, "POSTGRES_HOST": parts.hostname or "",
           "POSTGRES_PORT": str(port or 5432), "POSTGRES_USER": unquote(parts.username or ""),
           "POSTGRES_PASSWORD": unquote(parts.password or "")}
    for name, values in parse_qs(parts.query, keep_blank_values=True).items():
        if name not in _PG_OPTIONS:
            raise ValueError(f"unknown option {name!r} in database URL {redact(url)!r};"
                             f" known: {', '.join(sorted(_PG_OPTIONS))}")
        variable, kind = _PG_OPTIONS[name]
        value = values[-1]
        if not _valid(kind, value):
            raise ValueError(f"{name} in database URL {redact(url)!r} must be {kind}, got {value!r}")
        env[variable] = value
    return env


def reachable(url: str, timeout: float = 1.0) -> bool:
    """Whether the database server answers on its port at all (a file database always does):
    tells a server that refused us (NoAccess) from one that cannot be reached (NoInternet)."""
    if not url.startswith(_POSTGRES):
        return True
    parts = urlsplit(url)
    host = parts.hostname or ""
    if not host or host.startswith("/"):
        return True  # a Unix socket: no network between us
    try:
        with socket.create_connection((host, parts.port or 5432), timeout):
            return True
    except OSError:
        return False


def without_table_creation(url: str) -> str:
    """The URL with PostgreSQL table creation off (a SQLite URL as it is)."""
    if url.startswith(_POSTGRES) and "create_tables=" not in url:
        return url + ("&" if "?" in url else "?") + "create_tables=no"
    return url


def _valid(kind: str, value: str) -> bool:
    if kind == "yes or no":
        return value.lower() in ("yes", "no", "y", "n", "true", "false", "1", "0")
    if kind == "a schema name":
        return re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,62}", value) is not None
    return value.isdigit()


def memory_env() -> dict[str, str]:
    """A private in-memory database (the mock store's)."""
    return persistence_env(_SQLITE + ":memory:")
