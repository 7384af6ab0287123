"""Reading events from Redis for subscribers: one tail over every partition feed for live events,
and the boards' own logs for catch-up and for the gaps the feed may leave."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any
from uuid import UUID

from contracts.streams import BOARD_FIELD, EVENT_FIELD, VERSION_FIELD, StreamKeys, board_entry_id
from redis.asyncio import Redis
from redis.exceptions import RedisError

from projector.ws.batches import BoardBatch, Item

log = logging.getLogger("projector.ws")

LOG_PAGE = 1_000
RETRY_PAUSE_S = 0.5

_BOARD = BOARD_FIELD.encode()
_VERSION = VERSION_FIELD.encode()
_EVENT = EVENT_FIELD.encode()


def raise_if_cancelling() -> None:
    """redis-py can swallow a cancellation that lands while it connects (seen with 8.1 on Python
    3.11): a loop that would otherwise run on checks between its calls."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


class LogTooLongError(Exception):
    """More of a board's log than one read may hold in memory."""


class BoardLog:
    """A board's log: entry ids are versions, so any range of versions is an XRANGE."""

    def __init__(self, redis: Redis, keys: StreamKeys) -> None:
        self._redis = redis
        self._keys = keys

    async def head(self, board_id: UUID) -> int:
        value: bytes | None = await self._redis.get(self._keys.board_head(board_id))  # type: ignore[assignment]
        return int(value) if value is not None else 0

    async def after(self, board_id: UUID, version: int, *, limit: int | None = None) -> list[Item]:
        """Every event after `version`, in pages; `LogTooLongError` past `limit` events."""
        key = self._keys.board_log(board_id)
        items: list[Item] = []
        start = version + 1
        while True:
            page: Any = await self._redis.xrange(key, board_entry_id(start), "+", count=LOG_PAGE)
            for entry_id, fields in page:
                items.append((int(entry_id.split(b"-", 1)[0]), fields.get(_EVENT, b"")))
            if limit is not None and len(items) > limit:
                raise LogTooLongError(f"board {board_id} has more than {limit} events to read")
            if len(page) < LOG_PAGE:
                return items
            start = items[-1][0] + 1


class FeedTail:
    """Tails every partition feed with one blocking XREAD and hands each read over, grouped by
    board, to `dispatch`. Starts at the feeds' ends as they are when `start` runs."""

    def __init__(
        self,
        redis: Redis,
        keys: StreamKeys,
        *,
        wanted: Callable[[str], bool],
        dispatch: Callable[[list[BoardBatch]], None],
        count: int,
        block_ms: int,
    ) -> None:
        self._redis = redis
        self._feeds = [keys.feed(p) for p in range(keys.partitions)]
        self._wanted = wanted
        self._dispatch = dispatch
        self._count = count
        self._block_ms = block_ms
        self._positions: dict[Any, Any] = {}

    async def start(self) -> None:
        # The newest entry, not `$`: a later XREAD from `$` would skip what arrived in between.
        async with self._redis.pipeline(transaction=False) as pipe:
            for feed in self._feeds:
                pipe.xrevrange(feed, "+", "-", count=1)
            newest: list[Any] = await pipe.execute()
        self._positions = {
            feed: entries[0][0] if entries else b"0-0"
            for feed, entries in zip(self._feeds, newest, strict=True)
        }

    async def run(self) -> None:
        while True:
            raise_if_cancelling()
            try:
                reply: Any = await self._redis.xread(
                    self._positions, count=self._count, block=self._block_ms
                )
            except RedisError:
                log.warning("cannot read the feeds; retrying", exc_info=True)
                await asyncio.sleep(RETRY_PAUSE_S)
                continue
            if reply:
                self._dispatch(self._batches(reply))

    def _batches(self, reply: Any) -> list[BoardBatch]:
        streams = reply.items() if isinstance(reply, dict) else reply
        by_board: dict[str, list[Item]] = {}
        for feed, entries in streams:
            if isinstance(entries, list) and entries and isinstance(entries[0], list):
                entries = entries[0]  # RESP3 wraps each stream's entries once more
            if not entries:
                continue
            name = feed.decode() if isinstance(feed, bytes) else str(feed)
            self._positions[name] = entries[-1][0]
            for _, fields in entries:
                board = fields.get(_BOARD)
                if board is None:
                    continue
                board_id = board.decode()
                if not self._wanted(board_id):
                    continue
                try:
                    version = int(fields[_VERSION])
                except (KeyError, ValueError):
                    continue
                by_board.setdefault(board_id, []).append((version, fields.get(_EVENT, b"")))
        return [BoardBatch(board_id, items) for board_id, items in by_board.items()]
