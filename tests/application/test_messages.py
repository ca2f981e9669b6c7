"""Messages to profiles: held in the event store, delivered to the session, applied once."""

from __future__ import annotations

from typing import Any

import pytest

from profilestore import DataError, Engine, ProfileStore


def count_held(profile: Any) -> int:
    seen: list[dict[str, Any]] = []
    profile.message_handler(lambda message, processed: seen.append(message))
    return len(seen)


def test_profilestores_message_case_with_the_corrected_final_check(engine: Engine, store: ProfileStore
                                                                   ) -> None:
    profile = store.start_session("msg")
    assert profile is not None
    seen_by_a: list[str] = []
    flags = {"hello": False, "another": False, "fell_through": False}

    def handler_a(message: dict[str, Any], processed: Any) -> None:
        tag = message["UpdateTag"]
        assert tag not in seen_by_a, f"{tag} delivered twice in one session"
        seen_by_a.append(tag)
        if tag == "Hello!":
            flags["hello"] = True
            processed()
            assert store.message("msg", {"UpdateTag": "Another!"})  # a handler may send
        elif tag == "Another!":
            flags["another"] = True
            processed()

    def handler_b(message: dict[str, Any], processed: Any) -> None:
        assert message["UpdateTag"] != "Hello!", "a processed message fell through"
        if message["UpdateTag"] == "No!":
            flags["fell_through"] = True

    profile.message_handler(handler_a)
    profile.message_handler(handler_b)
    for tag in ("No!", "Yes!", "Hello!"):
        assert store.message("msg", {"UpdateTag": tag})
    engine.run_pending()  # delivers the three, and the save that removes "Hello!"
    engine.run_pending()  # delivers "Another!", sent by a handler
    assert flags == {"hello": True, "another": True, "fell_through": True}
    assert seen_by_a == ["No!", "Yes!", "Hello!", "Another!"]
    profile.end_session()

    assert count_held(store.get("msg")) == 2  # "No!" and "Yes!" were never processed
    again = store.start_session("msg")
    assert again is not None and count_held(again) == 2
    again.end_session()

    payload = store.get("msg")
    assert payload is not None
    payload.message_handler(lambda message, processed: processed())
    assert payload.set()
    after_clear = store.start_session("msg")
    assert after_clear is not None and count_held(after_clear) == 0  # on the new session
    after_clear.end_session()


def test_profilestores_payload_case_with_a_message(engine: Engine, store: ProfileStore) -> None:
    profile = store.start_session("PayloadTest")
    assert profile is not None
    profile.data = {"Coins": 68}
    profile.add_user_id(2312310)
    profile.metadata = {"Playtime": 123456}
    assert profile.save()
    assert store.message("PayloadTest", {"GiftType": "SpecialGift"})
    engine.run_pending()
    assert count_held(profile) == 1  # the session sees the message
    profile.data["Coins"] = 1_000_000  # never saved: the payload wins

    payload = store.get("PayloadTest")
    assert payload is not None
    payload.data["Coins"] += 1
    payload.add_user_id(50)
    gifts: list[str] = []
    payload.message_handler(lambda message, processed: gifts.append(message["GiftType"]))
    assert gifts == ["SpecialGift"]  # delivered during registration, on this thread
    payload.message_handler(lambda message, processed: processed())
    late: list[dict[str, Any]] = []
    payload.message_handler(lambda message, processed: late.append(message))
    assert late == []
    assert payload.set()
    assert not profile.is_active()

    stored = store.get("PayloadTest")
    assert stored is not None and stored.data == {"Coins": 69}
    assert stored.key_info.metadata == {"Playtime": 123456}
    assert stored.key_info.user_ids == (2312310, 50)
    assert count_held(stored) == 0


def test_a_key_with_only_messages_exists_with_the_template_data(store: ProfileStore) -> None:
    assert store.message("gifts-only", {"gift": 1})
    assert store.message("gifts-only", {"gift": 2})
    profile = store.get("gifts-only")
    assert profile is not None and profile.data == {"Counter": 0, "Array": []}
    assert count_held(profile) == 2
    assert list(store.keys()) == ["gifts-only"]
    assert [(e.type, e.payload.get("message_id")) for e in store.history("gifts-only")] == [
        ("ProfileCreated", None), ("MessageQueued", 1), ("MessageQueued", 2)]


def test_a_handler_registered_later_gets_every_held_unprocessed_message_in_order(
        engine: Engine, store: ProfileStore) -> None:
    for n in (1, 2, 3):
        assert store.message("k", {"n": n})
    profile = store.start_session("k")
    assert profile is not None
    first: list[int] = []
    profile.message_handler(lambda m, processed: (first.append(m["n"]), m["n"] == 2 and processed()))
    second: list[int] = []
    profile.message_handler(lambda m, processed: second.append(m["n"]))
    assert first == [1, 2, 3] and second == [1, 3]


def test_processed_ids_go_out_with_the_data_change_in_one_saved_event(engine: Engine,
                                                                     store: ProfileStore) -> None:
    profile = store.start_session("k")
    assert profile is not None

    def apply_gift(message: dict[str, Any], processed: Any) -> None:
        profile.data["Counter"] += message["coins"]
        processed()

    profile.message_handler(apply_gift)
    assert store.message("k", {"coins": 5})
    engine.run_pending()
    saved = [e for e in store.history("k") if e.type == "Saved"][-1]
    assert saved.payload["processed_messages"] == [1]
    assert saved.payload["patch"] == [{"op": "replace", "path": "/Counter", "value": 5}]


def test_the_queue_limit_refuses_with_on_error_and_never_drops_a_message(engine: Engine,
                                                                       store: ProfileStore) -> None:
    engine.set_constant("MAX_MESSAGE_QUEUE", 3)
    errors: list[tuple[str, str, str]] = []
    engine.on_error.connect(lambda *args: errors.append(args))
    assert [store.message("k", {"n": n}) for n in range(4)] == [True, True, True, False]
    assert len(errors) == 1 and errors[0][1:] == ("Store1", "k") and "max_message_queue" in errors[0][0]
    profile = store.start_session("k")
    assert profile is not None
    delivered: list[int] = []
    profile.message_handler(lambda m, processed: (delivered.append(m["n"]), processed()))
    assert profile.save()  # the save removes the processed messages from the queue
    assert store.message("k", {"n": 4})
    engine.run_pending()
    assert delivered == [0, 1, 2, 4]  # the refused one was never stored; none was dropped


def test_a_message_that_cannot_be_stored_raises_data_error(engine: Engine, store: ProfileStore) -> None:
    engine.set_constant("MAX_DATA_BYTES", 100)
    with pytest.raises(DataError, match=r"message\['when'\]: set"):
        store.message("k", {"when": {1, 2}})
    with pytest.raises(DataError, match="over the limit of 100"):
        store.message("k", {"blob": "x" * 200})
    with pytest.raises(DataError, match="not dict"):
        store.message("k", ["not", "a", "dict"])  # type: ignore[arg-type]
    assert store.get("k") is None  # nothing was written


def test_after_close_message_returns_false(engine: Engine, store: ProfileStore) -> None:
    engine.close(timeout=5)
    assert store.message("k", {"n": 1}) is False


def test_mock_messages_stay_in_the_mock_store(engine: Engine, store: ProfileStore) -> None:
    assert store.mock.message("k", {"n": 1})
    assert store.get("k") is None
    mock_profile = store.mock.get("k")
    assert mock_profile is not None and count_held(mock_profile) == 1


def test_set_removes_what_its_handlers_processed_and_keeps_what_was_queued_since(
        store: ProfileStore) -> None:
    assert store.message("k", {"n": 1})
    payload = store.get("k")
    assert payload is not None
    payload.message_handler(lambda m, processed: processed())
    assert store.message("k", {"n": 2})  # queued after the payload was read
    assert payload.set()
    held: list[int] = []
    latest = store.get("k")
    assert latest is not None
    latest.message_handler(lambda m, processed: held.append(m["n"]))
    assert held == [2]
