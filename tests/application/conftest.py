"""Fixtures for the application scenario tests: engines that never start a thread and always close."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from profilestore import Engine, ProfileStore, Server, Settings

TEMPLATE = {"Counter": 0, "Array": []}


@pytest.fixture
def engine() -> Iterator[Engine]:
    """A private in-memory engine; timed work runs only through run_pending()."""
    eng = Engine("sqlite:///:memory:", background=False)
    yield eng
    eng.close(timeout=5)


@pytest.fixture
def store(engine: Engine) -> ProfileStore:
    """ProfileStore's test store: template {Counter: 0, Array: []}."""
    return ProfileStore("Store1", TEMPLATE, engine=engine)


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """A temp SQLite file that several engines can share."""
    return f"sqlite:///{tmp_path / 'p.db'}"


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
