"""Compaction trims Redis below what nothing needs there, and changes no answer: history, export,
point in time, replay and a rebuild read the archive plus the tail the same as before."""

from __future__ import annotations

import io
import uuid
from typing import Any

import pytest
from cardstream_testing.feeds import append, envelopes
from contracts.events import (
    BoardCreated,
    BoardRenamed,
    CardAdded,
    CardMoved,
    ColumnAdded,
    CommentAdded,
    CommentDeleted,
    CommentEdited,
    Event,
)
from contracts.streams import StreamKeys
from projector.apply.consumer import PartitionApplier
from projector.events import BoardEvents
from projector.ops import compaction
from projector.ops.progress import Progress
from projector.ops.rebuild import RebuildOptions, canonical, rebuild, verify_live
from projector.read.audit import HistoryFilter, board_at, history_page, ndjson_pages
from projector.store.mongo import MongoReadStore
from projector.streams import BoardLog
from redis.asyncio import Redis

# Run on one server and on the test cluster.
pytestmark = pytest.mark.redis_kinds("server", "cluster")


@pytest.fixture
def keys(key_prefix: str) -> StreamKeys:
    return StreamKeys(prefix=key_prefix, partitions=4)


async def compact(
    redis: Redis, store: MongoReadStore, keys: StreamKeys, **options: Any
) -> compaction.CompactionReport:
    return await compaction.compact(
        redis, store, keys, Progress(io.StringIO(), "compact"), **options
    )


def _story(board: uuid.UUID, moves: int) -> list[Event]:
    columns = [uuid.uuid5(board, f"column {i}") for i in range(2)]
    card = uuid.uuid5(board, "card")
    payloads: list[Event] = [BoardCreated(title="t0", owner_id="alice")]
    payloads += [
        ColumnAdded(column_id=c, title=f"c{i}", position=f"a{i}") for i, c in enumerate(columns)
    ]
    payloads.append(CardAdded(card_id=card, column_id=columns[0], title="card", position="a"))
    for i in range(moves):
        payloads.append(
            CardMoved(
                card_id=card,
                from_column_id=columns[i % 2],
                to_column_id=columns[(i + 1) % 2],
                position="a",
                previous_position="a",
            )
        )
        payloads.append(BoardRenamed(title=f"t{i + 1}", previous_title=f"t{i}"))
    return payloads


async def _project(redis: Redis, keys: StreamKeys, store: MongoReadStore) -> None:
    for partition in range(keys.partitions):
        applier = PartitionApplier(redis, keys, store, partition, consumer="t", block_ms=10)
        await applier.start()
        while await applier.run_once(block=False):
            pass


async def _answers(redis: Redis, keys: StreamKeys, store: MongoReadStore, board: uuid.UUID) -> Any:
    events = BoardEvents(store.archived_events, BoardLog(redis, keys).events, page_size=7)
    history = await history_page(events, board, HistoryFilter(), limit=1000)
    export = b"".join([page async for page in ndjson_pages(events, board)])
    at = [
        (await board_at(events, board, version=v, archived=True)).model_dump_json()  # type: ignore[union-attr]
        for v in (1, 5, 12, 20)
    ]
    return history.model_dump_json(), export, at, await store.stored_documents(str(board))


class TestCompact:
    async def test_trims_below_the_snapshot_and_the_archive_and_changes_no_answer(
        self, redis: Redis, keys: StreamKeys, read_store: MongoReadStore
    ) -> None:
        board = uuid.uuid4()
        await append(redis, keys, envelopes(board, _story(board, moves=12)))
        await _project(redis, keys, read_store)
        await redis.hset(keys.board_snapshot(board), mapping={"version": 10, "data": b"{}"})
        before = await _answers(redis, keys, read_store, board)

        dry = await compact(redis, read_store, keys, dry_run=True)
        assert [t.trimmed for t in dry.boards] == [9]
        assert await redis.xlen(keys.board_log(board)) == 28
        report = await compact(redis, read_store, keys)

        assert [(t.min_version, t.trimmed) for t in report.boards] == [(10, 9)]
        first = await redis.xrange(keys.board_log(board), count=1)
        assert first[0][0] == b"10-0"
        feed = report.feeds[keys.partition_of(board)]
        assert feed.trimmed == 27  # everything below the checkpoint, which stays
        assert await _answers(redis, keys, read_store, board) == before

    async def test_keeps_what_the_archive_lacks(
        self, redis: Redis, keys: StreamKeys, read_store: MongoReadStore
    ) -> None:
        board = uuid.uuid4()
        await append(redis, keys, envelopes(board, _story(board, moves=5)))
        await _project(redis, keys, read_store)
        await redis.hset(keys.board_snapshot(board), mapping={"version": 10, "data": b"{}"})
        await read_store.events.delete_one({"_id": f"{board}:4"})

        report = await compact(redis, read_store, keys, board_ids=[str(board)])

        assert [(t.min_version, t.trimmed) for t in report.boards] == [(3, 2)]
        assert report.feeds == []

    async def test_a_board_without_a_snapshot_keeps_its_whole_log(
        self, redis: Redis, keys: StreamKeys, read_store: MongoReadStore
    ) -> None:
        board = uuid.uuid4()
        await append(redis, keys, envelopes(board, _story(board, moves=5)))
        await _project(redis, keys, read_store)

        report = await compact(redis, read_store, keys)

        assert [t.trimmed for t in report.boards] == [0]
        assert await redis.xlen(keys.board_log(board)) == 14


class TestRebuildAfterCompaction:
    async def test_a_rebuild_of_a_compacted_log_equals_the_live_read_models(
        self, redis: Redis, keys: StreamKeys, read_store: MongoReadStore
    ) -> None:
        boards = [uuid.uuid4() for _ in range(5)]
        for board in boards:
            await append(redis, keys, envelopes(board, _story(board, moves=8)))
        await _project(redis, keys, read_store)
        for board in boards[:3]:
            await redis.hset(keys.board_snapshot(board), mapping={"version": 15, "data": b"{}"})
        await compact(redis, read_store, keys)
        late = boards[0]
        await append(
            redis,
            keys,
            envelopes(late, [BoardRenamed(title="late", previous_title="t8")], start=21),
        )
        live = {str(b): await read_store.stored_documents(str(b)) for b in boards}
        out = io.StringIO()

        result = await rebuild(
            redis, read_store, keys, RebuildOptions(lease_ms=2000), Progress(out, "rebuild")
        )

        assert result.ok, result.problems
        pointer = await read_store.generation_pointer()
        assert (pointer.live, pointer.building) == (1, None)
        new = read_store.at(1)
        assert (await new.stored_documents(str(late)))["board"]["title"] == "late"  # type: ignore[index]
        for board in boards[1:]:
            assert canonical(await new.stored_documents(str(board))) == canonical(live[str(board)])
        assert "folded partition" in out.getvalue()
        assert "events/s" in out.getvalue()
        assert (await verify_live(redis, read_store, keys, Progress(io.StringIO(), "verify"))).ok


class TestRebuildOfComments:
    async def test_a_rebuild_writes_every_comment_as_the_appliers_did(
        self, redis: Redis, keys: StreamKeys, read_store: MongoReadStore
    ) -> None:
        board = uuid.uuid4()
        column, card = uuid.uuid5(board, "column"), uuid.uuid5(board, "card")
        kept, edited, deleted = (uuid.uuid5(board, name) for name in ("kept", "edited", "deleted"))
        payloads: list[Event] = [
            BoardCreated(title="t0", owner_id="alice"),
            ColumnAdded(column_id=column, title="c", position="a0"),
            CardAdded(card_id=card, column_id=column, title="card", position="a"),
            CommentAdded(card_id=card, comment_id=kept, author_id="alice", body="first"),
            CommentAdded(card_id=card, comment_id=edited, author_id="alice", body="draft"),
            CommentAdded(card_id=card, comment_id=deleted, author_id="alice", body="oops"),
            CommentEdited(card_id=card, comment_id=edited, body="final"),
            CommentDeleted(card_id=card, comment_id=deleted),
        ]
        # Renames past the rebuild's first page of events, so that the fold is written in pages.
        payloads += [BoardRenamed(title=f"t{i + 1}", previous_title=f"t{i}") for i in range(1_100)]
        await append(redis, keys, envelopes(board, payloads))
        await _project(redis, keys, read_store)
        live = await read_store.card_comments(board, card)

        result = await rebuild(
            redis, read_store, keys, RebuildOptions(lease_ms=2000), Progress(io.StringIO(), "r")
        )

        assert result.ok, result.problems
        rebuilt = await read_store.at(1).card_comments(board, card)
        assert [(c["comment_id"], c["body"]) for c in rebuilt] == [
            (str(kept), "first"),
            (str(edited), "final"),
        ]
        assert rebuilt == live
