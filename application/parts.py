"""The engine's parts, built once and handed what each uses: the wiring diagram in code.

Nothing here is for game code: `engine.parts` is how the engine's public objects (ProfileStore,
Profile) and the library's own tests reach the parts. No part gets the engine itself."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from profilestore.domain.errors import StoreClosedError

from .claiming import Claimer
from .event_logs import EventLogs, InFlight, KeyLocks
from .following import Follower
from .group_commit import GroupCommit
from .health import Health
from .profile_core import Bridge
from .removal import Remover
from .saving import Saver
from .sessions import Sessions
from .settings import Settings
from .signals import Signal
from .trades import Trades
from .writes import Writes


class Lifecycle:
    """Whether the engine is closing or closed, and which thread is its own."""

    def __init__(self) -> None:
        self.closing = False
        self.closed = False
        self.thread: threading.Thread | None = None

    def on_engine_thread(self) -> bool:
        """True when called from the engine's own thread."""
        return threading.current_thread() is self.thread

    def check_open(self) -> None:
        """StoreClosedError once the engine is closed."""
        if self.closed:
            raise StoreClosedError("the engine is closed")


@dataclass(frozen=True)
class Signals:
    """The engine's signals, fired by its parts."""

    on_error: Signal
    on_overwrite: Signal
    on_critical_toggle: Signal


@dataclass
class Parts:
    """Every part of one engine; `bridge`: the thread its profiles' data belongs to, when an
    asyncio engine (profilestore/aio) binds it to an event loop."""

    lifecycle: Lifecycle
    logs: EventLogs
    health: Health
    writes: Writes
    sessions: Sessions
    saver: Saver
    claimer: Claimer
    follower: Follower
    group: GroupCommit
    trades: Trades
    remover: Remover
    bridge: Bridge | None = None


def build(url: str, me: dict[str, str], settings: Callable[[], Settings], signals: Signals,
          wake_engine: Callable[[], None]) -> Parts:
    """The parts of an engine on the database at `url`, writing as the session `me`."""
    lifecycle = Lifecycle()

    def closing() -> bool:
        return lifecycle.closing

    def closed() -> bool:
        return lifecycle.closed

    key_locks, in_flight = KeyLocks(), InFlight()
    logs = EventLogs(url, lambda: settings().snapshot_interval, key_locks)
    health = Health(settings, signals.on_error, signals.on_critical_toggle)
    writes = Writes(logs, key_locks, in_flight, health, signals.on_overwrite, settings, closing)
    sessions = Sessions()
    saver = Saver(writes, sessions, settings, closing, closed)
    group = GroupCommit(writes, saver, sessions)
    follower = Follower(logs.live, sessions, saver, health, group.auto_save, settings, wake_engine)
    claimer = Claimer(writes, sessions, saver, me, settings, closing, lambda: follower.changes)
    return Parts(
        lifecycle=lifecycle, logs=logs, health=health, writes=writes, sessions=sessions,
        saver=saver, claimer=claimer, follower=follower, group=group,
        trades=Trades(writes, saver, sessions, closed),
        remover=Remover(writes, saver, sessions, closing),
    )
