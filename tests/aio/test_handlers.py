"""§8 "Handlers run on the loop": coroutine signal handlers as tasks, plain-only on_save and
on_last_save, coroutine message handlers awaited in turn, processed(), `await signal.wait()`."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import pytest
from loop_helpers import FAST, eventually, loop_thread, run

from profilestore.aio import AsyncEngine, AsyncProfileStore

Processed = Callable[[], None]


def test_coroutine_signal_handlers_run_as_tasks_on_the_loop() -> None:
    async def main() -> None:
        async with AsyncEngine("sqlite:///:memory:", settings=FAST) as engine:
            here, main_task = loop_thread(), asyncio.current_task()
            profile = await AsyncProfileStore("S", {"n": 0}, engine=engine).start_session("k")
            ran: list[tuple[str, Any, bool]] = []

            async def after_save(data: dict[str, Any]) -> None:
                task = asyncio.current_task()
                await asyncio.sleep(0.01)  # a coroutine handler may await
                ran.append(("after_save", data, threading.get_ident() == here
                            and task is not None and task is not main_task))

            async def session_end() -> None:
                ran.append(("session_end", None, threading.get_ident() == here))

            connection = profile.on_after_save.connect(after_save)
            profile.on_session_end.connect(session_end)
            profile.data["n"] = 1
            assert await profile.save()
            await eventually(lambda: len(ran) == 1)
            assert ran == [("after_save", {"n": 1}, True)]
            connection.disconnect()
            profile.data["n"] = 2
            await profile.end_session()
            await eventually(lambda: len(ran) == 2)
            await asyncio.sleep(0.05)
            assert ran[1] == ("session_end", None, True) and len(ran) == 2

    run(main())


def test_on_save_and_on_last_save_take_plain_functions_only() -> None:
    async def main() -> None:
        async with AsyncEngine("sqlite:///:memory:", settings=FAST) as engine:
            store = AsyncProfileStore("S", {"n": 0, "saves": 0}, engine=engine)
            profile = await store.start_session("k")

            async def coroutine(*args: Any) -> None:
                pass

            for signal in (profile.on_save, profile.on_last_save):
                with pytest.raises(TypeError):
                    signal.connect(coroutine)
            for signal in (profile.on_save, profile.on_session_end, engine.on_error):
                with pytest.raises(TypeError):
                    signal.connect("not callable")  # type: ignore[arg-type]

            def count_saves() -> None:
                profile.data["saves"] += 1

            def last(reason: str) -> None:
                profile.data["last"] = reason

            profile.on_save.connect(count_saves)
            profile.on_last_save.connect(last)
            assert await profile.save()
            assert profile.last_saved_data["saves"] == 1, "what on_save changed is in that save"
            await profile.end_session()
            assert (await store.get("k")).data == {"n": 0, "saves": 2, "last": "Manual"}

    run(main())


def test_a_coroutine_message_handler_is_awaited_before_the_next_handler_sees_the_message() -> None:
    async def main() -> None:
        async with AsyncEngine("sqlite:///:memory:", settings=FAST) as engine:
            here = loop_thread()
            store = AsyncProfileStore("S", {"gold": 0}, engine=engine)
            profile = await store.start_session("k")
            events: list[tuple[str, int]] = []

            async def first(message: dict[str, Any], processed: Processed) -> None:
                assert threading.get_ident() == here
                events.append(("first begins", message["n"]))
                await asyncio.sleep(0.02)
                events.append(("first ends", message["n"]))
                if message.get("gift"):
                    profile.data["gold"] += message["gift"]
                    processed()

            def second(message: dict[str, Any], processed: Processed) -> None:
                assert threading.get_ident() == here
                events.append(("second", message["n"]))

            profile.message_handler(first)
            profile.message_handler(second)
            assert await store.message("k", {"n": 1})
            assert await store.message("k", {"n": 2, "gift": 5})
            await eventually(lambda: ("first ends", 2) in events)
            await asyncio.sleep(0.05)
            assert events == [("first begins", 1), ("first ends", 1), ("second", 1),
                              ("first begins", 2), ("first ends", 2)], \
                "the second handler never sees a processed message"
            # the processed id goes out with the gift, in the same event
            await eventually(lambda: profile.last_saved_data["gold"] == 5)
            saved = [e for e in await store.history("k") if e.type == "Saved"]
            with_gift = [e for e in saved if e.payload["patch"]]
            assert with_gift[0].payload["processed_messages"] == [2]
            await profile.end_session()

            again = await store.start_session("k")
            seen: list[int] = []
            again.message_handler(lambda message, processed: seen.append(message["n"]))
            assert seen == [1], "only the unprocessed message is held"
            await again.end_session()

    run(main())


def test_held_messages_are_handed_to_a_new_coroutine_handler_one_after_another() -> None:
    async def main() -> None:
        async with AsyncEngine("sqlite:///:memory:", settings=FAST) as engine:
            store = AsyncProfileStore("S", {"sum": 0}, engine=engine)
            for n in (1, 2, 3):
                assert await store.message("k", {"n": n})
            profile = await store.start_session("k")
            running, order = [0], []

            async def handler(message: dict[str, Any], processed: Processed) -> None:
                running[0] += 1
                assert running[0] == 1, "one message at a time"
                await asyncio.sleep(0.005)
                order.append(message["n"])
                profile.data["sum"] += message["n"]
                processed()
                running[0] -= 1

            profile.message_handler(handler)
            await eventually(lambda: len(order) == 3)
            assert order == [1, 2, 3]
            await profile.end_session()
            saved = await store.get("k")
            assert saved.data == {"sum": 6}
            held: list[int] = []
            saved.message_handler(lambda message, processed: held.append(message["n"]))
            assert held == []

    run(main())


def test_a_handler_that_raises_is_logged_and_later_handlers_still_run(
        caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> list[str]:
        async with AsyncEngine("sqlite:///:memory:", settings=FAST) as engine:
            store = AsyncProfileStore("S", {}, engine=engine)
            profile = await store.start_session("k")
            ran: list[str] = []

            async def broken_handler(message: dict[str, Any], processed: Processed) -> None:
                raise RuntimeError("handler bug")

            async def broken_signal(data: dict[str, Any]) -> None:
                raise RuntimeError("signal bug")

            profile.message_handler(broken_handler)
            profile.message_handler(lambda message, processed: ran.append("message"))
            profile.on_after_save.connect(broken_signal)
            profile.on_after_save.connect(lambda data: ran.append("after_save"))
            assert await store.message("k", {"x": 1})
            await eventually(lambda: "message" in ran)
            assert await profile.save()
            await eventually(lambda: "after_save" in ran)
            await profile.end_session()
            return ran

    with caplog.at_level("ERROR", logger="profilestore"):
        run(main())
    logged = caplog.text
    assert "handler bug" in logged and "signal bug" in logged


def test_signal_wait_returns_the_arguments_of_the_next_fire_or_times_out() -> None:
    async def main() -> None:
        async with AsyncEngine("sqlite:///:memory:", settings=FAST) as engine:
            profile = await AsyncProfileStore("S", {"n": 0}, engine=engine).start_session("k")
            with pytest.raises(TimeoutError):
                await profile.on_after_save.wait(0.05)
            with pytest.raises(TimeoutError):
                await profile.on_save.wait(timeout=0.01)
            assert not profile.on_after_save.listened, "a wait that timed out leaves nothing behind"

            after = asyncio.create_task(profile.on_after_save.wait(5))
            before = asyncio.create_task(profile.on_save.wait(5))
            reason = asyncio.create_task(profile.on_last_save.wait())
            await asyncio.sleep(0)
            assert profile.on_after_save.listened
            profile.data["n"] = 3
            assert await profile.save()
            assert await after == ({"n": 3},)
            assert await before == ()
            assert not reason.done()
            await profile.end_session()
            assert await reason == ("Manual",)

    run(main())


def test_a_coroutine_handler_never_gets_a_message_twice() -> None:
    async def main() -> list[int]:
        async with AsyncEngine("sqlite:///:memory:", settings=FAST) as engine:
            store = AsyncProfileStore("S", {}, engine=engine)
            assert await store.message("k", {"n": 1})
            assert await store.message("k", {"n": 2})
            profile = await store.start_session("k")
            gate, seen = asyncio.Event(), []

            async def handler(message: dict[str, Any], processed: Processed) -> None:
                seen.append(message["n"])
                if message["n"] == 1:
                    await gate.wait()  # a slow first message

            profile.message_handler(handler)
            assert await store.message("k", {"n": 3})
            await eventually(lambda: 3 in seen)
            gate.set()
            await asyncio.sleep(0.1)
            await profile.end_session()
            return seen

    seen = run(main())
    assert sorted(seen) == [1, 2, 3], f"delivered: {seen}"
