"""Loop lag: how long the asyncio event loop stalls while an AsyncEngine's calls wait for other
processes, for a locked database, or run by the thousand.

    python bench/loop_lag.py [--quick] [--stacks]   (this family alone; bench/run.py runs it too)

A ticker task sleeps 1 ms in a loop and records how late each wake-up is: a wake-up is late by
as long as the loop was kept from running it (a callback that did not yield, or the loop's thread
kept waiting for the GIL by the engine's threads). Each scenario runs on its own loop, on a fresh
database, with the ticker running through the scenario's window:

  a. hand-over: another OS process (a sync Engine) holds the keys; `start_session` on each in turn
     waits until that process hands it over at its next poll (the holder's change must arrive);
  b. steal: the holder process is SIGSTOPped; `start_session` on every key at once waits until it
     takes them after a short `session_steal`;
  c. locked database: another process holds the write lock for about a second (SQLite: BEGIN
     IMMEDIATE; PostgreSQL: the events table's EXCLUSIVE lock, the one every write takes) while
     game code on the loop changes 50 profiles, saves them and the engine auto-saves them;
  d. `aclose(timeout=1)` while another process holds that lock past the deadline (its
     unsaved profiles are reported through on_error; the library's log is silenced meanwhile);
  e. 1,000 concurrent `start_session` calls on free keys (`asyncio.gather`; 200 with --quick).

All five run on a SQLite file, and again on PostgreSQL when PROFILESTORE_BENCH_POSTGRES_URL (or
PROFILESTORE_TEST_POSTGRES_URL) names a reachable server.

Baseline: the same ticker on an idle loop (no engine, no other process) for as long as the
scenario's window, measured right after it in the same run. The figure is the longest single
stall (the largest lateness); p99 and the idle loop's p99 are in the settings, with
`cpu_in_longest_ms`, the CPU time the whole process used during the longest stall: near 0, the
process was not running (the machine's doing); near the stall or above, its threads were (the
loop's own work, or a thread holding the GIL, such as a garbage collection).

Target, `<= 1`: the longest stall divided by (the idle loop's longest stall + 5 ms). The aim
(docs/asyncio.md) is that no call holds the loop for more than a few milliseconds; the idle
loop's own worst wake-up on the same machine in the same run is added so that what the machine
does to any loop (other processes on a shared machine) is not charged to the engine, and 5 ms is
the "few milliseconds" (CPython's thread switch interval: the longest a thread that wants the GIL
waits for one other busy thread).

`--stacks` also runs a watchdog thread that, whenever the loop is more than 5 ms late, records
where the loop's thread is (its Python stack), and prints the most common places after each
scenario, with the innermost frames of the other threads that were running Python: the time of a
stall went to whatever the loop was doing then (in `select`: its wait was over, but the thread was
kept waiting for the GIL or for a CPU). The watchdog takes the GIL itself every millisecond, so
figures measured with it are not the ones to report.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import logging
import os
import random
import signal
import sqlite3
import sys
import tempfile
import threading
import time
import traceback
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from common import QUIET, Result, p99, postgres_base_url, report
from processes import STEP_TIMEOUT, _answer, _processes, _serve

from profilestore import Engine, ProfileStore, Settings
from profilestore.aio import AsyncEngine, AsyncProfile, AsyncProfileStore

TICK = 0.001  # the ticker's sleep, seconds
ALLOWANCE_MS = 5.0  # the "few milliseconds" a stall may add to the idle loop's worst
STORE = "LoopLag"
POLL = 0.1  # every engine's poll_interval here: a holder hands over at its next poll


@dataclass(frozen=True)
class Plan:
    """A run's sizes."""

    handovers: int  # a: keys handed over, one after another
    steals: int  # b: keys taken at once
    session_steal: float  # b: seconds
    profiles: int  # c and d: profiles held on the loop
    lock_seconds: float  # c: how long the other process holds the lock
    settle: float  # c: seconds after the lock's release that still count (the saves that waited)
    close_timeout: float  # d: aclose(timeout)
    starts: int  # e: concurrent start_session calls


FULL = Plan(handovers=6, steals=8, session_steal=1.0, profiles=50, lock_seconds=1.0, settle=0.5,
            close_timeout=1.0, starts=1000)
QUICK = Plan(handovers=2, steals=4, session_steal=0.3, profiles=20, lock_seconds=0.3, settle=0.3,
             close_timeout=0.3, starts=200)


def _settings(**changes: Any) -> Settings:
    return QUIET.model_copy(update={"poll_interval": POLL, "start_session_timeout": 20.0, **changes})


def _label(name: str, backend: str) -> str:
    return name if backend == "sqlite" else f"{name} [PostgreSQL]"


# ---- the ticker ----------------------------------------------------------------------------------


@dataclass
class Lag:
    """How late each of the ticker's wake-ups was, in ms, over a window of `seconds`."""

    lags: list[float]
    seconds: float
    stalls: collections.Counter[str] = field(default_factory=collections.Counter)
    # CPU time the whole process used during the longest wait (all threads): near 0, the process
    # was not running (the machine); near the wait or above, its threads were (the GIL's holder)
    longest_cpu: float = 0.0

    @property
    def max(self) -> float:
        return max(self.lags, default=0.0)

    @property
    def p99(self) -> float:
        return p99(self.lags) if self.lags else 0.0


class Ticker:
    """`async with Ticker() as ticker:` sleeps TICK in a loop on the running loop meanwhile;
    `ticker.lag` afterwards. With `stacks`, a watchdog thread records the loop thread's stack
    whenever a wake-up is more than ALLOWANCE_MS late."""

    def __init__(self, stacks: bool = False) -> None:
        self._stacks = stacks
        self._stop = False
        self._lags: list[float] = []
        self._last = 0.0  # perf_counter of the latest wake-up
        self._started = 0.0
        self._seen: collections.Counter[str] = collections.Counter()
        self._longest = (0.0, 0.0)  # (lateness, process CPU meanwhile), ms
        self._watch: threading.Thread | None = None
        self.lag = Lag([], 0.0)

    async def __aenter__(self) -> Ticker:
        self._started = self._last = time.perf_counter()
        self._task = asyncio.get_running_loop().create_task(self._run())
        if self._stacks:
            self._watch = threading.Thread(target=self._watchdog, args=(threading.get_ident(),),
                                           name="loop-lag-watchdog", daemon=True)
            self._watch.start()
        await asyncio.sleep(0)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._stop = True
        await self._task
        if self._watch is not None:
            self._watch.join()
        self.lag = Lag(self._lags, time.perf_counter() - self._started, self._seen, self._longest[1])

    async def _run(self) -> None:
        while not self._stop:
            before, cpu = time.perf_counter(), time.process_time()
            await asyncio.sleep(TICK)
            self._last = now = time.perf_counter()
            late = max(now - before - TICK, 0.0) * 1000
            self._lags.append(late)
            if late > self._longest[0]:
                self._longest = (late, (time.process_time() - cpu) * 1000)

    def _watchdog(self, loop_thread: int) -> None:
        """Every millisecond that the loop is more than ALLOWANCE_MS late: its stack, and the
        innermost frames of the other threads that were running Python, counted."""
        me = threading.get_ident()
        while not self._stop:
            time.sleep(0.001)
            if time.perf_counter() - self._last <= TICK + ALLOWANCE_MS / 1000:
                continue
            frames = sys._current_frames()
            frame = frames.pop(loop_thread, None)
            if frame is None:
                continue
            frames.pop(me, None)
            lines = [_where(frame, 8)]
            busy = collections.Counter(_where(other, 1).strip() for other in frames.values()
                                       if other.f_code.co_name not in WAITING)
            lines += [f"      + {count} thread(s) at {place}" for place, count in busy.most_common(3)]
            self._seen["\n".join(lines)] += 1


WAITING = {"wait", "sleep", "select", "_wait_for_tstate_lock", "poll", "recv", "accept", "_recv",
           "read", "acquire", "_worker", "get", "join", "wait_idle", "sleep_until", "_take_write_lock"}


def _where(frame: Any, depth: int) -> str:
    """A frame's innermost `depth` calls, one a line."""
    return "\n".join(f"      {Path(f.filename).name}:{f.lineno} {f.name}"
                     for f in traceback.extract_stack(frame)[-depth:])


async def idle(seconds: float, stacks: bool = False) -> Lag:
    """The ticker on a loop with nothing else to do, for `seconds`."""
    async with Ticker(stacks) as ticker:
        await asyncio.sleep(seconds)
    return ticker.lag


# ---- the other processes ---------------------------------------------------------------------------


def _holder(conn: Connection, url: str, keys: list[str]) -> None:
    """A game server in another process: holds `keys`, each with one coin added (the change a
    hand-over must carry), until told to quit (or stopped, or killed)."""

    def work(conn: Connection) -> None:
        engine = Engine(url, settings=_settings(), background=True)
        try:
            store = ProfileStore(STORE, {"coins": 0}, engine=engine)
            for key in keys:
                profile = store.start_session(key)
                if profile is None:
                    raise RuntimeError(f"the holder could not claim {key!r}")
                with profile.lock:
                    profile.data["coins"] += 1
            conn.send(("ok", os.getpid()))
            conn.recv()  # "quit"
        finally:
            engine.close(timeout=10)
        conn.send(("ok", "closed"))

    _serve(conn, work)


def _locker(conn: Connection, target: tuple[str, str]) -> None:
    """Takes the database's write lock when told ("lock"), holds it until told ("release");
    answers ("ok", "ready") once connected, "locked" once it holds the lock, "released" after."""
    kind, where = target

    def work(conn: Connection) -> None:
        if kind == "sqlite":
            sqlite = sqlite3.connect(where, isolation_level=None, timeout=30)
            conn.send(("ok", "ready"))
            conn.recv()
            sqlite.execute("BEGIN IMMEDIATE")
            conn.send(("ok", "locked"))
            conn.recv()
            sqlite.execute("COMMIT")
            sqlite.close()
        else:
            import psycopg

            base, schema = where.split("\n")
            with psycopg.connect(base) as pg:
                conn.send(("ok", "ready"))
                conn.recv()
                pg.execute(f'LOCK TABLE "{schema}".profilestore_events IN EXCLUSIVE MODE')
                conn.send(("ok", "locked"))
                conn.recv()
                pg.commit()
        conn.send(("ok", "released"))

    _serve(conn, work)


@contextmanager
def _database(backend: str, folder: Path, name: str) -> Iterator[tuple[str, tuple[str, str]]]:
    """An engine URL on empty storage, and what a locker needs to lock it: a new SQLite file in
    `folder`, or a fresh schema of the PostgreSQL server (dropped afterwards)."""
    if backend == "sqlite":
        path = folder / f"{name}-{uuid.uuid4().hex[:8]}.db"
        yield f"sqlite:///{path}", ("sqlite", str(path))
        return
    import psycopg

    base = postgres_base_url()
    assert base is not None
    schema = f"bench_lag_{name}_{uuid.uuid4().hex[:10]}"
    try:
        yield f"{base}{'&' if '?' in base else '?'}schema={schema}", ("postgresql", f"{base}\n{schema}")
    finally:
        with psycopg.connect(base, autocommit=True) as admin:
            admin.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


@asynccontextmanager
async def _engine(url: str, **settings: Any) -> AsyncIterator[tuple[AsyncEngine, AsyncProfileStore]]:
    """An AsyncEngine and its store on the running loop, closed on exit (not measured)."""
    engine = await AsyncEngine(url, settings=_settings(**settings)).ready()
    try:
        yield engine, AsyncProfileStore(STORE, {"coins": 0}, engine=engine)
    finally:
        await engine.aclose(timeout=30)


async def _reply(conn: Connection) -> Any:
    """A worker's next answer, awaited on the loop (the pipe watched by the selector: the driver
    starts no thread that the figures would count)."""
    loop, ready = asyncio.get_running_loop(), asyncio.Event()
    loop.add_reader(conn.fileno(), ready.set)
    try:
        await asyncio.wait_for(ready.wait(), STEP_TIMEOUT)
    finally:
        loop.remove_reader(conn.fileno())
    return _answer(conn, 0)


async def _claimed(store: AsyncProfileStore, keys: list[str]) -> list[AsyncProfile]:
    profiles = await asyncio.gather(*(store.start_session(key) for key in keys))
    missing = [key for key, profile in zip(keys, profiles, strict=True) if profile is None]
    if missing:
        raise RuntimeError(f"start_session returned None for {len(missing)} keys, e.g. {missing[:3]}")
    return [profile for profile in profiles if profile is not None]


# ---- the scenarios: each returns its window's lag and what else it saw -----------------------------

Scenario = Callable[[], Coroutine[Any, Any, tuple[Lag, dict[str, Any]]]]


def hand_over(url: str, plan: Plan, stacks: bool) -> Scenario:
    keys = [f"handed-{i}" for i in range(plan.handovers)]

    async def scenario() -> tuple[Lag, dict[str, Any]]:
        with _processes() as start:
            _, holder = start(_holder, url, keys)
            await _reply(holder)
            async with _engine(url) as (_, store):
                waits = []
                async with Ticker(stacks) as ticker:
                    for key in keys:
                        started = time.perf_counter()
                        profile = await store.start_session(key)
                        waits.append((time.perf_counter() - started) * 1000)
                        if profile is None or profile.data["coins"] != 1:
                            raise RuntimeError(f"hand-over of {key!r} lost the holder's change")
            holder.send("quit")
            await _reply(holder)
        return ticker.lag, {"hand-overs": len(keys), "wait_ms_max": round(max(waits), 1)}

    return scenario


def steal(url: str, plan: Plan, stacks: bool) -> Scenario:
    keys = [f"stolen-{i}" for i in range(plan.steals)]

    async def scenario() -> tuple[Lag, dict[str, Any]]:
        with _processes() as start:
            process, holder = start(_holder, url, keys)
            pid = await _reply(holder)
            os.kill(pid, signal.SIGSTOP)  # holds every key and never answers
            try:
                async with _engine(url, session_steal=plan.session_steal,
                                   first_load_repeat=plan.session_steal / 2,
                                   load_repeat_period=plan.session_steal / 2) as (_, store), \
                        Ticker(stacks) as ticker:
                    started = time.perf_counter()
                    await _claimed(store, keys)
                    took = time.perf_counter() - started
            finally:
                os.kill(pid, signal.SIGKILL)
                process.join(5)
        return ticker.lag, {"steals": len(keys), "session_steal": plan.session_steal,
                            "took_s": round(took, 2)}

    return scenario


async def _game(profiles: list[AsyncProfile], stop: asyncio.Event, saves: list[tuple[bool, float]]
                ) -> None:
    """Game code: a change to a random profile every millisecond, and rounds of five
    concurrent saves; each save's (result, ms) in `saves`."""
    rng = random.Random(7)

    async def change() -> None:
        while not stop.is_set():
            rng.choice(profiles).data["coins"] += 1
            await asyncio.sleep(0.001)

    async def timed(profile: AsyncProfile) -> tuple[bool, float]:
        started = time.perf_counter()
        return await profile.save(), (time.perf_counter() - started) * 1000

    async def save() -> None:
        while not stop.is_set():
            saves.extend(await asyncio.gather(*(timed(p) for p in rng.sample(profiles, 5))))
            await asyncio.sleep(0.02)

    await asyncio.gather(change(), save())


def locked_saves(url: str, target: tuple[str, str], plan: Plan, stacks: bool) -> Scenario:
    keys = [f"locked-{i}" for i in range(plan.profiles)]

    async def scenario() -> tuple[Lag, dict[str, Any]]:
        errors: list[str] = []
        saves: list[tuple[bool, float]] = []
        with _processes() as start:
            _, locker = start(_locker, target)
            async with _engine(url, auto_save_period=0.5) as (engine, store):
                profiles = await _claimed(store, keys)
                await _reply(locker)  # connected, once the tables exist
                engine.on_error.connect(lambda message, *_: errors.append(message))
                await asyncio.sleep(0.3)  # past half a period: every profile is due for auto-save
                stop = asyncio.Event()
                async with Ticker(stacks) as ticker:
                    game = asyncio.create_task(_game(profiles, stop, saves))
                    locker.send("lock")
                    await _reply(locker)
                    await asyncio.sleep(plan.lock_seconds)
                    locker.send("release")
                    await _reply(locker)
                    await asyncio.sleep(plan.settle)  # the saves that waited land, auto-saves catch up
                    stop.set()
                    await game
        failed = sum(not ok for ok, _ in saves)
        if failed or errors:
            raise RuntimeError(f"{failed} saves failed under a lock shorter than the engine's"
                               f" timeout; on_error: {errors[:3]}")
        return ticker.lag, {"profiles": len(keys), "lock_s": plan.lock_seconds, "saves": len(saves),
                            "longest_save_ms": round(max(ms for _, ms in saves), 1)}

    return scenario


def locked_close(url: str, target: tuple[str, str], plan: Plan, stacks: bool) -> Scenario:
    keys = [f"closing-{i}" for i in range(plan.profiles)]

    async def scenario() -> tuple[Lag, dict[str, Any]]:
        errors: list[str] = []
        library_log = logging.getLogger("profilestore")
        with _processes() as start:
            _, locker = start(_locker, target)
            engine = await AsyncEngine(url, settings=_settings()).ready()
            level = library_log.level
            try:
                store = AsyncProfileStore(STORE, {"coins": 0}, engine=engine)
                profiles = await _claimed(store, keys)
                for profile in profiles:
                    profile.data["coins"] = 1  # unsaved: each needs its final save
                engine.on_error.connect(lambda message, *_: errors.append(message))
                await _reply(locker)
                locker.send("lock")
                await _reply(locker)
                library_log.setLevel(logging.CRITICAL)  # the unsaved profiles, counted below
                async with Ticker(stacks) as ticker:
                    started = time.perf_counter()
                    await engine.aclose(timeout=plan.close_timeout)
                    took = time.perf_counter() - started
                active = sum(profile.is_active() for profile in profiles)
                await asyncio.sleep(0.05)  # the reports fired during aclose reach the loop
                reported = len(errors)
                locker.send("release")
                await _reply(locker)
                await asyncio.sleep(0.2)  # what close left running ends on the loop
            finally:
                await engine.aclose()
                library_log.setLevel(level)
        return ticker.lag, {"profiles": len(keys), "timeout_s": plan.close_timeout,
                            "aclose_s": round(took, 2), "reported_unsaved": reported,
                            "active_after_aclose": active}

    return scenario


def many_starts(url: str, plan: Plan, stacks: bool) -> Scenario:
    keys = [f"free-{i}" for i in range(plan.starts)]

    async def scenario() -> tuple[Lag, dict[str, Any]]:
        async with _engine(url) as (_, store), Ticker(stacks) as ticker:
            started = time.perf_counter()
            await _claimed(store, keys)
            took = time.perf_counter() - started
        return ticker.lag, {"starts": len(keys), "took_s": round(took, 2),
                            "starts_per_s": round(len(keys) / took)}

    return scenario


# ---- the family ---------------------------------------------------------------------------------------


def _measure(name: str, backend: str, scenario: Scenario, stacks: bool) -> Result:
    lag, seen = asyncio.run(scenario())
    baseline = asyncio.run(idle(lag.seconds))
    allowed = baseline.max + ALLOWANCE_MS
    result = Result(
        _label(f"loop lag max, {name}", backend), lag.max, "ms",
        f"idle loop's max stall + {ALLOWANCE_MS:g} ms", allowed, lag.max / allowed, "<= 1",
        lag.max <= allowed,
        {"backend": backend, "p99_ms": round(lag.p99, 2), "idle_max_ms": round(baseline.max, 2),
         "idle_p99_ms": round(baseline.p99, 2), "cpu_in_longest_ms": round(lag.longest_cpu, 1),
         "window_s": round(lag.seconds, 2),
         "ticks": len(lag.lags), **seen})
    if stacks and lag.stalls:
        print(f"{result.name}: where the loop was when over {ALLOWANCE_MS:g} ms late (count: stack)")
        for stack, count in lag.stalls.most_common(6):
            print(f"  {count}:\n{stack}")
    return result


def _scenarios(folder: Path, plan: Plan, backend: str, stacks: bool) -> list[Result]:
    results = []
    with _database(backend, folder, "handover") as (url, _):
        results.append(_measure("hand-over wait", backend, hand_over(url, plan, stacks), stacks))
    with _database(backend, folder, "steal") as (url, _):
        results.append(_measure("steal wait", backend, steal(url, plan, stacks), stacks))
    with _database(backend, folder, "saves") as (url, target):
        results.append(_measure("saves with the database locked", backend,
                                locked_saves(url, target, plan, stacks), stacks))
    with _database(backend, folder, "close") as (url, target):
        results.append(_measure("aclose past its deadline", backend,
                                locked_close(url, target, plan, stacks), stacks))
    with _database(backend, folder, "starts") as (url, _):
        results.append(_measure(f"{plan.starts:,} concurrent starts", backend,
                                many_starts(url, plan, stacks), stacks))
    return results


def loop_lag(folder: Path, quick: bool, stacks: bool = False) -> list[Result]:
    """Every scenario of the family on SQLite, then on PostgreSQL when a server is reachable."""
    plan = QUICK if quick else FULL
    results = _scenarios(folder, plan, "sqlite", stacks)
    if postgres_base_url() is not None:
        results += _scenarios(folder, plan, "postgresql", stacks)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="the loop-lag family alone")
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke test)")
    parser.add_argument("--stacks", action="store_true",
                        help="print where the loop was during stalls (perturbs the figures)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    if postgres_base_url() is None:
        print("PostgreSQL columns skipped: set PROFILESTORE_BENCH_POSTGRES_URL (or"
              " PROFILESTORE_TEST_POSTGRES_URL) to a reachable server")
    with tempfile.TemporaryDirectory(prefix="profilestore-loop-lag-") as name:
        results = loop_lag(Path(name), args.quick, args.stacks)
    report(results, args.quick)
    print(f"{time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
