"""Scenarios 1 and 2: per-profile saves, and the saves of one auto-save tick (group commit), on
SQLite or PostgreSQL, against a plain table on the same kind of storage."""

from __future__ import annotations

import json
import time
from pathlib import Path

from common import QUIET, RawDatabase, Result, blob, database, engine_settings, rate

from profilestore import Engine, Profile, ProfileStore

DATA_BYTES = 2000


# A save of ours writes three rows: the event (a patch), its time-index row and the read-model row
# with the whole data. Written by hand, they are the floor for this design.
PATCH = json.dumps([{"op": "replace", "path": "/coins", "value": 2}]).encode()
UPSERT = ("INSERT INTO profiles VALUES ('Bench', ?, ?, ?) ON CONFLICT (store, key)"
          " DO UPDATE SET version=excluded.version, data=excluded.data")


def create_save_tables(raw: RawDatabase) -> None:
    raw.run(f"CREATE TABLE stored (id {raw.serial}, originator TEXT, version INTEGER,"
            f" state {raw.blob})")
    raw.run("CREATE UNIQUE INDEX stored_by_version ON stored (originator, version)")
    raw.run("CREATE TABLE times (originator TEXT, version INTEGER, us INTEGER, kind TEXT,"
            " PRIMARY KEY (originator, version))")
    raw.run("CREATE INDEX times_by_time ON times (originator, us, version)")
    raw.run("CREATE TABLE profiles (store TEXT, key TEXT, version INTEGER, data TEXT,"
            " PRIMARY KEY (store, key))")


def write_save_rows(raw: RawDatabase, saves: list[tuple[str, int, bytes]]) -> None:
    """The three rows of each (key, version, data) save, in the caller's transaction."""
    raw.run_many("INSERT INTO stored (originator, version, state) VALUES (?, ?, ?)",
                 [(key, version, PATCH) for key, version, _ in saves])
    raw.run_many("INSERT INTO times VALUES (?, ?, ?, ?)",
                 [(key, version, version, "Saved") for key, version, _ in saves])
    raw.run_many(UPSERT, [(key, version, data.decode()) for key, version, data in saves])


def _hold(engine: Engine, prefix: str, profiles: int) -> list[Profile]:
    """Sessions on `profiles` keys, each given about 2 KB of data (not saved yet)."""
    store = ProfileStore("Bench", {"coins": 0}, engine=engine)
    held = []
    for i in range(profiles):
        profile = store.start_session(f"{prefix}{i}")
        assert profile is not None
        profile.data.update(blob(i, DATA_BYTES))
        held.append(profile)
    return held


def _label(name: str, backend: str) -> str:
    return name if backend == "sqlite" else f"{name} [PostgreSQL]"


def per_profile_saves(folder: Path, profiles: int, backend: str = "sqlite") -> list[Result]:
    with database(backend, folder, "saves") as (url, raw):
        engine = Engine(url, settings=QUIET, background=False)
        held = _hold(engine, "p", profiles)
        for profile in held:
            profile.save()

        def saves() -> None:
            for profile in held:
                profile.data["coins"] += 1
                assert profile.save()

        engine_rate = rate(profiles, saves)
        settings = {"backend": backend, "engine": engine_settings(engine), "profiles": profiles,
                    "data_bytes": DATA_BYTES, "baseline": raw.settings()}
        for profile in held:
            profile.end_session()
        engine.close()

        raw.run(f"CREATE TABLE events (id TEXT, version INTEGER, data {raw.blob},"
                " PRIMARY KEY (id, version))")
        raw.run(f"CREATE TABLE players (id TEXT PRIMARY KEY, data {raw.blob})")
        payloads = [json.dumps(blob(i, DATA_BYTES)).encode() for i in range(profiles)]
        raw.begin()
        raw.run_many("INSERT INTO players VALUES (?, ?)", [(f"p{i}", p) for i, p in enumerate(payloads)])
        raw.commit()

        def inserts() -> None:
            for i, payload in enumerate(payloads):
                raw.begin()
                raw.run("INSERT INTO events VALUES (?, ?, ?)", (f"p{i}", 1, payload))
                raw.commit()

        changed = [json.dumps(blob(i + 1, DATA_BYTES)).encode() for i in range(profiles)]  # a real write

        def updates() -> None:
            for i, payload in enumerate(changed):
                raw.begin()
                raw.run("UPDATE players SET data=? WHERE id=?", (payload, f"p{i}"))
                raw.commit()

        create_save_tables(raw)

        def three_rows(version: int) -> None:
            for i, payload in enumerate(changed):
                raw.begin()
                write_save_rows(raw, [(f"p{i}", version, payload)])
                raw.commit()

        three_rows(1)  # the read-model rows exist, as the engine's do
        insert_rate, update_rate = rate(profiles, inserts), rate(profiles, updates)
        floor_rate = rate(profiles, lambda: three_rows(2))
    name = _label("per-profile saves", backend)
    return [
        Result(name, engine_rate, "saves/s", "raw INSERTs of a save's three rows (event, time,"
               " read model) per transaction", floor_rate, engine_rate / floor_rate, "(reported)",
               True, settings),
        Result(name, engine_rate, "saves/s", "raw single-row INSERT per transaction",
               insert_rate, engine_rate / insert_rate, ">= 0.6", engine_rate / insert_rate >= 0.6, settings),
        Result(name, engine_rate, "saves/s", "hand-written UPDATE players SET data=?",
               update_rate, engine_rate / update_rate, "(reported)", True, settings),
    ]


# ---- scenario 2: group commit --------------------------------------------------------------------


def group_commit(folder: Path, profiles: int, backend: str = "sqlite", ticks: int = 3) -> list[Result]:
    """The auto-saves due in one tick: every held profile changed, one run_pending() stores them.
    The figure is the best of `ticks` ticks, on both sides."""
    period = 1.0
    with database(backend, folder, "group") as (url, raw):
        engine = Engine(url, background=False,
                        settings=QUIET.model_copy(update={"auto_save_period": period}))
        held = _hold(engine, "g", profiles)
        engine.run_pending()
        saved = [0]
        for profile in held:
            profile.on_after_save.connect(lambda _data: saved.__setitem__(0, saved[0] + 1))
        engine_rates = []
        for _ in range(ticks):
            for profile in held:
                profile.data["coins"] += 1
            time.sleep(period)  # every slot of the ring is due
            before = saved[0]
            started = time.perf_counter()
            engine.run_pending()
            elapsed = time.perf_counter() - started
            assert saved[0] - before == profiles, f"the tick saved {saved[0] - before} of {profiles}"
            engine_rates.append(profiles / elapsed)
        settings = {"backend": backend, "engine": engine_settings(engine), "profiles": profiles,
                    "data_bytes": DATA_BYTES, "ticks": ticks, "figure": "best tick",
                    "baseline": raw.settings()}
        for profile in held:
            profile.end_session()
        engine.close()

        raw.run(f"CREATE TABLE events (id TEXT, version INTEGER, data {raw.blob},"
                " PRIMARY KEY (id, version))")
        create_save_tables(raw)
        raw_rates, floor_rates = [], []
        for tick in range(ticks):
            rows = [(f"g{i}", tick, json.dumps(blob(i + tick, DATA_BYTES)).encode())
                    for i in range(profiles)]

            def executemany(rows: list[tuple[str, int, bytes]] = rows) -> None:
                raw.begin()
                raw.run_many("INSERT INTO events VALUES (?, ?, ?)", rows)
                raw.commit()

            def three_rows_many(rows: list[tuple[str, int, bytes]] = rows) -> None:
                raw.begin()
                write_save_rows(raw, rows)
                raw.commit()

            raw_rates.append(rate(profiles, executemany))
            floor_rates.append(rate(profiles, three_rows_many))
    engine_rate, raw_rate, floor_rate = max(engine_rates), max(raw_rates), max(floor_rates)
    ratio, name = engine_rate / raw_rate, _label("group commit: one auto-save tick", backend)
    return [Result(name, engine_rate, "saves/s", "raw executemany of the same rows in one transaction",
                   raw_rate, ratio, ">= 0.5", ratio >= 0.5, settings),
            Result(name, engine_rate, "saves/s", "raw executemany of a save's three rows in one"
                   " transaction", floor_rate, engine_rate / floor_rate, "(reported)", True, settings)]
