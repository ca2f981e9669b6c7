"""profilestore for asyncio: the same engine, with coroutines that never block the event loop
and profiles whose data belongs to the loop's thread (no lock needed in game code)."""

if __name__ == "aio":  # pragma: no cover - a checkout's folder imported by mistake
    raise ImportError("import this package as profilestore.aio, not by its folder name")

from profilestore.aio.engine import AsyncEngine
from profilestore.aio.profile import AsyncProfile
from profilestore.aio.signals import AsyncSignal
from profilestore.aio.store import AsyncProfileStore, AsyncVersionQuery

__all__ = ["AsyncEngine", "AsyncProfile", "AsyncProfileStore", "AsyncSignal", "AsyncVersionQuery"]
