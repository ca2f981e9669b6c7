"""ProfileStore's auto-save ring: one slot every period/n seconds, fresh profiles skipped."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from . import clock

if TYPE_CHECKING:
    from .profile import Profile


class AutoSaveRing:
    """Active profiles in a circle; each is visited about once per auto-save period."""

    def __init__(self) -> None:
        self._ring: list[Profile] = []
        self._index = 0
        self._last = 0.0
        self._lock = threading.Lock()

    def add(self, profile: Profile) -> None:
        """Insert just behind the cursor, so the profile is visited last in this round."""
        with self._lock:
            self._ring.insert(self._index, profile)
            if len(self._ring) > 1:
                self._index += 1
            else:
                self._last = clock.seconds()

    def remove(self, profile: Profile) -> None:
        """Take a profile out of the ring (its session ended)."""
        with self._lock:
            if profile not in self._ring:
                return
            position = self._ring.index(profile)
            self._ring.pop(position)
            if position < self._index:
                self._index -= 1
            if self._index >= len(self._ring):
                self._index = 0

    def touch(self, profile: Profile) -> None:
        """A manual save resets the profile's timer: move it behind the cursor."""
        with self._lock:
            present = profile in self._ring
        if present:
            self.remove(profile)
            self.add(profile)

    def touch_many(self, profiles: list[Profile]) -> None:
        """touch() for many profiles at once, in one pass over the ring: they keep their order
        and go just behind the cursor."""
        moving = {id(p) for p in profiles}
        with self._lock:
            present = [p for p in self._ring if id(p) in moving]
            if not present:
                return
            index = self._index - sum(1 for p in self._ring[:self._index] if id(p) in moving)
            rest = [p for p in self._ring if id(p) not in moving]
            self._ring = rest[:index] + present + rest[index:]
            self._index = (index + len(present)) % len(self._ring)
            if len(self._ring) == 1:  # as touch() does: alone in the ring, its slot timer restarts
                self._last = clock.seconds()

    def due(self, period: float) -> list[Profile]:
        """Profiles whose slot has come; each at most once per call."""
        now, picked = clock.seconds(), []
        with self._lock:
            count = len(self._ring)
            if not count:
                return []
            step, visits = period / count, 0
            while now - self._last > step and visits < count:
                self._last += step
                visits += 1
                candidate = self._pick(now, period)
                self._index = (self._index + 1) % count
                if candidate is not None and candidate not in picked:
                    picked.append(candidate)
            if now - self._last > step:
                self._last = now  # after a stall, do not replay the missed slots
        return picked

    def _pick(self, now: float, period: float) -> Profile | None:
        count = len(self._ring)
        for offset in range(count):
            profile = self._ring[(self._index + offset) % count]
            if now - profile.loaded_at >= period / 2:
                return profile
        return None
