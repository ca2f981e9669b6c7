"""A game server as its own OS process, driven by the end-to-end tests.

    python game_server.py DB_URL JOB_ID MODE KEY [COUNT]

Modes (the session's signals are printed as LAST_SAVE <reason> and SESSION_END):
  hold    start a session, set data["coins"] = COUNT without saving, print READY, keep running
  saved   start a session, save coins = COUNT, then add 1000 without saving, print READY
  silent  like saved, on an engine with no thread (no auto-save, no heartbeat, no following)
  exit    start a session, set coins = COUNT, return without close() (atexit saves)
  gifts   start a session whose handler adds each gift's coins and marks it processed
  send    send COUNT gifts of one coin each (20 ms apart), print SENT COUNT, exit
  hop     COUNT times: start a session on each comma-separated key, add 1 to coins, end it
          (an optional 6th argument, an epoch time, makes several processes start together)
Settings are short (poll 0.05 s, steal after 1 s) so the tests need no long waits.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from profilestore import Engine, ProfileStore, Server, Settings

FAST = Settings(poll_interval=0.05, first_load_repeat=0.2, load_repeat_period=0.2,
                session_steal=1.0, auto_save_period=600.0, assume_dead=1200.0)


def say(*words: object) -> None:
    print(*words, flush=True)


def hop(store: ProfileStore, keys: list[str], rounds: int) -> None:
    for _ in range(rounds):
        for key in keys:
            profile = None
            while profile is None:  # None: another server asked after us; ask again
                profile = store.start_session(key)
            with profile.lock:
                profile.data["coins"] += 1
            profile.end_session()


def main(url: str, job_id: str, mode: str, key: str, count: int, start_at: float) -> None:
    engine = Engine(url, server=Server(job_id=job_id), settings=FAST, background=mode != "silent")
    engine.install_signal_handlers()
    store = ProfileStore("Players", {"coins": 0}, engine=engine)
    if mode == "send":
        for _ in range(count):
            assert store.message(key, {"coins": 1})
            time.sleep(0.02)
        say("SENT", count)
        engine.close()
        return
    if mode == "hop":
        time.sleep(max(start_at - time.time(), 0))
        hop(store, key.split(","), count)
        engine.close()
        return
    profile = store.start_session(key)
    assert profile is not None
    profile.on_last_save.connect(lambda reason: say("LAST_SAVE", reason))
    profile.on_session_end.connect(lambda: say("SESSION_END"))
    profile.data["coins"] = count
    if mode == "exit":
        return
    if mode in ("saved", "silent"):
        assert profile.save()
        profile.data["coins"] += 1000
    if mode == "gifts":
        def apply_gift(message: dict[str, int], processed: Callable[[], None]) -> None:
            profile.data["coins"] += message["coins"]  # handlers run under profile.lock
            processed()
        profile.message_handler(apply_gift)
    say("READY")
    while True:
        time.sleep(0.05)


if __name__ == "__main__":
    url, job_id, mode, key, *rest = sys.argv[1:]
    rest += ["0", "0"][len(rest):]
    main(url, job_id, mode, key, int(rest[0]), float(rest[1]))
