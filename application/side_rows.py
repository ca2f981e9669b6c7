"""The rows a write stores beside its events: the time index and the read models' rows.

In the events' own transaction (infrastructure/side_tables.py): the time rows; the whole
`profiles` row of a profile that comes to life (ProfileCreated, Reset), so `keys()` sees it at
once, or its deletion when it is removed; `profile_user_ids` whenever the user ids change; and
for every other profile the write changes, a small marker in `profile_pending`. The rest of that
profile's row (data, metadata, version, updated_time, session) is written later, coalesced, by
the engine that wrote it (application/read_models.py): the data is not serialised on the save
path. This module computes those rows from the domain's events and aggregates.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast
from uuid import UUID

import orjson
from eventsourcing.application import ProcessingEvent

from profilestore.domain.profile import ProfileAggregate
from profilestore.domain.timeutil import to_ms, to_us

ProfileRow = tuple[str, str, dict[str, Any] | None]


_KEEP_USER_IDS = frozenset({"SessionStarted", "SessionRequested", "SessionEnded", "MessageQueued"})
_COMES_TO_LIFE = frozenset({"ProfileCreated", "Reset"})


def changes_user_ids(events: Sequence[Any]) -> bool:
    """Whether these events can change a profile's user ids (only a Saved that carries them,
    or an event that (re)writes the whole profile)."""
    return any(not (type(e).__name__ in _KEEP_USER_IDS
                    or (type(e).__name__ == "Saved" and e.user_ids is None)) for e in events)


def deferred_row(profile: ProfileAggregate) -> dict[str, Any]:
    """The columns of a live profile's `profiles` row that change with its saves, with the
    aggregate version they reflect (`event_version`) and the row's key."""
    assert profile.saved_at is not None
    return {
        "store": profile.store_name, "key": profile.key, "version": profile.saved_version,
        "updated_time": to_ms(profile.saved_at), "data": orjson.dumps(profile.data).decode(),
        "metadata": orjson.dumps(profile.metadata).decode(),
        "session": None if profile.session is None else orjson.dumps(profile.session).decode(),
        "event_version": profile.version,
    }


def profile_row(profile: ProfileAggregate, user_ids_changed: bool = True) -> ProfileRow:
    """The whole `profiles` read-model row of an aggregate (None: no live profile). With
    `user_ids_changed` False, `profile_user_ids` is left as it is."""
    if not profile.live or profile.created_at is None or profile.saved_at is None:
        return profile.store_name, profile.key, None
    return profile.store_name, profile.key, {
        **deferred_row(profile), "originator_id": profile.id.hex,
        "created_time": to_ms(profile.created_at), "user_ids": orjson.dumps(profile.user_ids).decode(),
        "user_id_list": list(profile.user_ids), "user_ids_changed": user_ids_changed,
    }


def side_rows(processing_event: ProcessingEvent[UUID], now_us: int
              ) -> tuple[dict[str, Any], list[ProfileAggregate]]:
    """The side rows of a write's events, for the recorder (keyword arguments of its
    `_write_side_rows`), and the aggregates whose `profiles` rows are left to write later
    (their markers, queued at `now_us`, are among the side rows)."""
    events_of: dict[UUID, list[Any]] = {}
    for event in processing_event.events:
        events_of.setdefault(event.originator_id, []).append(event)
    whole: list[ProfileRow] = []
    settled: list[str] = []  # written whole (or deleted) here: an older marker has nothing left to do
    user_ids: list[tuple[str, str, str, list[int]]] = []
    deferred: list[ProfileAggregate] = []
    for aggregate in processing_event.aggregates.values():
        profile, events = cast(ProfileAggregate, aggregate), events_of.get(aggregate.id)
        if not events:
            continue
        if not profile.live or any(type(e).__name__ in _COMES_TO_LIFE for e in events):
            whole.append(profile_row(profile))
            settled.append(profile.id.hex)
            continue
        deferred.append(profile)
        if changes_user_ids(events):
            user_ids.append((profile.store_name, profile.key, orjson.dumps(profile.user_ids).decode(),
                             list(profile.user_ids)))
    return {
        "timestamps": [(e.originator_id.hex, e.originator_version, to_us(cast(Any, e).timestamp),
                        type(e).__name__) for e in processing_event.events],
        "profile_rows": whole,
        "user_ids": user_ids,
        "pending": [(p.id.hex, p.store_name, p.key, p.version, now_us) for p in deferred],
        "cleared": settled,
    }, deferred
