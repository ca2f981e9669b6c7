"""The operator commands that only read: a profile's state, its events, its saved versions and
their differences, the profiles of a user, a store's export. None of them writes an event."""

from __future__ import annotations

import sys
from enum import StrEnum
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from profilestore import SortDirection
from profilestore.cli.database import DATE_HELP, Database, Key, Store, operator, out
from profilestore.cli.render import (
    CliError,
    fmt_dt,
    parse_date,
    parse_user_id,
    parse_version,
    print_diff,
    profile_diff,
    profile_table,
    summary,
    versions_table,
    write_export,
)


def inspect(store: Store, key: Key, database: Database = None,
            version_: Annotated[str | None, typer.Option("--version", help="a saved version")] = None,
            at: Annotated[str | None, typer.Option(help="the state at this time: " + DATE_HELP)] = None
            ) -> None:
    """Show a profile's latest state (or one saved version, or its state at a time)."""
    with operator(database) as ops:
        profile_store = ops.store(store)
        if version_ is not None and at is not None:
            raise CliError("give --version or --at, not both", 2)
        if version_ is not None:
            profile = profile_store.get(key, version=parse_version(version_))
            what = f"version {version_} of {store}/{key} is not a saved version"
        elif at is not None:
            profile = profile_store.get(key, at=parse_date(at, "--at"))
            what = f"no profile {store}/{key} at {at}"
        else:
            profile = profile_store.get(key)
            what = f"no profile {store}/{key} (never saved, or removed)"
        if profile is None:
            raise ops.failed(what)
        out().print(profile_table(store, key, profile))


def history(store: Store, key: Key, database: Database = None,
            since: Annotated[str | None, typer.Option(help="from this time: " + DATE_HELP)] = None,
            until: Annotated[str | None, typer.Option(help="up to this time: " + DATE_HELP)] = None
            ) -> None:
    """Every event of a profile, oldest first: sessions, saves (as patches), messages, rollbacks."""
    with operator(database) as ops:
        low = parse_date(since, "--since") if since is not None else None
        high = parse_date(until, "--until") if until is not None else None
        entries = ops.store(store).history(key, since=low, until=high)
        console = out()
        if not entries:
            if low is None and high is None:
                raise ops.failed(f"no profile {store}/{key}: it has no events")
            console.print("no events in that window")
            return
        table = Table(title=escape(f"history of {store}/{key}"))
        for column in ("version", "time (UTC)", "event", "server", "payload"):
            table.add_column(column, overflow="fold")
        for entry in entries:
            server = f"{entry.session['place_id']}/{entry.session['job_id']}" if entry.session else "-"
            text = summary(entry.type, entry.payload)
            table.add_row(str(entry.version), fmt_dt(entry.timestamp), entry.type, escape(server),
                          escape(text if len(text) <= 300 else text[:299] + "…"))
        console.print(table)


def versions(store: Store, key: Key, database: Database = None,
             descending: Annotated[bool, typer.Option("--descending", help="newest first")] = False,
             min_date: Annotated[str | None, typer.Option(help="saved at or after: " + DATE_HELP)] = None,
             max_date: Annotated[str | None, typer.Option(help="saved at or before: " + DATE_HELP)] = None
             ) -> None:
    """The saved versions of a profile (bounds inclusive), with their data."""
    with operator(database) as ops:
        low = parse_date(min_date, "--min-date") if min_date is not None else None
        high = parse_date(max_date, "--max-date") if max_date is not None else None
        direction = SortDirection.DESCENDING if descending else SortDirection.ASCENDING
        profile_store = ops.store(store)
        found = list(profile_store.version_query(key, direction, low, high))
        console = out()
        if not found:
            if low is None and high is None:
                raise ops.failed(f"no profile {store}/{key} (never saved, or removed)")
            console.print(f"no saved version of {escape(store)}/{escape(key)} in that window")
            return
        console.print(versions_table(store, key, found))
        console.print(escape(f"roll back with: profilestore rollback {store} {key} --to-version V --yes"))


def diff(store: Store, key: Key,
         v1: Annotated[str, typer.Argument(help="the older saved version", show_default=False)],
         v2: Annotated[str, typer.Argument(help="the newer saved version", show_default=False)],
         database: Database = None) -> None:
    """The changes (RFC 6902 JSON Patch) from saved version V1 to saved version V2."""
    with operator(database) as ops:
        profile_store = ops.store(store)
        old, new = (ops.saved(profile_store, key, parse_version(v)) for v in (v1, v2))
        console = out()
        console.print(escape(f"{store}/{key}: version {v1} -> version {v2}"))
        print_diff(console, profile_diff(old, new))


def find_user(user_id: Annotated[str, typer.Argument(metavar="USER_ID", show_default=False)],
              database: Database = None) -> None:
    """The profiles (store, key) whose user ids hold USER_ID."""
    with operator(database) as ops:
        uid = parse_user_id(user_id)
        found = ops.engine.find_user(uid)
        console = out()
        if not found:
            console.print(f"no profile holds user id {uid}")
            return
        table = Table(title=f"profiles of user {uid}")
        table.add_column("store")
        table.add_column("key")
        for store_name, key in found:
            table.add_row(escape(store_name), escape(key))
        console.print(table)


class ExportFormat(StrEnum):
    """Formats of `export`."""

    JSONL = "jsonl"
    CSV = "csv"


def export(store: Store, database: Database = None,
           format_: Annotated[ExportFormat, typer.Option("--format", help="jsonl, or csv (JSON text in "
                                                         "the data, metadata and user_ids columns)")
                              ] = ExportFormat.JSONL) -> None:
    """Every live profile of a store to stdout (times in epoch ms)."""
    with operator(database) as ops:
        profile_store = ops.store(store)
        count = write_export(sys.stdout, store, profile_store, csv_format=format_ is ExportFormat.CSV)
        typer.echo(f"exported {count} profile(s) of {store}", err=True)
