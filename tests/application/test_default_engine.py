"""profilestore.default_engine(): one per process, made on first use, new after fork()."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from profilestore import ProfileStore, default_engine
from profilestore.application import default


@pytest.fixture(autouse=True)
def fresh_default(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(default, "_engine", None)
    monkeypatch.setenv("PROFILESTORE_DATABASE_URL", f"sqlite:///{tmp_path / 'default.db'}")


def test_the_default_engine_is_made_once_and_used_by_stores_without_an_engine(tmp_path: Path) -> None:
    engine = default_engine()
    try:
        assert default_engine() is engine
        store = ProfileStore("S")
        assert store.engine is engine
        profile = store.start_session("k")
        assert profile is not None
        profile.end_session()
        assert (tmp_path / "default.db").exists()
    finally:
        engine.close(timeout=5)
    assert default_engine() is not engine, "a closed default engine is replaced"
    default_engine().close(timeout=5)


def test_a_forked_child_gets_its_own_default_engine() -> None:
    parent = default_engine()
    reader, writer = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        os.write(writer, b"new" if default_engine() is not parent else b"same")
        os._exit(0)
    os.waitpid(child, 0)
    assert os.read(reader, 10) == b"new"
    parent.close(timeout=5)
