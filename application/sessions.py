"""The sessions one engine holds: by profile and by aggregate id, with the inbox of profiles this
engine sent messages to and the auto-save ring. Every part that needs a held profile asks here."""

from __future__ import annotations

import threading
from uuid import UUID

from .autosave import AutoSaveRing
from .profile_core import ProfileCore, Token


class Sessions:
    """Held profiles' cores; thread-safe."""

    def __init__(self) -> None:
        self._by_token: dict[Token, ProfileCore] = {}
        self._by_id: dict[UUID, ProfileCore] = {}  # live ones, for following other servers
        self._inbox: list[ProfileCore] = []
        self._lock = threading.Lock()
        self.ring = AutoSaveRing()

    def add(self, core: ProfileCore) -> None:
        """A session claimed here: held, followed, auto-saved."""
        with self._lock:
            self._by_token[core.token] = core
            if not core.token.mock:
                self._by_id[core.replica.id] = core
        self.ring.add(core)

    def remove(self, core: ProfileCore) -> None:
        """The session ended here: no longer held, followed or auto-saved."""
        with self._lock:
            if self._by_token.get(core.token) is core:
                del self._by_token[core.token]
            if self._by_id.get(core.replica.id) is core:
                del self._by_id[core.replica.id]
        self.ring.remove(core)

    def active(self, token: Token) -> ProfileCore | None:
        """The profile held here under `token`, if any."""
        with self._lock:
            return self._by_token.get(token)

    def held(self, originator_id: UUID) -> ProfileCore | None:
        """The live profile held here with that aggregate id, if any."""
        with self._lock:
            return self._by_id.get(originator_id)

    def all(self) -> list[ProfileCore]:
        """Every profile held here."""
        with self._lock:
            return list(self._by_token.values())

    def sent_to(self, core: ProfileCore) -> None:
        """This engine sent a message to a profile it holds: deliver it at the next tick."""
        with self._lock:
            if core not in self._inbox:
                self._inbox.append(core)

    def take_inbox(self) -> list[ProfileCore]:
        """The profiles sent messages since the last call."""
        with self._lock:
            cores, self._inbox = self._inbox, []
        return cores
