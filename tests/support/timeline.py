"""Times, versions and signal recorders for the version and rollback scenarios."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

TEMPLATE = {"Counter": 0, "Array": []}
FAR_FUTURE = datetime(2999, 1, 1, tzinfo=UTC)
NOON = datetime(2021, 8, 13, 12, 0, 0, tzinfo=UTC)


def ms(moment: datetime) -> int:
    """Epoch milliseconds of an aware datetime, exactly."""
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)


def versions(query: Any) -> list[str]:
    return [profile.key_info.version for profile in query]


def recorder(signal: Any) -> list[tuple[Any, ...]]:
    """Connect to a signal; the returned list collects the arguments of every fire."""
    fired: list[tuple[Any, ...]] = []
    signal.connect(lambda *args: fired.append(args))
    return fired
