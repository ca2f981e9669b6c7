"""A game server as its own OS process, driven by the end-to-end tests.

    python game_server.py DB_URL JOB_ID MODE KEY [COUNT]

Modes (the session's signals are printed as LAST_SAVE <reason> and SESSION_END):
  hold    start a session, set data["coins"] = COUNT without saving, print READY, keep running
  saved   start a session, save coins = COUNT, then add 1000 without saving, print READY
  silent  like saved, on an engine with no thread (no auto-save, no heartbeat, no following)
  exit    start a session, set coins = COUNT, return without close() (atexit saves)
  gifts   start a session whose handler adds each gift's coins and marks it processed
  send    send COUNT gifts of one coin each (20 ms apart), print SENT COUNT, exit
  trade   take six profiles KEY0..KEY5 (steal=True) and trade gold between random pairs in
          engine.transaction() blocks as fast as it can, with auto-save running; print TRADING
  hop     COUNT times: start a session on each comma-separated key, add 1 to coins, end it
          (an optional 6th argument, an epoch time, makes several processes start together)
Settings are short (poll 0.05 s, steal after 1 s) so the tests need no long waits.
"""

from __future__ import annotations

import random
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
            time.sleep(random.uniform(0, 0.004))  # play a moment: uneven holds break lockstep
            profile.end_session()


def trade_forever(engine: Engine, store: ProfileStore, prefix: str) -> None:
    engine.set_constant("AUTO_SAVE_PERIOD", 0.05)
    profiles = [store.start_session(f"{prefix}{n}", steal=True) for n in range(6)]
    assert all(p is not None for p in profiles)
    dice = random.Random()
    say("TRADING")
    while True:
        buyer, seller = dice.sample(profiles, 2)
        amount = dice.randint(1, 20)
        with engine.transaction(buyer, seller):  # type: ignore[arg-type]
            buyer.data["coins"] -= amount  # type: ignore[union-attr]
            time.sleep(0.0005)  # half a trade done: a kill here must store neither half
            seller.data["coins"] += amount  # type: ignore[union-attr]


# Hopping servers are all alive and answer every request: a steal there would only mean a
# process was descheduled for a whole second on a loaded machine, and a stolen session's unsaved
# change is lost by design (ProfileStore's too). So they never steal, and every increment counts.
NEVER_STEAL = FAST.model_copy(update={"session_steal": 60.0})


def main(url: str, job_id: str, mode: str, key: str, count: int, start_at: float) -> None:
    engine = Engine(url, server=Server(job_id=job_id), settings=NEVER_STEAL if mode == "hop" else FAST,
                    background=mode != "silent")
    engine.install_signal_handlers()
    store = ProfileStore("Players", {"coins": 0}, engine=engine)
    if mode == "send":
        for _ in range(count):
            assert store.message(key, {"coins": 1})
            time.sleep(0.02)
        say("SENT", count)
        engine.close()
        return
    if mode == "trade":
        trade_forever(engine, store, key)
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
