"""Real OS processes sharing one SQLite file."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

SCRIPT = Path(__file__).with_name("game_server.py")


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'shared.db'}"


@pytest.fixture
def spawn() -> Iterator[Callable[..., subprocess.Popen[str]]]:
    """Start game_server.py processes; any still running at the end is killed."""
    started: list[subprocess.Popen[str]] = []

    def start(*args: object) -> subprocess.Popen[str]:
        process = subprocess.Popen([sys.executable, str(SCRIPT), *map(str, args)],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait(10)


def _wait_ready(process: subprocess.Popen[str]) -> None:
    assert process.stdout is not None and process.stderr is not None
    line = process.stdout.readline()
    assert line.strip() == "READY", f"server did not start: {line!r} {process.stderr.read()}"


@pytest.fixture
def ready() -> Callable[[subprocess.Popen[str]], None]:
    """Block until a process printed READY (fails with its stderr if it exits first)."""
    return _wait_ready
