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
    print(f"{'scenario':<52} {'value':>12} {'baseline':>12} {'ratio':>7}  target     met")
    for result in results:
        print(f"{result.name[:52]:<52} {result.value:>12.1f} {result.baseline_value:>12.1f}"
              f" {result.ratio:>7.3f}  {result.target:<10} {'yes' if result.met else 'NO'}")
        print(f"    vs {result.baseline_name}; {json.dumps(result.settings)}")
    args.out.write_text(json.dumps([asdict(r) for r in results], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
