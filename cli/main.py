"""The `profilestore` command (Typer + Rich, from the `cli` extra): the demo, and the operator
commands of `reading.py`, `writing.py` and `migrating.py`, listed in `--help` in the order
registered here."""

from __future__ import annotations

from typing import Annotated

try:
    import typer
    from rich.console import Console
except ImportError as missing:  # pragma: no cover - the library itself does not need them
    raise SystemExit(f"the profilestore command needs the cli extra: pip install "
                     f"'profilestore[cli]' ({missing.name} is missing)") from None

from profilestore import ProfileStoreError
from profilestore.cli import migrating, reading, writing
from profilestore.cli.database import Database, fail
from profilestore.simulator.view import show_demo

app = typer.Typer(help="Event-sourced player profiles: demo and operator tools.",
                  no_args_is_help=True)
console = Console()


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
        fail(str(error), 2)
    if not report.ok:
        raise typer.Exit(1)


@app.command()
def version() -> None:
    """Print the package version."""
    from importlib.metadata import version as installed
    console.print(installed("profilestore"))


app.command()(reading.inspect)
app.command()(reading.history)
app.command()(reading.versions)
app.command()(reading.diff)
app.command()(writing.rollback)
app.command()(writing.message)
app.command()(writing.remove)
app.command("find-user")(reading.find_user)
app.command("erase-user")(writing.erase_user)
app.command()(reading.export)
app.command()(migrating.migrate)
app.add_typer(writing.read_models, name="read-models")


def main() -> None:
    """Entry point of the console script."""
    app()
