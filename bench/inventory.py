"""The realistic profile of bench/shapes.py: its data, the edits games make to it, and the store a
user would write by hand for it (one JSON row per player), the family's baseline."""

from __future__ import annotations

import json
import random
import statistics
import time
from collections import Counter
from collections.abc import Callable
from operator import itemgetter
from typing import Any

from common import RawDatabase

from profilestore import ProfileStore

TEMPLATE: dict[str, Any] = {"coins": 0, "progress": {}, "items": []}
SEED = 20_240_601
KINDS = ("sword", "shield", "potion", "bow", "ring", "helmet", "arrow")
TAGS = ("a", "b", "rare", "epic", "bound", "new", "fav")
QUESTS = ("intro", "forest", "mines", "castle")

Edit = tuple[Any, ...]


def item(n: int) -> dict[str, Any]:
    """The n-th item ever made (uids are never reused)."""
    return {"uid": f"u{n:06d}", "kind": KINDS[n % len(KINDS)], "qty": 1 + n % 5,
            "level": 1 + n * 7 % 20, "tags": [TAGS[n % len(TAGS)], TAGS[n * 3 % len(TAGS)]]}


def shape(size: int) -> dict[str, Any]:
    """A profile's data with `size` items (a new copy each call)."""
    return {"coins": 100,
            "progress": {quest: {"stage": i + 1, "kills": 10 * i, "done": i == 0,
                                 "counters": {"chests": i, "deaths": 2 * i}}
                         for i, quest in enumerate(QUESTS)},
            "items": [item(n) for n in range(size)]}


class Edits:
    """The edit sequence: what to do next is drawn from a seeded random.Random and the list's
    current length, then applied (`apply`) to every copy alike, so equal copies stay equal."""

    WEIGHTS = {"field": 3, "append": 1, "remove": 2, "front": 1, "tag": 2, "coins": 2}

    def __init__(self, size: int, seed: int = SEED) -> None:
        self.size, self.rng, self.next_uid = size, random.Random(seed), size
        self.slack = max(2, size // 10)
        self.counts: Counter[str] = Counter()

    def next(self, length: int, kind: str | None = None) -> Edit:
        rng = self.rng
        if kind is None:
            if rng.randrange(50) == 0:
                kind = "sort"
            elif length >= self.size + self.slack:
                kind = "remove"
            elif length <= self.size - self.slack:
                kind = rng.choice(("append", "front"))
            else:
                kind = rng.choices(list(self.WEIGHTS), list(self.WEIGHTS.values()))[0]
        self.counts[kind] += 1
        if kind == "field":
            return kind, rng.randrange(length), rng.choice(("qty", "level")), rng.randint(1, 3)
        if kind in ("append", "front"):
            self.next_uid += 1
            return kind, self.next_uid
        if kind == "remove":  # from the middle half of the list
            return kind, length // 4 + rng.randrange(max(1, length // 2))
        if kind == "tag":
            return kind, rng.randrange(length), rng.choice(TAGS)
        if kind == "coins":
            return kind, rng.randint(1, 50)
        return kind, rng.choice(("level", "qty", "uid", "kind"))  # sort

    @staticmethod
    def apply(data: dict[str, Any], edit: Edit) -> None:
        kind, items = edit[0], data["items"]
        if kind == "field":
            items[edit[1]][edit[2]] += edit[3]
        elif kind == "append":
            items.append(item(edit[1]))
        elif kind == "front":
            items.insert(0, item(edit[1]))
        elif kind == "remove":
            del items[edit[1]]
        elif kind == "tag":
            tags = items[edit[1]]["tags"]
            tags.append(edit[2])
            if len(tags) > 6:  # a small list: the oldest tag goes
                del tags[0]
        elif kind == "coins":
            data["coins"] += edit[1]
        else:
            items.sort(key=itemgetter(edit[1]))


def ms(work: Callable[[], Any]) -> float:
    started = time.perf_counter()
    work()
    return (time.perf_counter() - started) * 1000


def p50(samples: list[float]) -> float:
    return statistics.median(samples)


# ---- the hand-written store ----------------------------------------------------------------------


UPDATE = "UPDATE players SET data=?, version=version+1 WHERE key=? AND version=?"


class Players:
    """The baseline: one row per player, the whole data as JSON, a version checked on update."""

    def __init__(self, raw: RawDatabase) -> None:
        self.raw, self.versions = raw, dict[str, int]()
        raw.run("CREATE TABLE players (key TEXT PRIMARY KEY, version INTEGER, data TEXT, owner TEXT)")

    def add(self, data: dict[str, dict[str, Any]]) -> None:
        self.raw.begin()
        self.raw.run_many("INSERT INTO players VALUES (?, 0, ?, NULL)",
                          [(key, json.dumps(value)) for key, value in data.items()])
        self.raw.commit()
        self.versions.update(dict.fromkeys(data, 0))

    def save(self, key: str, data: dict[str, Any]) -> None:
        text = json.dumps(data)
        self.raw.begin()
        updated = self.raw.run(UPDATE, (text, key, self.versions[key])).rowcount
        self.raw.commit()
        assert updated == 1, f"{key} was changed by someone else"
        self.versions[key] += 1

    def save_many(self, data: dict[str, dict[str, Any]]) -> None:
        rows = [(json.dumps(value), key, self.versions[key]) for key, value in data.items()]
        self.raw.begin()
        self.raw.run_many(UPDATE, rows)
        self.raw.commit()
        for key in data:
            self.versions[key] += 1

    def claim(self, key: str, owner: str) -> dict[str, Any]:
        self.raw.begin()
        text, _ = self.raw.run("SELECT data, owner FROM players WHERE key=?", (key,)).fetchone()
        self.raw.run("UPDATE players SET owner=? WHERE key=?", (owner, key))
        self.raw.commit()
        return dict(json.loads(text))

    def release(self, key: str) -> None:
        self.raw.begin()
        self.raw.run("UPDATE players SET owner=NULL WHERE key=?", (key,))
        self.raw.commit()

    def load(self, key: str) -> tuple[int, dict[str, Any]]:
        self.raw.begin()
        version, text = self.raw.run("SELECT version, data FROM players WHERE key=?", (key,)).fetchone()
        self.raw.commit()
        return version, json.loads(text)


def check_equal(store: ProfileStore, players: Players, keys: list[str]) -> None:
    """The engine and the baseline hold the same data, after the same number of saves."""
    for key in keys:
        profile = store.get(key)
        assert profile is not None
        version, data = players.load(key)
        assert profile.data == data, f"{key}: the engine's data and the baseline's differ"
        assert version == players.versions[key]
