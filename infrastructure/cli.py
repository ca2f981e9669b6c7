"""The `profilestore` command (Typer + Rich, from the `cli` extra)."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from typing import Annotated, NoReturn

try:
    import typer
    from rich.console import Console
    from rich.markup import escape
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
    from rich.table import Table
    from rich.text import Text
except ImportError as missing:  # pragma: no cover - the library itself does not need them
    raise SystemExit(f"the profilestore command needs the cli extra: pip install "
                     f"'profilestore[cli]' ({missing.name} is missing)") from None

from profilestore import Engine, Profile, ProfileStore, ProfileStoreError, Settings, SortDirection
from profilestore.application.urls import redact, resolve_url, without_table_creation
from profilestore.infrastructure.cli_render import (
    CliError,
    compact,
    fmt_dt,
    fmt_ms,
    parse_date,
    parse_message,
    parse_user_id,
    parse_version,
    profile_diff,
    profile_table,
    versions_table,
    write_export,
)
from profilestore.infrastructure.cli_render import (
    summary as event_summary,
)
from profilestore.simulator.view import show_demo

app = typer.Typer(help="Event-sourced player profiles: demo and operator tools.",
                  no_args_is_help=True)
console = Console()
Database = Annotated[str | None, typer.Option("--database", help="database URL (default: "
                     "$PROFILESTORE_DATABASE_URL, else sqlite:///profilestore.db)")]


@app.command()
def demo(database: Database = None,
         players: Annotated[int, typer.Option(help="players joining")] = 50,
         servers: Annotated[int, typer.Option(help="game-server processes")] = 3,
         seconds: Annotated[float, typer.Option(help="seconds of play")] = 20.0) -> None:
    """Simulate a game backend: servers, players, trades, hops, gifts, a crash and a rollback;
    exit non-zero if an invariant fails."""
    try:
        report = show_demo(console, database, players, servers, seconds)
    except (ValueError, ProfileStoreError) as error:
        _fail(str(error), 2)
    if not report.ok:
        raise typer.Exit(1)


@app.command()
def version() -> None:
    """Print the package version."""
    from importlib.metadata import version as installed
    console.print(installed("profilestore"))


# ---- operator commands ---------------------------------------------------------------------

Store = Annotated[str, typer.Argument(help="store name, e.g. PlayerData", show_default=False)]
Key = Annotated[str, typer.Argument(help="profile key, e.g. Player_2312310", show_default=False)]
DATE_HELP = "ISO 8601 (naive = UTC, e.g. 2024-08-14T10:00:00) or epoch milliseconds"
_CLI_SETTINGS = Settings(start_session_timeout=15.0)  # an operator wants an answer, not a 2-minute retry


def _out() -> Console:
    """A console for this command (reads the terminal width and COLUMNS now)."""
    return Console(highlight=False)


class _Ops:
    """One command's open engine and the database errors it reported."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.errors: list[str] = []
        engine.on_error.connect(self._record)

    def _record(self, message: str, store_name: str, key: str) -> None:
        self.errors.append(message)

    def store(self, name: str) -> ProfileStore:
        return ProfileStore(name, engine=self.engine)

    def failed(self, what: str) -> CliError:
        """`what`, unless the database failed meanwhile: then that is the error."""
        return CliError(f"database error: {self.errors[-1]}") if self.errors else CliError(what)

    def latest(self, store: ProfileStore, key: str) -> Profile:
        profile = store.get(key)
        if profile is None:
            raise self.failed(f"no profile {store.name}/{key} (never saved, or removed)")
        return profile


def _database_url(database: str | None) -> str:
    """The URL to open; its SQLite file or PostgreSQL tables must exist (never created here)."""
    url = resolve_url(database)
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///"):].partition("?")[0]
        if path and path != ":memory:" and not os.path.exists(path):
            raise CliError(f"no database file at {os.path.abspath(path)} (give --database URL or set "
                           f"PROFILESTORE_DATABASE_URL)")
    return without_table_creation(url)


@contextmanager
def _operator(database: str | None) -> Iterator[_Ops]:
    """Open the database without a background thread; any error becomes one `error:` line."""
    try:
        url = _database_url(database)
        with Engine(url, settings=_CLI_SETTINGS, background=False) as engine:
            if engine.data_store_state != "Access":
                raise CliError(f"cannot open the database {redact(url)} ({engine.data_store_state})")
            yield _Ops(engine)
    except (typer.Exit, typer.Abort):
        raise
    except CliError as error:
        _fail(str(error), error.code)
    except ProfileStoreError as error:
        _fail(f"{type(error).__name__}: {error}", 1)
    except (ValueError, TypeError) as error:
        _fail(str(error), 2)
    except Exception as error:  # database or OS failure: still one line, never a traceback
        _fail(f"{type(error).__name__}: {error}", 1)


def _fail(message: str, code: int) -> NoReturn:
    typer.echo("error: " + " ".join(message.split()), err=True)
    raise typer.Exit(code)


def _interactive() -> bool:
    """Whether a person can answer a question on stdin."""
    try:
        return sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False


def _print_diff(console: Console, lines: list[str]) -> None:
    styles = {"+": "green", "-": "red", "~": "yellow"}
    for line in lines or ["(no differences)"]:
        console.print(Text(line, style=styles.get(line[:1], "")))


@app.command()
def inspect(store: Store, key: Key, database: Database = None,
            version_: Annotated[str | None, typer.Option("--version", help="a saved version")] = None,
            at: Annotated[str | None, typer.Option(help="the state at this time: " + DATE_HELP)] = None
            ) -> None:
    """Show a profile's latest state (or one saved version, or its state at a time)."""
    with _operator(database) as ops:
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
        _out().print(profile_table(store, key, profile))


@app.command()
def history(store: Store, key: Key, database: Database = None,
            since: Annotated[str | None, typer.Option(help="from this time: " + DATE_HELP)] = None,
            until: Annotated[str | None, typer.Option(help="up to this time: " + DATE_HELP)] = None
            ) -> None:
    """Every event of a profile, oldest first: sessions, saves (as patches), messages, rollbacks."""
    with _operator(database) as ops:
        low = parse_date(since, "--since") if since is not None else None
        high = parse_date(until, "--until") if until is not None else None
        entries = ops.store(store).history(key, since=low, until=high)
        console = _out()
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
            summary = event_summary(entry.type, entry.payload)
            table.add_row(str(entry.version), fmt_dt(entry.timestamp), entry.type, escape(server),
                          escape(summary if len(summary) <= 300 else summary[:299] + "…"))
        console.print(table)


@app.command()
def versions(store: Store, key: Key, database: Database = None,
             descending: Annotated[bool, typer.Option("--descending", help="newest first")] = False,
             min_date: Annotated[str | None, typer.Option(help="saved at or after: " + DATE_HELP)] = None,
             max_date: Annotated[str | None, typer.Option(help="saved at or before: " + DATE_HELP)] = None
             ) -> None:
    """The saved versions of a profile (bounds inclusive), with their data."""
    with _operator(database) as ops:
        low = parse_date(min_date, "--min-date") if min_date is not None else None
        high = parse_date(max_date, "--max-date") if max_date is not None else None
        direction = SortDirection.DESCENDING if descending else SortDirection.ASCENDING
        profile_store = ops.store(store)
        found = list(profile_store.version_query(key, direction, low, high))
        console = _out()
        if not found:
            if low is None and high is None:
                raise ops.failed(f"no profile {store}/{key} (never saved, or removed)")
            console.print(f"no saved version of {escape(store)}/{escape(key)} in that window")
            return
        console.print(versions_table(store, key, found))
        console.print(escape(f"roll back with: profilestore rollback {store} {key} --to-version V --yes"))


@app.command()
def diff(store: Store, key: Key,
         v1: Annotated[str, typer.Argument(help="the older saved version", show_default=False)],
         v2: Annotated[str, typer.Argument(help="the newer saved version", show_default=False)],
         database: Database = None) -> None:
    """The changes (RFC 6902 JSON Patch) from saved version V1 to saved version V2."""
    with _operator(database) as ops:
        profile_store = ops.store(store)
        old, new = (_saved(ops, profile_store, key, parse_version(v)) for v in (v1, v2))
        console = _out()
        console.print(escape(f"{store}/{key}: version {v1} -> version {v2}"))
        _print_diff(console, profile_diff(old, new))


def _saved(ops: _Ops, store: ProfileStore, key: str, number: int) -> Profile:
    profile = store.get(key, version=number)
    if profile is None:
        raise ops.failed(f"version {number} of {store.name}/{key} is not a saved version "
                         f"(list them with: profilestore versions {store.name} {key})")
    return profile


@app.command()
def rollback(store: Store, key: Key, database: Database = None,
             to_version: Annotated[str | None, typer.Option(help="the saved version to restore")] = None,
             before: Annotated[str | None, typer.Option(
                 help="restore the newest saved version strictly before this time: " + DATE_HELP)] = None,
             yes: Annotated[bool, typer.Option("--yes", "-y", help="apply without asking")] = False
             ) -> None:
    """Make an old saved version the newest one (an Overwritten event; the history is kept)."""
    with _operator(database) as ops:
        if (to_version is None) == (before is None):
            raise CliError("give exactly one of --to-version V or --before DATE", 2)
        profile_store = ops.store(store)
        if to_version is not None:
            target = _saved(ops, profile_store, key, parse_version(to_version))
        else:
            moment = parse_date(str(before), "--before")
            target_or_none = profile_store.version_query(
                key, SortDirection.DESCENDING, max_date=moment - 1).next()
            if target_or_none is None:
                raise ops.failed(f"no saved version of {store}/{key} before {before}")
            target = target_or_none
        current = ops.latest(profile_store, key)
        console = _out()
        chosen, latest = target.key_info, current.key_info
        if chosen.version == latest.version:
            console.print(escape(f"{store}/{key} is already at version {chosen.version}: nothing to do"))
            return
        console.print(escape(f"rollback {store}/{key}: latest version {latest.version} "
                             f"(saved {fmt_ms(latest.updated_time)}) -> version {chosen.version} "
                             f"(saved {fmt_ms(chosen.updated_time)})"))
        _print_diff(console, profile_diff(current, target))
        if not yes:
            if not _interactive():
                console.print("not applied: run again with --yes to apply")
                return
            if not typer.confirm(f"overwrite {store}/{key} with version {chosen.version}?", default=False):
                console.print("not applied")
                return
        if not target.set():
            raise ops.failed("the rollback was not written")
        console.print(escape(f"rolled back: version {target.key_info.version} of {store}/{key} holds the "
                             f"data of version {chosen.version} (Overwritten; the history is kept)"))


@app.command()
def message(store: Store, key: Key,
            json_message: Annotated[str, typer.Argument(metavar="JSON", help='e.g. \'{"gift": 100}\'',
                                                        show_default=False)],
            database: Database = None) -> None:
    """Queue a message (a JSON object) for a profile; the server holding it delivers it."""
    with _operator(database) as ops:
        payload = parse_message(json_message)
        if not ops.store(store).message(key, payload):
            raise ops.failed(f"message not queued: {store}/{key} holds too many unprocessed messages")
        _out().print(escape(f"message queued for {store}/{key}: {compact(payload)}"))


@app.command()
def remove(store: Store, key: Key, database: Database = None) -> None:
    """Erase a profile for good (GDPR): its data leaves the database; a tombstone stays."""
    with _operator(database) as ops:
        profile_store = ops.store(store)
        existed = profile_store.get(key) is not None
        if not profile_store.remove(key):
            raise ops.failed(f"{store}/{key} was not removed")
        done = f"removed {store}/{key}" if existed else f"no profile {store}/{key}: nothing removed"
        _out().print(escape(done))


@app.command("find-user")
def find_user(user_id: Annotated[str, typer.Argument(metavar="USER_ID", show_default=False)],
              database: Database = None) -> None:
    """The profiles (store, key) whose user ids hold USER_ID."""
    with _operator(database) as ops:
        uid = parse_user_id(user_id)
        found = ops.engine.find_user(uid)
        console = _out()
        if not found:
            console.print(f"no profile holds user id {uid}")
            return
        table = Table(title=f"profiles of user {uid}")
        table.add_column("store")
        table.add_column("key")
        for store_name, key in found:
            table.add_row(escape(store_name), escape(key))
        console.print(table)


@app.command("erase-user")
def erase_user(user_id: Annotated[str, typer.Argument(metavar="USER_ID", show_default=False)],
               database: Database = None) -> None:
    """Erase every profile whose user ids hold USER_ID (GDPR right to erasure)."""
    with _operator(database) as ops:
        uid = parse_user_id(user_id)
        erased = ops.engine.erase_user(uid)
        console = _out()
        for store_name, key in erased:
            console.print(escape(f"removed {store_name}/{key}"))
        console.print(f"erased {len(erased)} profile(s) of user {uid}")


class ExportFormat(StrEnum):
    """Formats of `export`."""

    JSONL = "jsonl"
    CSV = "csv"




@app.command()
def export(store: Store, database: Database = None,
           format_: Annotated[ExportFormat, typer.Option("--format", help="jsonl, or csv (JSON text in "
                                                         "the data, metadata and user_ids columns)")
                              ] = ExportFormat.JSONL) -> None:
    """Every live profile of a store to stdout (times in epoch ms)."""
    with _operator(database) as ops:
        profile_store = ops.store(store)
        count = write_export(sys.stdout, store, profile_store, csv_format=format_ is ExportFormat.CSV)
        typer.echo(f"exported {count} profile(s) of {store}", err=True)


read_models = typer.Typer(help="The SQL read models (profiles, profile_user_ids).", no_args_is_help=True)
app.add_typer(read_models, name="read-models")


@read_models.command("rebuild")
def rebuild(database: Database = None) -> None:
    """Drop and rebuild the read models from the events."""
    with _operator(database) as ops:
        console = _out()
        started = time.monotonic()
        with Progress(SpinnerColumn(), TextColumn("rebuilding read models from the events"),
                      TimeElapsedColumn(), console=console, transient=True) as progress:
            progress.add_task("rebuild", total=None)
            ops.engine.rebuild_read_models()
        console.print(f"read models rebuilt in {time.monotonic() - started:.2f} s")


def main() -> None:
    """Entry point of the console script."""
    app()
