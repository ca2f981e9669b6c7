"""The public API: one import name, a sorted `__all__`, the error tree and `Settings`."""

from __future__ import annotations

import importlib
import importlib.resources

import pytest
from pydantic import ValidationError

import profilestore
from profilestore import (
    DataError,
    InvalidKeyError,
    ProfileStoreError,
    Server,
    SessionLostError,
    Settings,
    SortDirection,
    StoreClosedError,
)

PUBLIC_NAMES = {
    "Engine", "ProfileStore", "Profile", "VersionQuery", "Settings", "Server", "SortDirection", "Signal",
    "Connection", "HistoryEntry", "KeyInfo", "Migration", "ProfileStoreError", "InvalidKeyError", "DataError",
    "StoreClosedError", "SessionLostError", "default_engine",
}  # fmt: skip

SPEC_DEFAULTS = {
    "auto_save_period": 300.0,
    "first_load_repeat": 5.0,
    "load_repeat_period": 10.0,
    "session_steal": 40.0,
    "assume_dead": 630.0,
    "start_session_timeout": 120.0,
    "critical_state_error_count": 5,
    "critical_state_error_expire": 120.0,
    "critical_state_expire": 120.0,
    "max_message_queue": 1000,
    "poll_interval": 0.5,
    "snapshot_interval": 100,
    "max_key_length": 50,
    "max_data_bytes": 4_194_304,
    "max_metadata_chars": 300,
}


def test_all_is_sorted_and_names_exactly_the_public_api() -> None:
    assert profilestore.__all__ == sorted(profilestore.__all__)
    assert len(profilestore.__all__) == len(set(profilestore.__all__))
    assert set(profilestore.__all__) == PUBLIC_NAMES


@pytest.mark.parametrize("name", sorted(PUBLIC_NAMES))
def test_every_public_name_is_importable_from_the_top_package(name: str) -> None:
    module = importlib.import_module("profilestore")
    assert getattr(module, name) is not None
    namespace: dict[str, object] = {}
    exec(f"from profilestore import {name}", namespace)
    assert namespace[name] is getattr(module, name)


def test_a_star_import_gives_exactly_the_public_names() -> None:
    namespace: dict[str, object] = {}
    exec("from profilestore import *", namespace)
    assert set(namespace) - {"__builtins__"} == PUBLIC_NAMES


def test_the_package_ships_type_information() -> None:
    assert (importlib.resources.files("profilestore") / "py.typed").is_file()


# ---- errors --------------------------------------------------------------------------------------


@pytest.mark.parametrize("error", [InvalidKeyError, DataError])
def test_bad_input_errors_are_profile_store_errors_and_value_errors(error: type[Exception]) -> None:
    assert issubclass(error, ProfileStoreError)
    assert issubclass(error, ValueError)
    with pytest.raises(ValueError):
        raise error("bad")


@pytest.mark.parametrize("error", [StoreClosedError, SessionLostError])
def test_state_errors_are_profile_store_errors(error: type[Exception]) -> None:
    assert issubclass(error, ProfileStoreError)
    with pytest.raises(ProfileStoreError):
        raise error("gone")


def test_the_root_error_is_an_exception() -> None:
    assert issubclass(ProfileStoreError, Exception)


# ---- values --------------------------------------------------------------------------------------


def test_sort_direction_accepts_the_profile_store_strings() -> None:
    assert SortDirection("Ascending") is SortDirection.ASCENDING
    assert SortDirection("Descending") is SortDirection.DESCENDING
    assert SortDirection.ASCENDING == "Ascending"


@pytest.mark.parametrize("bad", ["Up", "ascending", "", "ASCENDING"])
def test_sort_direction_refuses_anything_else(bad: str) -> None:
    with pytest.raises(ValueError):
        SortDirection(bad)


def test_a_server_defaults_to_the_local_place_and_a_fresh_job_id() -> None:
    first, second = Server(), Server()
    assert first.place_id == "local"
    assert len(first.job_id) == 32 and int(first.job_id, 16) >= 0
    assert first.job_id != second.job_id
    assert Server(place_id="p", job_id="j").as_session() == {"place_id": "p", "job_id": "j"}


# ---- settings ------------------------------------------------------------------------------------


def test_settings_defaults_match_the_spec() -> None:
    settings = Settings()
    assert settings.model_dump() == SPEC_DEFAULTS
    for name, value in SPEC_DEFAULTS.items():
        assert type(getattr(settings, name)) is type(value), name


def test_settings_are_frozen() -> None:
    settings = Settings()
    with pytest.raises(ValidationError):
        settings.auto_save_period = 1.0  # type: ignore[misc]
    assert settings.auto_save_period == 300.0


def test_settings_refuse_unknown_fields_and_non_positive_values() -> None:
    with pytest.raises(ValidationError):
        Settings(auto_save_period_typo=1.0)  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        Settings(auto_save_period=0)
    with pytest.raises(ValidationError):
        Settings(max_key_length=-1)


def test_with_constant_returns_an_updated_copy() -> None:
    settings = Settings()

    updated = settings.with_constant("AUTO_SAVE_PERIOD", 10)

    assert updated.auto_save_period == 10.0
    assert type(updated.auto_save_period) is float
    assert settings.auto_save_period == 300.0
    assert updated.model_dump() == {**SPEC_DEFAULTS, "auto_save_period": 10.0}


@pytest.mark.parametrize(
    ("name", "value", "field"),
    [
        ("FIRST_LOAD_REPEAT", 1, "first_load_repeat"),
        ("LOAD_REPEAT_PERIOD", 2.5, "load_repeat_period"),
        ("SESSION_STEAL", 3, "session_steal"),
        ("ASSUME_DEAD", 700, "assume_dead"),
        ("START_SESSION_TIMEOUT", 4, "start_session_timeout"),
        ("CRITICAL_STATE_ERROR_COUNT", 7, "critical_state_error_count"),
        ("CRITICAL_STATE_ERROR_EXPIRE", 5, "critical_state_error_expire"),
        ("CRITICAL_STATE_EXPIRE", 6, "critical_state_expire"),
        ("MAX_MESSAGE_QUEUE", 20, "max_message_queue"),
        ("POLL_INTERVAL", 0.1, "poll_interval"),
        ("MAX_METADATA_CHARS", 40, "max_metadata_chars"),
    ],
)
def test_with_constant_takes_every_profile_store_and_settings_name(
    name: str, value: float, field: str
) -> None:
    assert getattr(Settings().with_constant(name, value), field) == value


@pytest.mark.parametrize("name", ["NOT_A_CONSTANT", "AUTO_SAVE", ""])
def test_with_constant_refuses_an_unknown_name(name: str) -> None:
    with pytest.raises(ValueError):
        Settings().with_constant(name, 10)


@pytest.mark.parametrize("value", [0, -1, 0.0, -0.5, float("nan"), float("-inf")])
def test_with_constant_refuses_a_value_that_is_not_positive(value: float) -> None:
    with pytest.raises(ValueError):
        Settings().with_constant("AUTO_SAVE_PERIOD", value)


@pytest.mark.parametrize("value", [True, False, "10", None, [10]])
def test_with_constant_refuses_a_value_that_is_not_a_number(value: object) -> None:
    with pytest.raises(TypeError):
        Settings().with_constant("AUTO_SAVE_PERIOD", value)
