"""The benchmark suite: each figure is a ratio against a baseline measured in the same run.

    python bench/run.py [--quick] [--out bench/results.json]

Prints a table and writes a list of {name, value, unit, baseline_name, baseline_value, ratio,
target, met, settings}. No absolute time is a target: these machines are shared and noisy.
The engine and its SQLite baselines use the same PRAGMAs, which are printed.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from profilestore import Engine, ProfileStore, Settings

QUIET = Settings(auto_save_period=86_400, snapshot_interval=100)


@dataclass
class Result:
    name: str
    value: float
    unit: str
    baseline_name: str
    baseline_value: float
    ratio: float
    target: str
    met: bool
    settings: dict[str, Any] = field(default_factory=dict)


def pragmas(connection: sqlite3.Connection) -> dict[str, Any]:
    return {name: connection.execute(f"PRAGMA {name}").fetchone()[0]
            for name in ("journal_mode", "synchronous")}


def engine_pragmas(engine: Engine) -> dict[str, Any]:
    with engine._live.app.recorder.datastore.get_connection(commit=False) as connection:  # type: ignore[attr-defined]
        return pragmas(connection._sqlite_conn)


def raw_connection(path: Path) -> sqlite3.Connection:
    """A plain sqlite3 connection with the library's settings: WAL, default synchronous (FULL)."""
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=FULL")
    return connection


def rate(count: int, work: Callable[[], None]) -> float:
    started = time.perf_counter()
    work()
    return count / (time.perf_counter() - started)


def blob(i: int, size: int) -> dict[str, Any]:
    """Profile data of about `size` bytes of JSON."""
    return {"coins": i, "level": 1, "inventory": [f"item-{n:04d}-{'x' * 20}" for n in range(size // 32)]}


# ---- scenario 1: per-profile saves -----------------------------------------------------------


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


# ---- scenario 6: storage per save --------------------------------------------------------------


def storage_per_save(folder: Path, saves: int) -> list[Result]:
    path = folder / "storage.db"
    engine = Engine(f"sqlite:///{path}", settings=QUIET, background=False)
    store = ProfileStore("Bench", {"coins": 0}, engine=engine)
    profile = store.start_session("big")
    assert profile is not None
    profile.data.update(blob(0, 100_000))
    profile.save()
    full_copy = len(json.dumps(profile.data).encode())
    with engine._live.app.recorder.datastore.get_connection(commit=False) as connection:  # type: ignore[attr-defined]
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


# ---- scenario 3: session start -------------------------------------------------------------------


def p99(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def session_start(folder: Path, events: int, starts: int) -> list[Result]:
    engine = Engine(f"sqlite:///{folder / 'start.db'}", settings=QUIET, background=False)
    store = ProfileStore("Bench", {"coins": 0}, engine=engine)
    profile = store.start_session("long")
    assert profile is not None
    while profile.key_info.version is not None and int(profile.key_info.version) < events:
        profile.data["coins"] += 1
        assert profile.save()
    profile.end_session()
    engine.run_pending()  # what the engine thread does: here, take the snapshots that came due
    engine_ms = []
    for _ in range(starts):
        started = time.perf_counter()
        profile = store.start_session("long")
        engine_ms.append((time.perf_counter() - started) * 1000)
        assert profile is not None
        profile.end_session()
        engine.run_pending()
    settings = {"engine": engine_pragmas(engine), "events": events, "starts": starts}
    engine.close()

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
    ratio = p99(engine_ms) / p99(raw_ms)
    return [Result(f"session start p99, {events} events", p99(engine_ms), "ms",
                   "raw select latest + insert + commit, p99", p99(raw_ms), ratio, "<= 3", ratio <= 3,
                   settings)]


# ---- scenario 5: point-in-time read ---------------------------------------------------------------


def point_in_time_read(folder: Path, events: int, reads: int) -> list[Result]:
    import random
    from datetime import UTC, datetime

    engine = Engine(f"sqlite:///{folder / 'history.db'}", settings=QUIET, background=False)
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


# ---- running -------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke test)")
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("results.json"))
    args = parser.parse_args(argv)
    scale = 0.1 if args.quick else 1.0
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="profilestore-bench-") as folder:
        results += per_profile_saves(Path(folder), int(1000 * scale))
        results += storage_per_save(Path(folder), int(200 * scale))
        results += session_start(Path(folder), 1000, int(500 * scale))
        results += point_in_time_read(Path(folder), int(100_000 * scale), int(500 * scale))
    if args.quick:  # small sizes: a smoke test of the code, not a measurement of the targets
        for result in results:
            result.target += " (quick run: not judged)"
    print(f"{'scenario':<52} {'value':>12} {'baseline':>12} {'ratio':>7}  target     met")
    for result in results:
        print(f"{result.name[:52]:<52} {result.value:>12.1f} {result.baseline_value:>12.1f}"
              f" {result.ratio:>7.3f}  {result.target:<10} {'yes' if result.met else 'NO'}")
        print(f"    vs {result.baseline_name}; {json.dumps(result.settings)}")
    args.out.write_text(json.dumps([asdict(r) for r in results], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
