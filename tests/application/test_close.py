"""Engine.close(): every session gets exactly one Shutdown final save; afterwards nothing works."""

from __future__ import annotations

import threading

import pytest

from profilestore import Engine, ProfileStore, Server, StoreClosedError


def ended_reasons(db_url: str, key: str) -> list[str]:
    """SessionEnded reasons of a key, read by a fresh engine on the same database."""
    with Engine(db_url, background=False) as reader:
        history = ProfileStore("Store1", engine=reader).history(key)
    return [entry.payload["reason"] for entry in history if entry.type == "SessionEnded"]


def test_close_ends_every_session_with_a_shutdown_final_save(db_url: str) -> None:
    engine = Engine(db_url, server=Server(job_id="closing"), background=False)
    store = ProfileStore("Store1", {"Counter": 0}, engine=engine)
    profiles = {key: store.start_session(key) for key in ("one", "two")}
    profiles["mock"] = store.mock.start_session("one")
    reasons = {key: [] for key in profiles}
    after = {key: [] for key in profiles}
    ends = {key: [] for key in profiles}
    for key, profile in profiles.items():
        profile.data["Counter"] = len(key)
        profile.on_last_save.connect(reasons[key].append)
        profile.on_after_save.connect(after[key].append)
        profile.on_session_end.connect(lambda key=key: ends[key].append(True))

    engine.close(timeout=5)

    assert engine.is_closing
    for key, profile in profiles.items():
        assert not profile.is_active()
        assert reasons[key] == ["Shutdown"]
        assert ends[key] == [True]
        assert after[key] == [{"Counter": len(key)}], "exactly one final save"
    for key in ("one", "two"):
        assert ended_reasons(db_url, key) == ["Shutdown"]
    with Engine(db_url, background=False) as reader:
        reread = ProfileStore("Store1", engine=reader)
        assert reread.get("one").data == {"Counter": 3}
        assert reread.get("two").data == {"Counter": 3}
        assert reread.get("one").session is None, "the session was released"


def test_after_close_reads_and_writes_give_nothing_or_raise_store_closed(engine: Engine,
                                                                        store: ProfileStore) -> None:
    store.start_session("left").end_session()
    engine.close(timeout=5)

    assert store.start_session("left") is None
    assert store.start_session("new") is None
    assert store.get("left") is None
    assert store.remove("left") is False
    assert store.version_query("left").next() is None
    with pytest.raises(StoreClosedError):
        list(store.keys())
    with pytest.raises(StoreClosedError):
        store.history("left")
    assert store.mock.start_session("m") is None
    with pytest.raises(StoreClosedError):
        store.mock.history("m")


def test_close_is_idempotent_and_safe_from_several_threads(engine: Engine, store: ProfileStore) -> None:
    profile = store.start_session("once")
    last_saves = []
    profile.on_last_save.connect(last_saves.append)
    threads = [threading.Thread(target=engine.close, kwargs={"timeout": 5}) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert not any(thread.is_alive() for thread in threads)
    engine.close(timeout=5)
    engine.close()
    assert last_saves == ["Shutdown"]


def test_end_session_calls_racing_close_give_each_profile_exactly_one_final_save(db_url: str) -> None:
    engine = Engine(db_url, background=False)
    store = ProfileStore("Store1", {"Counter": 0}, engine=engine)
    keys = [f"racer-{n}" for n in range(10)]
    profiles = [store.start_session(key) for key in keys]
    last_saves: list[list[str]] = [[] for _ in keys]
    for n, profile in enumerate(profiles):
        profile.data["Counter"] = n
        profile.on_last_save.connect(last_saves[n].append)

    go = threading.Barrier(len(profiles) + 1)

    def end(profile) -> None:
        go.wait(5)
        profile.end_session()

    def close() -> None:
        go.wait(5)
        engine.close(timeout=10)

    threads = [threading.Thread(target=end, args=(p,)) for p in profiles]
    threads.append(threading.Thread(target=close))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(15)
    assert not any(thread.is_alive() for thread in threads)

    assert all(len(saves) == 1 for saves in last_saves), last_saves
    assert all(saves[0] in ("Manual", "Shutdown") for saves in last_saves)
    with Engine(db_url, background=False) as reader:
        reread = ProfileStore("Store1", engine=reader)
        for n, key in enumerate(keys):
            ended = [e for e in reread.history(key) if e.type == "SessionEnded"]
            assert len(ended) == 1, key
            assert reread.get(key).data == {"Counter": n}


def test_an_engine_used_as_a_context_manager_closes_on_exit(db_url: str) -> None:
    with Engine(db_url, background=False) as engine:
        store = ProfileStore("Store1", {"Counter": 0}, engine=engine)
        profile = store.start_session("ctx")
        profile.data["Counter"] = 1
    assert engine.is_closing
    assert not profile.is_active()
    assert store.start_session("ctx") is None
    assert ended_reasons(db_url, "ctx") == ["Shutdown"]


def test_close_leaves_already_ended_sessions_alone(db_url: str) -> None:
    engine = Engine(db_url, background=False)
    store = ProfileStore("Store1", engine=engine)
    store.start_session("done").end_session()
    engine.close(timeout=5)
    assert ended_reasons(db_url, "done") == ["Manual"]


def test_a_profile_closed_by_shutdown_can_be_started_at_once_by_another_server(db_url: str, in_thread
                                                                              ) -> None:
    first = Engine(db_url, server=Server(job_id="first"), background=False)
    ProfileStore("Store1", engine=first).start_session("next").data["Gold"] = 5
    first.close(timeout=5)
    with Engine(db_url, server=Server(job_id="second"), background=False) as second:
        profile = in_thread(ProfileStore("Store1", engine=second).start_session, "next").outcome(10)
        assert profile is not None and profile.data == {"Gold": 5}
        profile.end_session()


def test_close_with_unsaveable_data_reports_it_and_still_releases_the_session(db_url: str) -> None:
    engine = Engine(db_url, background=False)
    errors = []
    engine.on_error.connect(lambda *args: errors.append(args))
    store = ProfileStore("Store1", engine=engine)
    profile = store.start_session("bad-at-close")
    profile.data["Gold"] = 1
    assert profile.save() is True
    profile.data["Gold"] = 2
    profile.data["bag"] = b"raw"
    engine.close(timeout=5)

    assert any("data['bag']: bytes" in message for message, *_ in errors)
    assert not profile.is_active()
    assert ended_reasons(db_url, "bad-at-close") == ["Shutdown"]
    with Engine(db_url, background=False) as reader:
        got = ProfileStore("Store1", engine=reader).get("bad-at-close")
        assert got.data == {"Gold": 1}
        assert got.session is None


def test_close_makes_a_waiting_start_session_return_none(make_engine, in_thread) -> None:
    holder = ProfileStore("Store1", engine=make_engine("holder"))
    waiter_engine = make_engine("waiter")
    held = holder.start_session("contested")
    call = in_thread(ProfileStore("Store1", engine=waiter_engine).start_session, "contested")
    call.join(0.3)
    assert not call.done
    waiter_engine.close(timeout=5)
    assert call.outcome(timeout=10) is None
    assert held.is_active()
    assert held.save() is True
