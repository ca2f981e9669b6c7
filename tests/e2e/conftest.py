"""Real OS processes sharing one database (a SQLite file, or a PostgreSQL schema): game servers of
the demo's simulator (support/servers.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from support.servers import PLAYERS, ServerProcess

from profilestore.simulator.server import Game, serve


@pytest.fixture
def spawn() -> Iterator[Callable[..., ServerProcess]]:
    """Start game servers (the simulator's `serve` running the tests' game unless told otherwise);
    any still running at the end of the test is killed."""
    started: list[ServerProcess] = []

    def start(url: str, name: str, game: Game = PLAYERS, target: Callable[..., None] = serve
              ) -> ServerProcess:
        server = ServerProcess(url, name, game, target)
        started.append(server)
        return server

    yield start
    for server in started:
        server.end()
