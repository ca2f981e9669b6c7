"""Bad input is refused loudly and never costs the last good save."""

from __future__ import annotations

import math

import pytest
from freezegun import freeze_time

from profilestore import DataError, Engine, InvalidKeyError, ProfileStore, ProfileStoreError, Settings


def errors_of(engine: Engine) -> list[tuple]:
    seen: list[tuple] = []
    engine.on_error.connect(lambda *args: seen.append(args))
    return seen


@pytest.mark.parametrize("name", ["", "x" * 51])
def test_a_store_name_of_the_wrong_length_raises_invalid_key_error(engine: Engine, name: str) -> None:
    with pytest.raises(InvalidKeyError):
        ProfileStore(name, engine=engine)


def test_invalid_key_error_is_both_a_profilestore_error_and_a_value_error(engine: Engine) -> None:
    with pytest.raises(ProfileStoreError):
        ProfileStore("", engine=engine)
    with pytest.raises(ValueError):
        ProfileStore("", engine=engine)


def test_a_store_name_of_exactly_the_maximum_length_is_accepted(engine: Engine) -> None:
    assert ProfileStore("x" * 50, engine=engine).name == "x" * 50


@pytest.mark.parametrize("name", [5, None, b"bytes"])
def test_a_store_name_that_is_not_a_string_raises_type_error(engine: Engine, name: object) -> None:
    with pytest.raises(TypeError):
        ProfileStore(name, engine=engine)  # type: ignore[arg-type]


@pytest.mark.parametrize("key", ["", "k" * 51])
def test_a_profile_key_of_the_wrong_length_raises_invalid_key_error(store: ProfileStore, key: str) -> None:
    with pytest.raises(InvalidKeyError):
        store.start_session(key)
    with pytest.raises(InvalidKeyError):
        store.get(key)
    with pytest.raises(InvalidKeyError):
        store.remove(key)


def test_a_profile_key_that_is_not_a_string_raises_type_error(store: ProfileStore) -> None:
    with pytest.raises(TypeError):
        store.start_session(12)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        store.get(12)  # type: ignore[arg-type]


@pytest.mark.parametrize("template", [[1, 2], "text", 5, {"bag": {1, 2}}, {1: "int key"}])
def test_a_template_that_is_not_a_json_compatible_dict_raises_type_error(engine: Engine, template) -> None:
    with pytest.raises(TypeError):
        ProfileStore("Bad", template, engine=engine)


def test_the_template_is_copied_so_later_edits_do_not_leak_in(engine: Engine) -> None:
    template = {"Items": []}
    store = ProfileStore("Copy", template, engine=engine)
    template["Items"].append("sneaky")
    profile = store.start_session("p")
    assert profile.data == {"Items": []}
    profile.end_session()


def test_assigning_a_non_dict_to_data_or_metadata_raises_type_error(store: ProfileStore) -> None:
    profile = store.start_session("types")
    with pytest.raises(TypeError):
        profile.data = 5  # type: ignore[assignment]
    with pytest.raises(TypeError):
        profile.metadata = ["x"]  # type: ignore[assignment]
    assert profile.data == {"Counter": 0, "Array": []}
    profile.data = {"Replaced": True}
    profile.end_session()
    assert store.get("types").data == {"Replaced": True}


@pytest.mark.parametrize(("value", "where"), [
    ([1, 2, 3, {1}], "data['bag'][3]: set"),
    ((1, 2), "data['bag']: tuple"),
    (b"raw", "data['bag']: bytes"),
    (math.nan, "data['bag']"),
    (math.inf, "data['bag']"),
    ({"inner": object()}, "data['bag']['inner']: object"),
    ({5: "int key"}, "data['bag']"),
])
def test_unsaveable_data_makes_save_raise_data_error_naming_the_path(
        engine: Engine, store: ProfileStore, value: object, where: str) -> None:
    profile = store.start_session("bad")
    profile.data["Counter"] = 1
    assert profile.save() is True
    errors = errors_of(engine)

    profile.data["Counter"] = 2
    profile.data["bag"] = value
    with pytest.raises(DataError) as caught:
        profile.save()

    assert where in str(caught.value)
    assert errors == [(str(caught.value), "Store1", "bad")]
    assert profile.is_active()
    assert store.get("bad").data == {"Counter": 1, "Array": []}, "the last good save stands"
    del profile.data["bag"]
    profile.end_session()
    assert store.get("bad").data == {"Counter": 2, "Array": []}


def test_end_session_with_bad_data_raises_and_keeps_the_session_until_fixed(engine: Engine,
                                                                          store: ProfileStore) -> None:
    profile = store.start_session("fix-me")
    last_saves, ends = [], []
    profile.on_last_save.connect(last_saves.append)
    profile.on_session_end.connect(lambda: ends.append(True))
    errors = errors_of(engine)
    profile.data["Counter"] = 3
    profile.data["bag"] = {"gems": {"ruby", "opal"}}

    with pytest.raises(DataError, match=r"data\['bag'\]\['gems'\]: set"):
        profile.end_session()
    assert ends == []
    assert profile.is_active()
    assert len(errors) == 1
    assert store.get("fix-me").data == {"Counter": 0, "Array": []}

    profile.data["bag"]["gems"] = sorted(profile.data["bag"]["gems"])
    profile.end_session()
    assert last_saves == ["Manual", "Manual"]
    assert ends == [True]
    assert not profile.is_active()
    assert store.get("fix-me").data == {"Counter": 3, "Array": [], "bag": {"gems": ["opal", "ruby"]}}


def test_data_over_max_data_bytes_raises_data_error_mentioning_the_limit() -> None:
    engine = Engine("sqlite:///:memory:", settings=Settings(max_data_bytes=1000), background=False)
    try:
        store = ProfileStore("Small", engine=engine)
        profile = store.start_session("big")
        profile.data["blob"] = "x" * 2000
        with pytest.raises(DataError, match="1000"):
            profile.save()
        assert profile.is_active()
        profile.data["blob"] = "x" * 100
        assert profile.save() is True
        profile.end_session()
    finally:
        engine.close(timeout=5)


def test_metadata_over_max_metadata_chars_raises_data_error(store: ProfileStore) -> None:
    profile = store.start_session("meta")
    profile.metadata = {"note": "x" * 400}
    with pytest.raises(DataError, match="300"):
        profile.save()
    profile.metadata = {"note": b"raw"}
    with pytest.raises(DataError, match=r"metadata\['note'\]: bytes"):
        profile.save()
    profile.metadata = {"note": "short"}
    profile.end_session()
    assert store.get("meta").metadata == {"note": "short"}


@pytest.mark.parametrize("user_id", ["x", True, 1.5, None])
def test_user_ids_must_be_ints(store: ProfileStore, user_id: object) -> None:
    profile = store.start_session("ids")
    with pytest.raises(TypeError):
        profile.add_user_id(user_id)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        profile.remove_user_id(user_id)  # type: ignore[arg-type]
    assert profile.user_ids == ()
    profile.end_session()


@pytest.mark.parametrize("version", ["abc", "1.5", 1.5])
def test_get_with_a_version_that_is_not_an_int_or_decimal_string_raises_value_error(
        store: ProfileStore, version: object) -> None:
    store.start_session("v").end_session()
    with pytest.raises(ValueError):
        store.get("v", version=version)  # type: ignore[arg-type]


def test_get_with_both_version_and_at_raises_value_error(store: ProfileStore) -> None:
    store.start_session("both").end_session()
    with pytest.raises(ValueError):
        store.get("both", version=1, at=0)


def test_set_constant_rejects_unknown_names_and_non_positive_values(engine: Engine) -> None:
    before = engine.settings
    with pytest.raises(ValueError):
        engine.set_constant("NOT_A_CONSTANT", 10)
    with pytest.raises(ValueError):
        engine.set_constant("AUTO_SAVE_PERIOD", 0)
    with pytest.raises(ValueError):
        engine.set_constant("AUTO_SAVE_PERIOD", -5)
    assert engine.settings == before


@pytest.mark.parametrize("value", ["10", True, None])
def test_set_constant_rejects_values_that_are_not_numbers(engine: Engine, value: object) -> None:
    with pytest.raises(TypeError):
        engine.set_constant("AUTO_SAVE_PERIOD", value)  # type: ignore[arg-type]


def test_set_constant_replaces_the_settings_with_an_updated_copy(engine: Engine) -> None:
    before = engine.settings
    engine.set_constant("AUTO_SAVE_PERIOD", 10)
    engine.set_constant("SESSION_STEAL", 12.5)
    assert engine.settings.auto_save_period == 10
    assert engine.settings.session_steal == 12.5
    assert before.auto_save_period == 300, "the old settings object is not mutated"


def test_an_auto_save_of_bad_data_reports_it_and_still_writes_a_heartbeat(engine: Engine,
                                                                        store: ProfileStore) -> None:
    engine.set_constant("AUTO_SAVE_PERIOD", 10)
    with freeze_time("2026-01-01 00:00:00") as frozen:
        profile = store.start_session("auto-bad")
        profile.data["Counter"] = 1
        assert profile.save() is True
        errors = errors_of(engine)
        profile.data["Counter"] = 2
        profile.data["bag"] = {1, 2}
        before = len(store.history("auto-bad"))

        frozen.tick(11)
        engine.run_pending()

        assert len(errors) == 1 and "data['bag']: set" in errors[0][0]
        assert errors[0][1:] == ("Store1", "auto-bad")
        new = store.history("auto-bad")[before:]
        assert [entry.type for entry in new] == ["Saved"]
        assert new[0].payload["patch"] == []
        assert store.get("auto-bad").data == {"Counter": 1, "Array": []}
        assert profile.is_active()
        assert profile.last_saved_data == {"Counter": 1, "Array": []}
        del profile.data["bag"]
        profile.end_session()


def test_a_read_only_profile_refuses_save(store: ProfileStore) -> None:
    store.start_session("ro").end_session()
    read_only = store.get("ro")
    assert not read_only.is_active()
    with pytest.raises(ProfileStoreError):
        read_only.save()
