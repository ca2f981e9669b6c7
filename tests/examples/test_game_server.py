"""examples/game_server.py as players meet it: two servers, each an OS process, on one database
(a SQLite file, or a PostgreSQL schema), and real websocket clients."""

from __future__ import annotations

import asyncio
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.client import ClientProtocol
from websockets.exceptions import ConnectionClosed
from websockets.frames import Frame
from websockets.protocol import State
from websockets.uri import parse_uri

from profilestore import Engine, ProfileStore, Settings

SCRIPT = Path(__file__).resolve().parents[2] / "examples" / "game_server.py"
# Short waits: servers follow each other every 50 ms and take a silent holder's session after 1 s;
# auto-save never comes on its own, so what is stored is what a final save or a gift stored.
SETTINGS = {"poll_interval": 0.05, "first_load_repeat": 0.2, "load_repeat_period": 0.2,
            "session_steal": 1.0, "auto_save_period": 600.0}
REPLY_TIMEOUT = 10.0  # a reply that takes longer is a failure, not a slow machine
QUICK = 0.5  # what "answered at once" means while another client is slow


class GameServer:
    """examples/game_server.py in a process of its own, listening on a port it picked."""

    def __init__(self, url: str, log: Path) -> None:
        self.log = log
        with log.open("w") as err:
            self.process = subprocess.Popen(
                [sys.executable, str(SCRIPT), "--database", url, "--port", "0",
                 "--settings", json.dumps(SETTINGS)],
                stdout=subprocess.PIPE, stderr=err, text=True)
        self.url = ""

    def wait_listening(self, timeout: float = 60) -> None:
        assert self.process.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.process.stdout], [], [], 0.1)
            if ready:
                line = self.process.stdout.readline()
                if "listening" in line:
                    self.url = "ws://" + line.split("ws://")[1].strip()
                    return
                if not line:
                    break
        raise AssertionError(f"no 'listening' line from the server; its log:\n{self.log.read_text()}")

    def cpu_seconds(self) -> float:
        """The CPU time the process has used (Linux's /proc)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 20) -> int:
        """Send the signal and wait for the process to exit; its exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signum)
        try:
            return self.process.wait(timeout)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()


@pytest.fixture
def start_servers(db_url: str, tmp_path: Path) -> Iterator[Any]:
    """`start_servers(n)`: n servers on the test's database, started together; each is stopped
    with SIGTERM at the end (and must exit cleanly, unless the test killed it)."""
    started: list[GameServer] = []

    def start(count: int = 2) -> list[GameServer]:
        servers = [GameServer(db_url, tmp_path / f"server{len(started) + n}.log") for n in range(count)]
        started.extend(servers)
        for server in servers:
            server.wait_listening()
        return servers

    yield start
    codes = [(server, server.process.poll(), server.stop()) for server in started]
    for server, before, code in codes:
        assert before is not None or code == 0, (
            f"a server exited {code} on SIGTERM; its log:\n{server.log.read_text()}")


@pytest.fixture
def stored(db_url: str) -> Iterator[Any]:
    """`stored(name)`: the player's coins as the database holds them (read from this process)."""
    with Engine(db_url, background=False) as engine:
        store = ProfileStore("Players", {"coins": 0}, engine=engine)

        def coins(name: str) -> int | None:
            profile = store.get(name)
            return None if profile is None else int(profile.data["coins"])

        yield coins


# ---- clients ----------------------------------------------------------------------------------------


@asynccontextmanager
async def client(server: GameServer, **options: Any) -> AsyncIterator[ClientConnection]:
    async with connect(server.url, proxy=None, open_timeout=REPLY_TIMEOUT, **options) as ws:
        yield ws


async def ask(ws: ClientConnection, op: str, **fields: Any) -> dict[str, Any]:
    """Send a request and return the reply (which must come within REPLY_TIMEOUT)."""
    await ws.send(json.dumps({"op": op, **fields}))
    reply: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), REPLY_TIMEOUT))
    return reply


async def join(ws: ClientConnection, player: str) -> int:
    reply = await ask(ws, "join", player=player)
    assert reply["ok"], reply
    coins: int = reply["data"]["coins"]
    return coins


async def coins_now(ws: ClientConnection) -> int:
    reply = await ask(ws, "state")
    assert reply["ok"], reply
    coins: int = reply["data"]["coins"]
    return coins


async def coins_become(ws: ClientConnection, expected: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while (coins := await coins_now(ws)) != expected:
        assert coins < expected, f"{coins} coins, more than the {expected} expected"
        assert time.monotonic() < deadline, f"{coins} coins after {timeout} s, not {expected}"
        await asyncio.sleep(0.05)


async def kicked(ws: ClientConnection, frames: list[dict[str, Any]] | None = None) -> None:
    """The server tells the client {"event": "kicked"} (the last frame) and closes the socket."""
    frames = frames or []
    with suppress(ConnectionClosed):
        while True:
            frames.append(json.loads(await asyncio.wait_for(ws.recv(), REPLY_TIMEOUT)))
    assert frames and frames[-1] == {"event": "kicked"}, frames


async def earn_until_kicked(ws: ClientConnection) -> int:
    """Earn a coin at a time as fast as replies come, until the server kicks the player; the coins
    the server acknowledged."""
    acknowledged = 0
    frames: list[dict[str, Any]] = []
    with suppress(ConnectionClosed):
        while not frames:
            await ws.send(json.dumps({"op": "earn", "coins": 1}))
            reply = json.loads(await asyncio.wait_for(ws.recv(), REPLY_TIMEOUT))
            if reply.get("event") == "kicked":
                frames.append(reply)
            elif reply.get("ok"):
                acknowledged += 1
            else:
                assert "moved" in reply["error"], reply
    await kicked(ws, frames)  # the event, then the socket closes
    return acknowledged


# ---- players moving -----------------------------------------------------------------------------------


def test_a_player_hopping_between_servers_keeps_every_coin(start_servers: Any, stored: Any) -> None:
    """alice joins A, B, A, ... while her old server is still earning for her as fast as it can,
    and bob sends her gifts from wherever he is: every coin an old server acknowledged is in the
    join's answer on the new one, each gift arrives once."""
    a, b = start_servers()

    async def scenario() -> None:
        earned = gifts = 0
        async with client(a) as bob:
            assert await join(bob, "bob") == 0
            old = await connect(a.url, proxy=None)
            assert await join(old, "alice") == 0
            for hop in range(6):
                assert (await ask(old, "earn", coins=5))["ok"]
                earned += 5
                new = await connect((b, a)[hop % 2].url, proxy=None)
                earning = asyncio.create_task(earn_until_kicked(old))
                await asyncio.sleep(0.05)  # the old server is earning when the join comes
                assert await ask(bob, "gift", to="alice", coins=100) == {"ok": True}
                gifts += 1
                joined = await join(new, "alice")
                earned += await earning
                # The last gift may be applied before the hand-over, at the join, or just after.
                assert joined - earned in (100 * (gifts - 1), 100 * gifts), (
                    f"hop {hop}: joined with {joined} coins; earned {earned}, gifts {gifts}")
                old = new
            await coins_become(old, earned + 100 * gifts)
            assert await ask(old, "leave") == {"ok": True}
            await old.close()
            assert stored("alice") == earned + 100 * gifts
            # Once more, on the other server: nothing is applied twice.
            async with client(b) as again:
                assert await join(again, "alice") == earned + 100 * gifts
                await asyncio.sleep(0.3)
                assert await coins_now(again) == earned + 100 * gifts

    asyncio.run(scenario())


def test_gifts_arrive_exactly_once_online_or_offline(start_servers: Any, stored: Any) -> None:
    a, b = start_servers()

    async def scenario() -> None:
        async with client(a) as alice, client(b) as bob:
            await join(alice, "alice")
            await join(bob, "bob")
            # bob is online on the other server: his server applies the gift within a poll.
            assert await ask(alice, "gift", to="bob", coins=10) == {"ok": True}
            await coins_become(bob, 10, timeout=5)
            # carol has never played: her gifts wait for her first join, on either server.
            assert await ask(alice, "gift", to="carol", coins=7) == {"ok": True}
            assert await ask(bob, "gift", to="carol", coins=8) == {"ok": True}
            async with client(b) as carol:
                assert await join(carol, "carol") == 15
                assert await ask(carol, "leave") == {"ok": True}
            assert stored("carol") == 15
            async with client(a) as carol:
                assert await join(carol, "carol") == 15  # not applied again
            await asyncio.sleep(0.5)
            assert await coins_now(bob) == 10
            assert await ask(bob, "leave") == {"ok": True}
            assert stored("bob") == 10

    asyncio.run(scenario())


def test_bad_requests_are_answered_with_what_was_wrong(start_servers: Any) -> None:
    (a,) = start_servers(1)

    async def scenario() -> None:
        async with client(a) as ws, client(a) as other:
            async def error(frame: str | bytes) -> str:
                await ws.send(frame)
                reply = json.loads(await asyncio.wait_for(ws.recv(), REPLY_TIMEOUT))
                assert reply["ok"] is False, reply
                text: str = reply["error"]
                return text

            assert "JSON" in await error("{nope")
            assert "binary" in await error(b"\x00")
            assert "object" in await error("[1, 2]")
            assert "join first" in await error(json.dumps({"op": "earn", "coins": 1}))
            assert "unknown op 'fly'" in await error(json.dumps({"op": "fly"}))
            assert "'player'" in await error(json.dumps({"op": "join"}))
            assert "50" in await error(json.dumps({"op": "join", "player": "x" * 51}))  # too long
            await join(ws, "dora")
            assert "'coins'" in await error(json.dumps({"op": "earn", "coins": "5"}))
            assert "'coins'" in await error(json.dumps({"op": "earn", "coins": -1}))
            assert "'to'" in await error(json.dumps({"op": "gift", "coins": 1}))
            assert "leave first" in await error(json.dumps({"op": "join", "player": "eve"}))
            reply = await ask(other, "join", player="dora")
            assert reply["ok"] is False and "already playing" in reply["error"], reply
            assert await ask(ws, "earn", coins=3) == {"ok": True, "coins": 3}  # still playing

    asyncio.run(scenario())


# ---- servers that stop ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_killed_servers_players_rejoin_elsewhere_with_their_saved_coins(
        start_servers: Any, stored: Any) -> None:
    """SIGKILL: what the dead server had not saved is lost, what it saved is there, once; the
    other server takes the sessions after session_steal. SIGTERM: final saves, a clean exit."""
    a, b, c = start_servers(3)

    async def scenario() -> None:
        # alice's 5 coins are saved by her hop to a; the 7 she earns there are not, yet.
        async with client(b) as there:
            await join(there, "alice")
            await ask(there, "earn", coins=5)
            on_a = await connect(a.url, proxy=None)
            assert await join(on_a, "alice") == 5
            await kicked(there)
        assert (await ask(on_a, "earn", coins=7))["coins"] == 12
        # carol's gift is applied on a and saved with its processed id at once.
        carol_on_a = await connect(a.url, proxy=None)
        await join(carol_on_a, "carol")
        async with client(b) as gifter:
            await join(gifter, "gifter")
            assert (await ask(gifter, "gift", to="carol", coins=10))["ok"]
        await coins_become(carol_on_a, 10)
        # dan is on c, which is stopped politely: his unsaved coins get their final save.
        dan_on_c = await connect(c.url, proxy=None)
        await join(dan_on_c, "dan")
        await ask(dan_on_c, "earn", coins=4)

        assert await asyncio.to_thread(a.stop, signal.SIGKILL) == -signal.SIGKILL
        for ws in (on_a, carol_on_a):
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(ws.recv(), REPLY_TIMEOUT)
        assert await asyncio.to_thread(c.stop, signal.SIGTERM) == 0
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(dan_on_c.recv(), REPLY_TIMEOUT)
        assert (stored("alice"), stored("carol"), stored("dan")) == (5, 10, 4)

        async with client(b) as alice, client(b) as carol, client(b) as dan:
            started = time.monotonic()
            assert await join(dan, "dan") == 4  # released by c: at once
            assert time.monotonic() - started < 1.0
            assert await join(alice, "alice") == 5  # held by the dead a: after session_steal
            assert time.monotonic() - started >= SETTINGS["session_steal"] * 0.9
            assert await join(carol, "carol") == 10
            await asyncio.sleep(0.3)
            assert await coins_now(carol) == 10  # the gift was not applied again

    asyncio.run(scenario())


# ---- slow clients ---------------------------------------------------------------------------------------


async def answered_quickly(server: GameServer, player: str, seconds: float) -> float:
    """A player who earns a coin at a time for `seconds`; the slowest answer, in seconds."""
    slowest = 0.0
    async with client(server) as ws:
        began = time.monotonic()
        await join(ws, player)
        slowest = time.monotonic() - began
        while time.monotonic() - began < seconds:
            sent = time.monotonic()
            assert (await ask(ws, "earn", coins=1))["ok"]
            slowest = max(slowest, time.monotonic() - sent)
            await asyncio.sleep(0.02)
    return slowest


class DeafClient:
    """A player whose client sends a burst of requests and never reads an answer: the server's
    answers fill the socket's buffers until its writes to this client wait. A bare socket, framed
    by websockets' Sans-I/O protocol, so that no library reads the answers behind its back."""

    def __init__(self, server: GameServer, player: str, requests: int) -> None:
        self.port = int(server.url.rsplit(":", 1)[1])
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a small window
        self.sock.settimeout(REPLY_TIMEOUT)
        self.sock.connect(("127.0.0.1", self.port))
        protocol = ClientProtocol(parse_uri(server.url))
        protocol.send_request(protocol.connect())
        self.sock.sendall(b"".join(protocol.data_to_send()))
        while protocol.state is not State.OPEN:  # the handshake's answer
            protocol.receive_data(self.sock.recv(65536))
        protocol.send_text(json.dumps({"op": "join", "player": player}).encode())
        self.sock.sendall(b"".join(protocol.data_to_send()))
        answers: list[Any] = []
        while not answers:
            protocol.receive_data(self.sock.recv(65536))
            answers = [event for event in protocol.events_received() if isinstance(event, Frame)]
        assert json.loads(answers[0].data) == {"ok": True, "data": {"coins": 0}}, answers
        protocol.send_text(json.dumps({"op": "state"}).encode())
        burst = b"".join(protocol.data_to_send()) * requests  # the same masked frame, again and again
        self.sock.settimeout(None)
        self.sender = threading.Thread(target=self._send, args=(burst,), daemon=True)
        self.sender.start()

    def _send(self, burst: bytes) -> None:
        with suppress(OSError):  # the socket is shut down at the end
            self.sock.sendall(burst)

    def unread(self) -> int:
        """Bytes of requests the server's process has not read yet: waiting in the server's socket,
        or in this one's (from Linux's /proc/net/tcp)."""
        me = self.sock.getsockname()[1]
        unread = 0
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            local, remote, _, queues = line.split()[1:5]
            ports = int(local.split(":")[1], 16), int(remote.split(":")[1], 16)
            tx_queue, rx_queue = (int(n, 16) for n in queues.split(":"))
            if ports == (self.port, me):
                unread += rx_queue
            elif ports == (me, self.port):
                unread += tx_queue
        return unread

    def wait_until_stuck(self, server: GameServer, timeout: float = 30) -> None:
        """Wait until the server has answered what it read and cannot write more answers: for a
        second, it read none of this client's requests and used little CPU (it reads them in
        chunks of thousands, which keep it busy meanwhile)."""
        deadline = time.monotonic() + timeout
        last, cpu, since = -1, server.cpu_seconds(), time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.1)
            unread = self.unread()
            if unread != last or unread == 0:
                last, cpu, since = unread, server.cpu_seconds(), time.monotonic()
            elif time.monotonic() - since >= 1.0:
                if server.cpu_seconds() - cpu < 0.2:
                    return
                last, cpu, since = unread, server.cpu_seconds(), time.monotonic()
        raise AssertionError(f"the server kept reading the deaf client's requests ({last} bytes unread)")

    def close(self) -> None:
        with suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        self.sender.join(REPLY_TIMEOUT)


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads Linux's /proc")
def test_slow_clients_never_stall_the_others(start_servers: Any, db_url: str) -> None:
    """A client that reads no answer, so that the server's writes to it wait, and a join that waits
    for a silent holder's session: meanwhile every other player's request is answered at once, on
    both servers. A client that goes away while its join waits leaves no session behind."""
    a, b = start_servers()
    silent = Engine(db_url, background=False, settings=Settings(**SETTINGS))  # never answers
    players = ProfileStore("Players", {"coins": 0}, engine=silent)
    assert players.start_session("frank") is not None
    assert players.start_session("gina") is not None

    async def wait_for_frank() -> float:
        async with client(b) as frank:
            began = time.monotonic()
            assert await join(frank, "frank") == 0  # taken from the silent holder
            return time.monotonic() - began

    async def give_up_on_gina() -> None:
        async with client(b) as gina:
            await gina.send(json.dumps({"op": "join", "player": "gina"}))
            await asyncio.sleep(0.3)  # and goes away while the join waits

    async def scenario() -> tuple[float, list[float]]:
        waiting = asyncio.create_task(wait_for_frank())
        giving_up = asyncio.create_task(give_up_on_gina())
        slowest = await asyncio.gather(*(answered_quickly(a, f"quick{n}", 2.0) for n in range(3)),
                                       *(answered_quickly(b, f"swift{n}", 2.0) for n in range(3)))
        await giving_up
        return await waiting, slowest

    deaf = None
    try:
        # 150,000 answers of 35 bytes: more than the socket buffers of both ends hold.
        deaf = DeafClient(a, "deaf", requests=150_000)
        deaf.wait_until_stuck(a)
        waited, slowest = asyncio.run(scenario())
        # Still stuck (though the kernel may have let a few more answers through meanwhile).
        assert deaf.unread() > 0, "the server caught up with a client that reads nothing"
        # b gave up on gina when her client left: 2 s later, it has not taken her session.
        gina = players.get("gina")
        assert gina is not None and gina.session == silent.server.as_session(), gina.session
    finally:
        if deaf is not None:
            deaf.close()
        silent.close(timeout=5)
    assert waited >= SETTINGS["session_steal"] * 0.9, f"frank's join waited only {waited:.2f} s"
    assert max(slowest) < QUICK, f"slowest answers: {slowest}"
