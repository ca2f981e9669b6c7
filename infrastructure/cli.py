"""The `profilestore` command (Typer + Rich, from the `cli` extra)."""

from __future__ import annotations

import json
from typing import Annotated, Any

try:
    import typer
    from rich.console import Console
    from rich.table import Table
except ImportError as missing:  # pragma: no cover - the library itself does not need them
    raise SystemExit(f"the profilestore command needs the cli extra: pip install "
                     f"'profilestore[cli]' ({missing.name} is missing)") from None

from profilestore.application.demo import run_demo

app = typer.Typer(help="Event-sourced player profiles: demo and operator tools.",
                  no_args_is_help=True)
console = Console()
Database = Annotated[str | None, typer.Option("--database", help="database URL (default: "
                     "$PROFILESTORE_DATABASE_URL, else sqlite:///profilestore.db)")]


@app.command()
def demo(database: Database = None,
         seconds: Annotated[float, typer.Option(help="how long the player plays on server A")] = 2.0
         ) -> None:
    """Two game-server processes on one database: a player hops from A to B; no coin is lost."""
    report = run_demo(database, console.print, seconds)
    table = Table(title=f"history of PlayerData/{report.key}")
    for column in ("version", "time (UTC)", "event", "server", "payload"):
        table.add_column(column)
    for entry in report.history:
        server = entry.session["job_id"] if entry.session else "-"
        table.add_row(str(entry.version), entry.timestamp.strftime("%H:%M:%S.%f")[:-3],
                      entry.type, server, _summary(entry.type, entry.payload))
    console.print(table)
    earned = " + ".join(f"{coins} on {server}" for server, coins in sorted(report.earned.items()))
    if not report.no_coin_lost:
        console.print(f"[red]COINS LOST: earned {earned}, stored {report.stored_coins}[/red]")
        raise typer.Exit(1)
    console.print(f"[green]no coin lost:[/green] earned {earned} = {report.stored_coins} stored")


def _summary(kind: str, payload: dict[str, Any]) -> str:
    """A payload in a few words: patches as `op path = value`."""
    if kind == "Saved":
        changes = [f"{op['op']} {op['path']} = {json.dumps(op.get('value'))}" for op in payload["patch"]]
        extra = [f"{k} = {json.dumps(payload[k])}" for k in ("metadata", "user_ids") if k in payload]
        return "; ".join(changes + extra) or "(no change: heartbeat)"
    hidden = {"store_name", "key", "ended_session"}
    return ", ".join(f"{k} = {json.dumps(v)}" for k, v in payload.items() if k not in hidden)


@app.command()
def version() -> None:
    """Print the package version."""
    from importlib.metadata import version as installed
    console.print(installed("profilestore"))


def main() -> None:
    """Entry point of the console script."""
    app()
