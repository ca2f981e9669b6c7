"""AsyncEngine (§8): bound to the running loop, `async with`, state and signals as Engine's, its
calls as coroutines, and aclose(timeout)."""

from __future__ import annotations

import asyncio
import inspect
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from loop_helpers import FAST, Ticker, eventually, loop_thread, run

from profilestore import DataError, Engine, ProfileStore, Server, Settings, StoreClosedError
from profilestore.aio import AsyncEngine, AsyncProfileStore, AsyncSignal


def test_an_async_engine_made_outside_a_running_loop_raises_runtime_error() -> None:
    with pytest.raises(RuntimeError, match="running event loop"):
        AsyncEngine("sqlite:///:memory:")


def test_async_with_gives_the_engine_and_closes_it_with_a_final_save(db_url: str) -> None:
    async def main() -> AsyncEngine:
        async with AsyncEngine(db_url, server=Server(job_id="A"), settings=FAST) as engine:
            assert isinstance(engine, AsyncEngine)
            assert isinstance(engine.sync, Engine)
            profile = await AsyncProfileStore("S", {"n": 0}, engine=engine).start_session("k")
            assert profile is not None
            profile.data["n"] = 7
        assert engine.is_closing and not profile.is_active()
        return engine

    run(main())
    with Engine(db_url, background=False) as reader:
        store = ProfileStore("S", engine=reader)
        assert store.get("k").data == {"n": 7}
        ends = [e.payload["reason"] for e in store.history("k") if e.type == "SessionEnded"]
        assert ends == ["Shutdown"]


def test_state_attributes_and_settings_are_the_engines() -> None:
    async def main() -> None:
        server = Server(place_id="place", job_id="job")
        async with AsyncEngine("sqlite:///:memory:", server=server, settings=FAST) as engine:
            assert engine.server is server is engine.sync.server
            assert engine.settings == FAST
            assert engine.data_store_state == "Access"
            assert engine.is_closing is False and engine.is_critical_state is False
            engine.set_constant("AUTO_SAVE_PERIOD", 10)
            assert engine.settings.auto_save_period == 10 == engine.sync.settings.auto_save_period
            engine.settings = FAST
            assert engine.sync.settings == FAST
            with pytest.raises(ValueError):
                engine.set_constant("NO_SUCH_THING", 1)
            with pytest.raises(TypeError):
                engine.set_constant("AUTO_SAVE_PERIOD", True)
            for signal in (engine.on_error, engine.on_overwrite, engine.on_critical_toggle):
                assert isinstance(signal, AsyncSignal)
            assert engine.on_error.name == "on_error"
        assert engine.is_closing

    run(main())


def test_engine_signals_run_plain_and_coroutine_handlers_on_the_loop() -> None:
    """Two bad saves: on_error twice (plain and coroutine handlers, on the loop's thread), then
    critical state with critical_state_error_count=2 (fired by the engine's thread)."""
    async def main() -> None:
        settings = FAST.model_copy(update={"critical_state_error_count": 2})
        async with AsyncEngine("sqlite:///:memory:", settings=settings) as engine:
            here, seen, threads = loop_thread(), [], set()

            def plain(message: str, store: str, key: str) -> None:
                seen.append(("plain", message, store, key))
                threads.add(threading.get_ident())

            async def coroutine(message: str, store: str, key: str) -> None:
                assert asyncio.current_task() is not None
                await asyncio.sleep(0)
                seen.append(("coroutine", message, store, key))
                threads.add(threading.get_ident())

            toggles: list[bool] = []

            async def critical(is_critical: bool) -> None:
                toggles.append(is_critical)
                threads.add(threading.get_ident())

            engine.on_error.connect(plain)
            engine.on_error.connect(coroutine)
            engine.on_critical_toggle.connect(critical)
            profile = await AsyncProfileStore("S", {}, engine=engine).start_session("k")
            profile.data["bad"] = {1, 2}
            with pytest.raises(DataError, match=r"data\['bad'\]"):
                await profile.save()
            waiting = asyncio.create_task(engine.on_error.wait(5))
            await asyncio.sleep(0)
            with pytest.raises(DataError):
                await profile.save()
            message, store, key = await waiting
            assert "data['bad']" in message and (store, key) == ("S", "k")
            await eventually(lambda: len(seen) == 4 and toggles == [True])
            assert {kind for kind, *_ in seen} == {"plain", "coroutine"}
            assert all(args[1:] == ("data['bad']: set", "S", "k") for args in seen)
            assert threads == {here}
            assert engine.is_critical_state
            del profile.data["bad"]

    run(main())


def test_find_erase_flush_and_rebuild_are_coroutines(db_url: str) -> None:
    async def main() -> None:
        async with AsyncEngine(db_url, settings=FAST) as engine:
            for name in ("find_user", "erase_user", "flush_read_models", "rebuild_read_models",
                         "aclose"):
                assert inspect.iscoroutinefunction(getattr(engine, name)), name
            store = AsyncProfileStore("S", {"n": 0}, engine=engine)
            profile = await store.start_session("k")
            ended: list[bool] = []
            profile.on_session_end.connect(lambda: ended.append(True))
            profile.add_user_id(42)
            assert await profile.save() is True
            assert await engine.find_user(42) == [("S", "k")]
            assert await engine.find_user(7) == []
            with pytest.raises(TypeError):
                await engine.find_user("42")  # type: ignore[arg-type]
            assert await engine.flush_read_models() is True
            assert await engine.rebuild_read_models() is None
            assert await engine.find_user(42) == [("S", "k")]
            assert await engine.erase_user(42) == [("S", "k")]
            assert not profile.is_active() and ended == [True]
            assert await store.get("k") is None
            assert await engine.find_user(42) == []

    run(main())


def test_aclose_ends_every_session_including_mock_ones() -> None:
    async def main() -> None:
        engine = AsyncEngine("sqlite:///:memory:", settings=FAST)
        store = AsyncProfileStore("S", {"n": 0}, engine=engine)
        live, mock = await store.start_session("k"), await store.mock.start_session("k")
        reasons: list[str] = []
        for profile in (live, mock):
            profile.on_last_save.connect(reasons.append)
        started = time.monotonic()
        await engine.aclose(timeout=5)
        assert time.monotonic() - started < 5
        assert engine.is_closing and reasons == ["Shutdown", "Shutdown"]
        assert not live.is_active() and not mock.is_active()
        assert await store.start_session("other") is None
        await engine.aclose(timeout=1)  # idempotent

    run(main())


def test_aclose_keeps_its_deadline_and_the_loop_running_while_the_database_is_locked(
        tmp_path: Path) -> None:
    path = tmp_path / "locked.db"

    async def main() -> None:
        engine = AsyncEngine(f"sqlite:///{path}", settings=FAST)
        profile = await AsyncProfileStore("S", {"n": 0}, engine=engine).start_session("k")
        profile.data["n"] = 1
        errors: list[str] = []
        engine.on_error.connect(lambda message, *_: errors.append(message))
        locker = sqlite3.connect(path, isolation_level=None)
        locker.execute("BEGIN EXCLUSIVE")
        try:
            async with Ticker() as ticker:
                started = time.monotonic()
                await engine.aclose(timeout=0.5)
                took = time.monotonic() - started
        finally:
            locker.execute("ROLLBACK")
            locker.close()
        assert took < 2.0, f"aclose(timeout=0.5) took {took:.2f} s"
        assert ticker.max_gap < 0.05, f"the loop stalled {ticker.max_gap * 1000:.0f} ms"
        assert not profile.is_active()
        await eventually(lambda: any("before close" in message for message in errors))

    run(main())


def test_after_aclose_calls_answer_as_after_close() -> None:
    async def main() -> None:
        engine = AsyncEngine("sqlite:///:memory:", settings=FAST)
        store = AsyncProfileStore("S", {"n": 0}, engine=engine)
        profile = await store.start_session("k")
        read = await store.get("k")
        await engine.aclose(timeout=5)
        assert await store.start_session("k") is None
        assert await profile.save() is False
        await profile.end_session()  # inactive already: nothing to do
        assert await store.get("k") is None
        assert await store.message("k", {"hi": 1}) is False
        assert await store.remove("k") is False
        assert await store.version_query("k").next() is None
        for call in (store.history("k"), store.keys(), engine.find_user(1), read.set()):
            with pytest.raises(StoreClosedError):
                await call

    run(main())


def test_settings_must_be_settings() -> None:
    async def main() -> None:
        with pytest.raises(TypeError):
            AsyncEngine("sqlite:///:memory:", settings={"poll_interval": 1})  # type: ignore[arg-type]
        async with AsyncEngine("sqlite:///:memory:", settings=Settings()) as engine:
            assert engine.settings.poll_interval == 0.5

    run(main())


def test_a_closed_engine_lets_its_threads_go(tmp_path: Path) -> None:
    def launchers() -> int:
        return sum(t.name == "profilestore-aio-launcher" and t.is_alive()
                   for t in threading.enumerate())

    async def main() -> int:
        before = launchers()
        async with AsyncEngine(f"sqlite:///{tmp_path}/threads.db") as engine:
            store = AsyncProfileStore("S", engine=engine)
            profile = await store.start_session("k")
            assert profile is not None and launchers() == before + 1
        for _ in range(100):
            if launchers() == before:
                break
            await asyncio.sleep(0.01)
        assert await store.get("k") is None  # after close, calls still answer, on the loop
        return launchers() - before

    assert run(main()) == 0
