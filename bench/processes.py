"""Scenarios 4 and 8, across real OS processes: hand-over between two live engines, and messages
from several sender processes to profiles another process holds.

    python bench/processes.py [URL]    # both, at quick sizes, on URL or a temporary SQLite file

Every process is started with multiprocessing's "spawn" context and talks to the driver through a
pipe: a worker answers each command with ("ok", value) or ("error", traceback), and the driver gives
up with TimeoutError rather than hang. Times that cross processes are `time.time()` (one machine,
one clock); a duration measured inside one process is `time.perf_counter()`.
"""

from __future__ import annotations

import json
import multiprocessing
import sys
import tempfile
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from common import QUIET, Result, p99, raw_connection

from profilestore import Engine, ProfileStore, Settings

SPAWN = multiprocessing.get_context("spawn")
STORE = "Bench"
STEP_TIMEOUT = 30.0  # seconds a driver waits for one answer (process start-up included)
TEXT = "x" * 64  # a message's padding: about 130 bytes of JSON in all


def _settings(poll_interval: float) -> Settings:
    return QUIET.model_copy(update={"poll_interval": poll_interval, "start_session_timeout": 20.0})


def _backend(url: str) -> str:
    return "sqlite" if url.startswith("sqlite:") else "postgresql"


# ---- worker plumbing ------------------------------------------------------------------------------


def _serve(conn: Connection, work: Callable[[Connection], None]) -> None:
    """Run a worker body; any exception goes back to the driver as a traceback."""
    try:
        work(conn)
    except BaseException:
        with suppress(OSError, ValueError):  # the driver may be gone already
            conn.send(("error", traceback.format_exc()))
    finally:
        conn.close()


def _answer(conn: Connection, timeout: float = STEP_TIMEOUT) -> Any:
    """The worker's next answer; raises if it failed, died, or said nothing for `timeout` seconds."""
    try:
        if not conn.poll(timeout):
            raise TimeoutError(f"no answer from a worker process within {timeout} s")
        status, value = conn.recv()
    except EOFError:
        raise RuntimeError("a worker process ended without answering") from None
    if status == "error":
        raise RuntimeError(f"a worker process failed:\n{value}")
    return value


def _wait(go: Event) -> None:
    """A sender's wait for the signal to start, given up on if the driver failed meanwhile."""
    if not go.wait(STEP_TIMEOUT):
        raise TimeoutError("the driver never said go")


@contextmanager
def _processes() -> Iterator[Callable[..., tuple[BaseProcess, Connection]]]:
    """Start workers with `start(target, *args)`; on exit every one is joined, or killed if stuck."""
    started: list[tuple[BaseProcess, Connection]] = []

    def start(target: Callable[..., None], *args: Any) -> tuple[BaseProcess, Connection]:
        ours, theirs = SPAWN.Pipe()
        process = SPAWN.Process(target=target, args=(theirs, *args), daemon=True)
        process.start()
        theirs.close()
        started.append((process, ours))
        return process, ours

    grace = 20.0  # seconds for every worker to close its engine and end, then it is killed
    try:
        yield start
    except BaseException:
        grace = 3.0
        raise
    finally:
        for _, conn in started:  # a worker still waiting for a command reads EOF, closes, ends
            conn.close()
        deadline = time.monotonic() + grace
        for process, _ in started:
            process.join(max(deadline - time.monotonic(), 0.1))
            if process.is_alive():
                process.terminate()
                process.join(5)


# ---- scenario 4: hand-over ----------------------------------------------------------------------


def _hand_over_worker(conn: Connection, url: str, poll_interval: float, name: str, idle: int) -> None:
    """Holds `idle` sessions, then claims whatever key the driver names, until told to quit."""

    def work(conn: Connection) -> None:
        engine = Engine(url, settings=_settings(poll_interval), background=True)
        try:
            store = ProfileStore(STORE, {"coins": 0}, engine=engine)
            for i in range(idle):
                assert store.start_session(f"idle-{name}-{i}") is not None
            conn.send(("ok", "ready"))
            while (command := conn.recv()) != "quit":
                started = time.perf_counter()
                profile = store.start_session(command)
                elapsed_ms = (time.perf_counter() - started) * 1000
                if profile is None:
                    raise RuntimeError(f"start_session({command!r}) returned None")
                with profile.lock:  # a change the next hand-over's final save must carry
                    coins = profile.data["coins"]
                    profile.data["coins"] = coins + 1
                conn.send(("ok", (elapsed_ms, coins)))
        finally:
            engine.close(timeout=10)
        conn.send(("ok", "closed"))

    _serve(conn, work)


def hand_over(url: str, handovers: int, poll_interval: float = 0.05) -> list[Result]:
    """Two engines in two processes pass one profile back and forth; p99 request-to-claim."""
    idle = 10
    samples: list[float] = []
    with _processes() as start:
        _, first = start(_hand_over_worker, url, poll_interval, "a", idle)
        _answer(first)  # the tables exist before the second engine opens them
        _, second = start(_hand_over_worker, url, poll_interval, "b", idle)
        _answer(second)
        first.send("shared")  # the first claim creates the profile: not a hand-over
        _, coins = _answer(first)
        assert coins == 0, coins
        for claim in range(1, handovers + 1):
            requester = second if claim % 2 else first  # both directions, in turn
            requester.send("shared")  # sent only once the other process holds the session
            elapsed_ms, coins = _answer(requester)
            if coins != claim:  # each holder added one coin; the final save must have stored it
                raise RuntimeError(f"hand-over {claim} lost the holder's change: coins={coins}")
            samples.append(elapsed_ms)
        for conn in (first, second):
            conn.send("quit")
        for conn in (first, second):
            _answer(conn)
    value = p99(samples)
    baseline = 3 * poll_interval * 1000 + 20
    settings = {"backend": _backend(url), "poll_interval": poll_interval, "handovers": handovers,
                "idle_sessions_per_process": idle, "median_ms": sorted(samples)[len(samples) // 2],
                "max_ms": max(samples)}
    return [Result("hand-over request to claim p99, 2 processes", value, "ms",
                   "3 x poll_interval + 20 ms", baseline, value / baseline, "<= 1", value <= baseline,
                   settings)]


# ---- scenario 8: messages -----------------------------------------------------------------------


def _keys(profiles: int) -> list[str]:
    return [f"inbox-{i}" for i in range(profiles)]


def _message_holder(conn: Connection, url: str, poll_interval: float, profiles: int) -> None:
    """Holds every inbox and records each message's arrival; reports once `expected` arrived."""
    received: list[tuple[int, int, float, float]] = []  # sender, seq, sent, received

    def record(message: dict[str, Any], processed: Callable[[], None]) -> None:
        received.append((message["sender"], message["seq"], message["sent"], time.time()))
        processed()

    def work(conn: Connection) -> None:
        engine = Engine(url, settings=_settings(poll_interval), background=True)
        try:
            store = ProfileStore(STORE, {"coins": 0}, engine=engine)
            held = []
            for key in _keys(profiles):
                profile = store.start_session(key)
                assert profile is not None
                profile.message_handler(record)
                held.append(profile)
            conn.send(("ok", "ready"))
            expected: int = conn.recv()
            quiet_since, seen = time.monotonic(), 0
            while len(received) < expected and time.monotonic() - quiet_since < 10:
                time.sleep(0.01)
                if len(received) != seen:
                    quiet_since, seen = time.monotonic(), len(received)
            time.sleep(3 * poll_interval)  # a duplicate delivery would show up by now
            ended = sum(not profile.is_active() for profile in held)
        finally:
            engine.close(timeout=10)
        conn.send(("ok", (list(received), ended)))

    _serve(conn, work)


def _message(sender: int, seq: int) -> dict[str, Any]:
    return {"sender": sender, "seq": seq, "sent": time.time(), "text": TEXT}


def _message_sender(conn: Connection, url: str, go: Event, sender: int, senders: int, per_sender: int,
                    profiles: int) -> None:
    """Sends `per_sender` messages spread over the inboxes, without a session."""

    def work(conn: Connection) -> None:
        engine = Engine(url, settings=QUIET, background=False)
        try:
            store = ProfileStore(STORE, {"coins": 0}, engine=engine)
            keys = _keys(profiles)
            conn.send(("ok", "ready"))
            _wait(go)
            first, calls_ms = time.time(), []
            for seq in range(per_sender):
                started = time.perf_counter()
                if not store.message(keys[(sender + seq * senders) % profiles], _message(sender, seq)):
                    raise RuntimeError(f"message {sender}/{seq} was refused")
                calls_ms.append((time.perf_counter() - started) * 1000)
            conn.send(("ok", (first, time.time(), calls_ms)))
        finally:
            engine.close(timeout=10)

    _serve(conn, work)


def _raw_sender(conn: Connection, target: tuple[str, str, str], go: Event, sender: int, per_sender: int,
                size: int) -> None:
    """The baseline: one single-row INSERT per transaction, in a plain table."""
    kind, where, table = target
    payload = b"x" * size

    def work(conn: Connection) -> None:
        if kind == "sqlite":
            sqlite = raw_connection(Path(where))
            conn.send(("ok", "ready"))
            _wait(go)
            first = time.time()
            for seq in range(per_sender):
                sqlite.execute("BEGIN")
                sqlite.execute(f"INSERT INTO {table} (sender, seq, data) VALUES (?, ?, ?)",
                               (sender, seq, payload))
                sqlite.execute("COMMIT")
            sqlite.close()
        else:
            import psycopg

            with psycopg.connect(where) as pg:
                conn.send(("ok", "ready"))
                _wait(go)
                first = time.time()
                for seq in range(per_sender):
                    pg.execute(f"INSERT INTO {table} (sender, seq, data) VALUES (%s, %s, %s)",
                               (sender, seq, payload))
                    pg.commit()
        conn.send(("ok", (first, time.time(), [])))

    _serve(conn, work)


def _send_together(start: Callable[..., tuple[BaseProcess, Connection]], target: Callable[..., None],
                   senders: int, args: Callable[[Event, int], tuple[Any, ...]]) -> tuple[float, list[float]]:
    """Start the senders and let them all go at once when ready: seconds from the first send to the
    last commit, and every call's duration in ms (where the sender measured them)."""
    go = SPAWN.Event()
    conns = [start(target, *args(go, sender))[1] for sender in range(senders)]
    for conn in conns:
        _answer(conn)
    go.set()
    spans: list[tuple[float, float, list[float]]] = [_answer(conn) for conn in conns]
    calls_ms = [ms for _, _, durations in spans for ms in durations]
    return max(end for _, end, _ in spans) - min(first for first, _, _ in spans), calls_ms


@contextmanager
def _raw_target(url: str) -> Iterator[tuple[str, str, str]]:
    """A plain `messages` table in a separate database: a file beside the SQLite one, or a
    throwaway schema on the same PostgreSQL server."""
    if _backend(url) == "sqlite":
        path = Path(url[len("sqlite:///"):].partition("?")[0]).resolve()
        raw_path = path.with_name(f"{path.stem}-raw-{uuid.uuid4().hex[:8]}.db")
        sqlite = raw_connection(raw_path)
        sqlite.execute("CREATE TABLE messages (id INTEGER PRIMARY KEY, sender INTEGER, seq INTEGER,"
                       " data BLOB)")
        sqlite.close()
        try:
            yield "sqlite", str(raw_path), "messages"
        finally:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{raw_path}{suffix}").unlink(missing_ok=True)
        return
    import psycopg

    parts = urlsplit(url)
    conninfo = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
    schema = f"bench_raw_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(conninfo, autocommit=True) as pg:
        pg.execute(f"CREATE SCHEMA {schema}")
        pg.execute(f"CREATE TABLE {schema}.messages (id BIGSERIAL PRIMARY KEY, sender INTEGER,"
                   " seq INTEGER, data BYTEA)")
        try:
            yield "postgresql", conninfo, f"{schema}.messages"
        finally:
            pg.execute(f"DROP SCHEMA {schema} CASCADE")


def messages(url: str, senders: int = 4, profiles: int = 100, per_sender: int = 200,
             poll_interval: float = 0.05) -> list[Result]:
    """`senders` processes message `profiles` profiles another process holds: messages/s against
    raw INSERTs from as many processes, and p99 delivery against 3 x poll_interval."""
    total = senders * per_sender
    size = len(json.dumps(_message(0, 0)).encode())
    with _processes() as start:
        _, holder = start(_message_holder, url, poll_interval, profiles)
        _answer(holder)
        seconds, calls_ms = _send_together(start, _message_sender, senders, lambda go, sender: (
            url, go, sender, senders, per_sender, profiles))
        holder.send(total)
        received, ended = _answer(holder)
    sent = {(sender, seq) for sender in range(senders) for seq in range(per_sender)}
    got = [(sender, seq) for sender, seq, _, _ in received]
    if len(got) != len(set(got)) or set(got) != sent or ended:
        missing = sorted(sent - set(got))
        raise RuntimeError(f"messages: {total} sent, {len(got)} delivered ({len(set(got))} distinct),"
                           f" missing {len(missing)} e.g. {missing[:5]};"
                           f" {ended} of the holder's sessions ended")
    with _raw_target(url) as target, _processes() as start:
        raw_seconds, _ = _send_together(start, _raw_sender, senders, lambda go, sender: (
            target, go, sender, per_sender, size))
    engine_rate, raw_rate = total / seconds, total / raw_seconds
    latency_ms = [(arrived - sent_at) * 1000 for _, _, sent_at, arrived in received]
    value, baseline = p99(latency_ms), 3 * poll_interval * 1000
    settings = {"backend": _backend(url), "poll_interval": poll_interval, "senders": senders,
                "profiles": profiles, "per_sender": per_sender, "message_bytes": size}
    return [
        Result(f"messages/s, {senders} sender processes", engine_rate, "messages/s",
               f"raw single-row INSERT per transaction, {senders} processes", raw_rate,
               engine_rate / raw_rate, "(reported)", True, settings),
        Result(f"message delivery p99, {profiles} profiles held", value, "ms", "3 x poll_interval",
               baseline, value / baseline, "<= 1", value <= baseline,
               {**settings, "median_ms": sorted(latency_ms)[len(latency_ms) // 2],
                "message_call_p99_ms": p99(calls_ms)}),
    ]


def main(argv: list[str]) -> int:
    url = argv[0] if argv else None
    with tempfile.TemporaryDirectory(prefix="profilestore-bench-") as folder:
        results = [*hand_over(url or f"sqlite:///{Path(folder) / 'handover.db'}", 20),
                   *messages(url or f"sqlite:///{Path(folder) / 'messages.db'}", per_sender=50)]
    for result in results:
        print(f"{result.name[:52]:<52} {result.value:>10.1f} {result.unit:<11}"
              f" vs {result.baseline_value:>10.1f} ratio {result.ratio:>6.3f}  {result.target:<10}"
              f" {'yes' if result.met else 'NO'}")
        print(f"    vs {result.baseline_name}; {json.dumps(result.settings)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
