"""The engine, stores and profiles: the public API's behaviour over the event store."""

if __name__ != "profilestore.application":  # pragma: no cover - a second copy would change topics
    raise ImportError("import this package as profilestore.application, not by its folder name")
