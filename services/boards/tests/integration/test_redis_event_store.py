"""What only the Redis adapter can show: the feed, hash tags, atomicity under races and faults."""

from __future__ import annotations

import asyncio
import re
import uuid
from pathlib import Path

import pytest
from boards.adapters.event_store import (
    Appended,
    BoardFencedError,
    CorruptLogError,
    EpochChangedError,
    VersionConflictError,
)
from boards.adapters.redis_store import RedisEventStore
from cardstream_testing import RedisServer
from contracts.envelope import event_adapter
from contracts.streams import StreamKeys
from redis.asyncio import Redis
from redis.exceptions import OutOfMemoryError


async def _feed(redis: Redis, keys: StreamKeys, board: uuid.UUID) -> list[tuple[str, int, bytes]]:
    entries = await redis.xrange(keys.feed(keys.partition_of(board)))
    return [
        (f[b"board"].decode(), int(f[b"version"]), f[b"event"])
        for _, f in entries
        if f[b"board"].decode() == str(board)
    ]


async def _log(redis: Redis, keys: StreamKeys, board: uuid.UUID) -> list[tuple[bytes, bytes]]:
    return [(entry_id, f[b"event"]) for entry_id, f in await redis.xrange(keys.board_log(board))]


class TestFeed:
    async def test_the_feed_carries_the_same_events_as_the_board_log(
        self, redis_store: RedisEventStore, redis: Redis, stream_keys: StreamKeys, batches
    ) -> None:
        board = uuid.uuid4()
        epoch = await redis_store.epoch(board)
        await redis_store.append(
            batches.batch(board, batches.created(), expected_version=0, epoch=epoch)
        )
        await redis_store.append(
            batches.batch(board, batches.renames(2), expected_version=1, epoch=epoch)
        )
        log = await _log(redis, stream_keys, board)
        feed = await _feed(redis, stream_keys, board)
        assert [entry_id for entry_id, _ in log] == [b"1-0", b"2-0", b"3-0"]
        assert [(v, e) for _, v, e in feed] == [(i + 1, e) for i, (_, e) in enumerate(log)]

    async def test_a_groups_events_reach_the_feed_in_order_with_the_board_log(
        self, redis_store: RedisEventStore, redis: Redis, stream_keys: StreamKeys, batches
    ) -> None:
        board = uuid.uuid4()
        epoch = await redis_store.epoch(board)
        group = [
            batches.batch(board, batches.created(), expected_version=0, epoch=epoch),
            batches.batch(board, batches.renames(2), expected_version=1, epoch=epoch),
            batches.batch(board, batches.renames(1, start=2), expected_version=3, epoch=epoch),
        ]
        assert await redis_store.append_group(group) == Appended(4)
        log = await _log(redis, stream_keys, board)
        feed = await _feed(redis, stream_keys, board)
        assert [e for _, e in log] == [e for batch in group for e in batch.events]
        assert [(v, e) for _, v, e in feed] == [(i + 1, e) for i, (_, e) in enumerate(log)]

    async def test_every_key_of_a_board_shares_its_partition_hash_tag(
        self, stream_keys: StreamKeys
    ) -> None:
        board, command = uuid.uuid4(), uuid.uuid4()
        partition = stream_keys.partition_of(board)
        names = [
            stream_keys.board_log(board),
            stream_keys.board_head(board),
            stream_keys.command(board, command),
            stream_keys.board_snapshot(board),
            stream_keys.feed(partition),
            stream_keys.epoch(partition),
            stream_keys.fenced(partition),
        ]
        tags = {re.search(r"\{([^}]*)\}", name).group(1) for name in names}  # type: ignore[union-attr]
        assert tags == {f"p{partition}"}


class TestPipelining:
    async def test_groups_of_different_boards_issued_together_share_one_round_trip(
        self, redis_store: RedisEventStore, batches, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        pipeline = redis_store._pipeline
        sizes: list[int] = []
        round_trip = pipeline._round_trip

        async def counted(batch):  # type: ignore[no-untyped-def]
            sizes.append(len(batch))
            return await round_trip(batch)

        monkeypatch.setattr(pipeline, "_round_trip", counted)
        boards = [uuid.uuid4() for _ in range(8)]
        groups = []
        for board in boards:
            epoch = await redis_store.epoch(board)
            groups.append(
                [
                    batches.batch(board, batches.created(), expected_version=0, epoch=epoch),
                    batches.batch(board, batches.renames(2), expected_version=1, epoch=epoch),
                ]
            )
        outcomes = await asyncio.gather(*(redis_store.append_group(g) for g in groups))
        assert outcomes == [Appended(3)] * 8
        assert sizes == [8]
        for board in boards:
            assert await redis_store.head(board) == 3


class TestFence:
    async def test_a_fenced_boards_call_in_a_shared_round_trip_writes_nothing_to_the_feed(
        self,
        redis_store: RedisEventStore,
        redis: Redis,
        stream_keys: StreamKeys,
        batches,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        pipeline = redis_store._pipeline
        sizes: list[int] = []
        round_trip = pipeline._round_trip

        async def counted(batch):  # type: ignore[no-untyped-def]
            sizes.append(len(batch))
            return await round_trip(batch)

        fenced, other = uuid.uuid4(), uuid.uuid4()
        epochs = {}
        for board in (fenced, other):
            epochs[board] = await redis_store.epoch(board)
            await redis_store.append(
                batches.batch(board, batches.created(), expected_version=0, epoch=epochs[board])
            )
        key = stream_keys.fenced(stream_keys.partition_of(fenced))
        await redis.hset(key, str(fenced), '{"reason": "the log lost versions"}')  # type: ignore[misc]
        feed_before = await _feed(redis, stream_keys, fenced)
        monkeypatch.setattr(pipeline, "_round_trip", counted)

        outcomes = await asyncio.gather(
            *(
                redis_store.append(
                    batches.batch(
                        board, batches.renames(2), expected_version=1, epoch=epochs[board]
                    )
                )
                for board in (fenced, other)
            ),
            return_exceptions=True,
        )

        assert sizes == [2]
        assert isinstance(outcomes[0], BoardFencedError)
        assert outcomes[0].reason == '{"reason": "the log lost versions"}'
        assert outcomes[1] == Appended(3)
        assert await _feed(redis, stream_keys, fenced) == feed_before
        assert len(await _log(redis, stream_keys, fenced)) == 1
        assert await redis.get(stream_keys.board_head(fenced)) == b"1"

    async def test_a_fence_key_that_is_not_a_hash_is_a_corrupt_log(
        self, redis_store: RedisEventStore, redis: Redis, stream_keys: StreamKeys, batches
    ) -> None:
        board = uuid.uuid4()
        epoch = await redis_store.epoch(board)
        key = stream_keys.fenced(stream_keys.partition_of(board))
        await redis.set(key, "not a hash")
        try:
            with pytest.raises(CorruptLogError, match="holds a string"):
                await redis_store.append(
                    batches.batch(board, batches.created(), expected_version=0, epoch=epoch)
                )
            assert await redis_store.head(board) == 0
        finally:
            await redis.delete(key)


class TestConcurrentAppends:
    async def test_fifty_appends_at_one_version_let_exactly_one_win(
        self, redis_store: RedisEventStore, redis: Redis, stream_keys: StreamKeys, batches
    ) -> None:
        board = uuid.uuid4()
        epoch = await redis_store.epoch(board)
        await redis_store.append(
            batches.batch(board, batches.created(), expected_version=0, epoch=epoch)
        )
        contenders = [
            batches.batch(board, batches.renames(2, start=10 * i), expected_version=1, epoch=epoch)
            for i in range(50)
        ]
        outcomes = await asyncio.gather(
            *(redis_store.append(c) for c in contenders), return_exceptions=True
        )
        winners = [c for c, o in zip(contenders, outcomes, strict=True) if isinstance(o, Appended)]
        conflicts = [o for o in outcomes if isinstance(o, VersionConflictError)]
        assert len(winners) == 1
        assert len(conflicts) == 49
        assert all(c.current_version == 3 for c in conflicts)
        log = await _log(redis, stream_keys, board)
        assert [e for _, e in log[1:]] == list(winners[0].events)
        assert [entry_id for entry_id, _ in log] == [b"1-0", b"2-0", b"3-0"]
        feed = await _feed(redis, stream_keys, board)
        assert [e for _, _, e in feed] == [e for _, e in log]


class TestNothingIsHalfWritten:
    async def test_a_feed_that_cannot_be_written_leaves_the_board_log_untouched(
        self, redis_store: RedisEventStore, redis: Redis, stream_keys: StreamKeys, batches
    ) -> None:
        board = uuid.uuid4()
        epoch = await redis_store.epoch(board)
        await redis_store.append(
            batches.batch(board, batches.created(), expected_version=0, epoch=epoch)
        )
        feed_key = stream_keys.feed(stream_keys.partition_of(board))
        saved = await redis.dump(feed_key)
        # The fault: the feed's key now holds a string, so XADD onto it would fail after the
        # board's own write if the function wrote before checking.
        await redis.delete(feed_key)
        await redis.set(feed_key, "not a stream")
        try:
            sent = batches.batch(board, batches.renames(2), expected_version=1, epoch=epoch)
            with pytest.raises(CorruptLogError):
                await redis_store.append(sent)
            assert len(await _log(redis, stream_keys, board)) == 1
            assert await redis_store.head(board) == 1
            assert await redis_store.recorded(board, sent.command_id) is None
            assert await redis.get(feed_key) == b"not a stream"
        finally:
            await redis.delete(feed_key)
            await redis.restore(feed_key, 0, saved)

    async def test_a_log_that_disagrees_with_its_head_is_not_appended_to(
        self, redis_store: RedisEventStore, redis: Redis, stream_keys: StreamKeys, batches
    ) -> None:
        board = uuid.uuid4()
        epoch = await redis_store.epoch(board)
        await redis_store.append(
            batches.batch(board, batches.created(), expected_version=0, epoch=epoch)
        )
        await redis.xadd(stream_keys.board_log(board), {"event": b"{}"}, id="7-0")
        with pytest.raises(CorruptLogError):
            await redis_store.append(
                batches.batch(board, batches.renames(1), expected_version=1, epoch=epoch)
            )
        assert await redis_store.head(board) == 1
        assert len(await _feed(redis, stream_keys, board)) == 1

    async def test_a_redis_out_of_memory_refuses_the_whole_append(
        self, tmp_path: Path, batches
    ) -> None:
        with RedisServer(tmp_path) as server:
            redis = Redis.from_url(server.url, decode_responses=False)
            try:
                keys = StreamKeys(partitions=2)
                store = RedisEventStore(redis, keys)
                await store.install()
                board = uuid.uuid4()
                epoch = await store.epoch(board)
                await store.append(
                    batches.batch(board, batches.created(), expected_version=0, epoch=epoch)
                )
                await redis.config_set("maxmemory", 1)
                with pytest.raises(OutOfMemoryError):
                    await store.append(
                        batches.batch(board, batches.renames(1), expected_version=1, epoch=epoch)
                    )
                await redis.config_set("maxmemory", 0)
                assert await store.head(board) == 1
                assert [e.version for e in await store.read(board)] == [1]
            finally:
                await redis.aclose()


class TestEpoch:
    async def test_events_stamped_with_another_epoch_are_refused(
        self, redis_store: RedisEventStore, stream_keys: StreamKeys, batches
    ) -> None:
        board = uuid.uuid4()
        with pytest.raises(EpochChangedError):
            await redis_store.append(
                batches.batch(board, batches.created(), expected_version=0, epoch="old")
            )
        assert await redis_store.head(board) == 0

    async def test_a_lost_epoch_starts_a_new_one(
        self, redis_store: RedisEventStore, redis: Redis, stream_keys: StreamKeys, batches
    ) -> None:
        board = uuid.uuid4()
        before = await redis_store.epoch(board)
        await redis.delete(stream_keys.epoch(stream_keys.partition_of(board)))
        with pytest.raises(EpochChangedError):
            await redis_store.append(
                batches.batch(board, batches.created(), expected_version=0, epoch=before)
            )
        after = await redis_store.epoch(board)
        assert after != before
        await redis_store.append(
            batches.batch(board, batches.created(), expected_version=0, epoch=after)
        )
        [event] = await redis_store.read(board)
        assert event.epoch == after

    async def test_every_event_carries_its_partitions_epoch(
        self, redis_store: RedisEventStore, redis: Redis, stream_keys: StreamKeys, batches
    ) -> None:
        board = uuid.uuid4()
        epoch = await redis_store.epoch(board)
        await redis_store.append(
            batches.batch(board, batches.created(), expected_version=0, epoch=epoch)
        )
        stored = await redis.get(stream_keys.epoch(stream_keys.partition_of(board)))
        [(_, raw)] = await _log(redis, stream_keys, board)
        assert event_adapter.validate_json(raw).epoch == stored.decode()
