"""Erasure requests: a user id leads to every profile that holds it, and removes them all."""

from __future__ import annotations

from pathlib import Path

from support.databases import postgres_tables_holding

from profilestore import Engine, ProfileStore


def test_erase_user_removes_every_profile_holding_the_id_and_nothing_else(db_url: str, tmp_path: Path
                                                                          ) -> None:
    with Engine(db_url, background=False) as engine:
        players, houses = ProfileStore("Players", engine=engine), ProfileStore("Houses", engine=engine)
        ended: list[str] = []
        for store, key, ids in ((players, "alice", [7]), (houses, "shared", [7, 8]),
                                (players, "bob", [8])):
            profile = store.start_session(key)
            assert profile is not None
            profile.data["name"] = f"PERSONAL-{key}"
            for user_id in ids:
                profile.add_user_id(user_id)
            assert profile.save()
            profile.on_session_end.connect(lambda key=key: ended.append(key))
            if key != "shared":
                profile.end_session()
        assert engine.find_user(7) == [("Houses", "shared"), ("Players", "alice")]

        assert engine.erase_user(7) == [("Houses", "shared"), ("Players", "alice")]
        assert engine.find_user(7) == [] and engine.find_user(8) == [("Players", "bob")]
        assert players.get("alice") is None and houses.get("shared") is None
        assert list(players.keys()) == ["bob"] and list(houses.keys()) == []
        assert "shared" in ended, "the session held on this engine ended before erase_user returned"
        if db_url.startswith("postgresql"):  # rows as the database shows them, while it runs
            assert postgres_tables_holding(db_url, "PERSONAL-alice") == []
            assert postgres_tables_holding(db_url, "PERSONAL-shared") == []
            assert postgres_tables_holding(db_url, "PERSONAL-bob") != [], "the search finds live data"
    leftovers = [f.name for f in tmp_path.iterdir() if f.is_file()
                 and (b"PERSONAL-alice" in f.read_bytes() or b"PERSONAL-shared" in f.read_bytes())]
    assert leftovers == []


def test_find_user_sees_a_save_as_soon_as_it_returns(db_url: str) -> None:
    url = db_url
    with Engine(url, background=False) as writer, Engine(url, background=False) as reader:
        profile = ProfileStore("Players", engine=writer).start_session("k")
        assert profile is not None
        profile.add_user_id(5)
        assert reader.find_user(5) == []
        assert profile.save()
        assert reader.find_user(5) == [("Players", "k")]
        assert list(ProfileStore("Players", engine=reader).keys()) == ["k"]
