"""Database faults from outside: another process holding the lock, a file that turns unreadable."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from profilestore import Engine, ProfileStore

LOCKER = """
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN EXCLUSIVE")
print("LOCKED", flush=True)
time.sleep(float(sys.argv[2]))
db.execute("ROLLBACK")
"""


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "p.db"


@pytest.fixture
def errors() -> list[tuple[str, str, str]]:
    return []


@pytest.fixture
def engine(path: Path, errors: list[tuple[str, str, str]]) -> Iterator[Engine]:
    engine = Engine(f"sqlite:///{path}?timeout=1", background=False)  # writers wait 1 s for a lock
    engine.on_error.connect(lambda *args: errors.append(args))
    yield engine
    engine.close(timeout=5)


def lock(path: Path, seconds: float) -> subprocess.Popen[str]:
    """Another process takes SQLite's exclusive lock for `seconds`."""
    locker = subprocess.Popen([sys.executable, "-c", LOCKER, str(path), str(seconds)],
                              stdout=subprocess.PIPE, text=True)
    assert locker.stdout is not None and locker.stdout.readline().strip() == "LOCKED"
    return locker


def test_saves_during_another_processs_lock_fail_cleanly_and_the_final_save_lands_after(
        engine: Engine, path: Path, errors: list[tuple[str, str, str]]) -> None:
    store = ProfileStore("S", {"coins": 0}, engine=engine)
    profile = store.start_session("k")
    assert profile is not None
    profile.data["coins"] = 1
    assert profile.save() is True
    locker = lock(path, 2.5)
    profile.data["coins"] = 2
    assert profile.save() is False and profile.is_active()
    assert len(errors) == 1 and errors[0][1:] == ("S", "k") and "locked" in errors[0][0]
    profile.data["coins"] = 3
    started = time.monotonic()
    profile.end_session()  # returns after the first failed attempt
    assert time.monotonic() - started < 2.0 and not profile.is_active()
    assert len(errors) == 2
    locker.wait(10)
    deadline = time.monotonic() + 10
    while engine.parts.saver.pending() and time.monotonic() < deadline:
        engine.run_pending()  # the final save is retried with backoff
        time.sleep(0.1)
    latest = store.get("k")
    assert latest is not None and latest.data == {"coins": 3}
    ends = [e for e in store.history("k") if e.type == "SessionEnded"]
    assert len(ends) == 1 and engine.data_store_state == "Access"


def test_a_save_waits_out_a_lock_shorter_than_the_timeout_and_lands(
        engine: Engine, path: Path, errors: list[tuple[str, str, str]]) -> None:
    store = ProfileStore("S", {"coins": 0}, engine=engine)
    profile = store.start_session("k")
    assert profile is not None
    locker = lock(path, 0.4)  # the engine's writes wait up to 1 s
    profile.data["coins"] = 5
    assert profile.save() is True and errors == []  # it could only commit once the lock was let go
    assert locker.wait(10) == 0
    assert store.get("k").data == {"coins": 5}
    profile.end_session()


def test_close_with_the_database_locked_returns_within_its_timeout(
        engine: Engine, path: Path, errors: list[tuple[str, str, str]]) -> None:
    profile = ProfileStore("S", {"coins": 0}, engine=engine).start_session("k")
    assert profile is not None
    profile.data["coins"] = 9
    locker = lock(path, 4)
    started = time.monotonic()
    engine.close(timeout=0.5)
    assert time.monotonic() - started < 1.5
    assert any("could not save" in message for message, *_ in errors)
    # the save still trying holds a connection: it is closed once that attempt ends, not under
    # it (closing a connection another thread runs a statement on crashed the process)
    pool = engine.parts.logs.live.recorder.datastore.pool  # type: ignore[union-attr, attr-defined]
    assert not pool._closed
    locker.wait(10)
    deadline = time.monotonic() + 10
    while not pool._closed and time.monotonic() < deadline:
        time.sleep(0.05)
    assert pool._closed


def test_close_past_its_deadline_reports_every_session_not_saved_yet(
        engine: Engine, path: Path, errors: list[tuple[str, str, str]]) -> None:
    store = ProfileStore("S", {"coins": 0}, engine=engine)
    profiles = [store.start_session(f"k{n}") for n in range(4)]
    locker = lock(path, 3)  # final saves are made one after another: the first waits for it
    engine.close(timeout=0.5)
    reported = {key for message, _, key in errors if "could not save" in message}
    assert reported == {f"k{n}" for n in range(4)}, "the ones whose save had not begun too"
    locker.wait(10)
    assert all(p is not None for p in profiles)


def test_a_database_file_replaced_by_an_unreadable_one_fails_saves_until_it_is_back(
        engine: Engine, path: Path, errors: list[tuple[str, str, str]]) -> None:
    store = ProfileStore("S", {"coins": 0}, engine=engine)
    profile = store.start_session("k")
    assert profile is not None
    profile.data["coins"] = 1
    assert profile.save()
    aside = path.with_suffix(".aside")
    path.rename(aside)
    (path.parent / "garbage").write_bytes(b"this is not a database " * 512)
    (path.parent / "garbage").rename(path)
    profile.data["coins"] = 2
    assert profile.save() is False and profile.is_active()
    assert errors and "replaced" in errors[-1][0]
    aside.rename(path)  # the operator puts the real file back
    assert profile.save() is True
    profile.end_session()
    with Engine(f"sqlite:///{path}", background=False) as reader:  # a fresh process's view
        latest = ProfileStore("S", {"coins": 0}, engine=reader).get("k")
        assert latest is not None and latest.data == {"coins": 2}
