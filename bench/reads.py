"""Scenarios 3 and 5: session start on a long stream, and point-in-time reads."""

from __future__ import annotations

import time
from pathlib import Path

from common import QUIET, Result, engine_pragmas, p99, pragmas, raw_connection

from profilestore import Engine, ProfileStore


def session_start(folder: Path, events: int, starts: int) -> list[Result]:
    """Start and end a session on a profile with `events` events, `starts` times: on an engine
    with its aggregate cache (the default: a profile read before replays only what is new) and
    on one with it off (`?cache=0`: a replay from the nearest snapshot every time), in turns."""
    path = folder / "start.db"
    engine = Engine(f"sqlite:///{path}", settings=QUIET, background=False)
    store = ProfileStore("Bench", {"coins": 0}, engine=engine)
    profile = store.start_session("long")
    assert profile is not None
    while profile.key_info.version is not None and int(profile.key_info.version) < events:
        profile.data["coins"] += 1
        assert profile.save()
    profile.end_session()
    engine.run_pending()  # what the engine thread does: here, take the snapshots that came due
    cold = Engine(f"sqlite:///{path}?cache=0", settings=QUIET, background=False)
    cold_store = ProfileStore("Bench", {"coins": 0}, engine=cold)
    engine_ms: dict[Engine, list[float]] = {engine: [], cold: []}
    for _ in range(starts):
        for each, each_store in ((engine, store), (cold, cold_store)):
            started = time.perf_counter()
            profile = each_store.start_session("long")
            engine_ms[each].append((time.perf_counter() - started) * 1000)
            assert profile is not None
            profile.end_session()
            each.run_pending()
    settings = {"engine": engine_pragmas(engine), "events": events, "starts": starts}
    engine.close()
    cold.close()

    raw = raw_connection(folder / "start-raw.db")
    settings["baseline"] = pragmas(raw)
    raw.execute("CREATE TABLE events (id TEXT, version INTEGER, data BLOB, PRIMARY KEY (id, version))")
    raw.executemany("INSERT INTO events VALUES ('long', ?, ?)",
                    [(version, b"x" * 200) for version in range(1, events + 1)])
    raw_ms = []
    for _ in range(starts):
        started = time.perf_counter()
        raw.execute("BEGIN")
        (version,) = raw.execute("SELECT version FROM events WHERE id='long' ORDER BY version DESC LIMIT 1"
                                 ).fetchone()
        raw.execute("INSERT INTO events VALUES ('long', ?, ?)", (version + 1, b"x" * 200))
        raw.execute("COMMIT")
        raw_ms.append((time.perf_counter() - started) * 1000)
    raw.close()
    warm_ratio, cold_ratio = p99(engine_ms[engine]) / p99(raw_ms), p99(engine_ms[cold]) / p99(raw_ms)
    return [Result(f"session start p99, {events} events", p99(engine_ms[engine]), "ms",
                   "raw select latest + insert + commit, p99", p99(raw_ms), warm_ratio, "<= 3",
                   warm_ratio <= 3, {**settings, "aggregate cache": "on (default)"}),
            Result(f"session start p99, {events} events, cache off", p99(engine_ms[cold]), "ms",
                   "raw select latest + insert + commit, p99", p99(raw_ms), cold_ratio,
                   "(reported)", True, {**settings, "aggregate cache": "off (?cache=0)"})]


def point_in_time_read(folder: Path, events: int, reads: int) -> list[Result]:
    import random
    from datetime import UTC, datetime

    # every cache off, as the scenario asks: both reads replay from their nearest snapshot
    engine = Engine(f"sqlite:///{folder / 'history.db'}?cache=0", settings=QUIET, background=False)
    store = ProfileStore("Bench", {"coins": 0}, engine=engine)
    profile = store.start_session("old")
    assert profile is not None
    first = datetime.now(UTC)
    for _ in range(events):
        profile.data["coins"] += 1
        assert profile.save()
    last = datetime.now(UTC)
    engine.run_pending()  # takes the snapshots that came due
    rng = random.Random(7)
    at_ms, latest_ms = [], []
    for _ in range(reads):
        when = first + (last - first) * rng.random()
        started = time.perf_counter()
        assert store.get("old", at=when) is not None
        at_ms.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        assert store.get("old") is not None
        latest_ms.append((time.perf_counter() - started) * 1000)
    profile.end_session()
    engine.close()
    ratio = p99(at_ms) / p99(latest_ms)
    return [Result(f"get(at=random time) p99, {events} events", p99(at_ms), "ms",
                   "get() of the latest state, p99", p99(latest_ms), ratio, "<= 3", ratio <= 3,
                   {"events": events, "reads": reads, "snapshot_interval": QUIET.snapshot_interval})]
