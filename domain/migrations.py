"""Schema migrations of stored profile data: step `i` turns JSON at schema `i` into schema `i + 1`.

A store's schema is the number of its migrations; data written before any existed is at schema 0.
A step declared backwards compatible leaves data that servers knowing only the earlier schema may
still read and save (they keep the stored schema): `readable_from` is the lowest such schema.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .copying import json_copy
from .errors import DataError
from .validation import json_problem

JsonDict = dict[str, Any]


@dataclass(frozen=True)
class Migration:
    """One step: `fn(data) -> data`, from the schema before it to the next."""

    fn: Callable[[JsonDict], JsonDict]
    backwards_compatible: bool = False

    def __post_init__(self) -> None:
        if not callable(self.fn):
            raise TypeError(f"a migration takes a callable, not {type(self.fn).__name__}")
        if not isinstance(self.backwards_compatible, bool):
            raise TypeError("backwards_compatible must be a bool")


def steps(migrations: Sequence[Callable[[JsonDict], JsonDict] | Migration]) -> tuple[Migration, ...]:
    """The migrations as Migration steps; TypeError naming the index of one that is neither."""
    if isinstance(migrations, str | bytes | dict) or not isinstance(migrations, Sequence):
        raise TypeError(f"migrations must be a list of callables or Migration, not "
                        f"{type(migrations).__name__}")
    found = []
    for index, step in enumerate(migrations):
        if isinstance(step, Migration):
            found.append(step)
        elif callable(step):
            found.append(Migration(step))
        else:
            raise TypeError(f"migration {index} is {type(step).__name__}, not a callable or Migration")
    return tuple(found)


def readable_from(migrations: Sequence[Migration], schema: int) -> int:
    """The lowest schema whose servers may read data at `schema`: `schema`, less the run of
    backwards-compatible steps that ends at it."""
    lowest = schema
    while lowest > 0 and lowest <= len(migrations) and migrations[lowest - 1].backwards_compatible:
        lowest -= 1
    return lowest


def migrate(migrations: Sequence[Migration], data: JsonDict, from_schema: int) -> JsonDict:
    """`data` at `from_schema` run through the missing steps (each given a private copy); a step
    that raises or returns something that is not a JSON dict is a DataError naming its index."""
    for index in range(from_schema, len(migrations)):
        step = migrations[index]
        name = getattr(step.fn, "__qualname__", repr(step.fn))
        try:
            result = step.fn(json_copy(data))
        except Exception as error:
            raise DataError(f"migration {index} ({name}) raised {type(error).__name__}: {error}"
                            ) from error
        if type(result) is not dict:
            raise DataError(f"migration {index} ({name}) returned {type(result).__name__}, not dict")
        problem = json_problem(result, "data")
        if problem is not None:
            raise DataError(f"migration {index} ({name}) returned data that is not JSON: {problem}")
        data = result
    return data
