"""Scenarios 1 and 2: per-profile saves and the saves of one auto-save tick (group commit)."""

from __future__ import annotations

import json
from pathlib import Path

from common import QUIET, Result, blob, engine_pragmas, pragmas, rate, raw_connection

from profilestore import Engine, ProfileStore


def per_profile_saves(folder: Path, profiles: int) -> list[Result]:
    engine = Engine(f"sqlite:///{folder / 'engine.db'}", settings=QUIET, background=False)
    store = ProfileStore("Bench", {"coins": 0}, engine=engine)
    held = []
    for i in range(profiles):
        profile = store.start_session(f"p{i}")
        assert profile is not None
        profile.data.update(blob(i, 2000))
        profile.save()
        held.append(profile)

    def saves() -> None:
        for profile in held:
            profile.data["coins"] += 1
            assert profile.save()

    engine_rate = rate(profiles, saves)
    settings = {"engine": engine_pragmas(engine), "profiles": profiles, "data_bytes": 2000}
    for profile in held:
        profile.end_session()
    engine.close()

    raw = raw_connection(folder / "raw.db")
    settings["baseline"] = pragmas(raw)
    raw.execute("CREATE TABLE events (id TEXT, version INTEGER, data BLOB, PRIMARY KEY (id, version))")
    raw.execute("CREATE TABLE players (id TEXT PRIMARY KEY, data BLOB)")
    payloads = [json.dumps(blob(i, 2000)).encode() for i in range(profiles)]
    raw.executemany("INSERT INTO players VALUES (?, ?)", [(f"p{i}", p) for i, p in enumerate(payloads)])

    def inserts() -> None:
        for i, payload in enumerate(payloads):
            raw.execute("BEGIN")
            raw.execute("INSERT INTO events VALUES (?, ?, ?)", (f"p{i}", 1, payload))
            raw.execute("COMMIT")

    changed = [json.dumps(blob(i + 1, 2000)).encode() for i in range(profiles)]  # new bytes: a real write

    def updates() -> None:
        for i, payload in enumerate(changed):
            raw.execute("BEGIN")
            raw.execute("UPDATE players SET data=? WHERE id=?", (payload, f"p{i}"))
            raw.execute("COMMIT")

    insert_rate, update_rate = rate(profiles, inserts), rate(profiles, updates)
    raw.close()
    return [
        Result("per-profile saves", engine_rate, "saves/s", "raw single-row INSERT per transaction",
               insert_rate, engine_rate / insert_rate, ">= 0.6", engine_rate / insert_rate >= 0.6, settings),
        Result("per-profile saves", engine_rate, "saves/s", "hand-written UPDATE players SET data=?",
               update_rate, engine_rate / update_rate, "(reported)", True, settings),
    ]
