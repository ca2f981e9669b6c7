"""Fixtures for every test: a fresh database on each back end."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import freezegun
import pytest
from support.databases import BACKENDS, fresh_database

# The connection pool and the driver keep their own clocks: a frozen clock must not stop them.
freezegun.configure(extend_ignore_list=["psycopg", "psycopg_pool", "eventsourcing.postgres"])


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """Each test that asks for a database runs on SQLite and on PostgreSQL."""
    return str(request.param)


@pytest.fixture
def db_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """An empty database that several engines and processes can share."""
    with fresh_database(backend, tmp_path) as url:
        yield url
