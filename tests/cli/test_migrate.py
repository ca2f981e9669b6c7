"""`profilestore migrate`, run with CliRunner against a real database on each back end.

The operator's store comes from a module of their own (written here into the working
directory): a typed store whose one migration adds `gems`. The database was written at schema 0
by a plain dict store and holds four old profiles, one already at schema 1, one a server still
holds (the server was killed with SIGKILL, so its session stays held) and one whose coins would
not validate.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel
from typer.testing import CliRunner, Result

from profilestore import Engine, Migration, ProfileStore
from profilestore.application import offline
from profilestore.cli import main, migrating

STORE = "Players"
OLD = ["old_1", "old_2", "old_3", "old_4"]  # keys sort the same in every collation: old ones first
HELD, CURRENT, INVALID = "server_holds", "up_to_date", "wrong_coins"
MODULE = "game_stores"
MODULE_SOURCE = '''
from pydantic import BaseModel

from profilestore import Engine, Migration, ProfileStore


class Player(BaseModel):
    coins: int = 0
    gems: int = 0


def add_gems(data):
    return {**data, "gems": 0}


with Engine("sqlite:///:memory:", background=False) as engine:  # only its shape is used
    players = ProfileStore("Players", Player, engine=engine, migrations=[Migration(add_gems)])
not_a_store = {"coins": 0}
'''
HOLD_AND_DIE = '''
import os, signal, sys
from profilestore import Engine, ProfileStore
engine = Engine(sys.argv[1], background=False)
profile = ProfileStore("Players", {"coins": 0}, engine=engine).start_session("server_holds")
profile.data["coins"] = 7
assert profile.save()
os.kill(os.getpid(), signal.SIGKILL)  # no final save, no session end
'''

runner = CliRunner()


class Player(BaseModel):
    coins: int = 0
    gems: int = 0


def add_gems(data: dict[str, Any]) -> dict[str, Any]:
    return {**data, "gems": 0}


@pytest.fixture
def db_url(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The database described above; the operator's module in the working directory."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PROFILESTORE_DATABASE_URL", raising=False)
    monkeypatch.setenv("COLUMNS", "250")  # Rich tables on one line each, so the output can be searched
    (tmp_path / f"{MODULE}.py").write_text(MODULE_SOURCE)
    (tmp_path / "broken_stores.py").write_text('raise RuntimeError("no config here")\n')
    fill(db_url)
    yield db_url
    for name in (MODULE, "broken_stores"):
        sys.modules.pop(name, None)


def fill(url: str) -> None:
    with Engine(url, background=False) as engine:
        old = ProfileStore(STORE, {"coins": 0}, engine=engine)
        for number, key in enumerate(OLD, 1):
            profile = old.start_session(key)
            assert profile is not None
            profile.data["coins"] = number
            profile.end_session()
        profile = old.start_session(INVALID)
        assert profile is not None
        profile.data["coins"] = "lots"
        profile.end_session()
        typed = ProfileStore(STORE, Player, engine=engine, migrations=[Migration(add_gems)])
        current = typed.start_session(CURRENT)
        assert current is not None
        current.data.coins = 9
        current.end_session()
    server = subprocess.run([sys.executable, "-c", HOLD_AND_DIE, url], capture_output=True, text=True,
                            timeout=60)
    assert server.returncode == -signal.SIGKILL, server.stderr


def run(*args: str) -> Result:
    return runner.invoke(main.app, ["migrate", STORE, *args])


def migrate(url: str, *args: str, store_from: str = f"{MODULE}:players") -> Result:
    return run("--store-from", store_from, "--database", url, *args)


def count(out: str, label: str) -> int:
    """The number on the summary table's row `label`."""
    found = re.search(rf"│ {re.escape(label)}[^│]*│\s*(\d+) │", out)
    assert found, f"no row {label!r} in:\n{out}"
    return int(found.group(1))


def summary(out: str, first: str = "migrated") -> tuple[int, int, int, int]:
    return (count(out, first), count(out, "already current"), count(out, "held"), count(out, "refused"))


def histories(url: str) -> dict[str, list[str]]:
    with Engine(url, background=False) as engine:
        store = ProfileStore(STORE, engine=engine)
        return {key: [entry.type for entry in store.history(key)]
                for key in [*OLD, HELD, CURRENT, INVALID]}


def stored_data(url: str, key: str) -> dict[str, Any] | None:
    with Engine(url, background=False) as engine:
        profile = ProfileStore(STORE, engine=engine).raw.get(key)
        return None if profile is None else profile.data


def assert_one_line_error(result: Result, *words: str) -> None:
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for word in words:
        assert word in lines[0]


def test_a_dry_run_counts_shows_the_first_three_patches_and_writes_nothing(db_url: str) -> None:
    before = histories(db_url)
    result = migrate(db_url, "--dry-run")
    assert result.exit_code == 1, result.output  # one profile would be refused
    out = result.stdout
    assert "dry run" in out
    assert summary(out, "would migrate") == (4, 1, 1, 1)
    assert out.count("+ /gems: 0") == 3
    assert [key for key in OLD if f"{key} would be migrated" in out] == OLD[:3]
    assert histories(db_url) == before
    assert all("Migrated" not in types for types in before.values())


def test_a_run_migrates_each_old_profile_once_and_a_second_run_finds_them_current(db_url: str) -> None:
    before = histories(db_url)
    first = migrate(db_url)
    assert first.exit_code == 1, first.output
    assert summary(first.stdout) == (4, 1, 1, 1)
    after = histories(db_url)
    for number, key in enumerate(OLD, 1):
        assert after[key] == [*before[key], "Migrated"]
        assert stored_data(db_url, key) == {"coins": number, "gems": 0}
    second = migrate(db_url)
    assert summary(second.stdout) == (0, 5, 1, 1)
    assert histories(db_url) == after


def test_a_held_profile_is_reported_held_and_left_as_it_is(db_url: str) -> None:
    before = histories(db_url)
    assert before[HELD] == ["ProfileCreated", "SessionStarted", "Saved"]
    out = migrate(db_url).stdout
    assert count(out, "held (they migrate at their next session)") == 1
    assert histories(db_url)[HELD] == before[HELD]
    assert stored_data(db_url, HELD) == {"coins": 7}


def test_a_profile_that_would_not_validate_is_refused_with_its_key_and_reason(db_url: str) -> None:
    before = histories(db_url)
    result = migrate(db_url)
    assert result.exit_code == 1
    refused = [line for line in result.stdout.splitlines() if INVALID in line]
    assert len(refused) == 1 and "valid integer" in refused[0]
    assert histories(db_url)[INVALID] == before[INVALID]


def test_with_nothing_refused_the_exit_status_is_0(db_url: str) -> None:
    with Engine(db_url, background=False) as engine:
        assert ProfileStore(STORE, engine=engine).remove(INVALID)
    result = migrate(db_url)
    assert result.exit_code == 0, result.output
    assert summary(result.stdout) == (4, 1, 1, 0)
    assert migrate(db_url, "--dry-run").exit_code == 0


def test_the_database_comes_from_the_environment_and_the_default_file_is_never_created(
        db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result = run("--store-from", f"{MODULE}:players")
    assert result.exit_code == 1 and "profilestore.db" in result.stderr
    assert not (tmp_path / "profilestore.db").exists()
    monkeypatch.setenv("PROFILESTORE_DATABASE_URL", db_url)
    assert summary(run("--store-from", f"{MODULE}:players", "--dry-run").stdout,
                   "would migrate") == (4, 1, 1, 1)


@pytest.mark.parametrize(("store_from", "words"), [
    (MODULE, ["MODULE:ATTR"]),
    (f"{MODULE}:", ["MODULE:ATTR"]),
    ("no_such_module:players", ["no_such_module"]),
    ("broken_stores:players", ["RuntimeError", "no config here"]),
    (f"{MODULE}:missing", ["no attribute", "missing"]),
    (f"{MODULE}:not_a_store", ["dict", "not a profilestore.ProfileStore"]),
    (f"{MODULE}:Player", ["class Player"]),
], ids=lambda value: value if isinstance(value, str) else None)
def test_a_bad_store_from_is_one_error_line(db_url: str, store_from: str, words: list[str]) -> None:
    before = histories(db_url)
    assert_one_line_error(migrate(db_url, store_from=store_from), *words)
    assert histories(db_url) == before


def test_a_store_of_another_name_is_one_error_line(db_url: str) -> None:
    result = runner.invoke(main.app, ["migrate", "Guilds", "--store-from", f"{MODULE}:players",
                                      "--database", db_url])
    assert_one_line_error(result, "'Players'", "'Guilds'")


def test_an_interrupt_stops_between_profiles_and_keeps_what_was_migrated(
        db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    real, called = offline.migrate_stored, []

    def interrupted_at_the_second(store: ProfileStore, key: str, *, dry_run: bool = False
                                  ) -> offline.Outcome:
        called.append(key)
        if len(called) == 2:
            raise KeyboardInterrupt
        return real(store, key, dry_run=dry_run)

    monkeypatch.setattr(offline, "migrate_stored", interrupted_at_the_second)
    before = histories(db_url)
    result = migrate(db_url)
    assert result.exit_code == 130, result.output
    assert called == OLD[:2]
    assert "interrupted after 1 of 7 profiles" in result.stdout
    assert count(result.stdout, "migrated") == 1 and count(result.stdout, "not reached") == 6
    after = histories(db_url)
    assert after[OLD[0]] == [*before[OLD[0]], "Migrated"]
    assert {key: after[key] for key in after if key != OLD[0]} == \
        {key: before[key] for key in before if key != OLD[0]}


def test_a_first_ctrl_c_finishes_the_profile_under_way_then_stops(
        db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    real, called = offline.migrate_stored, []

    def ctrl_c_at_the_second(store: ProfileStore, key: str, *, dry_run: bool = False) -> offline.Outcome:
        called.append(key)
        if len(called) == 2:
            os.kill(os.getpid(), signal.SIGINT)
        return real(store, key, dry_run=dry_run)

    monkeypatch.setattr(offline, "migrate_stored", ctrl_c_at_the_second)
    result = migrate(db_url)
    assert result.exit_code == 130, result.output
    assert called == OLD[:2]
    assert "interrupted after 2 of 7 profiles" in result.stdout
    after = histories(db_url)
    assert [after[key].count("Migrated") for key in OLD] == [1, 1, 0, 0]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_the_command_closes_its_engine_with_a_short_timeout(db_url: str,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    real, timeouts = Engine.close, []

    def close(engine: Engine, timeout: float | None = 30) -> None:
        timeouts.append(timeout)
        real(engine, timeout)

    monkeypatch.setattr(Engine, "close", close)
    migrate(db_url)
    assert migrating.CLOSE_TIMEOUT in timeouts


def test_migrate_is_listed_in_help() -> None:
    assert "migrate" in runner.invoke(main.app, ["--help"]).stdout
