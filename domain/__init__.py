"""The profile aggregate, its events and rules: no I/O, no outer layer."""

if __name__ != "profilestore.domain":  # pragma: no cover - a second copy would change event topics
    raise ImportError("import this package as profilestore.domain, not by its folder name")
