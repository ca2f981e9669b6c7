"""Real OS processes sharing one database (a SQLite file, or a PostgreSQL schema)."""

from __future__ import annotations

import queue
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

SCRIPT = Path(__file__).with_name("game_server.py")


class ServerProcess:
    """A game_server.py process whose printed lines are collected as they come."""

    def __init__(self, *args: object) -> None:
        self.process = subprocess.Popen([sys.executable, str(SCRIPT), *map(str, args)],
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._queue.put(line.strip())
        self._queue.put(None)

    def expect(self, wanted: str, timeout: float = 20) -> None:
        """Wait until the process prints `wanted` (fails with its stderr if it exits first)."""
        while wanted not in self.lines:
            try:
                line = self._queue.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"no {wanted!r} within {timeout} s; saw {self.lines}") from None
            if line is None:
                self.process.wait(10)
                stderr = self.process.stderr.read() if self.process.stderr else ""
                raise AssertionError(f"exited before {wanted!r}; saw {self.lines}; stderr: {stderr}")
            self.lines.append(line)

    def settle(self, seconds: float) -> list[str]:
        """Collect what the process prints in the next `seconds`."""
        try:
            while (line := self._queue.get(timeout=seconds)) is not None:
                self.lines.append(line)
        except queue.Empty:
            pass
        return self.lines


@pytest.fixture
def spawn() -> Iterator[Callable[..., ServerProcess]]:
    """Start game servers; any still running at the end of the test is killed."""
    started: list[ServerProcess] = []

    def start(*args: object) -> ServerProcess:
        server = ServerProcess(*args)
        started.append(server)
        return server

    yield start
    for server in started:
        if server.process.poll() is None:
            server.process.kill()
        server.process.wait(10)
