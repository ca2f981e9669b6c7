"""Checks that keys, data, metadata and messages can be stored as JSON and read back unchanged."""

from __future__ import annotations

import math
from typing import Any

import orjson

from .diff import detached, make_patch
from .errors import DataError, InvalidKeyError

_INT_MIN, _INT_MAX = -(2**63), 2**64 - 1  # what the JSON encoder can write exactly


def check_key(value: object, what: str, max_length: int) -> str:
    """A store name or profile key: a str of 1..max_length characters, none of them NUL."""
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str, not {type(value).__name__}")
    if not 1 <= len(value) <= max_length:
        raise InvalidKeyError(
            f"{what} must be 1 to {max_length} characters long, got {len(value)}: {value[:60]!r}"
        )
    if "\x00" in value:  # PostgreSQL text cannot hold it: refused on every back end alike
        raise InvalidKeyError(f"{what} must not contain NUL characters: {value[:60]!r}")
    return value


def json_problem(value: Any, path: str) -> str | None:
    """The first place in `value` that JSON would not give back as it went in, or None."""
    stack: list[tuple[Any, str]] = [(value, path)]
    while stack:
        item, where = stack.pop()
        kind = type(item)
        if kind is str or kind is bool or item is None:
            continue
        if kind is int:
            if not _INT_MIN <= item <= _INT_MAX:
                return f"{where}: int out of the 64-bit range"
        elif kind is float:
            if not math.isfinite(item):
                return f"{where}: non-finite float {item}"
        elif kind is dict:
            for key, child in item.items():
                if type(key) is not str:
                    return f"{where}: key {key!r} is {type(key).__name__}, not str"
                stack.append((child, f"{where}[{key!r}]"))
        elif kind is list:
            stack.extend((child, f"{where}[{i}]") for i, child in enumerate(item))
        else:
            return f"{where}: {kind.__name__}"
    return None


def _is_plain(value: Any) -> bool:
    """json_problem(value) is None, found without building any path (the common case)."""
    stack = [value]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is str or kind is bool or item is None:
            continue
        if kind is int:
            if not _INT_MIN <= item <= _INT_MAX:
                return False
        elif kind is float:
            if not math.isfinite(item):
                return False
        elif kind is dict:
            if not all(type(key) is str for key in item):
                return False
            stack.extend(item.values())
        elif kind is list:
            stack.extend(item)
        else:
            return False
    return True


def encode_json(value: Any, path: str, max_bytes: int) -> bytes:
    """Compact UTF-8 JSON of a checked dict, within max_bytes; raises DataError naming the problem."""
    if type(value) is not dict:
        raise DataError(f"{path}: {type(value).__name__}, not dict")
    if not _is_plain(value):
        raise DataError(json_problem(value, path) or f"{path}: not JSON-compatible")
    encoded = orjson.dumps(value)
    if len(encoded) > max_bytes:
        raise DataError(f"{path}: {len(encoded)} bytes, over the limit of {max_bytes}")
    return encoded


def encode_and_copy(value: Any, path: str, max_bytes: int) -> tuple[bytes, Any]:
    """`encode_json` and the value read back from it (a private copy equal to `value`), checked
    at C speed: encoded, decoded and compared, walked only to name a problem found."""
    encoded = _encode_checked(value, path, max_bytes)
    copied = orjson.loads(encoded)
    if copied != value:  # a tuple, a NaN, a UUID or an Enum encodes, but comes back otherwise
        raise DataError(json_problem(value, path) or f"{path}: not JSON-compatible")
    return encoded, copied


def checked_patch(base: dict[str, Any], value: Any, path: str, max_bytes: int) -> list[dict[str, Any]]:
    """The patch from `base` (stored, checked data) to `value`, with `value` checked as
    `encode_json` checks it, at a cost that grows with the change: the encoder refuses what
    JSON cannot hold (sets, bytes, non-str keys, subclasses, 64-bit overflow) and gives the
    size; what the patch leaves out is equal to checked data; what it carries is walked.
    Its values are private copies."""
    encoded = _encode_checked(value, path, max_bytes)
    patch = make_patch(base, value, encoded)
    for op in patch:
        if "value" in op and not _is_plain(op["value"]):
            raise DataError(json_problem(op["value"], _subscript(path, value, op["path"]))
                            or f"{path}: not JSON-compatible")
    return detached(patch)


def checked_given_patch(value: Any, patch: list[dict[str, Any]], path: str, max_bytes: int
                        ) -> list[dict[str, Any]]:
    """`patch`, made by the caller from what changed (domain/typed.py), with `value` (the whole
    document it leads to) checked as checked_patch checks it; its values are private copies."""
    _encode_checked(value, path, max_bytes)
    for op in patch:
        if "value" in op and not _is_plain(op["value"]):
            raise DataError(json_problem(op["value"], _subscript(path, value, op["path"]))
                            or f"{path}: not JSON-compatible")
    return detached(patch)


_REFUSE_SUBCLASSES = (orjson.OPT_PASSTHROUGH_SUBCLASS | orjson.OPT_PASSTHROUGH_DATETIME
                      | orjson.OPT_PASSTHROUGH_DATACLASS)


def _encode_checked(value: Any, path: str, max_bytes: int) -> bytes:
    """Compact JSON of a dict within max_bytes, by the encoder alone (see checked_patch)."""
    if type(value) is not dict:
        raise DataError(f"{path}: {type(value).__name__}, not dict")
    try:
        encoded = orjson.dumps(value, option=_REFUSE_SUBCLASSES)
    except TypeError as error:
        raise DataError(json_problem(value, path) or f"{path}: not JSON-compatible ({error})") from None
    if len(encoded) > max_bytes:
        raise DataError(f"{path}: {len(encoded)} bytes, over the limit of {max_bytes}")
    return encoded


def _subscript(path: str, document: Any, pointer: str) -> str:
    """A JSON Pointer into `document` written as `path['key'][3]`."""
    where, here = path, document
    for step in pointer[1:].split("/") if pointer else ():
        if type(here) is list and step.isdigit():
            where, here = f"{where}[{step}]", here[int(step)] if int(step) < len(here) else None
        else:
            key = step.replace("~1", "/").replace("~0", "~")
            where, here = f"{where}[{key!r}]", here.get(key) if type(here) is dict else None
    return where


def check_metadata(value: Any, max_chars: int) -> bytes:
    """Metadata as compact JSON within max_chars characters."""
    encoded = encode_json(value, "metadata", max_chars * 4)
    chars = len(encoded.decode())
    if chars > max_chars:
        raise DataError(f"metadata: {chars} characters, over the limit of {max_chars}")
    return encoded


def check_template(value: object) -> dict[str, Any]:
    """A store template: a JSON-compatible dict (TypeError otherwise, as ProfileStore.New does)."""
    if type(value) is not dict:
        raise TypeError(f"template must be a dict, not {type(value).__name__}")
    problem = json_problem(value, "template")
    if problem:
        raise TypeError(f"template is not JSON-compatible: {problem}")
    copied: dict[str, Any] = orjson.loads(orjson.dumps(value))
    return copied
