"""Lag from the feed and the MongoDB checkpoint, over a real Redis and FerretDB."""

from __future__ import annotations

import pytest
from contracts.streams import StreamKeys
from projector.read import metrics
from projector.read.metrics import partition_lags
from projector.store.mongo import MongoReadStore
from projector.store.port import Checkpoint
from redis.asyncio import Redis

# Run on one server and on the test cluster.
pytestmark = pytest.mark.redis_kinds("server", "cluster")


@pytest.fixture
def keys(key_prefix: str) -> StreamKeys:
    return StreamKeys(prefix=key_prefix, partitions=2)


async def _feed(redis: Redis, keys: StreamKeys, ids: list[str]) -> None:
    async with redis.pipeline(transaction=False) as pipe:
        for entry_id in ids:
            pipe.xadd(keys.feed(0), {"event": b"{}"}, id=entry_id)
        await pipe.execute()


class TestPartitionLags:
    async def test_empty_feeds_have_no_lag(
        self, redis: Redis, keys: StreamKeys, read_store: MongoReadStore
    ) -> None:
        lags = await partition_lags(redis, read_store, keys)
        assert [(lag.partition, lag.entries, lag.seconds, lag.dead_letters) for lag in lags] == [
            (0, 0, 0.0, 0),
            (1, 0, 0.0, 0),
        ]

    async def test_counts_past_one_page_and_times_by_entry_ids(
        self, redis: Redis, keys: StreamKeys, read_store: MongoReadStore
    ) -> None:
        await _feed(redis, keys, [f"{1_000 + i}-0" for i in range(2_600)])
        await read_store.save_checkpoint(Checkpoint(0, "1099-0", None))
        [lag, _] = await partition_lags(redis, read_store, keys)
        assert lag.entries == 2_500
        assert lag.seconds == (3_599 - 1_099) / 1000

    async def test_stops_counting_at_the_cap(
        self,
        redis: Redis,
        keys: StreamKeys,
        read_store: MongoReadStore,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setattr(metrics, "LAG_ENTRIES_CAP", 1_500)
        await _feed(redis, keys, [f"{1 + i}-0" for i in range(2_000)])
        await read_store.save_checkpoint(Checkpoint(0, "0-1", None))
        [lag, _] = await partition_lags(redis, read_store, keys)
        assert lag.entries == 1_500

    async def test_without_a_checkpoint_everything_is_behind(
        self, redis: Redis, keys: StreamKeys, read_store: MongoReadStore
    ) -> None:
        await _feed(redis, keys, ["5000-0", "5000-1", "7500-0"])
        [lag, _] = await partition_lags(redis, read_store, keys)
        assert (lag.entries, lag.seconds) == (3, 2.5)

    async def test_a_checkpoint_at_the_head_is_no_lag(
        self, redis: Redis, keys: StreamKeys, read_store: MongoReadStore
    ) -> None:
        await _feed(redis, keys, ["5000-0", "5000-1"])
        await read_store.save_checkpoint(Checkpoint(0, "5000-1", None))
        [lag, _] = await partition_lags(redis, read_store, keys)
        assert (lag.entries, lag.seconds) == (0, 0.0)
