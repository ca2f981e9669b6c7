"""The PostgreSQL persistence module: the library's recorder plus the time index and read models.

Chosen by topic (`PERSISTENCE_MODULE=profilestore.infrastructure.postgres`) for
`postgresql://` URLs. As on SQLite, a write's side rows (side_tables.py) go in the events' own
transaction; the deferred part of `profiles` rows is written later by `write_deferred`. The
library takes an EXCLUSIVE lock on the events table for every insert (so notification ids
commit in order); we take it first, before the side rows, and so does `write_deferred`, so
every writer queues at one place and side-row locks can never deadlock.

Tables are created under an advisory lock, so servers that start at once don't fail with
"tuple concurrently updated"; `create_tables=no` in the URL skips creation entirely. Every
connection's `search_path` is the configured schema, so the shared SQL names tables plainly.
Owners hear of new events through `LISTEN` on the channel the library `NOTIFY`s (`watch`).
"""

from __future__ import annotations

import functools
import logging
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import (
    PostgresAggregateRecorder,
    PostgresApplicationRecorder,
    PostgresDatastore,
    PostgresFactory,
)
from eventsourcing.utils import Environment, EnvType
from psycopg.sql import SQL, Identifier

from profilestore.application.recorder_port import Decide, StoredRow
from profilestore.application.side_rows import ProfileRow

from .schema import SIDE_TABLES, Kind, added_columns, column_definition, create_statements
from .side_tables import ProfileValues, SideTables

log = logging.getLogger("profilestore")
_CREATE_LOCK = 0x70726F66  # advisory lock key held while creating tables ("prof")
_TYPES: dict[Kind, str] = {"id": "uuid", "text": "text", "int": "bigint"}
# the side tables, then the columns that tables of an earlier version lack
_SIDE_TABLES = (*create_statements(SIDE_TABLES, _TYPES, rowid_tables=False),
                *(f"ALTER TABLE {table.name} ADD COLUMN IF NOT EXISTS {column_definition(column, _TYPES)}"
                  for table, column in added_columns(SIDE_TABLES)))


@functools.lru_cache(maxsize=256)
def _pyformat(statement: str) -> str:
    """`?` and `:name` parameters as psycopg's `%s` and `%(name)s`."""
    return re.sub(r"(?<![:\w]):([A-Za-z_]\w*)", r"%(\1)s", statement.replace("?", "%s"))


def _pool_kwargs(datastore: PostgresDatastore) -> dict[str, Any]:
    """The keyword arguments the library's pool connects with (a dict: the library sets it)."""
    kwargs = datastore.pool.kwargs
    assert isinstance(kwargs, dict)
    return kwargs


def _connect_kwargs(datastore: PostgresDatastore) -> dict[str, Any]:
    """The pool's connection arguments, for a connection of our own (plain tuple rows)."""
    return {k: v for k, v in _pool_kwargs(datastore).items() if k != "row_factory"}


class _CreatedOnce:
    """Create tables while holding an advisory lock, on a connection of its own."""

    datastore: PostgresDatastore

    def create_table(self) -> None:
        with psycopg.connect(autocommit=True, **_connect_kwargs(self.datastore)) as conn:
            conn.execute("SELECT pg_advisory_lock(%s)", (_CREATE_LOCK,))
            try:
                conn.execute(SQL("CREATE SCHEMA IF NOT EXISTS {}").format(
                    Identifier(self.datastore.schema)))
                super().create_table()  # type: ignore[misc]
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", (_CREATE_LOCK,))


class SnapshotRecorder(_CreatedOnce, PostgresAggregateRecorder):
    """The library's snapshot table, created under the advisory lock."""


class ProfileRecorder(_CreatedOnce, SideTables, PostgresApplicationRecorder):
    """Events, plus (id, version, µs, type) time rows and the read models, in one transaction."""

    _bytewise = ' COLLATE "C"'

    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events"
                 ) -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        self.sql_create_statements.extend(SQL(statement).format() for statement in _SIDE_TABLES)
        # No server-side prepared statements: a write that fails inside the library's pipelined
        # insert (a conflict, as two servers writing one profile make) just as psycopg prepares
        # its statement leaves the connection without it, and every later write on that
        # connection failed with 'prepared statement "_pg3_N" does not exist'.
        _pool_kwargs(datastore)["prepare_threshold"] = None

    def _sql(self, statement: str) -> str:
        return _pyformat(statement)

    def _id(self, originator_id: UUID | str) -> Any:
        return originator_id

    def _insert_events(self, curs: psycopg.Cursor[Any], stored_events: Sequence[StoredEvent],
                       **kwargs: Any) -> None:
        """Runs first in the library's insert transaction: queue for the table lock, then write
        the side rows; `_insert_stored_events` then notifies and inserts the events."""
        curs.connection.prepare_threshold = None  # see __init__: a pooled connection made earlier
        self._lock_table(curs)
        self._write_side_rows(curs, **self.split_side_rows(kwargs))

    def _insert_stored_events(self, curs: psycopg.Cursor[Any], stored_events: Sequence[StoredEvent],
                              **kwargs: Any) -> None:
        """The library's notify and insert, without locking again: `_insert_events` has
        taken the lock in this transaction already."""
        self._notify_channel(curs)
        PostgresAggregateRecorder._insert_stored_events(self, curs, stored_events, **kwargs)

    def insert_decided(self, prepare: Decide) -> None:
        """Take the table lock first, then let `prepare` read what others appended and decide
        the events, and insert them in the same transaction: nothing can be appended between
        the read and the write, so the insert never conflicts (a group commit of hot profiles)."""
        with self.datastore.get_connection() as conn, conn.transaction(), conn.cursor() as c:
            conn.prepare_threshold = None  # as _insert_events
            self._lock_table(c)

            def after(streams: Sequence[tuple[UUID, int]]) -> dict[UUID, list[StoredRow]]:
                """The newer rows of the streams that have any: one index probe per stream
                (LATERAL; a max() grouped over ANY(ids) read every event of every stream)."""
                table = Identifier(self.events_table_name)
                c.execute(SQL("SELECT e.originator_id, e.originator_version, e.topic, e.state"
                              " FROM unnest(%s::uuid[], %s::bigint[]) WITH ORDINALITY AS s(id, version, n),"
                              " LATERAL (SELECT * FROM {} WHERE originator_id = s.id"
                              " AND originator_version > s.version) AS e"
                              " ORDER BY s.n, e.originator_version").format(table),
                          ([originator_id for originator_id, _ in streams],
                           [version for _, version in streams]))
                newer: dict[UUID, list[StoredRow]] = {}
                for row in c.fetchall():
                    newer.setdefault(row["originator_id"], []).append(
                        (row["originator_version"], row["topic"], bytes(row["state"])))
                return newer

            stored, side_rows = prepare(after)
            if stored:
                with conn.pipeline():  # the writes in one round trip, as the library's insert does
                    self._write_side_rows(c, **side_rows)
                    self._insert_stored_events(c, stored)

    # ---- erasure -----------------------------------------------------------------------------

    def _insert_tombstone(self, c: psycopg.Cursor[Any], tombstone: StoredEvent, **side_rows: Any) -> None:
        self._insert_events(c, [tombstone], **side_rows)
        self._insert_stored_events(c, [tombstone])

    def _scrub(self) -> None:
        """A VACUUM of the touched tables, so the dead row versions that held the data are removed."""
        self.vacuum(self.events_table_name, self.snapshots_table_name, "profiles", "profile_user_ids")

    def write_deferred(self, rows: Sequence[ProfileValues], done: Sequence[tuple[str, int]]) -> None:
        """Deferred `profiles` rows and the markers they settle, in one transaction that takes
        the events table's lock first, as every writer of these rows does: row locks taken in
        different orders by a write and a deferred write could otherwise deadlock."""
        with self.datastore.get_connection() as conn, conn.transaction(), conn.cursor() as c:
            # committed without waiting for the WAL flush: if it is lost, so is the deletion of
            # its markers, which the writes stored durably, and the rows are written again
            c.execute("SET LOCAL synchronous_commit = off")
            self._lock_table(c)
            with conn.pipeline():
                self._write_deferred_rows(c, rows, done)

    def vacuum(self, *tables: str) -> None:
        """VACUUM the tables (outside any transaction; readers and writers are not blocked)."""
        with self.datastore.get_connection() as conn:
            conn.execute(SQL("VACUUM {}").format(SQL(", ").join(Identifier(t) for t in tables)))

    # ---- the read models -----------------------------------------------------------------------

    def rebuild_read_models(self, row_of: Callable[[list[StoredEvent]], ProfileRow]) -> int:
        """Empty the read models and fill them again from the events, in one transaction that
        holds the events table's write lock (no writer slips in between)."""
        with self.datastore.transaction(commit=True) as c:
            self._lock_table(c)
            c.execute("DELETE FROM profile_user_ids")
            c.execute("DELETE FROM profiles")
            return self._refill_read_models(c, row_of)

    def _events_in_stream_order(self, c: psycopg.Cursor[Any]) -> Iterator[StoredEvent]:
        """Through a server-side cursor of the same transaction."""
        with c.connection.cursor(name="profilestore_rebuild") as reader:
            reader.execute(self._all_events())
            for row in reader:
                yield StoredEvent(row["originator_id"], row["originator_version"], row["topic"],
                                  bytes(row["state"]))

    def _query(self, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        with self.datastore.get_connection() as conn, conn.cursor() as c:
            c.execute(self._sql(sql), params)
            return [tuple(row.values()) for row in c.fetchall()]

    # ---- hearing of new events -----------------------------------------------------------------

    def tidy(self) -> None:
        """Nothing to do: PostgreSQL checkpoints by itself, off every writer's path."""

    def watch(self, on_change: Callable[[], None]) -> Callable[[], None]:
        """Call `on_change` whenever any engine appends events (LISTEN on the library's channel),
        and once after every (re)connection, in case something was missed meanwhile. Returns a
        function that stops listening (without waiting). A lost connection is retried every second; polling
        covers the gap."""
        stopped = threading.Event()
        listen = SQL("LISTEN {}").format(Identifier(self.channel_name))
        kwargs = _connect_kwargs(self.datastore)

        def run() -> None:
            while not stopped.is_set():
                try:
                    with psycopg.connect(autocommit=True, **kwargs) as conn:
                        conn.execute(listen)
                        on_change()
                        while not stopped.is_set():
                            for _ in conn.notifies(timeout=0.5, stop_after=1):
                                on_change()
                except psycopg.Error as error:
                    log.debug("LISTEN connection lost (%s); polling meanwhile", type(error).__name__)
                    stopped.wait(1.0)

        thread = threading.Thread(target=run, name="profilestore-listen", daemon=True)
        thread.start()

        return stopped.set  # the thread ends, closing its connection, within half a second


class Factory(PostgresFactory):
    """The library's PostgreSQL factory with our recorders; connections use the schema."""

    application_recorder_class = ProfileRecorder
    aggregate_recorder_class = SnapshotRecorder

    def __init__(self, env: Environment | EnvType | None) -> None:
        super().__init__(env)
        _pool_kwargs(self.datastore).update(
            options=f"-c search_path={self.datastore.schema}", application_name="profilestore")


del PostgresFactory  # the library resolves this module to its one factory class
