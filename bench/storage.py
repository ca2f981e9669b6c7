"""Scenario 6: bytes stored per save of a big profile that changes one field."""

from __future__ import annotations

import json
from pathlib import Path

from common import QUIET, Result, blob

from profilestore import Engine, ProfileStore


def storage_per_save(folder: Path, saves: int) -> list[Result]:
    path = folder / "storage.db"
    engine = Engine(f"sqlite:///{path}", settings=QUIET, background=False)
    store = ProfileStore("Bench", {"coins": 0}, engine=engine)
    profile = store.start_session("big")
    assert profile is not None
    profile.data.update(blob(0, 100_000))
    profile.save()
    full_copy = len(json.dumps(profile.data).encode())
    with engine.parts.logs.live.app.recorder.datastore.get_connection(commit=False) as connection:  # type: ignore[attr-defined]
        def stored() -> int:
            return int(connection._sqlite_conn.execute(
                "SELECT sum(length(state)) FROM stored_events").fetchone()[0])
        before = stored()
        for _ in range(saves):
            profile.data["coins"] += 1
            assert profile.save()
        per_save = (stored() - before) / saves
    profile.end_session()
    engine.close()
    ratio = per_save / full_copy
    return [Result("storage per save, 100 KB profile, one field changed", per_save, "bytes/save",
                   "a full copy per save", full_copy, ratio, "<= 0.02", ratio <= 0.02,
                   {"saves": saves, "counted": "event rows' state bytes"})]
