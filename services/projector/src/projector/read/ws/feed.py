"""Live events for subscribers: one tail over every partition feed, whichever process applies
them. (Catch-up and the gaps a feed may leave are read from the boards' own logs,
`projector.streams.BoardLog`.)"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from contracts.streams import StreamKeys
from redis.asyncio import Redis
from redis.exceptions import RedisError

from projector.read.ws.batches import BoardBatch
from projector.streams import LogItem, feed_item, id_text

log = logging.getLogger("projector.ws")

RETRY_PAUSE_S = 0.5


def raise_if_cancelling() -> None:
    """redis-py can swallow a cancellation that lands while it connects (seen with 8.1 on Python
    3.11): a loop that would otherwise run on checks between its calls."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


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
        by_board: dict[str, list[LogItem]] = {}
        for feed, entries in streams:
            if isinstance(entries, list) and entries and isinstance(entries[0], list):
                entries = entries[0]  # RESP3 wraps each stream's entries once more
            if not entries:
                continue
            self._positions[id_text(feed)] = entries[-1][0]
            for _, fields in entries:
                found = feed_item(fields)
                if found is not None and self._wanted(found[0]):
                    by_board.setdefault(found[0], []).append(found[1])
        return [BoardBatch(board_id, items) for board_id, items in by_board.items()]
