"""The demo's game-backend simulator: server processes, players, a kill and a rollback, checked
against the invariants session locking promises. Its server processes (server.py) are also the
ones the end-to-end tests run. Not part of the library's layers: it uses the public API, plus
the engine's clock and URL resolution; the CLI shows it (`profilestore demo`)."""

if __name__ != "profilestore.simulator":  # pragma: no cover - a second copy would change topics
    raise ImportError("import this package as profilestore.simulator, not by its folder name")
