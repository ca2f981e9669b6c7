"""Building and replaying ProfileAggregates in domain tests, without a database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from profilestore.domain.profile import ProfileAggregate, profile_id

OWNER = {"place_id": "place", "job_id": "owner"}
OTHER = {"place_id": "place", "job_id": "other"}
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
ASSUME_DEAD = 630.0


def seconds(n: float) -> datetime:
    return T0 + timedelta(seconds=n)


def blank(store: str = "s", key: str = "k") -> ProfileAggregate:
    return ProfileAggregate.blank(profile_id(store, key), store, key)


def replayed(profile: ProfileAggregate, events: list) -> ProfileAggregate:
    rebuilt = ProfileAggregate.replay(events, blank(profile.store_name, profile.key))
    assert rebuilt is not None
    return rebuilt


def last_saved_event(profile: ProfileAggregate) -> ProfileAggregate.Saved:
    (event,) = [e for e in profile.collect_events() if isinstance(e, ProfileAggregate.Saved)]
    return event
