"""Applying the feed to MongoDB: order, redelivery, gaps, poison, divergence, two appliers."""

from __future__ import annotations

import asyncio
import io
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from cardstream_runtime.redis_urls import AnyRedis
from cardstream_testing.feeds import append, envelopes
from contracts.envelope import event_adapter
from contracts.events import (
    BoardCreated,
    BoardRenamed,
    CardAdded,
    CardMoved,
    ColumnAdded,
    Event,
)
from contracts.streams import (
    BOARD_FIELD,
    EVENT_FIELD,
    VERSION_FIELD,
    StreamKeys,
    board_entry_id,
)
from projector.apply.consumer import (
    YIELD_EVERY,
    EventFailedError,
    LogDivergedError,
    PartitionApplier,
)
from projector.ops.progress import Progress
from projector.ops.rebuild import Rebuild, RebuildOptions, verify_live
from projector.store.mongo import MongoReadStore
from projector.store.port import Checkpoint
from projector.streams import dead_letter_key

# Run on one server and on the test cluster.
pytestmark = pytest.mark.redis_kinds("server", "cluster")


@pytest.fixture
def keys(key_prefix: str) -> StreamKeys:
    # One partition: every board of a test lands on the same feed.
    return StreamKeys(prefix=key_prefix, partitions=1)


LEGACY_MEMBER_ADDED = (
    Path(__file__).resolve().parents[4] / "contracts/tests/golden/events/v1/MemberAdded.json"
)


def _applier(
    redis: AnyRedis, keys: StreamKeys, store: MongoReadStore, name: str = "one", **kw: Any
) -> PartitionApplier:
    return PartitionApplier(
        redis, keys, store, 0, consumer=name, block_ms=50, claim_idle_ms=0, **kw
    )


def _story(board: uuid.UUID, renames: int = 0) -> list[Event]:
    column, card = uuid.uuid5(board, "column"), uuid.uuid5(board, "card")
    return [
        BoardCreated(title="t0", owner_id="alice"),
        ColumnAdded(column_id=column, title="c", position="a0"),
        CardAdded(card_id=card, column_id=column, position="a0", title="card"),
        *[BoardRenamed(title=f"t{i + 1}", previous_title=f"t{i}") for i in range(renames)],
    ]


async def _drain(applier: PartitionApplier) -> None:
    for _ in range(100):
        if await applier.run_once(block=False) == 0:
            return
    raise AssertionError("the feed did not drain")


async def _drain_through_failures(applier: PartitionApplier) -> int:
    """Drains the feed as the supervisor does: a batch whose event failed is rewound and read
    again (the event is parked once it has failed `max_attempts` times). Returns how many batches
    failed on the way."""
    failures = 0
    for _ in range(100):
        try:
            if await applier.run_once(block=False) == 0:
                return failures
        except EventFailedError:
            failures += 1
            await applier.rewind()
    raise AssertionError("the feed did not drain")


async def _docs(store: MongoReadStore, board: uuid.UUID) -> dict[str, Any]:
    detail = await store.board_detail(board, archived=True)
    assert detail is not None
    return detail.model_dump(mode="json")


class TestApplying:
    async def test_applies_the_feed_in_order(
        self, redis: AnyRedis, keys: StreamKeys, read_store: MongoReadStore
    ) -> None:
        board = uuid.uuid4()
        await append(redis, keys, envelopes(board, _story(board, renames=5)))
        applier = _applier(redis, keys, read_store)
        await applier.start()
        await _drain(applier)
        detail = await read_store.board_detail(board)
        assert detail is not None
        assert (detail.board.version, detail.board.title) == (8, "t5")
        checkpoint = await read_store.checkpoint(0)
        assert checkpoint is not None
        assert checkpoint.epoch == "test-epoch"

    async def test_a_large_batch_lets_the_rest_of_the_process_run_while_it_applies(
        self, redis: AnyRedis, keys: StreamKeys, read_store: MongoReadStore
    ) -> None:
        board = uuid.uuid4()
        renames = 3 * YIELD_EVERY
        await append(redis, keys, envelopes(board, _story(board, renames=renames)))
        applier = _applier(redis, keys, read_store)
        await applier.start()
        # What another task sees of the board in memory at each of its turns: versions short of
        # the batch's last one show turns taken while the batch was being applied, not only
        # while its reads and writes waited on the servers.
        seen: set[int] = set()
        done = asyncio.Event()

        async def other_work() -> None:
            while not done.is_set():
                held = applier._boards.get(str(board))
                if held is not None:
                    seen.add(held.version)
                await asyncio.sleep(0)

        other = asyncio.create_task(other_work())
        entries = await applier.run_once(block=False)
        done.set()
        await other
        assert entries == renames + 3
        assert len({v for v in seen if 0 < v < renames + 3}) >= 2

    async def test_a_rewound_group_applies_nothing_twice(
        self, redis: AnyRedis, keys: StreamKeys, read_store: MongoReadStore
    ) -> None:
        board = uuid.uuid4()
        await append(redis, keys, envelopes(board, _story(board, renames=3)))
        applier = _applier(redis, keys, read_store)
        await applier.start()
        await _drain(applier)
        before = await _docs(read_store, board)
        events_before = await read_store.events.count_documents({"board_id": str(board)})
        # Everything delivered again, to a fresh process with nothing cached.
        await redis.xgroup_setid(keys.feed(0), "projector", id="0-0")
        again = _applier(redis, keys, read_store, name="two")
        await _drain(again)
        assert await _docs(read_store, board) == before
        assert await read_store.events.count_documents({"board_id": str(board)}) == events_before

    async def test_heals_a_gap_in_the_feed_from_the_boards_log(
        self, redis: AnyRedis, keys: StreamKeys, read_store: MongoReadStore
    ) -> None:
        board = uuid.uuid4()
        events = envelopes(board, _story(board, renames=4))
        await append(redis, keys, events[:3])
        await append(redis, keys, events[3:5], to_feed=False)  # the feed lost versions 4 and 5
        await append(redis, keys, events[5:])
        applier = _applier(redis, keys, read_store)
        await applier.start()
        await _drain(applier)
        detail = await read_store.board_detail(board)
        assert detail is not None
        assert (detail.board.version, detail.board.title) == (7, "t4")
        versions = sorted(
            [d["version"] async for d in read_store.events.find({"board_id": str(board)})]
        )
        assert versions == list(range(1, 8))

    async def test_starts_from_its_checkpoint_not_the_groups_position(
        self, redis: AnyRedis, keys: StreamKeys, read_store: MongoReadStore
    ) -> None:
        board = uuid.uuid4()
        await append(redis, keys, envelopes(board, _story(board, renames=2)))
        applier = _applier(redis, keys, read_store)
        await applier.start()
        await _drain(applier)
        # The group says "all read", but MongoDB lost the last writes (say, a restore of it).
        await read_store.checkpoints.delete_many({})
        await read_store.boards.delete_many({"_id": str(board)})
        await read_store.cards.delete_many({"board_id": str(board)})
        fresh = _applier(redis, keys, read_store, name="two")
        await fresh.start()
        await _drain(fresh)
        detail = await read_store.board_detail(board)
        assert detail is not None
        assert detail.board.version == 5


class TestTheArchive:
    """The archive keeps each event as it was stored: the hash chain is over that document, and
    an upcast model dumps differently (docs/upcasting.md)."""

    @pytest.mark.parametrize("healed", [False, True], ids=["from the feed", "healed from the log"])
    async def test_keeps_a_legacy_event_as_stored_not_as_upcast(
        self, redis: AnyRedis, keys: StreamKeys, read_store: MongoReadStore, healed: bool
    ) -> None:
        board = uuid.uuid4()
        await append(redis, keys, envelopes(board, _story(board)))
        legacy = json.loads(LEGACY_MEMBER_ADDED.read_text())
        legacy.update(board_id=str(board), version=4, epoch="test-epoch")
        raw = json.dumps(legacy).encode()
        await redis.xadd(keys.board_log(board), {EVENT_FIELD: raw}, id=board_entry_id(4))
        if not healed:
            fields = {BOARD_FIELD: str(board), VERSION_FIELD: 4, EVENT_FIELD: raw}
            await redis.xadd(keys.feed(0), fields)
        # Version 5 comes on the feed; when 4 did not, it is healed from the board's log.
        renamed = envelopes(board, [BoardRenamed(title="t1", previous_title="t0")], start=5)
        await append(redis, keys, renamed)
        applier = _applier(redis, keys, read_store)
        await applier.start()
        await _drain(applier)

        stored = dict(await read_store.archived_documents(board))
        assert stored[4] == legacy
        assert stored[4]["payload"]["email"] == "carol@example.com"  # v1's shape, kept
        stored_4 = await read_store.events.find_one({"_id": f"{board}:4"})
        assert stored_4 is not None
        assert stored_4["event"] == raw.decode()  # the very bytes, not a re-encoding
        for version, event in enumerate(renamed, start=5):
            assert stored[version] == json.loads(event_adapter.dump_json(event))
        detail = await read_store.board_view(board)
        assert detail is not None
        carol = next(m for m in detail.members if m.user_id == "carol")
        assert (carol.role, carol.email, detail.version) == ("editor", "carol@example.com", 5)


class TestPoison:
    async def test_a_poison_entry_is_parked_and_other_boards_keep_flowing(
        self, redis: AnyRedis, keys: StreamKeys, read_store: MongoReadStore
    ) -> None:
        good, other = uuid.uuid4(), uuid.uuid4()
        await append(redis, keys, envelopes(good, _story(good)))
        await redis.xadd(keys.feed(0), {"board": str(other), "version": 1, "event": b"{not json"})
        await append(redis, keys, envelopes(other, _story(other, renames=1)))
        applier = _applier(redis, keys, read_store, max_attempts=3)
        await applier.start()
        # Two failed batches, then the third attempt parks the entry and the batch goes through.
        assert await _drain_through_failures(applier) == 2
        parked = await redis.xrange(dead_letter_key(keys, 0))
        assert len(parked) == 1
        assert parked[0][1][b"board"] == str(other).encode()
        assert b"unreadable" in parked[0][1][b"reason"]
        for board, version in ((good, 3), (other, 4)):
            assert await read_store.board_version(board) == version

    async def test_an_event_that_cannot_be_applied_blocks_only_its_board(
        self, redis: AnyRedis, keys: StreamKeys, read_store: MongoReadStore
    ) -> None:
        bad, good = uuid.uuid4(), uuid.uuid4()
        ghost = uuid.uuid4()
        story = _story(bad)
        column = story[1].column_id  # type: ignore[union-attr]
        broken = CardMoved(
            card_id=ghost,
            from_column_id=column,
            to_column_id=column,
            position="a1",
            previous_position="a0",
        )
        await append(
            redis,
            keys,
            envelopes(bad, [*story, broken, BoardRenamed(title="x", previous_title="t0")]),
        )
        await append(redis, keys, envelopes(good, _story(good, renames=2)))
        applier = _applier(redis, keys, read_store, max_attempts=2)
        await applier.start()
        # One failed batch; the second attempt parks the event and blocks its board, whose later
        # event is parked at once (retrying cannot help it).
        assert await _drain_through_failures(applier) == 1
        assert await read_store.board_version(bad) == 3
        assert await read_store.board_version(good) == 5
        reasons = [f[b"reason"] for _, f in await redis.xrange(dead_letter_key(keys, 0))]
        assert len(reasons) == 2
        assert b"not on board" in reasons[0]
        assert b"blocked at version 4" in reasons[1]


class TestDivergence:
    async def test_refuses_a_log_of_another_epoch(
        self, redis: AnyRedis, keys: StreamKeys, read_store: MongoReadStore
    ) -> None:
        board = uuid.uuid4()
        await append(redis, keys, envelopes(board, _story(board)))
        await read_store.save_checkpoint(Checkpoint(0, "1-0", "an-older-epoch"))
        with pytest.raises(LogDivergedError, match="epoch"):
            await _applier(redis, keys, read_store).start()

    async def test_refuses_a_feed_that_ends_below_its_checkpoint(
        self, redis: AnyRedis, keys: StreamKeys, read_store: MongoReadStore
    ) -> None:
        board = uuid.uuid4()
        await append(redis, keys, envelopes(board, _story(board)))
        await read_store.save_checkpoint(Checkpoint(0, "99999999999999-0", "test-epoch"))
        with pytest.raises(LogDivergedError, match="below the checkpoint"):
            await _applier(redis, keys, read_store).start()

    async def test_another_event_at_an_applied_version_stops_the_board(
        self, redis: AnyRedis, keys: StreamKeys, read_store: MongoReadStore
    ) -> None:
        # Issue 12, hole 4: AnyRedis restored from an older copy, and the board written again from
        # version 1. The new history's events must not be taken for redeliveries.
        board, other = uuid.uuid4(), uuid.uuid4()
        await append(redis, keys, envelopes(board, _story(board, renames=2)))
        applier = _applier(redis, keys, read_store)
        await applier.start()
        await _drain(applier)
        before = await _docs(read_store, board)
        rewritten = [
            event.model_copy(update={"event_id": uuid.uuid4()})
            for event in envelopes(board, [BoardCreated(title="again", owner_id="mallory")])
        ]
        await append(redis, keys, rewritten, to_log=False)
        await append(redis, keys, envelopes(other, _story(other)))

        await _drain(applier)

        parked = await redis.xrange(dead_letter_key(keys, 0))
        assert len(parked) == 1
        assert parked[0][1][b"reason"].startswith(b"diverged: board " + str(board).encode())
        assert b"version 1 is applied as event" in parked[0][1][b"reason"]
        assert await _docs(read_store, board) == before
        assert await read_store.board_version(other) == 3  # other boards flow on

    async def test_an_event_that_does_not_chain_to_the_applied_one_stops_the_board(
        self, redis: AnyRedis, keys: StreamKeys, read_store: MongoReadStore
    ) -> None:
        board = uuid.uuid4()
        story = envelopes(board, _story(board, renames=1))
        chained = [
            event.model_copy(update={"prev_hash": f"{n:064x}", "hash": f"{n + 1:064x}"})
            for n, event in enumerate(story)
        ]
        await append(redis, keys, chained)
        applier = _applier(redis, keys, read_store)
        await applier.start()
        await _drain(applier)
        # A fresh process, which must take the last hash from the archive, gets a version 5
        # whose prev_hash is not version 4's hash, then a version 6 after it.
        fresh = _applier(redis, keys, read_store, name="two")
        await fresh.start()
        stray = envelopes(board, [BoardRenamed(title="x", previous_title="t1")] * 2, start=5)
        stray = [
            stray[0].model_copy(update={"prev_hash": "f" * 64, "hash": "e" * 64}),
            stray[1].model_copy(update={"prev_hash": "e" * 64, "hash": "d" * 64}),
        ]
        await append(redis, keys, stray)

        await _drain(fresh)

        reasons = [f[b"reason"] for _, f in await redis.xrange(dead_letter_key(keys, 0))]
        assert len(reasons) == 2
        assert b"version 5 does not chain to version 4" in reasons[0]
        assert b"blocked at version 4" in reasons[1]
        assert await read_store.board_version(board) == 4

    async def test_verify_reports_a_board_whose_log_lost_versions_the_read_models_have(
        self, redis: AnyRedis, keys: StreamKeys, read_store: MongoReadStore
    ) -> None:
        board = uuid.uuid4()
        story = envelopes(board, _story(board, renames=2))
        await append(redis, keys, story)
        applier = _applier(redis, keys, read_store)
        await applier.start()
        await _drain(applier)
        assert (await verify_live(redis, read_store, keys, Progress(io.StringIO(), "v"))).ok
        # An older copy of Redis restored: the board's log ends at version 2 again.
        await redis.delete(keys.board_log(board), keys.board_head(board))
        await append(redis, keys, story[:2], to_feed=False)

        result = await verify_live(redis, read_store, keys, Progress(io.StringIO(), "v"))

        assert result.problems == [
            f"board {board}: at version 5, but its log ends at 2: the log lost versions the "
            "archive holds (docs/operations.md#a-board-whose-log-diverged)"
        ]

    async def test_verify_takes_no_board_whose_log_grew_since_its_end_was_read_for_one_that_lost(
        self, redis: AnyRedis, keys: StreamKeys, read_store: MongoReadStore
    ) -> None:
        # Writes go on while a verification runs, and the appliers follow them: a board's read
        # models may pass the log's end read before its turn. Only its end now may tell.
        board = uuid.uuid4()
        await append(redis, keys, envelopes(board, _story(board, renames=2)))
        applier = _applier(redis, keys, read_store)
        await applier.start()
        await _drain(applier)
        checking = Rebuild(redis, read_store, keys, RebuildOptions(), Progress(io.StringIO(), "v"))

        result = await checking.verify(read_store, log_ends={str(board): 2})

        assert result.ok, result.problems


class TestTwoAppliers:
    async def test_alternating_appliers_apply_each_event_once(
        self, redis: AnyRedis, keys: StreamKeys, read_store: MongoReadStore
    ) -> None:
        board = uuid.uuid4()
        events = envelopes(board, _story(board, renames=30))
        one, two = (
            _applier(redis, keys, read_store, "one"),
            _applier(redis, keys, read_store, "two"),
        )
        await one.start()
        for i in range(0, len(events), 5):
            await append(redis, keys, events[i : i + 5])
            applier = one if (i // 5) % 2 == 0 else two
            await applier.start()  # a lease handover: rewinds to the checkpoint
            await _drain(applier)
        assert await read_store.board_version(board) == len(events)
        versions = sorted(
            [d["version"] async for d in read_store.events.find({"board_id": str(board)})]
        )
        assert versions == list(range(1, len(events) + 1))


class TestTornWrites:
    async def test_a_crash_between_card_and_board_writes_is_repaired_by_the_next_holder(
        self,
        redis: AnyRedis,
        keys: StreamKeys,
        read_store: MongoReadStore,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        board = uuid.uuid4()
        events = envelopes(board, _story(board, renames=1))
        column = uuid.uuid5(board, "column")
        extra = [
            CardAdded(card_id=uuid.uuid4(), column_id=column, position=f"a{i + 1}", title="n")
            for i in range(3)
        ]
        events += envelopes(board, extra, start=len(events) + 1)
        await append(redis, keys, events[:4])
        first = _applier(redis, keys, read_store)
        await first.start()
        await _drain(first)
        await append(redis, keys, events[4:])

        async def crash(self: MongoReadStore, projections: Any) -> list[Any]:
            raise ConnectionError("the process died here")

        monkeypatch.setattr(MongoReadStore, "_write_boards", crash)
        with pytest.raises(ConnectionError):
            await first.run_once(block=False)
        monkeypatch.undo()
        assert await read_store.board_version(board) == 4
        stored = await read_store.stored_documents(str(board))
        assert stored is not None
        assert len(stored["cards"]) == 4  # the cards went first: the board was left torn

        second = _applier(redis, keys, read_store, name="two")
        await second.start()
        await _drain(second)
        assert await read_store.board_version(board) == 7
        assert await redis.xlen(dead_letter_key(keys, 0)) == 0
        detail = await read_store.board_detail(board)
        assert detail is not None
        assert len(detail.cards) == 4
