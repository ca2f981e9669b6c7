"""AsyncEngine: an Engine bound to the running event loop, with coroutines for its calls."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator
from types import TracebackType

from profilestore.application.engine import Engine
from profilestore.application.profile_core import Held
from profilestore.application.settings import Settings
from profilestore.application.urls import persistence_env, resolve_url
from profilestore.application.values import Server

from .bridge import LoopBridge, LoopLock
from .signals import AsyncSignal
from .workers import Workers


class AsyncEngine:
    """One per database and game-server process, made inside a running event loop and bound to
    it: its profiles' data belongs to the loop's thread. `sync` is the Engine it runs (with its
    background thread)."""

    def __init__(self, database: str | None = None, *, server: Server | None = None,
                 settings: Settings | None = None) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise RuntimeError("AsyncEngine is made inside a running event loop (in a coroutine)"
                               ) from None
        if server is not None and not isinstance(server, Server):
            raise TypeError(f"server must be a Server, not {type(server).__name__}")
        if settings is not None and not isinstance(settings, Settings):
            raise TypeError(f"settings must be a Settings, not {type(settings).__name__}")
        persistence_env(resolve_url(database))  # a bad URL raises here, as Engine() would
        self.bridge = LoopBridge(loop)
        self.workers = Workers(loop)
        self._opened = threading.Event()
        self._engine: Engine | None = None
        self._failure: BaseException | None = None
        self._signals: dict[str, AsyncSignal] = {}

        def open_engine() -> None:  # connecting takes 70-160 ms: not on the loop
            try:
                engine = Engine(database, server=server, settings=settings, background=True)
                engine.parts.bridge = self.bridge
                self._engine = engine
            except BaseException as failure:
                self._failure = failure
            finally:
                self._opened.set()

        threading.Thread(target=open_engine, name="profilestore-aio-open", daemon=True).start()

    @property
    def sync(self) -> Engine:
        """The Engine this runs, once it has opened the database (`async with` or `ready()`
        waits for that off the loop; reading it earlier waits here)."""
        self._opened.wait()
        if self._engine is None:
            assert self._failure is not None
            raise self._failure
        return self._engine

    async def ready(self) -> AsyncEngine:
        """Wait, off the loop, until the engine has opened the database."""
        if not self._opened.is_set():
            await asyncio.get_running_loop().run_in_executor(None, self._opened.wait)
        self.sync  # noqa: B018 - raises what opening raised
        return self

    def _signal(self, name: str) -> AsyncSignal:
        if name not in self._signals:
            self._signals[name] = AsyncSignal(getattr(self.sync, name), self.bridge)
        return self._signals[name]

    @property
    def on_error(self) -> AsyncSignal:
        """on_error(message, store_name, key), run on the loop."""
        return self._signal("on_error")

    @property
    def on_overwrite(self) -> AsyncSignal:
        """on_overwrite(store_name, key), run on the loop."""
        return self._signal("on_overwrite")

    @property
    def on_critical_toggle(self) -> AsyncSignal:
        """on_critical_toggle(is_critical), run on the loop."""
        return self._signal("on_critical_toggle")

    def __repr__(self) -> str:
        return f"<AsyncEngine {self.sync!r}>" if self._opened.is_set() else "<AsyncEngine opening>"

    async def __aenter__(self) -> AsyncEngine:
        return await self.ready()

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        trace: TracebackType | None) -> None:
        await self.aclose()

    # ---- state --------------------------------------------------------------------------------------

    @property
    def server(self) -> Server:
        """This game server's place and job."""
        return self.sync.server

    @property
    def settings(self) -> Settings:
        """The engine's settings (may be replaced)."""
        return self.sync.settings

    @settings.setter
    def settings(self, value: Settings) -> None:
        self.sync.settings = value

    @property
    def is_closing(self) -> bool:
        """True from the moment aclose() is called."""
        return self.sync.is_closing

    @property
    def is_critical_state(self) -> bool:
        """True while database errors are frequent."""
        return self.sync.is_critical_state

    @property
    def data_store_state(self) -> str:
        """NotReady, then Access, NoAccess or NoInternet."""
        return self.sync.data_store_state

    def set_constant(self, name: str, value: float) -> None:
        """Change a setting by ProfileStore's constant name."""
        self.sync.set_constant(name, value)

    # ---- calls ----------------------------------------------------------------------------------------

    async def aclose(self, timeout: float | None = 30) -> None:
        """End every session with a final save, wait for work in flight (at most `timeout` s),
        stop and disconnect; the loop keeps running meanwhile (the final saves read the data on
        it)."""
        await self.ready()
        await self.workers.run(self.sync.close, timeout)
        self.workers.close()

    async def find_user(self, user_id: int) -> list[tuple[str, str]]:
        """(store_name, key) of live profiles holding `user_id`."""
        return await self.workers.run(self.sync.find_user, user_id)

    async def erase_user(self, user_id: int) -> list[tuple[str, str]]:
        """Remove every live profile holding `user_id`."""
        return await self.workers.run(self.sync.erase_user, user_id)

    async def flush_read_models(self) -> bool:
        """Write the `profiles` rows this engine owes now."""
        return await self.workers.run(self.sync.flush_read_models)

    async def rebuild_read_models(self) -> None:
        """Rebuild the SQL read models from the events."""
        await self.workers.run(self.sync.rebuild_read_models)

    @contextlib.asynccontextmanager
    async def transaction(self, *profiles: Held) -> AsyncIterator[None]:
        """`async with engine.transaction(a, b):` change both on the loop; stored together on a
        clean exit (off the loop), or neither (data restored). No auto-save sees the block's
        half-made changes: the profiles' locks are held for the other threads meanwhile."""
        trades = self.sync.parts.trades
        cores = trades.check(self.sync, profiles)
        held: list[LoopLock] = []
        try:
            for core in cores:
                lock = core.lock
                assert isinstance(lock, LoopLock), "an async engine's profiles have loop locks"
                while not lock.try_hold():  # a save on another thread is using it: let it finish
                    await asyncio.sleep(0.001)
                held.append(lock)
            before = trades.begin(cores)
            try:
                yield
            except BaseException:
                trades.abandon(cores, before)
                raise
            await self.workers.run(trades.commit, cores, before)
        finally:
            for lock in held:
                lock.unhold()
