"""A websocket game server on profilestore.aio: players join, earn coins and send gifts.

Run two servers on one database, each in a terminal of its own (the `examples` extra installs
`websockets`: `pip install '.[examples]'`; a `postgresql://` database needs the `postgres` extra):

    python examples/game_server.py --database sqlite:///game.db --port 8765
    python examples/game_server.py --database sqlite:///game.db --port 8766

and connect a client to either (`python -m websockets` is an interactive one):

    python -m websockets ws://127.0.0.1:8765
    > {"op": "join", "player": "alice"}
    < {"ok": true, "data": {"coins": 0}}
    > {"op": "earn", "coins": 5}
    < {"ok": true, "coins": 5}

Joining "alice" on the other server now moves her there: this server saves her profile for the
last time, tells the client `{"event": "kicked"}` and closes its socket; the other answers the
join once the session is handed over, with the 5 coins. `--settings` takes fields of
`profilestore.Settings` as JSON (`'{"poll_interval": 0.05, "session_steal": 1.0}'`), `--port 0`
lets the system pick a port; the line saying `listening` tells which.

The protocol: JSON text frames, one reply per request, in order.

    {"op": "join", "player": NAME}             -> {"ok": true, "data": {...}}   once the session is held
    {"op": "earn", "coins": N}                 -> {"ok": true, "coins": TOTAL}
    {"op": "gift", "to": NAME, "coins": N}     -> {"ok": true}                  once the gift is stored
    {"op": "state"}                            -> {"ok": true, "data": {...}}
    {"op": "leave"}                            -> {"ok": true}                  after the final save

A request the server refuses gets {"ok": false, "error": "..."} saying why. A socket that closes
ends its player's session too. Earned coins are stored by the auto-save (every
`auto_save_period`), or by the final save when the player leaves or moves: a server that crashes
loses the coins earned since its last save, and its players can join elsewhere once the session
is taken over (after `session_steal`). A gift is a message to the receiver's profile, applied
exactly once by whichever server holds it, now or at the receiver's next join. The sender is not
charged: taking the coins from the sender too needs the escrow of docs/trades.md.

Everything runs on one event loop and no call blocks it: profilestore.aio does the database work
on threads, and game code changes `profile.data` without locks or awaits. SIGTERM or SIGINT
closes every connection (ending their sessions with a final save), then the engine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import logging
import signal
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from profilestore import ProfileStoreError, Settings
from profilestore.aio import AsyncEngine, AsyncProfile, AsyncProfileStore

log = logging.getLogger("game_server")
T = TypeVar("T")

MAX_COINS = 1_000_000  # the most coins one request may earn or give


class Player(BaseModel):
    """A player's profile data: the store `Players`, keyed by the player's name."""

    coins: int = 0


class BadRequest(Exception):
    """A request the server refuses; the text is the reply's error."""


class Disconnected(Exception):
    """The client went away while its request was waiting."""


class Game:
    """The server's state: the store, and which client plays which player here."""

    def __init__(self, store: AsyncProfileStore) -> None:
        self.store = store
        self.online: dict[str, Client] = {}  # a player's name -> the client playing it here

    async def connect(self, websocket: ServerConnection) -> None:
        """The websocket server's handler: one per connection."""
        await Client(self, websocket).run()


class Client:
    """One connection, and the player it plays once joined."""

    def __init__(self, game: Game, websocket: ServerConnection) -> None:
        self.game = game
        self.websocket = websocket
        self.name = ""
        self.profile: AsyncProfile | None = None
        self.leaving = False  # this client asked for the session's end (leave or disconnect)
        self.kicked = False  # another server took the session: the socket is about to close
        self.kick_task: asyncio.Task[None] | None = None

    async def run(self) -> None:
        """Answer requests until the socket closes; then end the player's session."""
        try:
            async for frame in self.websocket:
                reply = await self.answer(frame)
                await self.websocket.send(json.dumps(reply))
        except (ConnectionClosed, Disconnected):
            pass
        finally:
            await self.end_session()

    async def answer(self, frame: str | bytes) -> dict[str, Any]:
        try:
            request = parse(frame)
            op = request.get("op")
            if op == "join":
                return await self.join(name_field(request, "player"))
            if op == "earn":
                return self.earn(coins_field(request))
            if op == "gift":
                return await self.gift(name_field(request, "to"), coins_field(request))
            if op == "state":
                return {"ok": True, "data": self.playing().model_dump()}
            if op == "leave":
                self.playing()
                await self.end_session()
                return {"ok": True}
            raise BadRequest(f"unknown op {op!r}: join, earn, gift, state or leave")
        except BadRequest as error:
            return {"ok": False, "error": str(error)}

    # ---- requests ----------------------------------------------------------------------------------

    async def join(self, name: str) -> dict[str, Any]:
        if self.profile is not None:
            raise BadRequest(f"already playing {self.name!r}: leave first")
        if name in self.game.online:
            raise BadRequest(f"{name!r} is already playing on this server")
        self.game.online[name] = self  # taken while the join waits
        try:
            # Waits while another server hands the session over (or until it is taken after
            # session_steal); the loop serves the other clients meanwhile.
            profile = await self.until_disconnected(self.game.store.start_session(name))
        except ProfileStoreError as error:  # a name too long, ...
            raise BadRequest(str(error)) from None
        finally:
            del self.game.online[name]
        if profile is None:
            raise BadRequest(f"could not get {name!r}'s session (another server asked for it too,"
                             " or this one is shutting down): try again")
        self.name, self.profile, self.leaving = name, profile, False
        self.game.online[name] = self
        profile.on_session_end.connect(functools.partial(self.on_session_end, profile))
        profile.message_handler(functools.partial(self.on_message, profile))  # gifts held: now
        if not profile.is_active():  # taken by another server before on_session_end was connected
            self.on_session_end(profile)
            raise BadRequest(f"{name!r}'s session moved to another server at once: try again")
        log.info("%s joined with %d coins", name, profile.data.coins)
        return {"ok": True, "data": profile.data.model_dump()}

    def earn(self, coins: int) -> dict[str, Any]:
        player = self.playing()
        player.coins += coins  # no lock and no await: the data belongs to this loop
        return {"ok": True, "coins": player.coins}

    async def gift(self, to: str, coins: int) -> dict[str, Any]:
        self.playing()
        try:
            stored = await self.game.store.message(to, {"gift": coins, "from": self.name})
        except ProfileStoreError as error:
            raise BadRequest(str(error)) from None
        if not stored:
            raise BadRequest(f"the gift to {to!r} was not stored (too many gifts waiting, or the"
                             " database failed): try again")
        return {"ok": True}

    def playing(self) -> Player:
        """The data of the player this client plays."""
        if self.kicked or (self.profile is not None and not self.profile.is_active()):
            raise BadRequest(f"{self.name!r} moved to another server")  # kicked (or about to be)
        if self.profile is None:
            raise BadRequest('join first: {"op": "join", "player": NAME}')
        data: Player = self.profile.data
        return data

    # ---- the session ---------------------------------------------------------------------------------

    def on_message(self, profile: AsyncProfile, message: dict[str, Any],
                   processed: Callable[[], None]) -> None:
        """A gift, applied once: the processed id is stored by the same save as the coins."""
        coins = message.get("gift")
        if isinstance(coins, int) and not isinstance(coins, bool):
            profile.data.coins += coins
            processed()
            log.info("%s received %d coins from %s", profile.key, coins, message.get("from"))

    def on_session_end(self, profile: AsyncProfile) -> None:
        """The session ended: kick the client unless it asked for the end itself."""
        if self.leaving or profile is not self.profile:
            return
        log.info("%s moved to another server: kicking its client", self.name)
        self.kicked = True
        self.forget_player()
        self.kick_task = asyncio.create_task(self.kick())

    async def kick(self) -> None:
        with contextlib.suppress(ConnectionClosed):
            await self.websocket.send(json.dumps({"event": "kicked"}))
        await self.websocket.close(4000, "the player moved to another server")

    async def end_session(self) -> None:
        """End the player's session with a final save (returns once it is stored)."""
        if self.profile is None:
            return
        self.leaving = True
        profile, name = self.profile, self.name
        self.forget_player()
        await profile.end_session()
        log.info("%s left with %d coins", name, profile.data.coins)

    def forget_player(self) -> None:
        if self.game.online.get(self.name) is self:
            del self.game.online[self.name]
        self.profile = None

    async def until_disconnected(self, work: Awaitable[T]) -> T:
        """`await work`, but give up (cancel it) if the client disconnects first."""
        task = asyncio.ensure_future(work)
        closed = asyncio.ensure_future(self.websocket.wait_closed())
        try:
            await asyncio.wait([task, closed], return_when=asyncio.FIRST_COMPLETED)
        finally:
            closed.cancel()
            if not task.done():
                task.cancel()  # a cancelled start_session gives up and holds no session
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if task.cancelled():
            raise Disconnected
        return task.result()


# ---- requests ------------------------------------------------------------------------------------------


def parse(frame: str | bytes) -> dict[str, Any]:
    if isinstance(frame, bytes):
        raise BadRequest("send JSON text frames, not binary ones")
    try:
        request = json.loads(frame)
    except json.JSONDecodeError as error:
        raise BadRequest(f"not JSON: {error}") from None
    if not isinstance(request, dict):
        raise BadRequest('a request is a JSON object, such as {"op": "state"}')
    return request


def name_field(request: dict[str, Any], field: str) -> str:
    value = request.get(field)
    if not isinstance(value, str) or not value:
        raise BadRequest(f"{field!r} must be a player's name (a non-empty string), not {json.dumps(value)}")
    return value


def coins_field(request: dict[str, Any]) -> int:
    value = request.get("coins")
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_COINS:
        raise BadRequest(f"'coins' must be a whole number from 1 to {MAX_COINS}, not {json.dumps(value)}")
    return value


# ---- the process ---------------------------------------------------------------------------------------


async def main(database: str | None, host: str, port: int, settings: Settings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with AsyncEngine(database, settings=settings) as engine:
        game = Game(AsyncProfileStore("Players", Player, engine=engine))
        async with serve(game.connect, host, port) as server:
            port = server.sockets[0].getsockname()[1]
            print(f"listening on ws://{host}:{port}", flush=True)
            await stop.wait()
            log.info("stopping: closing the connections, which ends their sessions")
        # Leaving `serve` closed every connection and waited for their handlers; leaving the
        # engine saves whatever session is left, for the last time.
    log.info("stopped")


def settings_json(text: str) -> Settings:
    try:
        return Settings.model_validate_json(text)
    except ValidationError as error:
        raise argparse.ArgumentTypeError(f"bad settings: {error}") from None


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", help="a database URL (default: PROFILESTORE_DATABASE_URL or"
                        " sqlite:///profilestore.db)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="0: any free port")
    parser.add_argument("--settings", type=settings_json, default=Settings(),
                        help='profilestore.Settings fields as JSON: \'{"poll_interval": 0.05}\'')
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    asyncio.run(main(args.database, args.host, args.port, args.settings))


if __name__ == "__main__":
    cli()
