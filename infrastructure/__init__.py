"""Persistence adapters: the event mapper, and the SQLite and PostgreSQL recorders chosen by topic
with the side tables' schema (schema.py) and SQL (side_tables.py) they share."""

if __name__ != "profilestore.infrastructure":  # pragma: no cover - a second copy would change topics
    raise ImportError("import this package as profilestore.infrastructure, not by its folder name")
