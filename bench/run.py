"""The benchmark suite: each figure is a ratio against a baseline measured in the same run.

    python bench/run.py [--quick] [--out bench/results.json]

Prints a table and writes a list of {name, value, unit, baseline_name, baseline_value, ratio,
target, met, settings}. No absolute time is a target: these machines are shared and noisy.
The engine and its SQLite baselines use the same PRAGMAs, which are printed.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

from common import Result, database, postgres_base_url, report
from loop_lag import loop_lag
from processes import hand_over, messages
from reads import point_in_time_read, session_start
from saves import group_commit, per_profile_saves
from scale import scale as scale_scenario
from shapes import realistic_shapes
from storage import storage_per_save
from typed import typed_profiles

SCALE_FULL = (100_000, 1_000_000, 200)  # profiles, events, samples
SCALE_QUICK = (10_000, 100_000, 50)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke test)")
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("results.json"))
    args = parser.parse_args(argv)
    scale = 0.1 if args.quick else 1.0
    postgres = postgres_base_url()
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="profilestore-bench-") as name:
        folder = Path(name)
        results += per_profile_saves(folder, int(1000 * scale))
        results += group_commit(folder, int(1000 * scale))
        results += session_start(folder, 1000, int(500 * scale))
        results += hand_over(f"sqlite:///{folder / 'hand-over.db'}", int(200 * scale))
        results += point_in_time_read(folder, int(100_000 * scale), int(500 * scale))
        results += storage_per_save(folder, int(200 * scale))
        results += scale_scenario(folder, *SCALE_QUICK if args.quick else SCALE_FULL)
        results += messages(f"sqlite:///{folder / 'messages.db'}", per_sender=int(200 * scale))
        results += realistic_shapes(folder, args.quick)
        results += typed_profiles(folder, args.quick)
        results += loop_lag(folder, args.quick)  # SQLite, and PostgreSQL when reachable
        if postgres is None:
            print("PostgreSQL columns skipped: set PROFILESTORE_BENCH_POSTGRES_URL (or"
                  " PROFILESTORE_TEST_POSTGRES_URL) to a reachable server")
        else:  # scenario 9: the scenarios that apply, on PostgreSQL against raw psycopg
            results += per_profile_saves(folder, int(1000 * scale), "postgresql")
            results += group_commit(folder, int(1000 * scale), "postgresql")
            with database("postgresql", folder, "handover") as (url, _):
                results += hand_over(url, int(200 * scale))
            with database("postgresql", folder, "messages") as (url, _):
                results += messages(url, per_sender=int(200 * scale))
            results += realistic_shapes(folder, args.quick, "postgresql")
    report(results, args.quick)
    args.out.write_text(json.dumps([asdict(r) for r in results], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
