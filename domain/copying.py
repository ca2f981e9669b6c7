"""A deep copy of an object that shares what cannot change."""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

T = TypeVar("T")
_IMMUTABLE = frozenset({str, int, float, bool, type(None), datetime, UUID})


def deepcopy_sharing_immutables(obj: T, memo: dict[int, Any]) -> T:
    """`copy.deepcopy(obj)` for an object whose state is its __dict__, sharing the attributes
    that cannot change (strings, numbers, datetimes, UUIDs): deepcopy rebuilds each datetime
    through __reduce__, which was most of the time of a read from the aggregate cache."""
    copied = object.__new__(type(obj))
    memo[id(obj)] = copied
    copied.__dict__.update({
        name: value if type(value) in _IMMUTABLE else copy.deepcopy(value, memo)
        for name, value in obj.__dict__.items()
    })
    return copied
