"""Parsing and rendering helpers of the operator commands (`reading.py`, `writing.py`)."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

import jsonpatch
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from profilestore import Profile, ProfileStore

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class CliError(Exception):
    """A problem the operator caused or must know about: printed as one `error:` line.

    `code` is the exit code: 2 for input the command cannot use, 1 for everything else.
    """

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def parse_date(text: str, option: str) -> int:
    """ISO 8601 (naive means UTC) or an integer of epoch milliseconds, as epoch milliseconds."""
    stripped = text.strip()
    if stripped.lstrip("-").isdigit():
        return int(stripped)
    try:
        moment = datetime.fromisoformat(stripped)
    except ValueError:
        raise CliError(f"{option}: {text!r} is not an ISO 8601 date (e.g. 2024-08-14T10:00:00Z) "
                       f"nor epoch milliseconds", 2) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def parse_version(text: str) -> int:
    """A saved version number as the operator typed it."""
    stripped = text.strip()
    if not stripped.isdigit() or int(stripped) < 1:
        raise CliError(f"version must be a whole number >= 1, got {text!r}", 2)
    return int(stripped)


def parse_user_id(text: str) -> int:
    """A user id (an int, negative ids allowed)."""
    try:
        return int(text.strip())
    except ValueError:
        raise CliError(f"user id must be an integer, got {text!r}", 2) from None


def parse_message(text: str) -> dict[str, Any]:
    """A message: a JSON object."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise CliError(f"message is not valid JSON: {error}", 2) from None
    if not isinstance(value, dict):
        raise CliError(f"message must be a JSON object, got {type(value).__name__}: {text}", 2)
    return value


def fmt_ms(epoch_ms: int) -> str:
    """Epoch milliseconds as ISO 8601 UTC with milliseconds."""
    return fmt_dt(_EPOCH + timedelta(milliseconds=epoch_ms))


def fmt_dt(moment: datetime) -> str:
    """An aware datetime as ISO 8601 UTC with milliseconds."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def compact(value: Any, limit: int = 120) -> str:
    """Compact JSON, cut to `limit` characters."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _pointer_value(document: Any, path: str) -> Any:
    try:
        return jsonpatch.JsonPointer(path).resolve(document)
    except (jsonpatch.JsonPointerException, KeyError, IndexError, TypeError):
        return None


def patch_lines(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """The RFC 6902 patch from `old` to `new`, one readable line per operation (plain text)."""
    lines = []
    for op in jsonpatch.make_patch(old, new).patch:
        kind, path = op["op"], op["path"] or "/"
        if kind == "replace":
            lines.append(f"~ {path}: {compact(_pointer_value(old, op['path']))} -> {compact(op['value'])}")
        elif kind == "add":
            lines.append(f"+ {path}: {compact(op['value'])}")
        elif kind == "remove":
            lines.append(f"- {path} (was {compact(_pointer_value(old, op['path']))})")
        else:  # move, copy
            lines.append(f"{kind} {op['from']} -> {path}")
    return lines


def profile_diff(old: Profile, new: Profile) -> list[str]:
    """Data patch lines plus metadata and user ids changes, from `old` to `new`."""
    lines = patch_lines(old.data, new.data)
    if old.metadata != new.metadata:
        lines.append(f"~ metadata: {compact(old.metadata)} -> {compact(new.metadata)}")
    if tuple(old.user_ids) != tuple(new.user_ids):
        lines.append(f"~ user_ids: {compact(list(old.user_ids))} -> {compact(list(new.user_ids))}")
    return lines


def print_diff(console: Console, lines: list[str]) -> None:
    """Patch lines coloured by kind: added, removed, replaced."""
    styles = {"+": "green", "-": "red", "~": "yellow"}
    for line in lines or ["(no differences)"]:
        console.print(Text(line, style=styles.get(line[:1], "")))


def profile_table(store: str, key: str, profile: Profile) -> Table:
    """What an operator needs to know of one profile version."""
    info = profile.key_info
    table = Table(title=escape(f"{store}/{key}"), show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    session = profile.session
    rows = [("version", info.version), ("created", fmt_ms(info.created_time)),
            ("updated", fmt_ms(info.updated_time)), ("user_ids", compact(list(info.user_ids))),
            ("metadata", compact(info.metadata, 2000)),
            ("session", f"{session['place_id']}/{session['job_id']}" if session else "-"),
            ("sessions loaded", str(profile.session_load_count)),
            ("data", json.dumps(profile.data, indent=2, ensure_ascii=False, sort_keys=True))]
    for name, value in rows:
        table.add_row(name, escape(value))
    return table


def versions_table(store: str, key: str, profiles: list[Profile]) -> Table:
    """One row per saved version: number, time, user ids and the data."""
    table = Table(title=escape(f"saved versions of {store}/{key}"))
    table.add_column("version", justify="right")
    table.add_column("saved (UTC)", no_wrap=True)
    table.add_column("user_ids")
    table.add_column("data", overflow="fold")
    for profile in profiles:
        info = profile.key_info
        table.add_row(info.version, fmt_ms(info.updated_time), compact(list(info.user_ids)),
                      escape(compact(profile.data, 300)))
    return table


def summary(kind: str, payload: dict[str, Any]) -> str:
    """An event's payload in a few words: patches as `op path = value`."""
    if kind == "Saved":
        changes = [f"{op['op']} {op['path']} = {json.dumps(op.get('value'))}" for op in payload["patch"]]
        extra = [f"{k} = {json.dumps(payload[k])}" for k in ("metadata", "user_ids") if k in payload]
        return "; ".join(changes + extra) or "(no change: heartbeat)"
    hidden = {"store_name", "key", "ended_session"}
    return ", ".join(f"{k} = {json.dumps(v)}" for k, v in payload.items() if k not in hidden)


EXPORT_FIELDS = ("store", "key", "version", "created_time", "updated_time", "data", "metadata",
                 "user_ids")


def write_export(out: TextIO, store_name: str, store: ProfileStore, *, csv_format: bool) -> int:
    """Every live profile of `store` as JSON lines or CSV (JSON text in the last three columns)."""
    writer = csv.writer(out, lineterminator="\n")
    if csv_format:
        writer.writerow(EXPORT_FIELDS)
    count = 0
    for key in list(store.keys()):
        profile = store.get(key)
        if profile is None:  # removed meanwhile
            continue
        info = profile.key_info
        row: dict[str, Any] = {"store": store_name, "key": key, "version": int(info.version),
                               "created_time": info.created_time, "updated_time": info.updated_time,
                               "data": profile.data, "metadata": info.metadata,
                               "user_ids": list(info.user_ids)}
        if csv_format:
            writer.writerow([json.dumps(row[name], ensure_ascii=False)
                             if name in ("data", "metadata", "user_ids") else row[name]
                             for name in EXPORT_FIELDS])
        else:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
        count += 1
    out.flush()
    return count
