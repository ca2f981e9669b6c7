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

from common import Result
from reads import point_in_time_read, session_start
from saves import per_profile_saves
from storage import storage_per_save


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
