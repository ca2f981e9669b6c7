"""Engine settings: ProfileStore's constants plus ours, validated and frozen."""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict, PositiveFloat, PositiveInt


class Settings(BaseModel):
    """Timings and limits of an engine; `Engine.set_constant` replaces it with an updated copy."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    auto_save_period: PositiveFloat = 300.0
    first_load_repeat: PositiveFloat = 5.0
    load_repeat_period: PositiveFloat = 10.0
    session_steal: PositiveFloat = 40.0
    assume_dead: PositiveFloat = 630.0
    start_session_timeout: PositiveFloat = 120.0
    critical_state_error_count: PositiveInt = 5
    critical_state_error_expire: PositiveFloat = 120.0
    critical_state_expire: PositiveFloat = 120.0
    max_message_queue: PositiveInt = 1000
    poll_interval: PositiveFloat = 0.5
    snapshot_interval: PositiveInt = 100
    max_key_length: PositiveInt = 50
    max_data_bytes: PositiveInt = 4_194_304
    max_metadata_chars: PositiveInt = 300

    def with_constant(self, name: str, value: object) -> Settings:
        """A copy with the field named `name` (upper case, e.g. AUTO_SAVE_PERIOD) set to `value`."""
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"{name} takes a number, not {type(value).__name__}")
        field = name.lower()
        if not isinstance(name, str) or name != name.upper() or field not in Settings.model_fields:
            raise ValueError(f"unknown constant {name!r}")
        if not math.isfinite(value) or value <= 0:
            raise ValueError(f"{name} must be a positive number, got {value!r}")
        if Settings.model_fields[field].annotation is PositiveInt:
            if value != int(value):
                raise ValueError(f"{name} must be a whole number, got {value!r}")
            value = int(value)
        return Settings(**{**self.model_dump(), field: value})
