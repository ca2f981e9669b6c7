"""Two game-server processes meet old profiles at once: each profile is migrated exactly once
(one Migrated event, written with a claim), and both servers get the session in turn.

The servers are this file run as a script:

    python test_migrations_across_processes.py DB_URL JOB_ID KEY [KEY ...]

connects, prints READY and waits for a line on its stdin (so that both start together), then
for each key in turn starts a session on the typed store (one migration), adds its JOB_ID to
`visits`, holds it a moment and ends it; it prints CALLS and a JSON object of how many times
its migration ran per key.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from typing import Any

from pydantic import BaseModel

from profilestore import Engine, ProfileStore, Server, Settings

KEYS = ["old-0", "old-1", "old-2"]
# Live servers that answer every request: a steal would only mean a descheduled process.
FAST = Settings(poll_interval=0.05, first_load_repeat=0.2, load_repeat_period=0.2,
                session_steal=60.0, auto_save_period=600.0, assume_dead=1200.0)


class Player(BaseModel):
    coins: int = 0
    visits: list[str] = []
    migrated_by: str = ""


def serve(url: str, job_id: str, keys: list[str]) -> None:
    """A game server that migrates and visits each key once (run in its own process)."""
    calls: Counter[str] = Counter()
    current: list[str] = [""]

    def add_visits(data: dict[str, Any]) -> dict[str, Any]:  # schema 0 -> 1
        calls[current[0]] += 1
        return {**data, "visits": [], "migrated_by": job_id}

    with Engine(url, server=Server(job_id=job_id), settings=FAST) as engine:
        store = ProfileStore("Players", Player, engine=engine, migrations=[add_visits])
        assert store.get("no-such-key") is None  # connected: the database has answered
        print("READY", flush=True)
        sys.stdin.readline()
        for key in keys:
            current[0] = key
            profile = None
            while profile is None:  # None: another server asked after us; ask again
                profile = store.start_session(key)
            with profile.lock:
                profile.data.visits.append(job_id)
            time.sleep(0.1)  # play a moment: the other server asks for it meanwhile
            profile.end_session()
    print("CALLS", json.dumps(dict(calls)), flush=True)


def write_old_profiles(url: str) -> None:
    """What a release that knew no migrations stored."""
    with Engine(url, background=False) as engine:
        old = ProfileStore("Players", {"coins": 0}, engine=engine)
        for n, key in enumerate(KEYS):
            profile = old.start_session(key)
            assert profile is not None
            profile.data["coins"] = 10 + n
            profile.end_session()


def test_two_processes_migrate_each_old_profile_once_and_hand_it_over(db_url: str) -> None:
    write_old_profiles(db_url)
    servers = [subprocess.Popen([sys.executable, __file__, db_url, job_id, *KEYS],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
               for job_id in ("A", "B")]
    for server in servers:
        assert server.stdout is not None
        assert server.stdout.readline().strip() == "READY", server.communicate(timeout=30)
    for server in servers:  # both go at once
        assert server.stdin is not None
        server.stdin.write("GO\n")
        server.stdin.flush()
    calls: Counter[str] = Counter()
    for server in servers:
        out, err = server.communicate(timeout=90)
        assert server.returncode == 0, err
        (line,) = [line for line in out.splitlines() if line.startswith("CALLS ")]
        ran = json.loads(line.removeprefix("CALLS "))
        assert all(count <= 1 for count in ran.values()), f"a server ran a step twice: {ran}"
        calls.update(ran)

    with Engine(db_url, background=False) as engine:
        store = ProfileStore("Players", Player, engine=engine, migrations=[lambda data: data])
        for n, key in enumerate(KEYS):
            history = store.history(key)
            migrated = [e for e in history if e.type == "Migrated"]
            assert len(migrated) == 1, [e.type for e in history]
            assert (migrated[0].payload["from_schema"], migrated[0].payload["to_schema"]) == (0, 1)
            before = history[history.index(migrated[0]) - 1]
            assert before.type == "SessionStarted", "written with the claim"
            assert before.session == migrated[0].session
            assert 1 <= calls[key] <= 2, calls

            profile = store.get(key)
            assert profile is not None
            assert profile.data.coins == 10 + n
            assert sorted(profile.data.visits) == ["A", "B"], "both sessions were saved, once each"
            assert profile.data.migrated_by == migrated[0].session["job_id"]  # type: ignore[index]
            reasons = [e.payload["reason"] for e in history if e.type == "SessionEnded"]
            assert "Stolen" not in reasons
            claims = [e.session["job_id"] for e in history if e.type == "SessionStarted"]  # type: ignore[index]
            assert sorted(claims[1:]) == ["A", "B"], "each server held it once, in turn"
            assert history[-1].type == "SessionEnded"


if __name__ == "__main__":
    url, job_id, *keys = sys.argv[1:]
    serve(url, job_id, keys)
