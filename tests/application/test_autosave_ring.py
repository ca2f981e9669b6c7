"""The auto-save ring visits profiles exactly as ProfileStore's list with a cursor does; it only
keeps them in a queue that starts at the cursor, so a save's timer restart costs O(1)."""

from __future__ import annotations

from dataclasses import dataclass

from freezegun import freeze_time
from hypothesis import given, settings
from hypothesis import strategies as st

from profilestore.application import clock
from profilestore.application.autosave import AutoSaveRing

PERIOD = 8.0


@dataclass(eq=False)
class Held:
    name: int
    loaded_at: float


class CursorRing:
    """The reference: a list and the index of the next profile to visit."""

    def __init__(self) -> None:
        self.ring: list[Held] = []
        self.index = 0
        self.last = 0.0

    def add(self, profile: Held) -> None:
        self.ring.insert(self.index, profile)
        if len(self.ring) > 1:
            self.index += 1
        else:
            self.last = clock.seconds()

    def remove(self, profile: Held) -> None:
        if profile in self.ring:
            position = self.ring.index(profile)
            self.ring.pop(position)
            if position < self.index:
                self.index -= 1
            if self.index >= len(self.ring):
                self.index = 0

    def touch(self, profile: Held) -> None:
        if profile in self.ring:
            self.remove(profile)
            self.add(profile)

    def due(self, period: float) -> list[Held]:
        now, picked, count = clock.seconds(), [], len(self.ring)
        if not count:
            return []
        step, visits = period / count, 0
        while now - self.last > step and visits < count:
            self.last += step
            visits += 1
            candidate = next((self.ring[(self.index + k) % count] for k in range(count)
                              if now - self.ring[(self.index + k) % count].loaded_at >= period / 2), None)
            self.index = (self.index + 1) % count
            if candidate is not None and candidate not in picked:
                picked.append(candidate)
        if now - self.last > step:
            self.last = now
        return picked

    def order(self) -> list[Held]:
        return self.ring[self.index:] + self.ring[:self.index]


operations = st.lists(st.one_of(
    st.tuples(st.just("add"), st.floats(0, 2 * PERIOD)),  # a new session, loaded that long ago
    st.tuples(st.just("remove"), st.integers(0, 30)),
    st.tuples(st.just("touch"), st.integers(0, 30)),
    st.tuples(st.just("due"), st.floats(0, PERIOD)),  # the clock moves on, then a tick
), max_size=60)


@settings(max_examples=300, deadline=None)
@given(operations)
def test_the_ring_visits_and_picks_as_a_list_with_a_cursor_does(steps: list[tuple[str, float]]) -> None:
    with freeze_time("2026-01-01") as frozen:
        ring, reference, made = AutoSaveRing(), CursorRing(), []
        for what, value in steps:
            if what == "add":
                made.append(Held(len(made), clock.seconds() - value))
                ring.add(made[-1])  # type: ignore[arg-type]
                reference.add(made[-1])
            elif what == "due":
                frozen.tick(value)
                assert ring.due(PERIOD) == reference.due(PERIOD)  # type: ignore[comparison-overlap]
            elif made:
                profile = made[int(value) % len(made)]
                getattr(ring, what)(profile)
                getattr(reference, what)(profile)
            assert ring.order() == reference.order()  # type: ignore[comparison-overlap]
