"""Typed profiles: the realistic shapes of bench/shapes.py with a pydantic model as the store's
template, against a hand-written store of the same model (one JSON row per player).

    python bench/typed.py [--quick]      (this family alone; bench/run.py runs it with the rest)

Per size (10 to 10,000 items, SQLite):
  7. save() p50 and p99 of a typed store, against the shapes family's baseline (json.dumps of the
     same data as dicts + UPDATE ... WHERE version=?, its own transaction), with the shapes
     family's save targets; and (reported) against model_dump_json() + the same UPDATE: what a
     game that keeps its data in pydantic models would write by hand. Edits are bench/shapes.py's,
     made on the model instances and on the dicts alike.
  8. what validation costs per save: a whole model_validate of the dump (what a store that checks
     everything on every save pays) against the whole model_dump_json (the baseline's own work),
     and the engine's dump-and-validate of what changed (reported).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from operator import attrgetter
from pathlib import Path
from typing import Any

from common import QUIET, Result, database, engine_settings, p99, report
from inventory import SEED, UPDATE, Edit, Edits, Players, ms, p50, shape
from inventory import item as item_dict
from pydantic import BaseModel
from saves import _label

from profilestore import Engine, ProfileStore
from profilestore.domain.typed import ModelCodec

FULL = [(10, 400), (100, 400), (1_000, 300), (10_000, 150)]
QUICK = [(10, 100), (100, 100), (1_000, 60)]
WARMUP = 5


class Item(BaseModel):
    uid: str = ""
    kind: str = ""
    qty: int = 1
    level: int = 1
    tags: list[str] = []


class Quest(BaseModel):
    stage: int = 0
    kills: int = 0
    done: bool = False
    counters: dict[str, int] = {}


class Player(BaseModel):
    coins: int = 0
    progress: dict[str, Quest] = {}
    items: list[Item] = []


def apply(data: Player, edit: Edit) -> None:
    """Edits.apply, on the model."""
    kind, items = edit[0], data.items
    if kind == "field":
        target = items[edit[1]]
        setattr(target, edit[2], getattr(target, edit[2]) + edit[3])
    elif kind == "append":
        items.append(Item(**item_dict(edit[1])))
    elif kind == "front":
        items.insert(0, Item(**item_dict(edit[1])))
    elif kind == "remove":
        del items[edit[1]]
    elif kind == "tag":
        tags = items[edit[1]].tags
        tags.append(edit[2])
        if len(tags) > 6:
            del tags[0]
    elif kind == "coins":
        data.coins += edit[1]
    else:
        items.sort(key=attrgetter(edit[1]))


class TypedPlayers:
    """The baseline: one row per player, the model's JSON, a version checked on update."""

    def __init__(self, raw: Any) -> None:
        self.raw, self.version = raw, 0
        raw.run("CREATE TABLE typed_players (key TEXT PRIMARY KEY, version INTEGER, data TEXT)")

    def add(self, key: str, data: Player) -> None:
        self.raw.begin()
        self.raw.run("INSERT INTO typed_players VALUES (?, 0, ?)", (key, data.model_dump_json()))
        self.raw.commit()

    def save(self, key: str, data: Player) -> None:
        text = data.model_dump_json()
        self.raw.begin()
        statement = UPDATE.replace("UPDATE players", "UPDATE typed_players")
        updated = self.raw.run(statement, (text, key, self.version)).rowcount
        self.raw.commit()
        assert updated == 1
        self.version += 1


def _one_size(folder: Path, size: int, saves: int) -> list[Result]:
    key = f"typed-{size}"
    with database("sqlite", folder, f"typed{size}") as (url, raw):
        engine = Engine(url, settings=QUIET, background=False)
        store = ProfileStore("Typed", Player, engine=engine)
        players, dict_players = TypedPlayers(raw), Players(raw)
        mine, mine_dict = Player.model_validate(shape(size)), shape(size)
        players.add(key, mine)
        dict_players.add({key: mine_dict})
        profile = store.start_session(key)
        assert profile is not None
        profile.data = shape(size)
        assert profile.save()
        edits = Edits(size)

        def edit() -> None:
            change = edits.next(len(mine.items))
            apply(profile.data, change)
            apply(mine, change)
            Edits.apply(mine_dict, change)

        for _ in range(WARMUP):
            edit()
            assert profile.save()
            players.save(key, mine)
            dict_players.save(key, mine_dict)
        engine_ms, raw_ms, dict_ms, whole_ms, dump_ms, changed_ms = [], [], [], [], [], []
        codec = ModelCodec(Player)
        for _ in range(saves):
            edit()
            saved = profile.core.replica.data
            changed_ms.append(ms(lambda: codec.dump(profile.data, saved, diff=True)))  # noqa: B023
            plain = profile.data.model_dump(mode="json")
            whole_ms.append(ms(lambda: Player.model_validate(plain)))  # noqa: B023
            dump_ms.append(ms(lambda: mine.model_dump_json()))
            started = time.perf_counter()
            assert profile.save()
            engine_ms.append((time.perf_counter() - started) * 1000)
            engine.run_pending()  # untimed: what the engine's thread does between saves
            raw_ms.append(ms(lambda: players.save(key, mine)))
            dict_ms.append(ms(lambda: dict_players.save(key, mine_dict)))
        assert profile.data == mine and mine.model_dump(mode="json") == mine_dict
        settings = {"backend": "sqlite", "engine": engine_settings(engine), "baseline": raw.settings(),
                    "items": size, "samples": saves, "seed": SEED, "edits": dict(edits.counts)}
        profile.end_session()
        engine.close()
    results = []
    for figure, of, target in (("p50", p50, 1.0 if size >= 1_000 else 0.5 if size <= 10 else None),
                               ("p99", p99, 0.5)):
        ratio = of(dict_ms) / of(engine_ms)
        results.append(Result(
            _label(f"typed save {figure}, {size} items", "sqlite"), of(engine_ms), "ms",
            f"json.dumps + UPDATE players ... WHERE version=?, own transaction, {figure}",
            of(dict_ms), ratio, "(reported)" if target is None else f">= {target}",
            target is None or ratio >= target, {**settings, "ratio": "baseline ms / engine ms"}))
        results.append(Result(
            _label(f"typed save {figure} vs the model's own JSON, {size} items", "sqlite"),
            of(engine_ms), "ms", f"model_dump_json + UPDATE ... WHERE version=?, {figure}",
            of(raw_ms), of(raw_ms) / of(engine_ms), "(reported)", True,
            {**settings, "ratio": "baseline ms / engine ms"}))
    results.append(Result(
        f"typed whole validation p50, {size} items", p50(whole_ms), "ms",
        "model_dump_json p50 (the baseline's own work per save)", p50(dump_ms),
        p50(whole_ms) / p50(dump_ms), "(reported)", True,
        {**settings, "engine's dump and validation of what changed, p50 ms": round(p50(changed_ms), 3)}))
    return results


def typed_profiles(folder: Path, quick: bool) -> list[Result]:
    """Scenarios 7 and 8 at every size."""
    results: list[Result] = []
    for size, saves in QUICK if quick else FULL:
        results += _one_size(folder, size, saves)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="the typed-profiles family alone")
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke test)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="profilestore-typed-") as name:
        results = typed_profiles(Path(name), args.quick)
    report(results, args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
