"""WebSocket subscribers of one board for the `e2e` benchmark, in a process of their own.

The benchmark starts `python -m bench.subscribers` and talks to it in JSON lines, one request on
stdin, one reply on stdout:

- `{"op": "open", "url", "token", "board", "since", "count"}`: opens `count` sockets, each
  authenticates and subscribes to `board` from `since`; the reply comes once every one of them has
  had its first `events` message (the empty one that says "up to date"), so every event after
  `since` is owed to every subscriber. With `"boards": [...]` instead of `board`, socket `i`
  subscribes to `boards[i % len(boards)]` (all of them at the same head `since`).
- `{"op": "reach", "head", "within"}`: replies once every socket has every version up to `head`
  (or is closed), or after `within` seconds: `reached` says how many had it. `head` is a version
  for every board, or an object of each board's head.
- `{"op": "collect", "head", "due": [[version, due, answered], ...], "within"}`: waits (bounded)
  until every subscriber has received every version up to `head`, closes the sockets and replies
  with what they received: delivered, missing, duplicates, latencies. The latency of an event for
  a subscriber is when its `events` frame was read here minus the `due` time of the command that
  caused it; `after_response` is the same minus when the command's HTTP response was read
  (negative when the event came first). All are `time.monotonic()` (CLOCK_MONOTONIC, one clock
  for every process). An entry of `due` may name its board as a fourth item
  (`[version, due, answered, board]`); it then counts for that board's sockets only, and entries
  without one count for every board. With `"by_version": true` the reply also has every
  latency, in seconds, under its version, so that several subscriber processes' figures can be
  merged.

Living in their own process, the subscribers' frame handling is not queued behind the load
generator's on one event loop, and their CPU is measured apart from it.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson
import uvloop

from bench.runtime import latency_ms, raise_fd_limit

MAX_REQUEST_BYTES = 64 * 1024 * 1024
ACK_TIMEOUT_S = 60.0
CONNECT_CONCURRENCY = 20

# The version every socket must reach: one for all boards, or each board's own.
Heads = int | dict[str, int]


@dataclass(slots=True)
class Watcher:
    """One socket subscribed to one board, and what it received."""

    ws: aiohttp.ClientWebSocketResponse
    board: str
    since: int
    last: int = 0
    received: dict[int, float] = field(default_factory=dict)
    duplicates: int = 0
    gaps: int = 0
    snapshots: int = 0
    frames: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    closed_with: int | None = None
    acked: asyncio.Event = field(default_factory=asyncio.Event)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self.last = self.since

    async def read(self) -> None:
        async for message in self.ws:
            now = time.monotonic()
            if message.type is aiohttp.WSMsgType.TEXT:
                self.frames += 1
                self.on_message(now, orjson.loads(message.data))
        self.closed_with = self.ws.close_code
        self.acked.set()
        self.changed.set()

    def on_message(self, now: float, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "events":
            for event in message["events"]:
                self.on_event(now, int(event["version"]))
            self.acked.set()
        elif kind == "snapshot":
            # Sent to a subscriber that fell behind: the events it skipped are never sent.
            self.snapshots += 1
            self.last = max(self.last, int(message["version"]))
        elif kind == "error":
            self.errors[str(message.get("code"))] += 1
            self.acked.set()
        self.changed.set()

    def on_event(self, now: float, version: int) -> None:
        if version in self.received or version <= self.since:
            self.duplicates += 1
            return
        if version != self.last + 1:
            self.gaps += 1
        self.received[version] = now
        self.last = max(self.last, version)

    def missing(self, head: int) -> int:
        return sum(1 for v in range(self.since + 1, head + 1) if v not in self.received)

    @property
    def gone(self) -> bool:
        return self.closed_with is not None


class Subscribers:
    def __init__(self) -> None:
        connector = aiohttp.TCPConnector(limit=0)
        self.session = aiohttp.ClientSession(connector=connector)
        self.watchers: list[Watcher] = []
        self.readers: list[asyncio.Task[None]] = []

    async def open(self, url: str, token: str, boards: list[str], since: int, count: int) -> float:
        """Returns the seconds it took until every subscription was acknowledged."""
        start = time.monotonic()
        room = asyncio.Semaphore(CONNECT_CONCURRENCY)

        async def one(board: str) -> Watcher:
            async with room:
                ws = await self.session.ws_connect(f"{url}/ws", autoping=True)
                await ws.send_json({"type": "auth", "token": token})
                message = {"type": "subscribe", "board_id": board, "since_version": since}
                await ws.send_json(message)
                return Watcher(ws, board, since)

        chosen = (boards[i % len(boards)] for i in range(count))
        self.watchers = list(await asyncio.gather(*(one(board) for board in chosen)))
        self.readers = [asyncio.create_task(w.read()) for w in self.watchers]
        try:
            async with asyncio.timeout(ACK_TIMEOUT_S):
                await asyncio.gather(*(w.acked.wait() for w in self.watchers))
        except TimeoutError:
            acked = sum(1 for w in self.watchers if w.acked.is_set())
            raise RuntimeError(
                f"{acked} of {count} subscriptions acknowledged within {ACK_TIMEOUT_S:g} s"
            ) from None
        refused = [w for w in self.watchers if w.gone or w.errors]
        if refused:
            w = refused[0]
            raise RuntimeError(f"a subscription was refused: {dict(w.errors)}, {w.closed_with}")
        return time.monotonic() - start

    async def reach(self, head: Heads, within: float) -> int:
        """Waits (at most `within` s) until every socket has its board's head or is closed;
        returns how many have it."""
        try:
            async with asyncio.timeout(within):
                for w in self.watchers:
                    while w.last < _head_of(head, w) and not w.gone:
                        w.changed.clear()
                        await w.changed.wait()
        except TimeoutError:
            pass
        return sum(1 for w in self.watchers if w.last >= _head_of(head, w))

    async def collect(
        self, head: Heads, commands: list[list[Any]], within: float, *, by_version: bool = False
    ) -> dict[str, Any]:
        start = time.monotonic()
        await self.reach(head, within)
        drained = time.monotonic() - start
        due: dict[str | None, dict[int, float]] = {}
        answered: dict[str | None, dict[int, float]] = {}
        for version, due_at, answered_at, *board in commands:
            key = board[0] if board else None
            due.setdefault(key, {})[int(version)] = due_at
            answered.setdefault(key, {})[int(version)] = answered_at
        summary = self._summary(head, due, answered)
        summary["wait_after_load_s"] = round(drained, 3)
        if by_version:
            summary["by_version"] = self._by_version(due.get(None, {}))
        await self.close_sockets()
        return summary

    def _by_version(self, due: dict[int, float]) -> dict[str, list[float]]:
        return {
            str(v): [round(w.received[v] - t, 6) for w in self.watchers if v in w.received]
            for v, t in due.items()
        }

    def _summary(
        self,
        head: Heads,
        due_by_board: dict[str | None, dict[int, float]],
        answered_by_board: dict[str | None, dict[int, float]],
    ) -> dict[str, Any]:
        latencies: list[float] = []
        after_response: list[float] = []
        per_subscriber_p50: list[float] = []
        for w in self.watchers:
            due = due_by_board.get(w.board) or due_by_board.get(None, {})
            answered = answered_by_board.get(w.board) or answered_by_board.get(None, {})
            mine = sorted(w.received[v] - t for v, t in due.items() if v in w.received)
            if mine:
                per_subscriber_p50.append(mine[len(mine) // 2])
            latencies.extend(mine)
            after_response.extend(w.received[v] - t for v, t in answered.items() if v in w.received)
        errors: Counter[str] = Counter()
        for w in self.watchers:
            errors.update(w.errors)
        return {
            "latency": latency_ms(latencies),
            "samples": len(latencies),
            "after_response": latency_ms(after_response),
            "per_subscriber_p50_ms": {
                "min": _ms(min(per_subscriber_p50, default=None)),
                "max": _ms(max(per_subscriber_p50, default=None)),
            },
            "delivered": sum(len(w.received) for w in self.watchers),
            "expected": sum(max(0, _head_of(head, w) - w.since) for w in self.watchers),
            "missing": sum(w.missing(_head_of(head, w)) for w in self.watchers),
            "duplicates": sum(w.duplicates for w in self.watchers),
            "gaps": sum(w.gaps for w in self.watchers),
            "snapshots": sum(w.snapshots for w in self.watchers),
            "frames": sum(w.frames for w in self.watchers),
            "ws_errors": dict(errors),
            "closed_by_server": sum(1 for w in self.watchers if w.gone),
        }

    async def close_sockets(self) -> None:
        await asyncio.gather(*(w.ws.close() for w in self.watchers), return_exceptions=True)
        await asyncio.gather(*self.readers, return_exceptions=True)
        self.watchers, self.readers = [], []

    async def close(self) -> None:
        await self.close_sockets()
        await self.session.close()


def _head_of(head: Heads, watcher: Watcher) -> int:
    return head if isinstance(head, int) else int(head[watcher.board])


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 2)


def _reply(message: dict[str, Any]) -> None:
    sys.stdout.buffer.write(orjson.dumps(message) + b"\n")
    sys.stdout.buffer.flush()


async def _handle(subscribers: Subscribers, request: dict[str, Any]) -> dict[str, Any]:
    if request["op"] == "open":
        boards = request.get("boards") or [request["board"]]
        seconds = await subscribers.open(
            request["url"], request["token"], boards, request["since"], request["count"]
        )
        return {"ok": True, "seconds": round(seconds, 3)}
    if request["op"] == "reach":
        reached = await subscribers.reach(request["head"], request["within"])
        return {"ok": True, "reached": reached, "of": len(subscribers.watchers)}
    if request["op"] == "collect":
        return await subscribers.collect(
            request["head"],
            request["due"],
            request["within"],
            by_version=bool(request.get("by_version")),
        )
    raise ValueError(f"unknown op {request['op']!r}")


async def main() -> None:
    raise_fd_limit()
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=MAX_REQUEST_BYTES)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    subscribers = Subscribers()
    try:
        while line := await reader.readline():
            try:
                reply = await _handle(subscribers, orjson.loads(line))
            except Exception as exc:
                reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
            _reply(reply)
    finally:
        await subscribers.close()


if __name__ == "__main__":
    uvloop.run(main())
