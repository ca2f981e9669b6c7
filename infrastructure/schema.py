"""The side tables' schema, declared once; each back end renders it into its own DDL.

What is in them and when they are written is in side_tables.py. A column is one of three kinds,
which each back end maps to a type of its own: `id` (an aggregate id, as the events table
stores it: uuid on PostgreSQL, hex TEXT on SQLite), `text`, and `int` (64 bits: bigint on
PostgreSQL). A column is NOT NULL only where declared so: a primary key makes its columns NOT
NULL on PostgreSQL by itself, while SQLite lets them be NULL, and databases made before this
declaration existed have them so.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Literal

Kind = Literal["id", "text", "int"]


@dataclass(frozen=True)
class Column:
    """One column. `added_later`: tables made by an earlier version lack it, so a back end adds
    it when it finds it missing (it must then be nullable: the rows already there hold NULL)."""

    name: str
    kind: Kind
    not_null: bool = False
    added_later: bool = False

    def __post_init__(self) -> None:
        assert not (self.added_later and self.not_null), f"{self.name}: added later, so nullable"


@dataclass(frozen=True)
class Index:
    name: str
    columns: tuple[str, ...]


@dataclass(frozen=True)
class Table:
    """One table. `without_rowid`: on SQLite, the primary key's b-tree is the table."""

    name: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]
    indexes: tuple[Index, ...] = ()
    without_rowid: bool = False

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns)


TIMESTAMPS = Table(
    "profile_timestamps",
    (Column("originator_id", "id"), Column("originator_version", "int"),
     Column("timestamp_us", "int", not_null=True), Column("kind", "text", not_null=True)),
    primary_key=("originator_id", "originator_version"),
    # get(at=), versions by date: no scan of the stream
    indexes=(Index("profile_timestamps_by_time", ("originator_id", "timestamp_us", "originator_version")),),
)
PROFILES = Table(
    "profiles",
    (Column("store", "text"), Column("key", "text"), Column("originator_id", "text", not_null=True),
     Column("version", "int", not_null=True), Column("created_time", "int"), Column("updated_time", "int"),
     Column("data", "text", not_null=True), Column("metadata", "text"), Column("user_ids", "text"),
     Column("session", "text"),
     # the aggregate version the row reflects (NULL in rows written before the column existed)
     Column("event_version", "int", added_later=True)),
    primary_key=("store", "key"),
)
PROFILE_PENDING = Table(
    "profile_pending",
    (Column("originator_id", "text"), Column("store", "text", not_null=True),
     Column("key", "text", not_null=True), Column("event_version", "int", not_null=True),
     Column("queued_us", "int", not_null=True)),
    primary_key=("originator_id",),
    without_rowid=True,  # one b-tree, so a save's marker writes one page, not a row and its key's index
)
PROFILE_USER_IDS = Table(
    "profile_user_ids",
    (Column("user_id", "int"), Column("store", "text"), Column("key", "text")),
    primary_key=("user_id", "store", "key"),
    # every write that can change a profile's user ids replaces its rows by (store, key): without
    # this index each one scanned the table (6.7 ms at 100,000 profiles)
    indexes=(Index("profile_user_ids_by_profile", ("store", "key")),),
)
READ_MODELS = (PROFILES, PROFILE_PENDING, PROFILE_USER_IDS)
SIDE_TABLES = (TIMESTAMPS, *READ_MODELS)


def column_definition(column: Column, types: Mapping[Kind, str]) -> str:
    """`name TYPE [NOT NULL]`, with the back end's type for the column's kind."""
    return f"{column.name} {types[column.kind]}{' NOT NULL' if column.not_null else ''}"


def create_statements(tables: Iterable[Table], types: Mapping[Kind, str], *, rowid_tables: bool
                      ) -> list[str]:
    """CREATE TABLE and CREATE INDEX statements (IF NOT EXISTS) for `tables`; `rowid_tables`:
    the back end has SQLite's WITHOUT ROWID. Columns `added_later` are in the tables made here;
    tables made earlier get them from the back end (`added_columns`)."""
    statements = []
    for table in tables:
        columns = [column_definition(column, types) for column in table.columns]
        statements.append(f"CREATE TABLE IF NOT EXISTS {table.name} ({', '.join(columns)},"
                          f" PRIMARY KEY ({', '.join(table.primary_key)}))"
                          + (" WITHOUT ROWID" if rowid_tables and table.without_rowid else ""))
        statements.extend(f"CREATE INDEX IF NOT EXISTS {index.name} ON {table.name}"
                          f" ({', '.join(index.columns)})" for index in table.indexes)
    return statements


def added_columns(tables: Iterable[Table]) -> Iterator[tuple[Table, Column]]:
    """The columns that tables made by an earlier version may lack."""
    for table in tables:
        for column in table.columns:
            if column.added_later:
                yield table, column
