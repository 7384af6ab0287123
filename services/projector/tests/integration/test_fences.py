"""Fences (`projector.fences`): when a board's log lost versions its archive and read models hold
(Redis restored from an older copy), the projector holds the board, so that the command side
appends nothing more to it; an operator lifts the hold once the board is recovered. Over real
Redis and FerretDB."""

from __future__ import annotations

import io
import uuid

import pytest
from cardstream_testing.feeds import append, envelopes
from contracts.envelope import AnyEvent
from contracts.events import BoardCreated, BoardRenamed, CardAdded, ColumnAdded, Event
from contracts.streams import StreamKeys
from projector.apply.consumer import LogDivergedError, PartitionApplier
from projector.fences import BoardFences, Fence
from projector.ops.fencing import FenceError, unfence
from projector.ops.progress import Progress
from projector.ops.rebuild import verify_live
from projector.store.mongo import MongoReadStore
from projector.store.port import Checkpoint
from redis.asyncio import Redis

# Run on one server and on the test cluster.
pytestmark = pytest.mark.redis_kinds("server", "cluster")


@pytest.fixture
def keys(key_prefix: str) -> StreamKeys:
    # One partition: the boards of a test share a feed, a fence hash and a checkpoint.
    return StreamKeys(prefix=key_prefix, partitions=1)


def _story(board: uuid.UUID, renames: int = 0) -> list[Event]:
    column, card = uuid.uuid5(board, "column"), uuid.uuid5(board, "card")
    return [
        BoardCreated(title="t0", owner_id="alice"),
        ColumnAdded(column_id=column, title="c", position="a0"),
        CardAdded(card_id=card, column_id=column, position="a0", title="card"),
        *[BoardRenamed(title=f"t{i + 1}", previous_title=f"t{i}") for i in range(renames)],
    ]


async def _applied(
    redis: Redis, keys: StreamKeys, store: MongoReadStore, *stories: list[AnyEvent]
) -> PartitionApplier:
    for story in stories:
        await append(redis, keys, story)
    applier = PartitionApplier(redis, keys, store, 0, consumer="one", block_ms=50, claim_idle_ms=0)
    await applier.start()
    await _drain(applier)
    return applier


async def _drain(applier: PartitionApplier) -> None:
    for _ in range(100):
        if await applier.run_once(block=False) == 0:
            return
    raise AssertionError("the feed did not drain")


async def _restore_log(redis: Redis, keys: StreamKeys, story: list[AnyEvent], up_to: int) -> None:
    """The board's log as an older copy of Redis has it: up to version `up_to`."""
    board = story[0].board_id
    await redis.delete(keys.board_log(board), keys.board_head(board))
    await append(redis, keys, story[:up_to], to_feed=False)


def _progress() -> Progress:
    return Progress(io.StringIO(), "test")


class TestTheApplierFences:
    async def test_a_board_written_again_from_a_lost_version_is_fenced_alone(
        self, redis: Redis, keys: StreamKeys, read_store: MongoReadStore
    ) -> None:
        board, other = uuid.uuid4(), uuid.uuid4()
        story = envelopes(board, _story(board, renames=2))
        applier = await _applied(redis, keys, read_store, story, envelopes(other, _story(other)))
        # Restored to version 2, then a command appended version 3 again: another event.
        await _restore_log(redis, keys, story, 2)
        again = envelopes(board, [BoardRenamed(title="again", previous_title="t0")], start=3)
        await append(redis, keys, [again[0].model_copy(update={"event_id": uuid.uuid4()})])

        await _drain(applier)

        fence = await BoardFences(redis, keys).get(str(board))
        assert fence is not None
        assert fence.reason.startswith("diverged: version 3 is applied as event")
        assert (fence.archive_version, fence.log_end, fence.by) == (5, 3, "projector one")
        assert await BoardFences(redis, keys).get(str(other)) is None

    @pytest.mark.parametrize("epoch", ["test-epoch", "an-older-epoch"])
    async def test_a_partition_whose_log_diverged_fences_its_boards_beyond_their_logs_first(
        self, redis: Redis, keys: StreamKeys, read_store: MongoReadStore, epoch: str
    ) -> None:
        board, other = uuid.uuid4(), uuid.uuid4()
        story = envelopes(board, _story(board, renames=2))
        await _applied(redis, keys, read_store, story, envelopes(other, _story(other)))
        await _restore_log(redis, keys, story, 2)
        # The feed of the older copy ends below the checkpoint (or the epoch is another one).
        await read_store.save_checkpoint(Checkpoint(0, "99999999999999-0", epoch))

        fresh = PartitionApplier(redis, keys, read_store, 0, consumer="two")
        with pytest.raises(LogDivergedError, match=r"\(1 boards beyond their log's end fenced\)"):
            await fresh.start()

        [fence] = await BoardFences(redis, keys).all()
        assert fence.board_id == str(board)
        assert (fence.archive_version, fence.log_end, fence.by) == (5, 2, "projector two")
        assert "the read models are at version 5, its log ends at 2" in fence.reason


class TestVerificationFences:
    async def test_verify_only_fences_the_board_it_reports(
        self, redis: Redis, keys: StreamKeys, read_store: MongoReadStore
    ) -> None:
        board, other = uuid.uuid4(), uuid.uuid4()
        story = envelopes(board, _story(board, renames=2))
        await _applied(redis, keys, read_store, story, envelopes(other, _story(other)))
        await _restore_log(redis, keys, story, 2)

        result = await verify_live(redis, read_store, keys, _progress())

        assert [p.split(":")[0] for p in result.problems] == [f"board {board}"]
        assert [f.board_id for f in result.fenced] == [str(board)]
        [fence] = await BoardFences(redis, keys).all()
        assert (fence.board_id, fence.archive_version, fence.log_end) == (str(board), 5, 2)
        assert fence.by == "rebuild --verify-only"


class TestTheFenceHash:
    async def test_a_fence_set_by_hand_is_listed_with_its_text_as_the_reason(
        self, redis: Redis, keys: StreamKeys
    ) -> None:
        board = str(uuid.uuid4())
        await redis.hset(keys.fenced(0), board, "held by Ann during the audit")  # type: ignore[misc]

        [fence] = await BoardFences(redis, keys).all()

        assert (fence.board_id, fence.reason, fence.archive_version) == (
            board,
            "held by Ann during the audit",
            None,
        )


class TestUnfence:
    async def test_refuses_while_the_archive_is_beyond_the_log_and_lifts_once_recovered(
        self, redis: Redis, keys: StreamKeys, read_store: MongoReadStore
    ) -> None:
        board = uuid.uuid4()
        story = envelopes(board, _story(board, renames=2))
        await _applied(redis, keys, read_store, story)
        await _restore_log(redis, keys, story, 2)
        await verify_live(redis, read_store, keys, _progress())

        with pytest.raises(FenceError, match="the archive holds version 3, its log ends at 2"):
            await unfence(redis, read_store, keys, board, force=False)
        # Recovered by writing the archived events back to the log (docs/operations.md).
        await append(redis, keys, story[2:], to_feed=False)
        lifted = await unfence(redis, read_store, keys, board, force=False)

        assert (lifted.board_id, lifted.archive_version) == (str(board), 5)
        assert await BoardFences(redis, keys).all() == []
        with pytest.raises(FenceError, match="is not fenced"):
            await unfence(redis, read_store, keys, board, force=False)

    async def test_refuses_while_the_log_holds_another_event_at_the_read_models_version(
        self, redis: Redis, keys: StreamKeys, read_store: MongoReadStore
    ) -> None:
        # The log reached the read models' version again, but with the new history's events.
        board = uuid.uuid4()
        story = envelopes(board, _story(board, renames=2))
        await _applied(redis, keys, read_store, story)
        await _restore_log(redis, keys, story, 4)
        other = story[4].model_copy(update={"event_id": uuid.uuid4()})
        await append(redis, keys, [other], to_feed=False)
        await BoardFences(redis, keys).fence(
            Fence.found(str(board), "by the test", archive_version=5, log_end=5, by="test")
        )

        with pytest.raises(FenceError, match=f"but event {other.event_id} in the log"):
            await unfence(redis, read_store, keys, board, force=False)
        assert (await unfence(redis, read_store, keys, board, force=True)).reason == "by the test"
        assert await BoardFences(redis, keys).all() == []
