"""Folding a profile's stored rows into its aggregate, for reads at a version or a time."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import orjson
from eventsourcing.domain import Aggregate, OriginatorVersionError
from eventsourcing.utils import get_topic

from .profile import ProfileAggregate
from .timeutil import from_us

SAVED_TOPIC = get_topic(ProfileAggregate.Saved)


def fold_stored(rows: Iterable[tuple[int, str, bytes]], initial: ProfileAggregate | None,
                decode: Callable[[int, str, bytes], Aggregate.Event]) -> ProfileAggregate | None:
    """ProfileAggregate.replay() of stored rows (version, topic, state).

    A Saved row, most of any history, is applied straight from its JSON, with the version check
    the library's mutate() makes, and the times of a run of them are set once at its end:
    building each event object and going through mutate() was most of a point-in-time read.
    Other rows are decoded and replayed."""
    profile, last_us = initial, None
    copied: set[int] = set()  # containers this fold made: changed in place by later patches
    for version, topic, state in rows:
        if profile is not None and topic == SAVED_TOPIC:
            try:
                saved = orjson.loads(state)
                patch, metadata, user_ids = saved["patch"], saved["metadata"], saved["user_ids"]
                processed, micros = saved["processed_messages"], saved["timestamp"]
            except (orjson.JSONDecodeError, KeyError, TypeError):
                pass  # not a Saved row as written: decode() below raises the mapper's error
            else:
                if version != profile.version + 1:
                    raise OriginatorVersionError(version, profile.version + 1)
                profile.apply_saved(patch, metadata, user_ids, processed, version, copy_values=False,
                                    copied=copied)
                profile.version, last_us = version, micros
                continue
        if profile is not None and last_us is not None:
            profile.stamp_saved(from_us(last_us))
            last_us = None
        profile = ProfileAggregate.replay([decode(version, topic, state)], profile)
    if profile is not None and last_us is not None:
        profile.stamp_saved(from_us(last_us))
    return profile

