"""`profilestore migrate`: bring every stored profile of a store that no server holds to the
schema of the operator's own ProfileStore (its template and migrations), one transaction each."""

from __future__ import annotations

import importlib
import os
import signal
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import FrameType, ModuleType
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from profilestore import ProfileStore
from profilestore.application import offline
from profilestore.application.offline import Outcome
from profilestore.cli.database import Database, Ops, Store, fail, operator, out
from profilestore.cli.render import CliError, compact, print_diff

SHOWN_PATCHES = 3  # a dry run shows the patches of this many profiles it would migrate
CLOSE_TIMEOUT = 5.0  # no session is held here: closing has nothing to save
INTERRUPTED = 130  # the shell's code for a command stopped by SIGINT

StoreFrom = Annotated[str, typer.Option(
    "--store-from", metavar="MODULE:ATTR", show_default=False,
    help="your ProfileStore, e.g. game.stores:players (MODULE importable from the current "
         "directory or sys.path); its template and migrations are the target")]
DryRun = Annotated[bool, typer.Option(
    "--dry-run", help="write nothing: count what would happen and show the first patches")]


def migrate(store: Store, store_from: StoreFrom, database: Database = None, dry_run: DryRun = False
            ) -> None:
    """Migrate every stored profile no server holds to the schema of your store (--store-from);
    held ones migrate at their next session. Exit 1 if one was refused, 130 if interrupted."""
    with _current_directory_importable():
        try:
            model = load_store(store_from, store)
        except CliError as error:
            fail(str(error), error.code)
        with operator(database) as ops:
            target = ProfileStore(model.name, model.template, engine=ops.engine,
                                  migrations=model.migrations)
            console = out()
            try:
                tally = Tally(list(target.keys()), target.schema, dry_run)
                try:
                    _migrate_all(ops, target, tally, console)
                except Exception:  # the database broke down: still say what was done
                    show(console, store, tally)
                    raise
                show(console, store, tally)
            finally:
                ops.engine.close(CLOSE_TIMEOUT)
    if tally.interrupted:
        raise typer.Exit(INTERRUPTED)
    if tally.counts["refused"]:
        raise typer.Exit(1)


# ---- the operator's store -----------------------------------------------------------------------


@contextmanager
def _current_directory_importable() -> Iterator[None]:
    """The current directory on sys.path while the command runs (a console script's sys.path
    starts at its own folder, not the operator's)."""
    folder = os.getcwd()
    added = folder not in sys.path
    if added:
        sys.path.insert(0, folder)
    try:
        yield
    finally:
        if added and folder in sys.path:
            sys.path.remove(folder)


def load_store(spec: str, name: str) -> ProfileStore:
    """The ProfileStore named `name` at `spec` (MODULE:ATTR); a CliError saying what is wrong."""
    module_name, colon, attribute = (part.strip() for part in spec.partition(":"))
    if not colon or not module_name or not attribute:
        raise CliError(f"--store-from must be MODULE:ATTR (e.g. game.stores:players), got {spec!r}", 2)
    value: object = _import(module_name)
    for part in attribute.split("."):
        try:
            value = getattr(value, part)
        except AttributeError:
            raise CliError(f"--store-from {spec}: module {module_name} has no attribute "
                           f"{attribute}", 2) from None
    if not isinstance(value, ProfileStore):
        kind = f"the class {value.__name__}" if isinstance(value, type) else f"a {type(value).__name__}"
        raise CliError(f"--store-from {spec}: {attribute} is {kind}, not a profilestore.ProfileStore", 2)
    if value.name != name:
        raise CliError(f"--store-from {spec} is the store {value.name!r}, not {name!r}", 2)
    return value


def _import(module_name: str) -> ModuleType:
    importlib.invalidate_caches()  # a module written since the last import is found
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        missing = error.name or ""
        if missing and (module_name == missing or module_name.startswith(missing + ".")):
            raise CliError(f"--store-from: no module named {missing!r} (run from the directory "
                           f"that holds it, or add that directory to PYTHONPATH)", 2) from None
        raise CliError(f"--store-from: importing {module_name} failed: {error}", 2) from None
    except (Exception, SystemExit) as error:  # the operator's code: any failure is one line
        raise CliError(f"--store-from: importing {module_name} raised {type(error).__name__}: "
                       f"{error}", 2) from None


# ---- migrating ----------------------------------------------------------------------------------


@dataclass
class Tally:
    """What the run did so far: counts by status, the refused outcomes, the patches to show."""

    keys: list[str]
    schema: int
    dry_run: bool
    counts: Counter[str] = field(default_factory=Counter)
    refused: list[Outcome] = field(default_factory=list)
    patches: list[Outcome] = field(default_factory=list)
    interrupted: bool = False

    def add(self, outcome: Outcome) -> None:
        self.counts[outcome.status] += 1
        if outcome.status == "refused":
            self.refused.append(outcome)
        elif outcome.status == "migrated" and self.dry_run and len(self.patches) < SHOWN_PATCHES:
            self.patches.append(outcome)

    @property
    def done(self) -> int:
        return sum(self.counts.values())


def _migrate_all(ops: Ops, target: ProfileStore, tally: Tally, console: Console) -> None:
    """migrate_stored on each key, with a progress bar; Ctrl-C stops between two profiles."""
    verb = "checking" if tally.dry_run else "migrating"
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console, transient=True) as progress, \
            _stop_between_profiles() as asked_to_stop:
        task = progress.add_task(escape(f"{verb} {target.name} to schema {target.schema}"),
                                 total=len(tally.keys))
        for key in tally.keys:
            if asked_to_stop():
                tally.interrupted = True
                return
            errors_before = len(ops.errors)
            try:
                outcome = offline.migrate_stored(target, key, dry_run=tally.dry_run)
            except KeyboardInterrupt:  # its own transaction: committed whole or not at all
                tally.interrupted = True
                return
            if outcome.status == "refused" and len(ops.errors) > errors_before:
                outcome.detail += f" ({ops.errors[-1]})"
            tally.add(outcome)
            progress.advance(task)


@contextmanager
def _stop_between_profiles() -> Iterator[Callable[[], bool]]:
    """While profiles are migrated, a first Ctrl-C asks to stop once the current profile is done
    (the yielded function says whether it was asked); a second one stops at once."""
    asked: list[bool] = []
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler):
        yield lambda: False  # someone else handles SIGINT: a KeyboardInterrupt, if any, is theirs
        return

    def on_sigint(signum: int, frame: FrameType | None) -> None:
        if asked:
            raise KeyboardInterrupt
        asked.append(True)

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield lambda: bool(asked)
    finally:
        signal.signal(signal.SIGINT, previous)


# ---- the report ---------------------------------------------------------------------------------


def show(console: Console, store: str, tally: Tally) -> None:
    """The summary table, the refused profiles with their reasons, a dry run's first patches."""
    heading = f"{store} to schema {tally.schema}" + (" (dry run: nothing written)" if tally.dry_run else "")
    table = Table(title=escape(heading), show_header=False)
    table.add_column("outcome")
    table.add_column("profiles", justify="right")
    rows = [("would migrate" if tally.dry_run else "migrated", tally.counts["migrated"]),
            ("already current", tally.counts["current"]),
            ("held (they migrate at their next session)", tally.counts["held"]),
            ("refused", tally.counts["refused"])]
    rows += [(status, count) for status, count in sorted(tally.counts.items())
             if status not in ("migrated", "current", "held", "refused")]
    if tally.interrupted:
        rows.append(("not reached (interrupted)", len(tally.keys) - tally.done))
    for label, count in rows:
        table.add_row(escape(label), str(count))
    console.print(table)
    if tally.refused:
        refused = Table(title="refused")
        refused.add_column("key", no_wrap=True)
        refused.add_column("reason", overflow="fold")
        for outcome in tally.refused:
            refused.add_row(escape(outcome.key), escape(outcome.detail))
        console.print(refused)
    for outcome in tally.patches:
        console.print(escape(f"{outcome.key} would be migrated ({outcome.detail}):"))
        print_diff(console, [_op_line(op) for op in outcome.patch])
    if tally.dry_run and tally.counts["migrated"] > len(tally.patches):
        console.print(f"(patches of the first {len(tally.patches)} of {tally.counts['migrated']} shown)")
    if tally.interrupted:
        console.print(f"interrupted after {tally.done} of {len(tally.keys)} profiles: the ones "
                      f"migrated stay migrated; run the command again to go on")


def _op_line(op: dict[str, Any]) -> str:
    """One RFC 6902 operation as a line print_diff colours (the old value is not in a patch)."""
    kind, path = op["op"], op["path"] or "/"
    if kind == "add":
        return f"+ {path}: {compact(op['value'])}"
    if kind == "remove":
        return f"- {path}"
    if kind == "replace":
        return f"~ {path}: {compact(op['value'])}"
    return f"{kind} {op.get('from')} -> {path}"
