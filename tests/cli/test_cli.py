"""The operator commands of `profilestore`, run with CliRunner against a real database on each
back end (a temp SQLite file, a PostgreSQL schema).

The database holds a player who was saved at known (frozen) dates and lost their coins in the
last save, so the tests can answer "I lost my coins" the way an operator would.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from freezegun import freeze_time
from support.databases import fresh_database
from typer.testing import CliRunner, Result

from profilestore import Engine, ProfileStore
from profilestore.cli import main, writing

STORE = "PlayerData"
PLAYER = "Player_1"
TEMPLATE = {"coins": 0, "items": []}
# Player_1's saved versions: 1 ProfileCreated (template), 3 coins 100, 4 coins 500 + sword,
# 5 coins 0 and no sword (the "lost coins" save); 2 is SessionStarted, 6 SessionEnded.
RICH_SAVE = "2024-08-13T12:00:00Z"
LOST_SAVE = "2024-08-14T10:00:00Z"

runner = CliRunner()


@pytest.fixture
def db_url(backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A database (SQLite file or PostgreSQL schema) with Player_1's story and a second profile
    of the same user."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PROFILESTORE_DATABASE_URL", raising=False)
    monkeypatch.setenv("COLUMNS", "250")  # Rich tables on one line each, so the output can be searched
    with fresh_database(backend, tmp_path) as url:
        tell_story(url)
        yield url


def tell_story(url: str) -> None:
    with Engine(url, background=False) as engine:
        store = ProfileStore(STORE, TEMPLATE, engine=engine)
        with freeze_time("2024-08-12T09:00:00Z") as clock:
            profile = store.start_session(PLAYER)
            assert profile is not None
            profile.data["coins"] = 100
            profile.add_user_id(7)
            profile.save()
            clock.move_to(RICH_SAVE)
            profile.data["coins"] = 500
            profile.data["items"].append("sword")
            profile.save()
            clock.move_to(LOST_SAVE)
            profile.data["coins"] = 0
            profile.data["items"].clear()
            profile.end_session()
            other = store.start_session("Player_2")
            assert other is not None
            other.add_user_id(7)
            other.data["coins"] = 3
            other.end_session()


def run(*args: str, input: str | None = None) -> Result:
    return runner.invoke(main.app, list(args), input=input)


def ok(*args: str, input: str | None = None) -> Result:
    result = run(*args, input=input)
    assert result.exit_code == 0, result.output
    return result


def assert_one_line_error(result: Result, *words: str) -> None:
    assert result.exit_code in (1, 2), result.output
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output
    for word in words:
        assert word in lines[0]


def history_types(url: str, key: str = PLAYER) -> list[str]:
    with Engine(url, background=False) as engine:
        return [entry.type for entry in ProfileStore(STORE, engine=engine).history(key)]


def latest_data(url: str, key: str = PLAYER) -> dict[str, object] | None:
    with Engine(url, background=False) as engine:
        profile = ProfileStore(STORE, engine=engine).get(key)
        return None if profile is None else profile.data


# ---- reading ----------------------------------------------------------------------------------


def test_inspect_shows_the_latest_version_its_data_and_its_user_ids(db_url: str) -> None:
    out = ok("inspect", STORE, PLAYER, "--database", db_url).stdout
    assert "version" in out and " 5 " in out
    assert '"coins": 0' in out
    assert "[7]" in out
    assert "2024-08-14T10:00:00.000Z" in out


def test_the_commands_read_a_migrated_profile_as_stored_whatever_the_schema(db_url: str) -> None:
    with Engine(db_url, background=False) as engine:
        migrated = ProfileStore(STORE, TEMPLATE, engine=engine,
                                migrations=[lambda data: {**data, "gems": 3}])
        profile = migrated.start_session(PLAYER)  # records the Migrated event
        assert profile is not None and profile.data["gems"] == 3
        profile.end_session()
    out = ok("inspect", STORE, PLAYER, "--database", db_url).stdout
    assert '"gems": 3' in out
    versions = ok("versions", STORE, PLAYER, "--database", db_url).stdout
    assert '"gems":3' in versions.replace(" ", "")
    assert '"coins": 500' in ok("inspect", STORE, PLAYER, "--database", db_url, "--version", "4").stdout


def test_inspect_shows_an_old_saved_version_or_the_state_at_a_time(db_url: str) -> None:
    assert '"coins": 500' in ok("inspect", STORE, PLAYER, "--database", db_url, "--version", "4").stdout
    at_noon = ok("inspect", STORE, PLAYER, "--database", db_url, "--at", "2024-08-13T13:00:00").stdout
    assert '"coins": 500' in at_noon and '"sword"' in at_noon


def test_the_database_comes_from_PROFILESTORE_DATABASE_URL_when_no_option_is_given(
        db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROFILESTORE_DATABASE_URL", db_url)
    assert '"coins": 0' in ok("inspect", STORE, PLAYER).stdout


def test_the_database_option_wins_over_the_environment(db_url: str, monkeypatch: pytest.MonkeyPatch,
                                                       tmp_path: Path) -> None:
    monkeypatch.setenv("PROFILESTORE_DATABASE_URL", f"sqlite:///{tmp_path / 'elsewhere.db'}")
    assert_one_line_error(run("inspect", STORE, PLAYER), "elsewhere.db")
    assert '"coins": 0' in ok("inspect", STORE, PLAYER, "--database", db_url).stdout


def test_without_option_or_environment_the_default_file_is_used_and_never_created(
        db_url: str, tmp_path: Path) -> None:
    assert_one_line_error(run("inspect", STORE, PLAYER), "profilestore.db")
    assert not (tmp_path / "profilestore.db").exists()


def test_history_lists_every_event_with_its_patch_oldest_first(db_url: str) -> None:
    out = ok("history", STORE, PLAYER, "--database", db_url).stdout
    kinds = ["ProfileCreated", "SessionStarted", "Saved", "SessionEnded"]
    assert [out.index(kind) for kind in kinds] == sorted(out.index(kind) for kind in kinds)
    assert "replace /coins = 500" in out and "replace /coins = 0" in out
    assert '"Manual"' in out


def test_history_since_and_until_keep_only_the_events_in_that_window(db_url: str) -> None:
    out = ok("history", STORE, PLAYER, "--database", db_url,
             "--since", "2024-08-13T00:00:00Z", "--until", "2024-08-13T23:59:59Z").stdout
    assert "replace /coins = 500" in out
    assert "ProfileCreated" not in out and "SessionEnded" not in out
    empty = ok("history", STORE, PLAYER, "--database", db_url, "--since", "2030-01-01")
    assert "no events" in empty.stdout


def test_versions_lists_saved_versions_oldest_first_with_their_data(db_url: str) -> None:
    out = ok("versions", STORE, PLAYER, "--database", db_url).stdout
    rows = [line for line in out.splitlines() if "2024-08-1" in line]
    assert [row.split()[1] for row in rows] == ["1", "3", "4", "5"]
    assert '"coins":500' in rows[2]


def test_versions_descending_with_dates_lists_newest_first_inside_the_window(db_url: str) -> None:
    epoch_ms_of_lost_save_minus_one = str(1723629600000 - 1)
    out = ok("versions", STORE, PLAYER, "--database", db_url, "--descending",
             "--min-date", "2024-08-12T09:00:00", "--max-date", epoch_ms_of_lost_save_minus_one).stdout
    rows = [line for line in out.splitlines() if "2024-08-1" in line]
    assert [row.split()[1] for row in rows] == ["4", "3", "1"]
    assert "rollback" in out
    assert "no saved version" in ok("versions", STORE, PLAYER, "--database", db_url,
                                    "--max-date", "2020-01-01").stdout


def test_diff_shows_the_patch_between_two_saved_versions_readably(db_url: str) -> None:
    out = ok("diff", STORE, PLAYER, "4", "5", "--database", db_url).stdout
    assert "~ /coins: 500 -> 0" in out
    assert '- /items/0 (was "sword")' in out
    assert "no differences" in ok("diff", STORE, PLAYER, "5", "5", "--database", db_url).stdout


def test_reading_commands_never_write_an_event(db_url: str) -> None:
    before = history_types(db_url)
    for args in (["inspect", STORE, PLAYER], ["history", STORE, PLAYER], ["versions", STORE, PLAYER],
                 ["diff", STORE, PLAYER, "3", "5"], ["export", STORE], ["find-user", "7"]):
        ok(*args, "--database", db_url)
    assert history_types(db_url) == before


# ---- "I lost my coins" ----------------------------------------------------------------------------


def test_a_lost_coins_ticket_is_answered_with_versions_then_rollback(db_url: str) -> None:
    listed = ok("versions", STORE, PLAYER, "--database", db_url, "--descending",
                "--max-date", "2024-08-14T10:00:00").stdout
    rows = [line for line in listed.splitlines() if "2024-08-1" in line]
    assert rows[0].split()[1] == "5" and '"coins":0' in rows[0]
    assert rows[1].split()[1] == "4" and '"coins":500' in rows[1]

    done = ok("rollback", STORE, PLAYER, "--before", "2024-08-14T10:00:00", "--yes", "--database", db_url)
    assert "~ /coins: 0 -> 500" in done.stdout and "rolled back" in done.stdout

    assert '"coins": 500' in ok("inspect", STORE, PLAYER, "--database", db_url).stdout
    history = ok("history", STORE, PLAYER, "--database", db_url).stdout
    events = [line.split("│")[3].strip() for line in history.splitlines() if line.startswith("│")]
    assert events[-1] == "Overwritten"
    assert "from_version = 4" in history
    assert history_types(db_url)[-1] == "Overwritten"


def test_rollback_without_yes_in_a_non_interactive_shell_only_shows_the_diff(db_url: str) -> None:
    result = ok("rollback", STORE, PLAYER, "--to-version", "4", "--database", db_url, input="y\n")
    assert "~ /coins: 0 -> 500" in result.stdout
    assert "--yes" in result.stdout and "not applied" in result.stdout
    assert latest_data(db_url) == {"coins": 0, "items": []}


def test_rollback_in_an_interactive_shell_asks_and_applies_on_yes(
        db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(writing, "_interactive", lambda: True)
    result = ok("rollback", STORE, PLAYER, "--to-version", "3", "--database", db_url, input="y\n")
    assert "overwrite" in result.stdout
    assert latest_data(db_url) == {"coins": 100, "items": []}


def test_rollback_in_an_interactive_shell_does_nothing_when_the_operator_says_no(
        db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(writing, "_interactive", lambda: True)
    result = ok("rollback", STORE, PLAYER, "--to-version", "3", "--database", db_url, input="n\n")
    assert "not applied" in result.stdout
    assert latest_data(db_url) == {"coins": 0, "items": []}


def test_rollback_to_the_latest_version_has_nothing_to_do(db_url: str) -> None:
    before = history_types(db_url)
    assert "nothing to do" in ok("rollback", STORE, PLAYER, "--to-version", "5", "--yes",
                                 "--database", db_url).stdout
    assert history_types(db_url) == before


def test_rollback_needs_exactly_one_of_to_version_and_before(db_url: str) -> None:
    assert_one_line_error(run("rollback", STORE, PLAYER, "--database", db_url), "exactly one")
    assert_one_line_error(run("rollback", STORE, PLAYER, "--to-version", "3", "--before", "2024-08-14",
                              "--database", db_url), "exactly one")


def test_rollback_before_the_profile_existed_is_an_error(db_url: str) -> None:
    assert_one_line_error(run("rollback", STORE, PLAYER, "--before", "2020-01-01", "--yes",
                              "--database", db_url), "no saved version")


# ---- writing ----------------------------------------------------------------------------------


def test_a_message_shows_in_inspect_and_history(db_url: str) -> None:
    assert "queued" in ok("message", STORE, PLAYER, '{"gift": 250}', "--database", db_url).stdout
    assert "MessageQueued" in ok("history", STORE, PLAYER, "--database", db_url).stdout
    assert "250" in ok("history", STORE, PLAYER, "--database", db_url).stdout
    assert history_types(db_url)[-1] == "MessageQueued"
    assert ok("inspect", STORE, PLAYER, "--database", db_url).exit_code == 0


def test_remove_erases_the_profile_and_inspect_then_says_not_found(db_url: str) -> None:
    assert f"removed {STORE}/{PLAYER}" in ok("remove", STORE, PLAYER, "--database", db_url).stdout
    assert_one_line_error(run("inspect", STORE, PLAYER, "--database", db_url), "no profile", PLAYER)
    assert_one_line_error(run("versions", STORE, PLAYER, "--database", db_url), "no profile")
    assert "nothing removed" in ok("remove", STORE, "Nobody", "--database", db_url).stdout


def test_find_user_lists_every_profile_of_the_user(db_url: str) -> None:
    out = ok("find-user", "7", "--database", db_url).stdout
    assert PLAYER in out and "Player_2" in out
    assert "no profile holds user id 8" in ok("find-user", "8", "--database", db_url).stdout


def test_erase_user_removes_every_profile_of_the_user(db_url: str) -> None:
    out = ok("erase-user", "7", "--database", db_url).stdout
    assert f"removed {STORE}/{PLAYER}" in out and f"removed {STORE}/Player_2" in out
    assert "erased 2" in out
    assert latest_data(db_url) is None and latest_data(db_url, "Player_2") is None
    assert "no profile holds user id 7" in ok("find-user", "7", "--database", db_url).stdout


# ---- export and read models ------------------------------------------------------------------


def test_export_jsonl_writes_one_json_object_per_live_profile(db_url: str) -> None:
    result = ok("export", STORE, "--database", db_url)
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [row["key"] for row in rows] == [PLAYER, "Player_2"]
    assert rows[0] == {"store": STORE, "key": PLAYER, "version": 5, "created_time": 1723453200000,
                       "updated_time": 1723629600000, "data": {"coins": 0, "items": []},
                       "metadata": {}, "user_ids": [7]}
    assert "exported 2" in result.stderr


def test_export_csv_parses_with_the_csv_module_and_holds_json_columns(db_url: str) -> None:
    result = ok("export", STORE, "--format", "csv", "--database", db_url)
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [row["key"] for row in rows] == [PLAYER, "Player_2"]
    assert json.loads(rows[1]["data"]) == {"coins": 3, "items": []}
    assert json.loads(rows[0]["user_ids"]) == [7] and rows[0]["version"] == "5"


def test_export_of_an_empty_store_writes_nothing(db_url: str) -> None:
    result = ok("export", "NoSuchStore", "--database", db_url)
    assert result.stdout == ""


def test_read_models_rebuild_keeps_keys_and_user_ids_answering(db_url: str) -> None:
    assert "read models rebuilt" in ok("read-models", "rebuild", "--database", db_url).stdout
    assert PLAYER in ok("find-user", "7", "--database", db_url).stdout
    assert len(ok("export", STORE, "--database", db_url).stdout.splitlines()) == 2


# ---- errors: one line, non-zero exit ----------------------------------------------------------


@pytest.mark.parametrize(("args", "words"), [
    (["inspect", STORE, PLAYER, "--database", "mysql://nope"], ["unsupported database URL"]),
    (["inspect", STORE, PLAYER, "--database", "sqlite:///missing/dir/x.db"], ["no database file"]),
    (["versions", STORE, PLAYER, "--max-date", "last tuesday"], ["--max-date", "last tuesday"]),
    (["history", STORE, PLAYER, "--since", "2024-13-45"], ["--since"]),
    (["diff", STORE, PLAYER, "4", "99"], ["version 99", "not a saved version"]),
    (["diff", STORE, PLAYER, "four", "5"], ["version", "four"]),
    (["rollback", STORE, PLAYER, "--to-version", "2", "--yes"], ["version 2", "not a saved version"]),
    (["inspect", STORE, PLAYER, "--version", "6"], ["version 6"]),
    (["inspect", STORE, PLAYER, "--version", "4", "--at", "2024-08-13"], ["not both"]),
    (["inspect", STORE, "k" * 51], ["InvalidKeyError"]),
    (["inspect", "s" * 51, PLAYER], ["InvalidKeyError"]),
    (["inspect", STORE, "Nobody"], ["no profile", "Nobody"]),
    (["history", STORE, "Nobody"], ["no profile", "Nobody"]),
    (["message", STORE, PLAYER, "{gift: 1}"], ["not valid JSON"]),
    (["message", STORE, PLAYER, "[1, 2]"], ["JSON object"]),
    (["message", STORE, PLAYER, '{"x": NaN}'], []),
    (["find-user", "seven"], ["user id", "seven"]),
    (["erase-user", "7.5"], ["user id"]),
], ids=lambda value: "-".join(value) if isinstance(value, list) else None)
def test_each_error_is_one_line_on_stderr_with_a_non_zero_exit(db_url: str, args: list[str],
                                                               words: list[str]) -> None:
    if "--database" not in args:
        args = [*args, "--database", db_url]
    assert_one_line_error(run(*args), *words)


def test_a_database_that_cannot_be_opened_is_one_error_line(db_url: str, tmp_path: Path) -> None:
    garbage = tmp_path / "not-a-db.db"
    garbage.write_text("this is not SQLite " * 100)
    assert_one_line_error(run("inspect", STORE, PLAYER, "--database", f"sqlite:///{garbage}"))


def test_the_demo_and_every_operator_command_are_listed_in_help() -> None:
    out = ok("--help").stdout
    for command in ("demo", "version", "inspect", "history", "versions", "diff", "rollback", "message",
                    "remove", "find-user", "erase-user", "export", "read-models"):
        assert command in out
