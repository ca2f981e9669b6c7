"""The rows a save writes beside its events: the time index and the read models' rows.

The recorder writes them in the events' own transaction (infrastructure/side_tables.py); this
module computes them from the domain's events and aggregates.
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


def changes_user_ids(events: Sequence[Any]) -> bool:
    """Whether these events can change a profile's user ids (only a Saved that carries them,
    or an event that (re)writes the whole profile)."""
    return any(not (type(e).__name__ in _KEEP_USER_IDS
                    or (type(e).__name__ == "Saved" and e.user_ids is None)) for e in events)


def profile_row(profile: ProfileAggregate, user_ids_changed: bool = True) -> ProfileRow:
    """The `profiles` read-model row of an aggregate (None: no live profile). With
    `user_ids_changed` False, `profile_user_ids` is left as it is."""
    if not profile.live or profile.created_at is None or profile.saved_at is None:
        return profile.store_name, profile.key, None
    return profile.store_name, profile.key, {
        "store": profile.store_name, "key": profile.key, "originator_id": profile.id.hex,
        "version": profile.saved_version, "created_time": to_ms(profile.created_at),
        "updated_time": to_ms(profile.saved_at), "data": orjson.dumps(profile.data).decode(),
        "metadata": orjson.dumps(profile.metadata).decode(),
        "user_ids": orjson.dumps(profile.user_ids).decode(),
        "session": None if profile.session is None else orjson.dumps(profile.session).decode(),
        "user_id_list": list(profile.user_ids), "user_ids_changed": user_ids_changed,
    }


def side_rows(processing_event: ProcessingEvent[UUID]) -> dict[str, Any]:
    """The time-index rows and read-model rows of a save's events, for the recorder."""
    events_of: dict[UUID, list[Any]] = {}
    for event in processing_event.events:
        events_of.setdefault(event.originator_id, []).append(event)
    return {
        "timestamps": [(e.originator_id.hex, e.originator_version, to_us(cast(Any, e).timestamp),
                        type(e).__name__) for e in processing_event.events],
        "profile_rows": [profile_row(cast(ProfileAggregate, a), changes_user_ids(events_of.get(a.id, [])))
                         for a in processing_event.aggregates.values()],
    }
