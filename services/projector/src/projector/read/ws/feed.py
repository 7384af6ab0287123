"""Live events for subscribers: one tail over every partition feed, whichever process applies
them. (Catch-up and the gaps a feed may leave are read from the boards' own logs,
`projector.streams.BoardLog`.)"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any
from uuid import UUID

from cardstream_runtime.redis_urls import REDIS_ERRORS, AnyRedis
from contracts.streams import StreamKeys
from redis.asyncio.cluster import RedisCluster

from projector.channels import raise_if_cancelling
from projector.read.ws.batches import BoardBatch
from projector.streams import LogItem, feed_item, id_text

log = logging.getLogger("projector.ws")

RETRY_PAUSE_S = 0.5


class FeedTail:
    """Tails the partition feeds this process's subscribers need, with one blocking XREAD, and
    hands each read over, grouped by board, to `dispatch`.

    A partition is followed from the moment a subscription asks (`follow`), starting at the feed's
    newest entry then, before that subscription reads anything else; it is dropped once no board
    of it is wanted. A process without subscribers reads no feed at all.

    On a Redis Cluster one XREAD may name the feeds of one slot only, and each partition has a
    slot of its own: there each followed feed gets a blocking XREAD loop of its own (a
    connection each, to the primary serving it), so one partition's entries never wait on
    another's read. One server keeps the single XREAD over every followed feed.
    """

    def __init__(
        self,
        redis: AnyRedis,
        keys: StreamKeys,
        *,
        wanted: Callable[[str], bool],
        wanted_partitions: Callable[[], set[int]],
        dispatch: Callable[[list[BoardBatch]], None],
        count: int,
        block_ms: int,
    ) -> None:
        self._redis = redis
        self._keys = keys
        self._wanted = wanted
        self._wanted_partitions = wanted_partitions
        self._dispatch = dispatch
        self._count = count
        self._block_ms = block_ms
        self._positions: dict[str, Any] = {}
        self._partition_of_feed: dict[str, int] = {}
        self._followed = asyncio.Event()
        self._reading: asyncio.Task[Any] | None = None

    @property
    def partitions(self) -> set[int]:
        return set(self._partition_of_feed.values())

    async def follow(self, board_id: UUID) -> None:
        partition = self._keys.partition_of(board_id)
        feed = self._keys.feed(partition)
        if feed in self._positions:
            return
        # The newest entry, not `$`: a later XREAD from `$` would skip what arrived in between.
        newest: Any = await self._redis.xrevrange(feed, "+", "-", count=1)
        if feed in self._positions:
            return  # followed meanwhile, maybe from an earlier position: keep that one
        self._positions[feed] = newest[0][0] if newest else b"0-0"
        self._partition_of_feed[feed] = partition
        self._followed.set()
        if self._reading is not None and not self._reading.done():
            # (One server only: on a cluster `_run_per_feed` starts this feed's own read.)
            self._reading.cancel()  # read again, with this feed too

    def _unfollow_unwanted(self) -> None:
        wanted = self._wanted_partitions()
        for feed, partition in list(self._partition_of_feed.items()):
            if partition not in wanted:
                del self._partition_of_feed[feed]
                del self._positions[feed]

    async def run(self) -> None:
        if isinstance(self._redis, RedisCluster):
            await self._run_per_feed()
            return
        while True:
            raise_if_cancelling()
            self._unfollow_unwanted()
            if not self._positions:
                self._followed.clear()
                await self._followed.wait()
                continue
            reply = await self._read(dict(self._positions))
            if reply:
                self._dispatch(self._batches(reply))

    async def _run_per_feed(self) -> None:
        tails: dict[str, asyncio.Task[None]] = {}
        try:
            while True:
                raise_if_cancelling()
                self._followed.clear()
                for feed in self._positions:
                    if feed not in tails or tails[feed].done():
                        tails[feed] = asyncio.create_task(self._tail(feed), name=f"ws-feed-{feed}")
                await self._followed.wait()
        finally:
            for task in tails.values():
                task.cancel()
            await asyncio.gather(*tails.values(), return_exceptions=True)

    async def _tail(self, feed: str) -> None:
        # Ends once the feed is no longer followed; checked and left with no await in between,
        # so a `follow` of it again finds this task done and starts another.
        while feed in self._positions:
            raise_if_cancelling()
            try:
                reply = await self._xread({feed: self._positions[feed]})
            except REDIS_ERRORS:
                log.warning("cannot read the feed %s; retrying", feed, exc_info=True)
                await asyncio.sleep(RETRY_PAUSE_S)
                continue
            if reply and feed in self._positions:
                self._dispatch(self._batches(reply))
            self._unfollow_unwanted()

    async def _xread(self, positions: Any) -> Any:
        return await self._redis.xread(positions, count=self._count, block=self._block_ms)

    async def _read(self, positions: dict[str, Any]) -> Any:
        self._reading = asyncio.create_task(self._xread(positions))
        try:
            return await self._reading
        except asyncio.CancelledError:
            raise_if_cancelling()  # our own stop; otherwise `follow` asked for another read
            return None
        except REDIS_ERRORS:
            log.warning("cannot read the feeds; retrying", exc_info=True)
            await asyncio.sleep(RETRY_PAUSE_S)
            return None
        finally:
            self._reading = None

    def _batches(self, reply: Any) -> list[BoardBatch]:
        streams = reply.items() if isinstance(reply, dict) else reply
        by_board: dict[str, list[LogItem]] = {}
        for feed, entries in streams:
            if isinstance(entries, list) and entries and isinstance(entries[0], list):
                entries = entries[0]  # RESP3 wraps each stream's entries once more
            name = id_text(feed)
            if not entries or name not in self._positions:
                continue
            self._positions[name] = entries[-1][0]
            for _, fields in entries:
                found = feed_item(fields)
                if found is not None and self._wanted(found[0]):
                    by_board.setdefault(found[0], []).append(found[1])
        return [BoardBatch(board_id, items) for board_id, items in by_board.items()]
