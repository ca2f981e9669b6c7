"""AsyncProfileStore and AsyncVersionQuery: the store's calls as coroutines."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from profilestore.application.handle import Profile
from profilestore.application.store import ProfileStore
from profilestore.application.values import HistoryEntry, SortDirection
from profilestore.application.versions import VersionQuery
from profilestore.domain.migrations import Migration

from .profile import AsyncProfile

if TYPE_CHECKING:
    from .engine import AsyncEngine


class AsyncProfileStore:
    """Profiles of one name on an AsyncEngine; every call that touches the database is a
    coroutine whose work runs off the loop."""

    def __init__(self, name: str, template: dict[str, Any] | type[BaseModel] | None = None, *,
                 engine: AsyncEngine,
                 migrations: Sequence[Callable[[dict[str, Any]], dict[str, Any]] | Migration] = ()
                 ) -> None:
        self.engine = engine
        self.sync = ProfileStore(name, template, engine=engine.sync, migrations=migrations)
        self._views: dict[str, AsyncProfileStore] = {}

    @classmethod
    def _over(cls, store: ProfileStore, engine: AsyncEngine) -> AsyncProfileStore:
        view = cls.__new__(cls)
        view.engine, view.sync, view._views = engine, store, {}
        return view

    def __repr__(self) -> str:
        return f"<AsyncProfileStore {self.sync!r}>"

    @property
    def name(self) -> str:
        """The store's name."""
        return self.sync.name

    @property
    def template(self) -> Any:
        """The template dict, or the model class of a typed store."""
        return self.sync.template

    @property
    def mock(self) -> AsyncProfileStore:
        """The same store in the engine's in-memory event store."""
        return self._view("mock", self.sync.mock)

    @property
    def raw(self) -> AsyncProfileStore:
        """The same live store without model or migrations."""
        return self._view("raw", self.sync.raw)

    def _view(self, kind: str, store: ProfileStore) -> AsyncProfileStore:
        if store is self.sync:
            return self
        if kind not in self._views:
            self._views[kind] = AsyncProfileStore._over(store, self.engine)
        return self._views[kind]

    def _wrap(self, profile: Profile | None) -> AsyncProfile | None:
        if profile is None:
            return None
        return AsyncProfile(profile, self, self.engine.bridge, self.engine.workers)

    # ---- sessions -------------------------------------------------------------------------------

    async def start_session(self, key: str, *, steal: bool = False) -> AsyncProfile | None:
        """Claim the profile's session without blocking the loop. Cancelling the awaiting task
        gives up as `cancel` does: afterwards this engine holds no session for the key."""
        gave_up = threading.Event()
        claim = self.engine.workers.start(
            lambda: self.sync.start_session(key, steal=steal, cancel=gave_up.is_set))
        try:
            profile = await asyncio.shield(claim)
        except asyncio.CancelledError:
            gave_up.set()
            await _released(claim)
            raise
        return self._wrap(profile)

    # ---- reads and writes without a session --------------------------------------------------------

    async def get(self, key: str, version: int | str | None = None, *, at: Any = None
                  ) -> AsyncProfile | None:
        """A read-only profile (see ProfileStore.get)."""
        return self._wrap(await self.engine.workers.run(self.sync.get, key, version, at=at))

    async def message(self, key: str, message: dict[str, Any]) -> bool:
        """Send a message to the profile, held or not; True once committed."""
        return await self.engine.workers.run(self.sync.message, key, message)

    async def remove(self, key: str) -> bool:
        """Erase the profile (see ProfileStore.remove)."""
        return await self.engine.workers.run(self.sync.remove, key)

    async def history(self, key: str, *, since: Any = None, until: Any = None) -> list[HistoryEntry]:
        """The profile's events, oldest first."""
        return await self.engine.workers.run(self.sync.history, key, since=since, until=until)

    async def keys(self) -> list[str]:
        """Keys with live profiles, ascending."""
        return await self.engine.workers.run(lambda: list(self.sync.keys()))

    def version_query(self, key: str, sort_direction: SortDirection | str = SortDirection.ASCENDING,
                      min_date: Any = None, max_date: Any = None) -> AsyncVersionQuery:
        """Read-only profiles of the saved versions in a window, as an async iterator."""
        return AsyncVersionQuery(self, self.sync.version_query(key, sort_direction, min_date, max_date))


class AsyncVersionQuery:
    """`await query.next()` or `async for profile in query`."""

    def __init__(self, store: AsyncProfileStore, query: VersionQuery[Profile]) -> None:
        self._store, self.sync = store, query

    async def next(self) -> AsyncProfile | None:
        """The next version's profile, or None when there are no more."""
        return self._store._wrap(await self._store.engine.workers.run(self.sync.next))

    def __aiter__(self) -> AsyncIterator[AsyncProfile]:
        return self

    async def __anext__(self) -> AsyncProfile:
        profile = await self.next()
        if profile is None:
            raise StopAsyncIteration
        return profile


async def _released(claim: asyncio.Future[Profile | None]) -> None:
    """After a cancelled start: wait for the claim to give up; a session it took just before
    noticing is ended, so this engine holds none for the key."""
    try:
        profile = await asyncio.shield(claim)
    except asyncio.CancelledError:  # cancelled again: stop waiting, the claim still gives up
        return
    except Exception:
        return
    if profile is not None:
        await asyncio.get_running_loop().run_in_executor(None, profile.end_session)
