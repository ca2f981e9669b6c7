"""The SQLite persistence module: the library's recorder plus the time index and read models.

Chosen by topic (`PERSISTENCE_MODULE=profilestore.infrastructure.sqlite`). Everything a write
stores beside the events goes in the events' own transaction, so several engines on one file
keep the side tables exactly once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor, SQLiteFactory

ProfileRow = dict[str, Any]

_SIDE_TABLES = [
    "CREATE TABLE IF NOT EXISTS profile_timestamps ("
    " originator_id TEXT NOT NULL, originator_version INTEGER NOT NULL,"
    " timestamp_us INTEGER NOT NULL, PRIMARY KEY (originator_id, originator_version)) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS profiles ("
    " store TEXT NOT NULL, key TEXT NOT NULL, originator_id TEXT NOT NULL, version INTEGER NOT NULL,"
    " created_time INTEGER NOT NULL, updated_time INTEGER NOT NULL, data TEXT NOT NULL,"
    " metadata TEXT NOT NULL, user_ids TEXT NOT NULL, session TEXT,"
    " PRIMARY KEY (store, key))",
    "CREATE TABLE IF NOT EXISTS profile_user_ids ("
    " user_id INTEGER NOT NULL, store TEXT NOT NULL, key TEXT NOT NULL,"
    " PRIMARY KEY (user_id, store, key))",
]
_UPSERT_PROFILE = (
    "INSERT INTO profiles (store, key, originator_id, version, created_time, updated_time, data,"
    " metadata, user_ids, session) VALUES (:store, :key, :originator_id, :version, :created_time,"
    " :updated_time, :data, :metadata, :user_ids, :session) ON CONFLICT (store, key) DO UPDATE SET"
    " originator_id=excluded.originator_id, version=excluded.version,"
    " created_time=excluded.created_time, updated_time=excluded.updated_time, data=excluded.data,"
    " metadata=excluded.metadata, user_ids=excluded.user_ids, session=excluded.session"
)


class ProfileRecorder(SQLiteApplicationRecorder):
    """Events, plus (id, version, µs) time rows and the `profiles` read models, in one transaction."""

    def construct_create_table_statements(self) -> list[str]:
        return [*super().construct_create_table_statements(), *_SIDE_TABLES]

    def _insert_events(
        self,
        c: SQLiteCursor,
        stored_events: Sequence[StoredEvent],
        *,
        timestamps: Sequence[tuple[str, int, int]] = (),
        profile_rows: Sequence[tuple[str, str, ProfileRow | None]] = (),
        **kwargs: Any,
    ) -> Sequence[int] | None:
        notification_ids = super()._insert_events(c, stored_events, **kwargs)
        c.executemany("INSERT INTO profile_timestamps VALUES (?, ?, ?)", timestamps)
        for store, key, row in profile_rows:
            self._write_profile_row(c, store, key, row)
        return notification_ids

    @staticmethod
    def _write_profile_row(c: SQLiteCursor, store: str, key: str, row: ProfileRow | None) -> None:
        c.execute("DELETE FROM profile_user_ids WHERE store=? AND key=?", (store, key))
        if row is None:
            c.execute("DELETE FROM profiles WHERE store=? AND key=?", (store, key))
            return
        c.execute(_UPSERT_PROFILE, row)
        c.executemany(
            "INSERT INTO profile_user_ids VALUES (?, ?, ?)",
            [(user_id, store, key) for user_id in row["user_id_list"]],
        )

    def erase(
        self,
        originator_id: UUID,
        tombstone: StoredEvent,
        redacted_topic: str,
        redacted_state: bytes,
        timestamp: tuple[str, int, int],
        store: str,
        key: str,
    ) -> None:
        """Append the tombstone and overwrite every earlier event of the stream without its data.

        The rows keep their versions, so the primary key still fences a stale writer. Secure
        delete zeroes the freed bytes; the WAL is checkpointed so the old pages leave it too.
        """
        with self.datastore.transaction(commit=True) as c:
            c.execute("PRAGMA secure_delete=ON")
            self._insert_events(c, [tombstone], timestamps=[timestamp],
                                profile_rows=[(store, key, None)])
            c.execute(
                f"UPDATE {self.events_table_name} SET topic=?, state=?"
                " WHERE originator_id=? AND originator_version<?",
                (redacted_topic, redacted_state, originator_id.hex, tombstone.originator_version),
            )
        self.checkpoint()

    def checkpoint(self) -> None:
        """Move the WAL into the database file and truncate it."""
        with self.datastore.get_connection(commit=True) as connection, connection.cursor() as cursor:
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def select_keys(self, store: str) -> list[str]:
        """Keys of the store's live profiles, ascending."""
        with self.datastore.transaction(commit=False) as c:
            c.execute("SELECT key FROM profiles WHERE store=? ORDER BY key", (store,))
            return [row[0] for row in c.fetchall()]

    def find_user(self, user_id: int) -> list[tuple[str, str]]:
        """(store, key) of live profiles that hold the user id."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                "SELECT store, key FROM profile_user_ids WHERE user_id=? ORDER BY store, key",
                (user_id,),
            )
            return [(row[0], row[1]) for row in c.fetchall()]


class Factory(SQLiteFactory):
    """The library's SQLite factory with our recorder."""

    application_recorder_class = ProfileRecorder


del SQLiteFactory  # the library resolves this module to its one factory class
