"""The demo on the terminal: a live status line while it runs, then the report."""

from __future__ import annotations

import logging
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

from profilestore.simulator.run import DemoReport, run_demo


def _status_line(counters: dict[str, Any]) -> str:
    online = " ".join(f"{server}:{count}" for server, count in sorted(counters["online"].items()))
    return (f"[bold]{counters['elapsed']:5.1f} s[/bold]  online {online}  "
            f"trades {counters.get('trades', 0)}  hops {counters.get('hops', 0)}  "
            f"hand-overs {counters.get('hand-overs', 0)}  gifts {counters.get('gifts sent', 0)}")


def show_demo(console: Console, database: str | None, players: int, servers: int, seconds: float
              ) -> DemoReport:
    """Run the demo with a live status line; print the report; return it."""
    logging.getLogger("profilestore").setLevel(logging.ERROR)  # expected warnings, by design
    with Live("starting servers…", console=console, refresh_per_second=8, transient=True) as live:
        report = run_demo(database, console.print, lambda c: live.update(_status_line(c)),
                          players=players, servers=servers, seconds=seconds)
    table = Table(title="what happened")
    table.add_column("event")
    table.add_column("count", justify="right")
    for name, count in sorted(report.counts.items()):
        table.add_row(name, str(count))
    console.print(table)
    checks = Table(title="invariants")
    for column in ("check", "held", "detail"):
        checks.add_column(column)
    for name, ok, detail in report.checks:
        checks.add_row(name, "[green]yes[/green]" if ok else "[red]NO[/red]", detail)
    console.print(checks)
    console.print("[green]all invariants held[/green]" if report.ok
                  else "[red]an invariant failed[/red]")
    return report
