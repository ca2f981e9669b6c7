"""The library's aggregate cache, fast-forwarded on every read: a profile read again replays only
the events since, never shows less than the database holds, and keeps nothing of an erased life."""

from __future__ import annotations

from typing import Any

import pytest

from profilestore import Engine, ProfileStore
from profilestore.application.urls import persistence_env


def cached(engine: Engine) -> dict[Any, Any]:
    cache = engine.parts.logs.live.app.repository.cache
    assert cache is not None
    return cache.cache  # type: ignore[no-any-return,attr-defined]


def test_a_read_after_another_server_wrote_shows_that_write(db_url: str) -> None:
    with Engine(db_url, background=False) as reader, Engine(db_url, background=False) as writer:
        mine, theirs = ProfileStore("S", engine=reader), ProfileStore("S", engine=writer)
        profile = theirs.start_session("k")
        assert profile is not None
        profile.data["coins"] = 1
        profile.save()
        assert mine.get("k").data == {"coins": 1}
        assert len(cached(reader)) == 1, "the first read put the replayed profile in the cache"
        profile.data["coins"] = 2
        profile.end_session()
        assert mine.get("k").data == {"coins": 2}, "the cached profile was fast-forwarded"
        fresh = mine.get("k")
        fresh.data["coins"] = 99  # a copy: changing what a read returned changes no cache
        assert mine.get("k").data == {"coins": 2}


def test_an_erasure_by_another_server_leaves_no_copy_of_the_old_life_here(db_url: str) -> None:
    with Engine(db_url, background=False) as reader, Engine(db_url, background=False) as eraser:
        mine, theirs = ProfileStore("S", engine=reader), ProfileStore("S", engine=eraser)
        profile = theirs.start_session("k")
        assert profile is not None
        profile.data["name"] = "PERSONAL"
        profile.add_user_id(7)
        profile.end_session()
        assert mine.get("k").data["name"] == "PERSONAL"
        assert eraser.erase_user(7) == [("S", "k")]
        assert mine.get("k") is None
        assert "PERSONAL" not in repr([vars(a) for a in cached(reader).values()])


@pytest.mark.parametrize(("option", "expected"), [("", "1000"), ("?cache=5", "5"), ("?cache=0", None)])
def test_the_cache_size_is_a_url_option_and_zero_turns_it_off(option: str, expected: str | None
                                                             ) -> None:
    env = persistence_env(f"sqlite:///game.db{option}")
    assert env.get("AGGREGATE_CACHE_MAXSIZE") == expected
    pg = persistence_env(f"postgresql://u@h/db{option.replace('?', '?schema=s&')}") if option \
        else persistence_env("postgresql://u@h/db")
    assert pg.get("AGGREGATE_CACHE_MAXSIZE") == expected


@pytest.mark.parametrize("bad", ["-1", "many", ""])
def test_a_bad_cache_size_is_refused_naming_the_option(bad: str) -> None:
    with pytest.raises(ValueError, match="cache"):
        persistence_env(f"sqlite:///game.db?cache={bad}")
    with pytest.raises(ValueError, match="cache"):
        persistence_env(f"postgresql://u@h/db?cache={bad}")
