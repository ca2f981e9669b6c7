"""When snapshots come due: every `snapshot_interval` versions, and sooner for a profile whose
patches since the last one carry as much as the profile holds (whole lists replaced, as a sort
does), since replaying them would cost more than reading a snapshot. The event log takes them,
after the commits that made them due (application/event_log.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any
from uuid import UUID

from profilestore.domain.diff import patch_weight, weight
from profilestore.domain.profile import ProfileAggregate

SNAPSHOT_WEIGHT = 256  # patch weight (diff.weight) below which no snapshot is taken early


def patch_weights(events: Iterable[Any]) -> dict[UUID, int]:
    """Per profile, the weight of the values its Saved events carry (most carry none)."""
    weights: dict[UUID, int] = {}
    for event in events:
        if type(event) is ProfileAggregate.Saved and event.patch:
            carried = patch_weight(event.patch)
            if carried:
                weights[event.originator_id] = weights.get(event.originator_id, 0) + carried
    return weights


class SnapshotSchedule:
    """The (profile, version) snapshots due, noted after each commit."""

    def __init__(self, interval: Callable[[], int]) -> None:
        self._interval = interval
        self._due: set[tuple[UUID, int]] = set()
        self._carried: dict[UUID, int] = {}  # weight of the patches since the last snapshot due

    def note(self, before: dict[UUID, int], profiles: Sequence[ProfileAggregate],
             weights: dict[UUID, int]) -> None:
        """Profiles just stored, at the versions they stood at `before`, their patches weighing
        `weights` (patch_weights of the stored events)."""
        interval = self._interval()
        for profile in profiles:
            crossed = range(before[profile.id] // interval + 1, profile.version // interval + 1)
            for boundary in crossed:
                self._due.add((profile.id, boundary * interval))
            carried = self._carried.pop(profile.id, 0) + weights.get(profile.id, 0)
            if crossed or not carried:
                continue
            if carried > max(SNAPSHOT_WEIGHT, weight(profile.data)) and profile.live:
                self._due.add((profile.id, profile.version))
            else:
                self._carried[profile.id] = carried

    def due(self) -> list[tuple[UUID, int]]:
        """The snapshots due, lowest version first."""
        return sorted(self._due, key=lambda item: item[1])

    def taken(self, originator_id: UUID, version: int) -> None:
        """That snapshot is stored (or no longer wanted)."""
        self._due.discard((originator_id, version))
