"""What every operator command shares: the arguments naming its database, store and key; the
database, opened without a background thread and never created; any error as one line."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, NoReturn

import typer
from rich.console import Console

from profilestore import Engine, Profile, ProfileStore, ProfileStoreError, Settings
from profilestore.application.urls import redact, resolve_url, without_table_creation
from profilestore.cli.render import CliError

Database = Annotated[str | None, typer.Option("--database", help="database URL (default: "
                     "$PROFILESTORE_DATABASE_URL, else sqlite:///profilestore.db)")]
Store = Annotated[str, typer.Argument(help="store name, e.g. PlayerData", show_default=False)]
Key = Annotated[str, typer.Argument(help="profile key, e.g. Player_2312310", show_default=False)]
DATE_HELP = "ISO 8601 (naive = UTC, e.g. 2024-08-14T10:00:00) or epoch milliseconds"
_CLI_SETTINGS = Settings(start_session_timeout=15.0)  # an operator wants an answer, not a 2-minute retry


def out() -> Console:
    """A console for this command (reads the terminal width and COLUMNS now)."""
    return Console(highlight=False)


class Ops:
    """One command's open engine and the database errors it reported."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.errors: list[str] = []
        engine.on_error.connect(self._record)

    def _record(self, message: str, store_name: str, key: str) -> None:
        self.errors.append(message)

    def store(self, name: str) -> ProfileStore:
        """The store as stored: no model, no migrations (`raw`), so every profile reads back
        whatever its schema, and a rollback keeps the schema of the version it restores."""
        return ProfileStore(name, engine=self.engine).raw

    def failed(self, what: str) -> CliError:
        """`what`, unless the database failed meanwhile: then that is the error."""
        return CliError(f"database error: {self.errors[-1]}") if self.errors else CliError(what)

    def latest(self, store: ProfileStore, key: str) -> Profile:
        profile = store.get(key)
        if profile is None:
            raise self.failed(f"no profile {store.name}/{key} (never saved, or removed)")
        return profile

    def saved(self, store: ProfileStore, key: str, number: int) -> Profile:
        """Saved version `number` of the profile."""
        profile = store.get(key, version=number)
        if profile is None:
            raise self.failed(f"version {number} of {store.name}/{key} is not a saved version "
                              f"(list them with: profilestore versions {store.name} {key})")
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
def operator(database: str | None) -> Iterator[Ops]:
    """Open the database without a background thread; any error becomes one `error:` line."""
    try:
        url = _database_url(database)
        with Engine(url, settings=_CLI_SETTINGS, background=False) as engine:
            if engine.data_store_state != "Access":
                raise CliError(f"cannot open the database {redact(url)} ({engine.data_store_state})")
            yield Ops(engine)
    except (typer.Exit, typer.Abort):
        raise
    except CliError as error:
        fail(str(error), error.code)
    except ProfileStoreError as error:
        fail(f"{type(error).__name__}: {error}", 1)
    except (ValueError, TypeError) as error:
        fail(str(error), 2)
    except Exception as error:  # database or OS failure: still one line, never a traceback
        fail(f"{type(error).__name__}: {error}", 1)


def fail(message: str, code: int) -> NoReturn:
    """Print `message` as one `error:` line on stderr and exit with `code`."""
    typer.echo("error: " + " ".join(message.split()), err=True)
    raise typer.Exit(code)
