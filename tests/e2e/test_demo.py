"""The README's main job: `profilestore demo` — servers, players, a kill, a rollback, invariants."""

from __future__ import annotations

import subprocess
import sys


def test_the_demo_runs_the_backend_and_every_invariant_holds(db_url: str) -> None:
    command = [sys.executable, "-c", "from profilestore.cli.main import main; main()",
               "demo", "--database", db_url,
               "--players", "9", "--servers", "3", "--seconds", "5"]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=90,
                              env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"})
    except subprocess.TimeoutExpired as hung:
        raise AssertionError(f"the demo hung; it printed: {hung.stdout!r} {hung.stderr!r}") from None
    assert done.returncode == 0, done.stdout + done.stderr
    for line in ("killed with SIGKILL", "operator rollback", "no item duplicated or lost",
                 "every gift applied exactly once", "no coin created or lost", "all invariants held"):
        assert line in done.stdout, line
