"""Persistence adapters: the event mapper and the SQLite recorder chosen by topic."""

if __name__ != "profilestore.infrastructure":  # pragma: no cover - a second copy would change topics
    raise ImportError("import this package as profilestore.infrastructure, not by its folder name")
