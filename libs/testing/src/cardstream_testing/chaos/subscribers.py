"""WebSocket subscribers as the browser client is one: a board is taken from its `snapshot` and
folded event by event (the projector's own projection), and after a lost connection or an ended
subscription it is subscribed again with `since_version` (docs/websocket.md). What each one saw
is kept for the verification: every gap or repeat delivered, and the events since its last
snapshot."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

import aiohttp
from contracts.envelope import event_adapter
from contracts.read_models import BoardDetail
from projector.projection import BoardProjection, ProjectionError, apply_event
from projector.views import detail_of

RESUBSCRIBE_S = 0.5
RECONNECT_S = 0.5
# Codes after which the subscription has ended (docs/websocket.md); subscribe again.
ENDING = {"not_found", "forbidden", "unavailable", "internal"}


class Reader(Protocol):
    """Who a subscriber reads as: a signed-in `chaos.identity.Identity`, or a test's own."""

    email: str

    async def reading_token(self) -> str: ...

    async def renew(self, refused: str) -> None: ...


@dataclass
class View:
    board_id: str
    projection: BoardProjection | None = None
    snapshot_version: int = 0
    # (version, event id) of every event since the last snapshot, as delivered.
    since_snapshot: list[tuple[int, str]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    snapshots: int = 0
    events: int = 0
    # After an event that did not fold, the view is wrong until the next snapshot: the first
    # problem is kept, the events after it are not reported again.
    broken: bool = False

    @property
    def version(self) -> int:
        return self.projection.version if self.projection is not None else 0

    def take_snapshot(self, version: int, detail: dict[str, Any]) -> None:
        self.snapshots += 1
        self.snapshot_version = version
        self.since_snapshot = []
        self.broken = False
        board = dict(detail["board"])
        if board["version"] != version:
            self.problems.append(f"snapshot {version} holds a board at {board['version']}")
        ahead = [(c["card_id"], c["version"]) for c in detail["cards"] if c["version"] > version]
        if ahead:
            self.problems.append(f"snapshot {version} holds cards of later versions: {ahead}")
        self.projection = BoardProjection(
            self.board_id,
            board=board,
            cards={str(c["card_id"]): dict(c) for c in detail["cards"]},
            stored_version=version,
        )

    def take_events(self, events: list[dict[str, Any]]) -> None:
        for raw in events:
            self.events += 1
            if self.broken:
                continue
            if self.projection is None:
                self.problems.append(f"event {raw['version']} before any snapshot")
                continue
            if raw["version"] != self.version + 1:
                self.problems.append(f"event {raw['version']} delivered at {self.version}")
                self.broken = True
                continue
            try:
                apply_event(self.projection, event_adapter.validate_json(json.dumps(raw)))
            except ProjectionError as error:
                self.problems.append(f"event {raw['version']} does not fold: {error}")
                self.broken = True
                continue
            self.since_snapshot.append((int(raw["version"]), str(raw["event_id"])))

    def detail(self) -> BoardDetail | None:
        return None if self.projection is None else detail_of(self.projection)


@dataclass
class Subscriber:
    url: str
    user: Reader
    views: dict[str, View]
    connections: int = 0
    ended: int = 0  # subscriptions ended by the server (`unavailable` and the like)
    _ws: aiohttp.ClientWebSocketResponse | None = None
    _pending: set[asyncio.Task[None]] = field(default_factory=set)

    _closing: bool = False

    async def run(self, session: aiohttp.ClientSession) -> None:
        while not self._closing:
            with contextlib.suppress(aiohttp.ClientError, TimeoutError, OSError):
                await self._connection(session)
            if not self._closing:
                await asyncio.sleep(RECONNECT_S)

    async def close(self) -> None:
        self._closing = True
        if self._ws is not None:
            await self._ws.close()
        for task in list(self._pending):
            task.cancel()

    def stats(self) -> dict[str, int]:
        views = self.views.values()
        return {
            "connections": self.connections,
            "ended_by_server": self.ended,
            "snapshots": sum(v.snapshots for v in views),
            "events": sum(v.events for v in views),
        }

    async def _connection(self, session: aiohttp.ClientSession) -> None:
        token = await self.user.reading_token()
        async with session.ws_connect(f"{self.url}/ws", timeout=aiohttp.ClientWSTimeout(10)) as ws:
            self._ws = ws
            self.connections += 1
            await ws.send_json({"type": "auth", "token": token})
            for view in self.views.values():
                await self._subscribe(ws, view)
            async for message in ws:
                if message.type is aiohttp.WSMsgType.TEXT:
                    self._handle(ws, json.loads(message.data))
            if ws.close_code == 4401:
                await self.user.renew(token)

    async def _subscribe(self, ws: aiohttp.ClientWebSocketResponse, view: View) -> None:
        message: dict[str, Any] = {"type": "subscribe", "board_id": view.board_id}
        if view.projection is not None:
            message["since_version"] = view.version
        await ws.send_json(message)

    def _handle(self, ws: aiohttp.ClientWebSocketResponse, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "snapshot":
            detail = message["board"]
            self.views[str(detail["board"]["board_id"])].take_snapshot(message["version"], detail)
        elif kind == "events":
            self.views[str(message["board_id"])].take_events(message["events"])
        elif kind == "error" and message.get("code") in ENDING and message.get("board_id"):
            self.ended += 1
            view = self.views[str(message["board_id"])]
            task = asyncio.create_task(self._again(ws, view))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

    async def _again(self, ws: aiohttp.ClientWebSocketResponse, view: View) -> None:
        await asyncio.sleep(RESUBSCRIBE_S)
        if ws is self._ws and not ws.closed:
            with contextlib.suppress(aiohttp.ClientError, ConnectionError, RuntimeError):
                await self._subscribe(ws, view)

    async def until_at(self, heads: dict[str, int], deadline: float) -> bool:
        """Polls until every followed board is at its head; False if the deadline passed."""
        while time.monotonic() < deadline:
            if all(v.version >= heads[b] for b, v in self.views.items()):
                return True
            await asyncio.sleep(0.1)
        return False
