"""docs/migrations.md runs as written, and its recipes do what the page says they do.

The page's Python blocks are one story: each test runs the recipes up to its own, in order, in
one namespace that holds `engine` and `old_engine`, two game servers on one SQLite file, then
checks in the stored events what the recipe claims.
"""

from __future__ import annotations

import importlib.util
import re
import sys
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict

from profilestore import Engine, HistoryEntry, Migration, Profile, ProfileStore, Server

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "docs" / "migrations.md"
README = ROOT / "README.md"
RECIPES = ("Add a field", "Rename a field", "Split a list", "Roll out to a fleet")
PYTHON = re.compile(r"```python\n(.*?)```", flags=re.S)


def recipe_blocks() -> dict[str, list[str]]:
    """The Python blocks of each `## ` section of the guide, by heading."""
    sections = re.split(r"^## ", GUIDE.read_text(), flags=re.M)[1:]
    return {title.strip(): PYTHON.findall(body)
            for title, _, body in (section.partition("\n") for section in sections)}


Story = Callable[[str], dict[str, Any]]


@pytest.fixture
def story(tmp_path: Path) -> Iterator[Story]:
    """run(recipe): the guide's blocks up to and including `recipe`, in one namespace."""
    url = f"sqlite:///{tmp_path / 'game.db'}"
    engines = [Engine(url, server=Server(job_id=name), background=False) for name in ("new", "old")]
    blocks = recipe_blocks()

    def run(last: str) -> dict[str, Any]:
        namespace: dict[str, Any] = {"engine": engines[0], "old_engine": engines[1]}
        for recipe in RECIPES[:RECIPES.index(last) + 1]:
            for block in blocks[recipe]:
                exec(compile(block, f"{GUIDE}: {recipe}", "exec", dont_inherit=True), namespace)
        return namespace

    yield run
    for engine in engines:
        engine.close(timeout=5)


def migrations_of(store: ProfileStore, key: str) -> list[tuple[int, int, int]]:
    """(from_schema, to_schema, readable_from) of each Migrated event of the profile."""
    return [(e.payload["from_schema"], e.payload["to_schema"], e.payload["readable_from"])
            for e in store.history(key) if e.type == "Migrated"]


def start(store: ProfileStore, key: str) -> Profile:
    profile = store.start_session(key)
    assert profile is not None
    return profile


def read(store: ProfileStore, key: str) -> Any:
    """The profile's data exactly as stored."""
    profile = store.raw.get(key)
    assert profile is not None
    return profile.data


def written_by(engine: Engine, entries: list[HistoryEntry]) -> list[str]:
    return [e.type for e in entries if e.session == engine.server.as_session()]


def test_every_python_block_of_the_guide_belongs_to_a_recipe() -> None:
    blocks = recipe_blocks()
    assert all(blocks.get(recipe) for recipe in RECIPES), "a recipe heading or its code is missing"
    assert sum(len(blocks[recipe]) for recipe in RECIPES) == len(PYTHON.findall(GUIDE.read_text()))


def test_adding_a_field_migrates_existing_players_once_and_starts_new_ones_at_the_default(
        story: Story) -> None:
    ns = story("Add a field")
    store = ns["store"]
    assert store.schema == 1 and store.template is ns["Player"]
    assert read(store, "player_1") == {
        "coins": 250, "gems": 5, "items": [{"uid": "player_1/0", "kind": "sword"}]}
    assert migrations_of(store, "player_1") == [(0, 1, 1)]
    assert migrations_of(store, "player_2") == []  # made at schema 1
    created = store.history("player_2")[0]
    assert (created.payload["schema"], created.payload["data"]["gems"]) == (1, 0)
    # player_3 did not play: a read shows the gift, and nothing was written
    assert store.get("player_3").data.gems == 5
    assert "gems" not in read(store, "player_3")
    assert migrations_of(store, "player_3") == []


def test_renaming_a_field_runs_only_the_missing_step(story: Story) -> None:
    ns = story("Rename a field")
    store = ns["store"]
    assert read(store, "player_1")["gold"] == 250
    assert migrations_of(store, "player_1") == [(0, 1, 1), (1, 2, 2)]  # one event per claim


def test_splitting_a_list_migrates_an_idle_profile_in_one_event_and_an_older_server_refuses_it(
        story: Story) -> None:
    ns = story("Split a list")
    store = ns["store"]
    assert read(store, "player_3") == {
        "gold": 40, "gems": 5, "weapons": [{"uid": "player_3/0", "kind": "bow"}],
        "potions": [{"uid": "player_3/1", "kind": "potion"}]}
    assert migrations_of(store, "player_3") == [(0, 3, 3)]
    # the v2 server wrote nothing: no claim, no request
    assert written_by(ns["old_engine"], store.history("player_3")) == []
    start(store, "player_3")  # and the session was left free


def test_a_backwards_compatible_step_lets_an_older_server_play_the_profile_and_keep_the_new_field(
        story: Story) -> None:
    ns = story("Roll out to a fleet")
    store, old_engine = ns["store"], ns["old_engine"]
    assert migrations_of(store, "player_3") == [(0, 3, 3), (3, 4, 3)]
    history = store.history("player_3")
    assert written_by(old_engine, history)[-3:] == ["SessionStarted", "Saved", "SessionEnded"]
    assert read(store, "player_3")["title"] == "Dragon slayer"
    # the v3 server's save kept schema 4: a v4 claim has nothing to migrate
    profile = start(store, "player_3")
    assert profile.data.gold == 50
    profile.end_session()
    assert migrations_of(store, "player_3") == [(0, 3, 3), (3, 4, 3)]
    # new profiles record that v3 servers may read them
    start(store, "player_4").end_session()
    created = store.history("player_4")[0].payload
    assert (created["schema"], created["readable_from"]) == (4, 3)
    # and player_1, still at schema 2, takes both v3 and v4 steps as one event
    start(store, "player_1")
    assert migrations_of(store, "player_1")[-1] == (2, 4, 3)


def test_an_older_servers_model_drops_nested_fields_it_does_not_know_unless_it_allows_extra(
        tmp_path: Path) -> None:
    """The guide's warning about nested models, on both kinds of older model."""
    assert 'extra="allow"' in GUIDE.read_text()

    class Strict(BaseModel):
        uid: str

    class StrictPlayer(BaseModel):
        items: list[Strict] = []

    class Open(BaseModel):
        model_config = ConfigDict(extra="allow")
        uid: str

    class OpenPlayer(BaseModel):
        items: list[Open] = []

    class Rare(BaseModel):
        uid: str
        rarity: str = "common"

    class Newer(BaseModel):
        items: list[Rare] = []

    def rarity(data: dict[str, Any]) -> dict[str, Any]:
        return {**data, "items": [{**item, "rarity": "common"} for item in data["items"]]}

    url = f"sqlite:///{tmp_path / 'nested.db'}"
    with Engine(url, server=Server(job_id="old"), background=False) as old, \
            Engine(url, server=Server(job_id="new"), background=False) as new:
        for name, model, item in (("strict", StrictPlayer, Strict), ("open", OpenPlayer, Open)):
            before = ProfileStore(name, model, engine=old)
            after = ProfileStore(name, Newer, engine=new,
                                 migrations=[Migration(rarity, backwards_compatible=True)])
            profile = start(before, "p")
            profile.data.items.append(item(uid="u"))
            profile.end_session()
            profile = start(after, "p")
            profile.data.items[0].rarity = "epic"
            profile.end_session()
            start(before, "p").end_session()  # the older server saves it
            stored = read(after, "p")["items"][0]
            assert stored.get("rarity") == ("epic" if item is Open else None), name


def test_a_field_added_without_a_migration_is_dropped_by_an_older_servers_save(tmp_path: Path
                                                                               ) -> None:
    """Why the guide adds even a defaulted field through a backwards-compatible step on a fleet."""

    class Older(BaseModel):
        coins: int = 0

    class Newer(BaseModel):
        coins: int = 0
        gems: int = 0

    with Engine(f"sqlite:///{tmp_path / 'fields.db'}", background=False) as engine:
        newer, older = ProfileStore("A", Newer, engine=engine), ProfileStore("A", Older, engine=engine)
        profile = start(newer, "p")
        profile.data.gems = 3
        profile.end_session()
        start(older, "p").end_session()
        assert read(newer, "p") == {"coins": 0}


def test_the_readmes_typed_example_runs_and_links_the_guide() -> None:
    text = README.read_text()
    assert "docs/migrations.md" in text and len(text.encode()) <= 12 * 1024
    [block] = [b for b in PYTHON.findall(text) if "BaseModel" in b]
    exec(compile(block, str(README), "exec", dont_inherit=True), {})


@pytest.mark.skipif(importlib.util.find_spec("typer") is None
                    or importlib.util.find_spec("profilestore.cli.migrating") is None,
                    reason="the cli extra or its migrate command is not installed")
def test_the_guides_migrate_command_finds_and_migrates_idle_profiles(
        story: Story, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from profilestore.cli import main

    ns = story("Split a list")  # the v3 store: player_1 is idle at schema 2
    store = ns["store"]
    assert migrations_of(store, "player_1") == [(0, 1, 1), (1, 2, 2)]
    monkeypatch.setitem(sys.modules, "game", types.ModuleType("game"))
    monkeypatch.setitem(sys.modules, "game.stores", types.SimpleNamespace(player_store=store))  # type: ignore[arg-type]
    monkeypatch.setenv("COLUMNS", "250")
    url = f"sqlite:///{tmp_path / 'game.db'}"
    command = ["migrate", "PlayerData", "--store-from", "game.stores:player_store", "--database", url]
    runner = CliRunner()

    dry = runner.invoke(main.app, [*command, "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "/weapons" in dry.output  # the patch of player_1's split
    assert migrations_of(store, "player_1") == [(0, 1, 1), (1, 2, 2)]

    done = runner.invoke(main.app, command)
    assert done.exit_code == 0, done.output
    assert migrations_of(store, "player_1")[-1] == (2, 3, 3)
    assert [e.session for e in store.history("player_1") if e.type == "Migrated"][-1] is None
