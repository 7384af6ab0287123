"""The event store contract: every EventStore (in-memory fake and Redis) must pass all of it."""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import replace

import pytest
from boards.adapters.event_store import (
    Appended,
    BoardFencedError,
    ChainBrokenError,
    CorruptLogError,
    Duplicates,
    EventStore,
    IdempotencyMismatchError,
    Recorded,
    Tip,
    VersionConflictError,
)
from contracts.chain import ZERO_HASH, event_hash
from contracts.streams import StreamKeys


async def _versions(store: EventStore, board_id: uuid.UUID) -> list[int]:
    return [e.version for e in await store.read(board_id)]


class TestAppend:
    async def test_appends_events_with_gapless_versions(self, store: EventStore, batches) -> None:
        board = uuid.uuid4()
        epoch = await store.epoch(board)
        first = await store.append(
            batches.batch(board, batches.created(), expected_version=0, epoch=epoch)
        )
        second = await store.append(
            batches.batch(board, batches.renames(3), expected_version=1, epoch=epoch)
        )
        assert first == Appended(1)
        assert second == Appended(4)
        assert await _versions(store, board) == [1, 2, 3, 4]
        assert await store.head(board) == 4

    async def test_reads_back_what_was_appended(self, store: EventStore, batches) -> None:
        board = uuid.uuid4()
        epoch = await store.epoch(board)
        sent = batches.batch(board, batches.created(), expected_version=0, epoch=epoch)
        await store.append(sent)
        [event] = await store.read(board)
        assert event.board_id == board
        assert event.epoch == epoch
        assert event.command_id == sent.command_id
        assert event.type == "BoardCreated"

    async def test_boards_do_not_share_versions(self, store: EventStore, batches) -> None:
        a, b = uuid.uuid4(), uuid.uuid4()
        for board in (a, b):
            epoch = await store.epoch(board)
            await store.append(
                batches.batch(board, batches.created(), expected_version=0, epoch=epoch)
            )
        assert await _versions(store, a) == [1]
        assert await _versions(store, b) == [1]


class TestOptimisticConcurrency:
    async def test_rejects_a_stale_expected_version_and_writes_nothing(
        self, store: EventStore, batches
    ) -> None:
        board = uuid.uuid4()
        epoch = await store.epoch(board)
        await store.append(batches.batch(board, batches.created(), expected_version=0, epoch=epoch))
        with pytest.raises(VersionConflictError) as conflict:
            await store.append(
                batches.batch(board, batches.renames(2), expected_version=0, epoch=epoch)
            )
        assert conflict.value.current_version == 1
        assert await _versions(store, board) == [1]

    async def test_rejects_an_expected_version_from_the_future(
        self, store: EventStore, batches
    ) -> None:
        board = uuid.uuid4()
        epoch = await store.epoch(board)
        with pytest.raises(VersionConflictError) as conflict:
            await store.append(
                batches.batch(board, batches.created(), expected_version=5, epoch=epoch)
            )
        assert conflict.value.current_version == 0
        assert await store.head(board) == 0


class TestIdempotency:
    async def test_the_same_command_returns_the_first_result_and_writes_nothing(
        self, store: EventStore, batches
    ) -> None:
        board = uuid.uuid4()
        epoch = await store.epoch(board)
        first = batches.batch(board, batches.created(), expected_version=0, epoch=epoch)
        await store.append(first)
        again = batches.batch(
            board, batches.created(), expected_version=0, epoch=epoch, command_id=first.command_id
        )
        outcome = await store.append(again)
        assert outcome == Recorded(first.request_hash, first.result)
        assert await _versions(store, board) == [1]

    async def test_a_replay_wins_over_a_version_conflict(self, store: EventStore, batches) -> None:
        board = uuid.uuid4()
        epoch = await store.epoch(board)
        first = batches.batch(board, batches.created(), expected_version=0, epoch=epoch)
        await store.append(first)
        await store.append(
            batches.batch(board, batches.renames(1), expected_version=1, epoch=epoch)
        )
        outcome = await store.append(first)
        assert isinstance(outcome, Recorded)
        assert await _versions(store, board) == [1, 2]

    async def test_the_same_id_for_another_command_is_refused(
        self, store: EventStore, batches
    ) -> None:
        board = uuid.uuid4()
        epoch = await store.epoch(board)
        first = batches.batch(board, batches.created(), expected_version=0, epoch=epoch)
        await store.append(first)
        other = batches.batch(
            board,
            batches.renames(1),
            expected_version=1,
            epoch=epoch,
            command_id=first.command_id,
            request_hash="another",
        )
        with pytest.raises(IdempotencyMismatchError):
            await store.append(other)
        assert await _versions(store, board) == [1]

    async def test_recorded_answers_what_an_append_stored(self, store: EventStore, batches) -> None:
        board = uuid.uuid4()
        epoch = await store.epoch(board)
        sent = batches.batch(board, batches.created(), expected_version=0, epoch=epoch)
        assert await store.recorded(board, sent.command_id) is None
        await store.append(sent)
        assert await store.recorded(board, sent.command_id) == Recorded(
            sent.request_hash, sent.result
        )


class TestGroups:
    """Several commands of one board in one atomic append, each with its own record."""

    async def test_appends_the_commands_in_order_with_gapless_versions_and_a_record_each(
        self, store: EventStore, batches
    ) -> None:
        board = uuid.uuid4()
        epoch = await store.epoch(board)
        await store.append(batches.batch(board, batches.created(), expected_version=0, epoch=epoch))
        group = [
            batches.batch(board, batches.renames(1), expected_version=1, epoch=epoch),
            batches.batch(board, batches.renames(2, start=1), expected_version=2, epoch=epoch),
            batches.batch(board, batches.renames(1, start=3), expected_version=4, epoch=epoch),
        ]
        assert await store.append_group(group) == Appended(5)
        events = await store.read(board)
        assert [e.version for e in events] == [1, 2, 3, 4, 5]
        assert [e.command_id for e in events[1:]] == [
            group[0].command_id,
            group[1].command_id,
            group[1].command_id,
            group[2].command_id,
        ]
        for batch in group:
            assert await store.recorded(board, batch.command_id) == Recorded(
                batch.request_hash, batch.result
            )
        assert await store.tip(board) == Tip(5, events[-1].hash)

    async def test_a_group_with_recorded_commands_writes_nothing_and_returns_their_records(
        self, store: EventStore, batches
    ) -> None:
        board = uuid.uuid4()
        epoch = await store.epoch(board)
        first = batches.batch(board, batches.created(), expected_version=0, epoch=epoch)
        await store.append(first)
        again = batches.batch(
            board,
            batches.renames(1),
            expected_version=2,
            epoch=epoch,
            command_id=first.command_id,
            request_hash="another",
        )
        group = [
            batches.batch(board, batches.renames(1), expected_version=1, epoch=epoch),
            again,
            batches.batch(board, batches.renames(1, start=2), expected_version=3, epoch=epoch),
        ]
        outcome = await store.append_group(group)
        assert outcome == Duplicates({1: Recorded(first.request_hash, first.result)})
        assert await _versions(store, board) == [1]
        assert await store.recorded(board, group[0].command_id) is None
        assert await store.recorded(board, group[2].command_id) is None

    async def test_a_stale_group_is_a_conflict_and_writes_nothing(
        self, store: EventStore, batches
    ) -> None:
        board = uuid.uuid4()
        epoch = await store.epoch(board)
        await store.append(batches.batch(board, batches.created(), expected_version=0, epoch=epoch))
        await store.append(
            batches.batch(board, batches.renames(1), expected_version=1, epoch=epoch)
        )
        group = [
            batches.batch(board, batches.renames(1, start=5), expected_version=1, epoch=epoch),
            batches.batch(board, batches.renames(1, start=6), expected_version=2, epoch=epoch),
        ]
        with pytest.raises(VersionConflictError) as conflict:
            await store.append_group(group)
        assert conflict.value.current_version == 2
        assert await _versions(store, board) == [1, 2]
        assert await store.recorded(board, group[1].command_id) is None

    async def test_refuses_commands_of_a_group_not_chained_to_each_other(
        self, store: EventStore, batches
    ) -> None:
        board = uuid.uuid4()
        epoch = await store.epoch(board)
        await store.append(batches.batch(board, batches.created(), expected_version=0, epoch=epoch))
        tip = await store.tip(board)
        group = [
            batches.batch(board, batches.renames(1), expected_version=1, epoch=epoch),
            batches.batch(
                board, batches.renames(1), expected_version=2, epoch=epoch, prev_hash="d" * 64
            ),
        ]
        with pytest.raises(ChainBrokenError):
            await store.append_group(group)
        assert await store.tip(board) == tip
        assert await store.recorded(board, group[0].command_id) is None

    @pytest.mark.parametrize("fault", ["empty", "gap", "two boards", "no events"])
    async def test_a_group_is_commands_of_one_board_numbered_on_from_each_other(
        self, store: EventStore, batches, fault: str
    ) -> None:
        board = uuid.uuid4()
        epoch = await store.epoch(board)
        first = batches.batch(board, batches.created(), expected_version=0, epoch=epoch)
        second = batches.batch(board, batches.renames(1), expected_version=1, epoch=epoch)
        group = {
            "empty": [],
            "gap": [first, replace(second, expected_version=2)],
            "two boards": [first, replace(second, board_id=uuid.uuid4())],
            "no events": [first, replace(second, events=[])],
        }[fault]
        with pytest.raises(ValueError, match="group"):
            await store.append_group(group)
        assert await store.head(board) == 0


class TestFence:
    """A board whose log lost versions the projector's archive holds is fenced (by the projector,
    in Redis); the append refuses it, whole groups included, and writes nothing."""

    async def test_refuses_an_append_to_a_fenced_board_and_writes_nothing(
        self, store: EventStore, batches, fences
    ) -> None:
        board = uuid.uuid4()
        epoch = await store.epoch(board)
        await store.append(batches.batch(board, batches.created(), expected_version=0, epoch=epoch))
        tip = await store.tip(board)
        await fences.fence(board, "archive at 5, log ends at 1")
        refused = batches.batch(board, batches.renames(2), expected_version=1, epoch=epoch)
        with pytest.raises(BoardFencedError) as fenced:
            await store.append(refused)
        assert fenced.value.board_id == board
        assert fenced.value.reason == "archive at 5, log ends at 1"
        assert await _versions(store, board) == [1]
        assert await store.tip(board) == tip
        assert await store.recorded(board, refused.command_id) is None

    async def test_refuses_a_fenced_board_with_no_log_left(
        self, store: EventStore, batches, fences
    ) -> None:
        # A restore older than the board itself: a CreateBoard of its id must not start it over.
        board = uuid.uuid4()
        await fences.fence(board)
        epoch = await store.epoch(board)
        with pytest.raises(BoardFencedError):
            await store.append(
                batches.batch(board, batches.created(), expected_version=0, epoch=epoch)
            )
        assert await store.head(board) == 0

    async def test_refuses_a_whole_group_of_a_fenced_board(
        self, store: EventStore, batches, fences
    ) -> None:
        board = uuid.uuid4()
        epoch = await store.epoch(board)
        await store.append(batches.batch(board, batches.created(), expected_version=0, epoch=epoch))
        await fences.fence(board)
        group = [
            batches.batch(board, batches.renames(1), expected_version=1, epoch=epoch),
            batches.batch(board, batches.renames(2, start=1), expected_version=2, epoch=epoch),
        ]
        with pytest.raises(BoardFencedError):
            await store.append_group(group)
        assert await _versions(store, board) == [1]
        for batch in group:
            assert await store.recorded(board, batch.command_id) is None

    async def test_other_boards_of_the_same_partition_keep_appending_meanwhile(
        self, store: EventStore, batches, fences, stream_keys: StreamKeys
    ) -> None:
        fenced, other = _two_boards_of_one_partition(stream_keys)
        epoch = await store.epoch(fenced)
        for board in (fenced, other):
            await store.append(
                batches.batch(board, batches.created(), expected_version=0, epoch=epoch)
            )
        await fences.fence(fenced)
        # At once: the Redis store sends both calls in one round trip (adapters/pipelining.py).
        outcomes = await asyncio.gather(
            store.append_group(
                [batches.batch(fenced, batches.renames(1), expected_version=1, epoch=epoch)]
            ),
            store.append_group(
                [
                    batches.batch(other, batches.renames(1), expected_version=1, epoch=epoch),
                    batches.batch(
                        other, batches.renames(1, start=1), expected_version=2, epoch=epoch
                    ),
                ]
            ),
            return_exceptions=True,
        )
        assert isinstance(outcomes[0], BoardFencedError)
        assert outcomes[1] == Appended(3)
        assert await _versions(store, fenced) == [1]
        assert await _versions(store, other) == [1, 2, 3]

    async def test_a_recorded_command_is_still_answered_from_its_record(
        self, store: EventStore, batches, fences
    ) -> None:
        # The record is the log's own answer to that command, and answering it writes nothing.
        board = uuid.uuid4()
        epoch = await store.epoch(board)
        first = batches.batch(board, batches.created(), expected_version=0, epoch=epoch)
        await store.append(first)
        await fences.fence(board)
        assert await store.append(first) == Recorded(first.request_hash, first.result)
        assert await _versions(store, board) == [1]

    async def test_a_lifted_fence_lets_the_board_take_commands_again(
        self, store: EventStore, batches, fences
    ) -> None:
        board = uuid.uuid4()
        epoch = await store.epoch(board)
        await store.append(batches.batch(board, batches.created(), expected_version=0, epoch=epoch))
        await fences.fence(board)
        again = batches.batch(board, batches.renames(1), expected_version=1, epoch=epoch)
        with pytest.raises(BoardFencedError):
            await store.append(again)
        await fences.lift(board)
        assert await store.append(again) == Appended(2)
        assert await _versions(store, board) == [1, 2]


def _two_boards_of_one_partition(keys: StreamKeys) -> tuple[uuid.UUID, uuid.UUID]:
    first, second = uuid.uuid4(), uuid.uuid4()
    while keys.partition_of(second) != keys.partition_of(first):
        second = uuid.uuid4()
    return first, second


class TestRead:
    async def test_reads_a_range_of_versions(self, store: EventStore, batches) -> None:
        board = uuid.uuid4()
        epoch = await store.epoch(board)
        await store.append(batches.batch(board, batches.created(), expected_version=0, epoch=epoch))
        await store.append(
            batches.batch(board, batches.renames(9), expected_version=1, epoch=epoch)
        )
        assert [e.version for e in await store.read(board, after_version=3)] == list(range(4, 11))
        assert [e.version for e in await store.read(board, after_version=3, to_version=5)] == [4, 5]

    async def test_reads_more_than_one_page(self, store: EventStore, batches) -> None:
        board = uuid.uuid4()
        epoch = await store.epoch(board)
        await store.append(batches.batch(board, batches.created(), expected_version=0, epoch=epoch))
        await store.append(
            batches.batch(board, batches.renames(2100), expected_version=1, epoch=epoch)
        )
        assert await _versions(store, board) == list(range(1, 2102))

    async def test_an_unknown_board_is_empty(self, store: EventStore) -> None:
        board = uuid.uuid4()
        assert await store.read(board) == []
        assert await store.head(board) == 0

    async def test_the_epoch_is_stable(self, store: EventStore) -> None:
        board = uuid.uuid4()
        assert await store.epoch(board) == await store.epoch(board)


class TestSnapshots:
    async def test_none_until_one_is_saved(self, store: EventStore) -> None:
        assert await store.snapshot(uuid.uuid4()) is None

    async def test_keeps_the_newest(self, store: EventStore) -> None:
        board = uuid.uuid4()
        assert await store.save_snapshot(board, 10, b"ten")
        assert await store.save_snapshot(board, 20, b"twenty")
        assert not await store.save_snapshot(board, 15, b"fifteen")
        assert not await store.save_snapshot(board, 20, b"another twenty")
        assert await store.snapshot(board) == (20, b"twenty")


class TestHashChain:
    async def test_the_tip_is_the_head_version_and_its_events_hash(
        self, store: EventStore, batches
    ) -> None:
        board = uuid.uuid4()
        epoch = await store.epoch(board)
        assert await store.tip(board) == Tip(0, ZERO_HASH)
        sent = batches.batch(board, batches.created(), expected_version=0, epoch=epoch)
        await store.append(sent)
        [event] = await store.read(board)
        assert await store.tip(board) == Tip(1, event.hash)
        assert event.hash == event_hash(json.loads(sent.events[0]))

    async def test_refuses_a_batch_not_chained_to_the_head_and_writes_nothing(
        self, store: EventStore, batches
    ) -> None:
        board = uuid.uuid4()
        epoch = await store.epoch(board)
        await store.append(batches.batch(board, batches.created(), expected_version=0, epoch=epoch))
        tip = await store.tip(board)
        forked = batches.batch(
            board, batches.renames(2), expected_version=1, epoch=epoch, prev_hash="a" * 64
        )
        with pytest.raises(ChainBrokenError) as broken:
            await store.append(forked)
        assert broken.value.head_hash == tip.hash
        assert await _versions(store, board) == [1]
        assert await store.tip(board) == tip

    async def test_refuses_a_first_event_not_chained_to_the_zero_hash(
        self, store: EventStore, batches
    ) -> None:
        board = uuid.uuid4()
        epoch = await store.epoch(board)
        with pytest.raises(ChainBrokenError):
            await store.append(
                batches.batch(
                    board, batches.created(), expected_version=0, epoch=epoch, prev_hash="b" * 64
                )
            )
        assert await store.head(board) == 0

    async def test_refuses_events_of_one_batch_not_chained_to_each_other(
        self, store: EventStore, batches
    ) -> None:
        board = uuid.uuid4()
        epoch = await store.epoch(board)
        sent = batches.batch(board, batches.created(), expected_version=0, epoch=epoch)
        other = batches.batch(board, batches.renames(1), expected_version=1, epoch=epoch)
        spliced = replace(sent, events=[sent.events[0], _with_prev_hash(other.events[0], "c" * 64)])
        with pytest.raises(ChainBrokenError):
            await store.append(spliced)
        assert await store.head(board) == 0

    async def test_refuses_events_without_a_chain(self, store: EventStore, batches) -> None:
        board = uuid.uuid4()
        epoch = await store.epoch(board)
        sent = batches.batch(board, batches.created(), expected_version=0, epoch=epoch)
        document = json.loads(sent.events[0])
        del document["prev_hash"], document["hash"]
        with pytest.raises(CorruptLogError):
            await store.append(replace(sent, events=[json.dumps(document).encode()]))
        assert await store.head(board) == 0

    async def test_a_stale_version_is_a_conflict_before_it_is_a_broken_chain(
        self, store: EventStore, batches
    ) -> None:
        board = uuid.uuid4()
        epoch = await store.epoch(board)
        await store.append(batches.batch(board, batches.created(), expected_version=0, epoch=epoch))
        with pytest.raises(VersionConflictError):
            await store.append(
                batches.batch(board, batches.created(), expected_version=0, epoch=epoch)
            )


def _with_prev_hash(raw: bytes, prev_hash: str) -> bytes:
    document = json.loads(raw)
    document["prev_hash"] = prev_hash
    document["hash"] = event_hash(document)
    return json.dumps(document).encode()
