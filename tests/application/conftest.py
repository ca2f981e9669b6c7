"""Fixtures for the application scenario tests: engines that never start a thread and always close."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from freezegun import freeze_time
from support.databases import fresh_database
from support.timeline import NOON, TEMPLATE

from profilestore import Engine, ProfileStore, Server, Settings


@pytest.fixture
def engine(backend: str, tmp_path: Path) -> Iterator[Engine]:
    """A private engine (in memory on SQLite); timed work runs only through run_pending()."""
    with fresh_database(backend, tmp_path, memory=True) as url:
        eng = Engine(url, background=False)
        yield eng
        eng.close(timeout=5)


@pytest.fixture
def store(engine: Engine) -> ProfileStore:
    """ProfileStore's test store: template {Counter: 0, Array: []}."""
    return ProfileStore("Store1", TEMPLATE, engine=engine)


@pytest.fixture
def saved_at_noon(store: ProfileStore) -> ProfileStore:
    """Key "w": created at 12:00:00 (v1), Gold=1 at 12:00:00.123456 (v3), Gold=2 at 12:00:01 (v4),
    session ended then (v5)."""
    with freeze_time(NOON) as frozen:
        profile = store.start_session("w")
        frozen.move_to(NOON + timedelta(microseconds=123_456))
        profile.data["Gold"] = 1
        assert profile.save() is True
        frozen.move_to(NOON + timedelta(seconds=1))
        profile.data["Gold"] = 2
        profile.end_session()
    return store


@pytest.fixture
def make_engine(db_url: str) -> Iterator[Callable[..., Engine]]:
    """Build engines on the shared temp file (each its own Server); all closed at teardown."""
    made: list[Engine] = []

    def build(job_id: str | None = None, settings: Settings | None = None, url: str | None = None
              ) -> Engine:
        server = Server(job_id=job_id) if job_id else Server()
        eng = Engine(url or db_url, server=server, settings=settings, background=False)
        made.append(eng)
        return eng

    yield build
    for eng in made:
        eng.close(timeout=5)


class Call:
    """A call run in a thread, so the test thread can move a frozen clock meanwhile."""

    def __init__(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self.result: Any = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(fn, args, kwargs), daemon=True)
        self._thread.start()

    def _run(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        try:
            self.result = fn(*args, **kwargs)
        except BaseException as error:  # surfaced by outcome()
            self.error = error

    @property
    def done(self) -> bool:
        return not self._thread.is_alive()

    def join(self, timeout: float = 10) -> bool:
        self._thread.join(timeout)
        return self.done

    def outcome(self, timeout: float = 10) -> Any:
        assert self.join(timeout), "the call did not finish in time"
        if self.error is not None:
            raise self.error
        return self.result


@pytest.fixture
def in_thread() -> Callable[..., Call]:
    """Start `fn(*args, **kwargs)` on a daemon thread; `.outcome()` joins (bounded) and returns."""
    return Call
