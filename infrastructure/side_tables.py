"""What both back ends store beside the events, in SQL that both accept.

The time index `profile_timestamps(originator_id, originator_version, timestamp_us, kind)`,
`profile_user_ids`, a `profiles` row when a profile comes to life or is removed, and a marker
in `profile_pending` for every other profile a write changes, are written in the events' own
transaction by the recorders in `sqlite.py` and `postgres.py`. The rest of a `profiles` row
(data, metadata, version, updated_time, session) is written later, coalesced
(application/read_models.py), by `write_deferred`: only ever to a higher `event_version`, the
aggregate version the row reflects, so it never goes backwards and never brings a removed row
back. The tables' columns and indexes are declared in schema.py. This mixin holds the
statements and the queries both back ends share, over the side tables and over the events (an
erasure's redaction, a snapshot's insert). Statements use `?` and `:name` parameters; a back
end that wants another style rewrites them in `_sql`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from itertools import groupby
from typing import Any, cast
from uuid import UUID

from eventsourcing.persistence import StoredEvent

from profilestore.application.recorder_port import StoredRow
from profilestore.application.side_rows import ProfileRow

from .schema import PROFILES

ProfileValues = dict[str, Any]  # a `profiles` row's values by column (ProfileRow holds one)
HistoryRow = tuple[StoredEvent, int | None]
TimeRow = tuple[str, int, int, str]
PROFILE_COLUMNS = PROFILES.column_names
# the columns a deferred write sets; user_ids changes are written in the events' transaction
DEFERRED_COLUMNS = ("version", "updated_time", "data", "metadata", "session", "event_version")
SIDE_ROW_KINDS = ("timestamps", "profile_rows", "user_ids", "pending", "cleared")
# rows of `profile_user_ids` to replace: (store, key, user ids as JSON text, the ids)
UserIdsRow = tuple[str, str, str, Sequence[int]]
# a marker: (originator id hex, store, key, event version, queued at µs)
PendingRow = tuple[str, str, str, int, int]

UPSERT_PROFILE = (
    f"INSERT INTO profiles ({', '.join(PROFILE_COLUMNS)})"
    f" VALUES ({', '.join(':' + c for c in PROFILE_COLUMNS)}) ON CONFLICT (store, key) DO UPDATE SET "
    + ", ".join(f"{c}=excluded.{c}" for c in PROFILE_COLUMNS[2:])
)
INSERT_TIMESTAMP = "INSERT INTO profile_timestamps VALUES (?, ?, ?, ?)"
UPDATE_DEFERRED = (  # NULL: a row written before the column existed
    f"UPDATE profiles SET {', '.join(f'{c}=:{c}' for c in DEFERRED_COLUMNS)}"
    " WHERE store=:store AND key=:key AND coalesce(event_version, 0) < :event_version")
UPSERT_PENDING = (  # the first queued time stays: a marker nobody writes grows old
    "INSERT INTO profile_pending (originator_id, store, key, event_version, queued_us)"
    " VALUES (?, ?, ?, ?, ?) ON CONFLICT (originator_id) DO UPDATE SET"
    " event_version=excluded.event_version")
DELETE_PENDING_UP_TO = "DELETE FROM profile_pending WHERE originator_id=? AND event_version<=?"
_LIVE_FLOOR = ("(SELECT coalesce(max(originator_version), 0) FROM profile_timestamps"
               " WHERE originator_id=:id AND kind='Removed')")


class SideTables:
    """Queries over the time index and the read models, and the SQL over the events both back
    ends run; the recorder supplies the plumbing."""

    datastore: Any
    events_table_name: str
    _bytewise = ""  # what makes ORDER BY compare text bytewise, as SQLite does by default

    @property
    def snapshots_table_name(self) -> str:
        """The library's snapshots table beside the events table."""
        return self.events_table_name.removesuffix("events") + "snapshots"

    # ---- what each back end supplies --------------------------------------------------------

    def _sql(self, statement: str) -> str:
        """The statement in this back end's parameter style."""
        return statement

    def _id(self, originator_id: UUID | str) -> Any:
        """An aggregate id as this back end stores it in the events and in `id` columns."""
        return originator_id.hex if isinstance(originator_id, UUID) else originator_id

    def _query(self, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def _events_in_stream_order(self, c: Any) -> Iterator[StoredEvent]:
        """Every stored event, ordered by (aggregate id, version), read lazily inside `c`'s
        transaction (`_all_events`)."""
        raise NotImplementedError

    def _insert_tombstone(self, c: Any, tombstone: StoredEvent, **side_rows: Any) -> None:
        """Insert an erasure's tombstone and its side rows in `c`'s transaction."""
        raise NotImplementedError

    def _scrub(self) -> None:
        """After an erasure: clear what is left of the redacted bytes out of the files."""
        raise NotImplementedError

    def _all_events(self) -> str:
        """The statement of `_events_in_stream_order`."""
        return (f"SELECT originator_id, originator_version, topic, state FROM {self.events_table_name}"
                " ORDER BY originator_id, originator_version")

    def _streams(self, c: Any) -> Iterator[list[StoredEvent]]:
        """One stream at a time."""
        for _, stream in groupby(self._events_in_stream_order(c), key=lambda e: e.originator_id):
            yield list(stream)

    # ---- writes, in the caller's transaction --------------------------------------------------

    def _write_side_rows(self, c: Any, timestamps: Sequence[TimeRow] = (),
                         profile_rows: Sequence[ProfileRow] = (),
                         user_ids: Sequence[UserIdsRow] = (), pending: Sequence[PendingRow] = (),
                         cleared: Sequence[str] = ()) -> None:
        """A write's side rows: time rows; whole `profiles` rows (None: delete it); user ids
        that changed; markers of the profiles whose rows are written later; markers to drop."""
        if timestamps:
            c.executemany(self._sql(INSERT_TIMESTAMP), timestamps)
        for store, key, row in profile_rows:
            self._write_profile_row(c, store, key, row)
        for store, key, text, ids in user_ids:
            c.execute(self._sql("UPDATE profiles SET user_ids=? WHERE store=? AND key=?"), (text, store, key))
            self._write_user_ids(c, store, key, ids)
        if pending:
            c.executemany(self._sql(UPSERT_PENDING), pending)
        if cleared:
            c.executemany(self._sql("DELETE FROM profile_pending WHERE originator_id=?"),
                          [(originator_id,) for originator_id in cleared])

    @staticmethod
    def split_side_rows(kwargs: dict[str, Any]) -> dict[str, Any]:
        """Take the side rows out of an insert's keyword arguments (the rest are the library's)."""
        return {kind: kwargs.pop(kind) for kind in SIDE_ROW_KINDS if kind in kwargs}

    def _write_profile_row(self, c: Any, store: str, key: str, row: ProfileValues | None) -> None:
        if row is None:
            c.execute(self._sql("DELETE FROM profile_user_ids WHERE store=? AND key=?"), (store, key))
            c.execute(self._sql("DELETE FROM profiles WHERE store=? AND key=?"), (store, key))
            return
        c.execute(self._sql(UPSERT_PROFILE), {name: row[name] for name in PROFILE_COLUMNS})
        if row.get("user_ids_changed", True):
            self._write_user_ids(c, store, key, row["user_id_list"])

    def _write_user_ids(self, c: Any, store: str, key: str, ids: Sequence[int]) -> None:
        c.execute(self._sql("DELETE FROM profile_user_ids WHERE store=? AND key=?"), (store, key))
        user_ids = [(user_id, store, key) for user_id in ids]
        if user_ids:
            c.executemany(self._sql("INSERT INTO profile_user_ids VALUES (?, ?, ?)"), user_ids)

    def _write_deferred_rows(self, c: Any, rows: Sequence[ProfileValues], done: Sequence[tuple[str, int]]
                             ) -> None:
        """Deferred `profiles` rows, each only over a lower event version, and the markers they
        settle: (originator id hex, version written) drops the marker unless it is newer."""
        if rows:
            c.executemany(self._sql(UPDATE_DEFERRED),
                          [{name: row[name] for name in ("store", "key", *DEFERRED_COLUMNS)} for row in rows])
        if done:
            c.executemany(self._sql(DELETE_PENDING_UP_TO), done)

    def _refill_read_models(self, c: Any, row_of: Callable[[list[StoredEvent]], ProfileRow]) -> int:
        """Fill emptied read models from the events (every row up to date: no marker is left
        pending); returns the number of live profiles."""
        c.execute("DELETE FROM profile_pending")
        count = 0
        for stream in self._streams(c):
            store, key, row = row_of(stream)
            if row is not None:
                self._write_profile_row(c, store, key, row)
                count += 1
        return count

    def pending_markers(self, queued_before_us: int) -> list[tuple[str, str, str, int]]:
        """(originator id hex, store, key, event version) of the markers queued before then."""
        return [(row[0], row[1], row[2], row[3]) for row in self._query(
            "SELECT originator_id, store, key, event_version FROM profile_pending"
            " WHERE queued_us < :before ORDER BY queued_us", {"before": queued_before_us})]

    # ---- the time index ------------------------------------------------------------------------

    def version_at(self, originator_id: UUID, at_ms: int) -> int | None:
        """The newest version stamped at or before `at_ms` (milliseconds, truncated)."""
        # Times never go back as versions grow, so the newest (time, version) below the end is
        # the highest version there: one step down the (id, time, version) index, no scan.
        rows = self._query("SELECT originator_version FROM profile_timestamps"
                           " WHERE originator_id=:id AND timestamp_us < :end"
                           " ORDER BY timestamp_us DESC, originator_version DESC LIMIT 1",
                           {"id": self._id(originator_id), "end": (at_ms + 1) * 1000})
        return rows[0][0] if rows else None

    def saved_versions(self, originator_id: UUID, kinds: Sequence[str], low_ms: int | None,
                       high_ms: int | None) -> list[int]:
        """Saved versions of the profile's current life with times in [low, high] ms."""
        params: dict[str, Any] = {"id": self._id(originator_id),
                                  "low": 0 if low_ms is None else low_ms * 1000,
                                  "high": 2**62 if high_ms is None else (high_ms + 1) * 1000}
        params.update({f"k{i}": kind for i, kind in enumerate(kinds)})
        rows = self._query(
            "SELECT originator_version FROM profile_timestamps WHERE originator_id=:id"
            f" AND kind IN ({', '.join(f':k{i}' for i in range(len(kinds)))})"
            f" AND originator_version > {_LIVE_FLOOR}"
            " AND timestamp_us >= :low AND timestamp_us < :high ORDER BY originator_version", params)
        return [row[0] for row in rows]

    def last_reset(self, originator_id: UUID, version: int | None) -> int | None:
        """The version of the latest Reset at or before `version`, if any."""
        rows = self._query("SELECT max(originator_version) FROM profile_timestamps WHERE"
                           " originator_id=:id AND kind='Reset' AND originator_version <= :v",
                           {"id": self._id(originator_id), "v": 2**62 if version is None else version})
        return rows[0][0] if rows else None

    def stream_end(self, originator_id: UUID) -> tuple[int, int | None]:
        """The highest stored version of a stream and the newest indexed time (µs)."""
        rows = self._query(
            f"SELECT (SELECT coalesce(max(originator_version), 0) FROM {self.events_table_name}"
            " WHERE originator_id=:id), (SELECT max(timestamp_us) FROM profile_timestamps"
            " WHERE originator_id=:id)", {"id": self._id(originator_id)})
        return rows[0][0], rows[0][1]

    def select_rows(self, originator_id: UUID, *, gt: int | None = None, lte: int | None = None
                    ) -> list[StoredRow]:
        """(version, topic, state) of a stream's events, oldest first (a back end may read them
        more directly)."""
        return [(e.originator_version, e.topic, bytes(e.state))
                for e in cast(Any, self).select_events(originator_id, gt=gt, lte=lte)]

    def select_history(self, originator_id: UUID) -> list[HistoryRow]:
        """Every stored event of a stream with its indexed time (µs), oldest first."""
        rows = self._query(
            f"SELECT e.originator_version, e.topic, e.state, t.timestamp_us"
            f" FROM {self.events_table_name} e LEFT JOIN profile_timestamps t"
            " ON t.originator_id = e.originator_id AND t.originator_version = e.originator_version"
            " WHERE e.originator_id=:id ORDER BY e.originator_version", {"id": self._id(originator_id)})
        return [(StoredEvent(originator_id, version, topic, bytes(state)), micros)
                for version, topic, state, micros in rows]

    # ---- the read models -----------------------------------------------------------------------

    def select_keys(self, store: str) -> list[str]:
        """Keys of the store's live profiles, ascending."""
        return [row[0] for row in self._query(
            f"SELECT key FROM profiles WHERE store=:store ORDER BY key{self._bytewise}",
            {"store": store})]

    def find_user(self, user_id: int) -> list[tuple[str, str]]:
        """(store, key) of live profiles that hold the user id."""
        return [(row[0], row[1]) for row in self._query(
            "SELECT store, key FROM profile_user_ids WHERE user_id=:id"
            f" ORDER BY store{self._bytewise}, key{self._bytewise}",
            {"id": user_id})]

    # ---- erasure and snapshots -----------------------------------------------------------------

    def erase(self, originator_id: UUID, tombstone: StoredEvent, redacted_topic: str,
              redacted_state: bytes, timestamp: TimeRow, store: str, key: str) -> None:
        """Append the tombstone; overwrite every earlier event without its data; drop snapshots;
        then `_scrub`.

        The rows keep their versions, so the primary key still fences a stale writer.
        """
        with self.datastore.transaction(commit=True) as c:
            self._insert_tombstone(c, tombstone, timestamps=[timestamp],
                                   profile_rows=[(store, key, None)], cleared=[originator_id.hex])
            stream = self._id(originator_id)
            c.execute(self._sql(f"UPDATE {self.events_table_name} SET topic=?, state=?"
                                " WHERE originator_id=? AND originator_version<?"),
                      (redacted_topic, redacted_state, stream, tombstone.originator_version))
            c.execute(self._sql(f"DELETE FROM {self.snapshots_table_name} WHERE originator_id=?"),
                      (stream,))
        self._scrub()

    def insert_snapshot(self, snapshot: StoredEvent, redacted_topic: str) -> None:
        """Store a snapshot unless its version was erased meanwhile (checked in one statement)."""
        stream, version = self._id(snapshot.originator_id), snapshot.originator_version
        with self.datastore.transaction(commit=True) as c:
            c.execute(self._sql(
                f"INSERT INTO {self.snapshots_table_name} (originator_id, originator_version, topic, state)"
                f" SELECT ?, ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM {self.events_table_name}"
                " WHERE originator_id=? AND originator_version=? AND topic=?) ON CONFLICT DO NOTHING"),
                (stream, version, snapshot.topic, snapshot.state, stream, version, redacted_topic))
