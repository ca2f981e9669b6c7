"""The README's main job: `profilestore demo`, two server processes, no coin lost."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_the_demo_hands_the_player_over_between_two_processes_and_loses_no_coin(tmp_path: Path
                                                                              ) -> None:
    command = [sys.executable, "-c", "from profilestore.infrastructure.cli import main; main()",
               "demo", "--database", f"sqlite:///{tmp_path / 'demo.db'}", "--seconds", "1"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120,
                          env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "final save (External)" in done.stdout
    assert "no coin lost" in done.stdout
    assert "SessionRequested" in done.stdout and "SessionEnded" in done.stdout
