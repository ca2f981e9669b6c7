"""A game server as its own OS process, driven by the end-to-end tests.

    python game_server.py DB_URL JOB_ID MODE KEY [COUNT]

Modes:
  hold      start a session, set data["coins"] = COUNT (unsaved), print READY, wait for signals
  exit      start a session, set data["coins"] = COUNT, return without close() (atexit saves)
  hop       COUNT times: start a session on KEY, add 1 to data["coins"], end it
  keep      start a session, add COUNT to data["coins"], save, print READY, keep playing
Settings are short (poll 0.05 s, steal after 1 s) so the tests need no long waits.
"""

from __future__ import annotations

import sys
import time

from profilestore import Engine, ProfileStore, Server, Settings

FAST = Settings(poll_interval=0.05, first_load_repeat=0.2, load_repeat_period=0.2,
                session_steal=1.0, auto_save_period=0.5, assume_dead=30.0)


def main(url: str, job_id: str, mode: str, key: str, count: int) -> None:
    engine = Engine(url, server=Server(job_id=job_id), settings=FAST)
    store = ProfileStore("Players", {"coins": 0}, engine=engine)
    if mode == "hop":
        for _ in range(count):
            profile = None
            while profile is None:
                profile = store.start_session(key)
            with profile.lock:
                profile.data["coins"] += 1
            profile.end_session()
        engine.close()
        return
    profile = store.start_session(key)
    assert profile is not None
    if mode == "hold":
        engine.install_signal_handlers()
        profile.data["coins"] = count
    elif mode == "exit":
        profile.data["coins"] = count
        return
    elif mode == "keep":
        profile.data["coins"] += count
        assert profile.save()
    print("READY", flush=True)
    while True:
        time.sleep(0.05)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]) if len(sys.argv) > 5 else 0)
