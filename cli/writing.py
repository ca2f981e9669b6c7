"""The operator commands that write: a rollback, a message, an erasure (one profile, or every
profile of a user), and the read models rebuilt from the events."""

from __future__ import annotations

import sys
import time
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from profilestore import SortDirection
from profilestore.cli.database import DATE_HELP, Database, Key, Store, operator, out
from profilestore.cli.render import (
    CliError,
    compact,
    fmt_ms,
    parse_date,
    parse_message,
    parse_user_id,
    parse_version,
    print_diff,
    profile_diff,
)


def _interactive() -> bool:
    """Whether a person can answer a question on stdin."""
    try:
        return sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False


def rollback(store: Store, key: Key, database: Database = None,
             to_version: Annotated[str | None, typer.Option(help="the saved version to restore")] = None,
             before: Annotated[str | None, typer.Option(
                 help="restore the newest saved version strictly before this time: " + DATE_HELP)] = None,
             yes: Annotated[bool, typer.Option("--yes", "-y", help="apply without asking")] = False
             ) -> None:
    """Make an old saved version the newest one (an Overwritten event; the history is kept)."""
    with operator(database) as ops:
        if (to_version is None) == (before is None):
            raise CliError("give exactly one of --to-version V or --before DATE", 2)
        profile_store = ops.store(store)
        if to_version is not None:
            target = ops.saved(profile_store, key, parse_version(to_version))
        else:
            moment = parse_date(str(before), "--before")
            target_or_none = profile_store.version_query(
                key, SortDirection.DESCENDING, max_date=moment - 1).next()
            if target_or_none is None:
                raise ops.failed(f"no saved version of {store}/{key} before {before}")
            target = target_or_none
        current = ops.latest(profile_store, key)
        console = out()
        chosen, latest = target.key_info, current.key_info
        if chosen.version == latest.version:
            console.print(escape(f"{store}/{key} is already at version {chosen.version}: nothing to do"))
            return
        console.print(escape(f"rollback {store}/{key}: latest version {latest.version} "
                             f"(saved {fmt_ms(latest.updated_time)}) -> version {chosen.version} "
                             f"(saved {fmt_ms(chosen.updated_time)})"))
        print_diff(console, profile_diff(current, target))
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


def message(store: Store, key: Key,
            json_message: Annotated[str, typer.Argument(metavar="JSON", help='e.g. \'{"gift": 100}\'',
                                                        show_default=False)],
            database: Database = None) -> None:
    """Queue a message (a JSON object) for a profile; the server holding it delivers it."""
    with operator(database) as ops:
        payload = parse_message(json_message)
        if not ops.store(store).message(key, payload):
            raise ops.failed(f"message not queued: {store}/{key} holds too many unprocessed messages")
        out().print(escape(f"message queued for {store}/{key}: {compact(payload)}"))


def remove(store: Store, key: Key, database: Database = None) -> None:
    """Erase a profile for good (GDPR): its data leaves the database; a tombstone stays."""
    with operator(database) as ops:
        profile_store = ops.store(store)
        existed = profile_store.get(key) is not None
        if not profile_store.remove(key):
            raise ops.failed(f"{store}/{key} was not removed")
        done = f"removed {store}/{key}" if existed else f"no profile {store}/{key}: nothing removed"
        out().print(escape(done))


def erase_user(user_id: Annotated[str, typer.Argument(metavar="USER_ID", show_default=False)],
               database: Database = None) -> None:
    """Erase every profile whose user ids hold USER_ID (GDPR right to erasure)."""
    with operator(database) as ops:
        uid = parse_user_id(user_id)
        erased = ops.engine.erase_user(uid)
        console = out()
        for store_name, key in erased:
            console.print(escape(f"removed {store_name}/{key}"))
        console.print(f"erased {len(erased)} profile(s) of user {uid}")


read_models = typer.Typer(help="The SQL read models (profiles, profile_user_ids).", no_args_is_help=True)


@read_models.command("rebuild")
def rebuild(database: Database = None) -> None:
    """Drop and rebuild the read models from the events."""
    with operator(database) as ops:
        console = out()
        started = time.monotonic()
        with Progress(SpinnerColumn(), TextColumn("rebuilding read models from the events"),
                      TimeElapsedColumn(), console=console, transient=True) as progress:
            progress.add_task("rebuild", total=None)
            ops.engine.rebuild_read_models()
        console.print(f"read models rebuilt in {time.monotonic() - started:.2f} s")
