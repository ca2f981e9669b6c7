"""Fresh databases for tests, on SQLite or PostgreSQL.

PostgreSQL tests need `PROFILESTORE_TEST_POSTGRES_URL` (e.g.
`postgresql://postgres@127.0.0.1:5432/test`; `.ci/run` sets it). Without it they skip, saying
so; with it, a server that cannot be reached is a failure, not a skip. Each test gets a schema
of its own in that database, dropped afterwards.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest

POSTGRES_ENV = "PROFILESTORE_TEST_POSTGRES_URL"
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


def postgres_base_url() -> str:
    """The PostgreSQL database the tests may use, or skip the test."""
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        pytest.skip(f"PostgreSQL tests need {POSTGRES_ENV}, e.g. postgresql://postgres@127.0.0.1:5432/test"
                    " (CI sets it)")
    return url


def with_option(url: str, option: str) -> str:
    return url + ("&" if "?" in url else "?") + option


@contextmanager
def postgres_schema() -> Iterator[str]:
    """A URL naming a new, empty schema (created by the first engine); dropped at the end."""
    import psycopg

    base = postgres_base_url()
    schema = f"t_{uuid4().hex[:16]}"
    try:
        yield with_option(base, f"schema={schema}")
    finally:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute("SET lock_timeout = '20s'")
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


@contextmanager
def fresh_database(backend: str, folder: Path, memory: bool = False) -> Iterator[str]:
    """The URL of an empty database that several engines (and processes) can share; on SQLite a
    private in-memory one when `memory` (one engine only)."""
    if backend == "postgresql":
        with postgres_schema() as url:
            yield url
    elif memory:
        yield "sqlite:///:memory:"
    else:
        yield f"sqlite:///{folder / 'shared.db'}"


def _schema_tables(conn: Any, schema: str) -> list[str]:
    return sorted(row[0] for row in conn.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema=%s", (schema,)))


def postgres_tables_holding(url: str, marker: str) -> list[str]:
    """Tables of the URL's schema with a row whose text (bytea shown as hex) contains `marker`."""
    import psycopg

    base, _, schema = url.partition("?schema=")
    hex_marker = marker.encode().hex()
    with psycopg.connect(base) as conn:
        return [table for table in _schema_tables(conn, schema) if conn.execute(
            f'SELECT count(*) FROM "{schema}"."{table}" t WHERE t::text LIKE %s OR t::text LIKE %s',
            (f"%{marker}%", f"%{hex_marker}%")).fetchone() != (0,)]


def postgres_table_contents(url: str) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table in the URL's schema."""
    import psycopg

    base, _, schema = url.partition("?schema=")
    with psycopg.connect(base) as conn:
        return {table: sorted(conn.execute(f'SELECT * FROM "{schema}"."{table}"').fetchall(), key=repr)
                for table in _schema_tables(conn, schema)}
