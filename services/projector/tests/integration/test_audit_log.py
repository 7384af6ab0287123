"""Reading a board's events from the archive (FerretDB) and the Redis log as one sequence, however
the two split the versions between them, and while the projector and compaction move the split."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from cardstream_testing.feeds import append, envelopes
from contracts.envelope import AnyEvent, event_adapter
from contracts.events import (
    BoardCreated,
    BoardRenamed,
    CardAdded,
    CardArchived,
    CardMoved,
    ColumnAdded,
    ColumnArchived,
    Event,
)
from contracts.streams import StreamKeys, board_entry_id
from projector.events import BoardEvents, LogGapError, UnreadableEventError
from projector.projection import BoardProjection, apply_event
from projector.store.mongo import MongoReadStore
from projector.streams import BoardLog
from projector.views import as_stored, board_detail
from redis.asyncio import Redis

HEAD = 10
PAGE = 3


# Run on one server and on the test cluster.
pytestmark = pytest.mark.redis_kinds("server", "cluster")


@pytest.fixture
def keys(key_prefix: str) -> StreamKeys:
    return StreamKeys(prefix=key_prefix, partitions=4)


def _story(board: uuid.UUID, head: int = HEAD) -> list[AnyEvent]:
    payloads: list[Event] = [BoardCreated(title="t1", owner_id="alice")]
    payloads += [
        BoardRenamed(title=f"t{v}", previous_title=f"t{v - 1}") for v in range(2, head + 1)
    ]
    return envelopes(board, payloads)


async def _archive(store: MongoReadStore, events: list[AnyEvent]) -> None:
    """What the projector does: fold and write (the events go to the archive with the views)."""
    projection = BoardProjection(board_id=str(events[0].board_id))
    for event in events:
        apply_event(projection, event)
    await store.write([projection])


async def _trim_log_below(redis: Redis, keys: StreamKeys, board: uuid.UUID, version: int) -> None:
    """What compaction will do: drop the log's entries below `version` by MINID."""
    await redis.xtrim(keys.board_log(board), minid=board_entry_id(version), approximate=False)


def _reader(redis: Redis, keys: StreamKeys, store: MongoReadStore, **kw: Any) -> BoardEvents:
    return BoardEvents(store.archived_events, BoardLog(redis, keys).events, **kw)


async def _read(events: BoardEvents, board: uuid.UUID, **kw: Any) -> list[AnyEvent]:
    return [event async for event in events.read(board, **kw)]


class TestSeamlessReading:
    @pytest.mark.parametrize(
        ("archived_to", "log_from"),
        [
            (0, 1),  # only in the log: nothing archived yet
            (HEAD, HEAD + 1),  # only in the archive: the whole log trimmed
            (4, 1),  # the archive behind the log
            (HEAD, 1),  # both hold everything
            (7, 5),  # archive 1-7, log 5-10: an overlap
            (4, 5),  # archive 1-4, log 5-10: they just meet
            (1, 2),
            (HEAD - 1, HEAD),
        ],
    )
    async def test_every_version_once_in_order_whatever_the_split(
        self,
        redis: Redis,
        keys: StreamKeys,
        read_store: MongoReadStore,
        archived_to: int,
        log_from: int,
    ) -> None:
        board = uuid.uuid4()
        story = _story(board)
        await append(redis, keys, story, to_feed=False)
        if archived_to:
            await _archive(read_store, story[:archived_to])
        await _trim_log_below(redis, keys, board, log_from)

        for page_size in (PAGE, 500):
            events = _reader(redis, keys, read_store, page_size=page_size)
            assert await _read(events, board) == story
            assert await _read(events, board, after_version=3, to_version=8) == story[3:8]
            assert await _read(events, board, after_version=HEAD) == []
            pages = [page async for page in events.pages(board)]
            assert all(0 < len(page) <= page_size for page in pages)

    async def test_a_board_without_events_reads_empty(
        self, redis: Redis, keys: StreamKeys, read_store: MongoReadStore
    ) -> None:
        assert await _read(_reader(redis, keys, read_store), uuid.uuid4()) == []

    async def test_reads_the_events_of_that_board_only(
        self, redis: Redis, keys: StreamKeys, read_store: MongoReadStore
    ) -> None:
        board, other = uuid.uuid4(), uuid.uuid4()
        await append(redis, keys, _story(other, 4) + _story(board, 3), to_feed=False)
        await _archive(read_store, _story(other, 4))
        assert await _read(_reader(redis, keys, read_store), board) == _story(board, 3)


class TestArchivesOfEarlierReleases:
    async def test_events_archived_as_subdocuments_read_as_those_archived_as_text(
        self, redis: Redis, keys: StreamKeys, read_store: MongoReadStore
    ) -> None:
        # Before the archive kept each event's JSON text, it kept the decoded document.
        board = uuid.uuid4()
        story = _story(board)
        await read_store.events.insert_many(
            [
                {
                    "_id": f"{board}:{e.version}",
                    "board_id": str(board),
                    "version": e.version,
                    "event": json.loads(event_adapter.dump_json(e)),
                }
                for e in story
            ]
        )
        assert await _read(_reader(redis, keys, read_store, page_size=PAGE), board) == story
        documents = await read_store.archived_documents(board)
        assert [d for _, d in documents] == [json.loads(event_adapter.dump_json(e)) for e in story]


class TestWhileTheSplitMoves:
    async def test_a_log_trimmed_between_two_reads_is_read_from_the_archive(
        self, redis: Redis, keys: StreamKeys, read_store: MongoReadStore
    ) -> None:
        board = uuid.uuid4()
        story = _story(board)
        await append(redis, keys, story, to_feed=False)
        await _archive(read_store, story[:3])

        class CompactedWhileAsked(BoardLog):
            """The projector archives the rest and compaction trims the log just before the
            reader's first question to the log arrives."""

            compacted = False

            async def events(
                self, board_id: uuid.UUID, first: int, last: int | None, count: int
            ) -> list[AnyEvent]:
                if not self.compacted:
                    self.compacted = True
                    await _archive(read_store, story)
                    await _trim_log_below(redis, keys, board, HEAD + 1)
                return await super().events(board_id, first, last, count)

        log = CompactedWhileAsked(redis, keys)
        events = BoardEvents(read_store.archived_events, log.events, page_size=PAGE)
        assert await _read(events, board) == story
        assert log.compacted

    async def test_events_appended_while_reading_are_read_too(
        self, redis: Redis, keys: StreamKeys, read_store: MongoReadStore
    ) -> None:
        board = uuid.uuid4()
        story = _story(board)
        await append(redis, keys, story[:5], to_feed=False)
        events = _reader(redis, keys, read_store, page_size=PAGE)
        read = []
        async for event in events.read(board):
            read.append(event)
            if event.version == 2:
                await append(redis, keys, story[5:], to_feed=False)
        assert read == story


class TestBrokenLogs:
    async def test_a_version_in_neither_source_is_a_gap_not_skipped(
        self, redis: Redis, keys: StreamKeys, read_store: MongoReadStore
    ) -> None:
        board = uuid.uuid4()
        story = _story(board)
        await append(redis, keys, story, to_feed=False)
        await _archive(read_store, story[:3])
        await _trim_log_below(redis, keys, board, 6)  # versions 4 and 5 are nowhere
        events = _reader(redis, keys, read_store, page_size=PAGE)
        read: list[AnyEvent] = []

        async def read_all() -> None:
            async for event in events.read(board):
                read.append(event)

        with pytest.raises(LogGapError, match="version 4"):
            await read_all()
        assert read == story[:3]
        assert await _read(events, board, to_version=3) == story[:3]

    async def test_an_unreadable_entry_is_an_error(
        self, redis: Redis, keys: StreamKeys, read_store: MongoReadStore
    ) -> None:
        board = uuid.uuid4()
        await append(redis, keys, _story(board, 1), to_feed=False)
        await redis.xadd(keys.board_log(board), {"event": b"{not json"}, id=board_entry_id(2))
        with pytest.raises(UnreadableEventError, match="2-0"):
            await _read(_reader(redis, keys, read_store), board)

    async def test_an_entry_holding_another_version_is_an_error(
        self, redis: Redis, keys: StreamKeys, read_store: MongoReadStore
    ) -> None:
        board = uuid.uuid4()
        story = _story(board, 2)
        await append(redis, keys, story[:1], to_feed=False)
        await redis.xadd(
            keys.board_log(board),
            {"event": story[0].model_dump_json()},
            id=board_entry_id(2),
        )
        with pytest.raises(UnreadableEventError, match="holds version 1"):
            await _read(_reader(redis, keys, read_store), board)


class TestOneShape:
    async def test_a_fold_shaped_as_stored_equals_the_read_models_board(
        self, redis: Redis, keys: StreamKeys, read_store: MongoReadStore
    ) -> None:
        board = uuid.uuid4()
        first, middle, last = (uuid.uuid5(board, n) for n in ("first", "middle", "last"))
        cards = [uuid.uuid5(board, f"card {i}") for i in range(6)]
        story = envelopes(
            board,
            [
                BoardCreated(title="Plans", owner_id="alice"),
                ColumnAdded(column_id=last, title="Last", position="a2"),
                ColumnAdded(column_id=first, title="First", position="a0"),
                ColumnAdded(column_id=middle, title="Middle", position="a1"),
                CardAdded(card_id=cards[0], column_id=first, position="a5", title="late"),
                CardAdded(card_id=cards[1], column_id=first, position="a3", title="tie"),
                CardAdded(card_id=cards[2], column_id=first, position="a3", title="tie"),
                CardAdded(card_id=cards[3], column_id=middle, position="a0", title="m"),
                CardAdded(card_id=cards[4], column_id=last, position="Zz", title="gone"),
                CardAdded(card_id=cards[5], column_id=last, position="a0", title="moved"),
                CardMoved(
                    card_id=cards[5],
                    from_column_id=last,
                    to_column_id=first,
                    position="a0",
                    previous_position="a0",
                ),
                CardArchived(card_id=cards[4], column_id=last),
                ColumnArchived(column_id=middle),
            ],
        )
        # Times finer than MongoDB keeps (milliseconds), as the boards service writes them.
        story = [
            e.model_copy(update={"occurred_at": e.occurred_at.replace(microsecond=123456)})
            for e in story
        ]
        projection = BoardProjection(board_id=str(board))
        for event in story:
            apply_event(projection, event)
        await read_store.write([projection])
        assert projection.board is not None
        stored_board = as_stored(projection.board)
        stored_cards = [as_stored(card) for card in projection.cards.values()]
        for archived in (False, True):
            shaped = board_detail(stored_board, stored_cards, archived=archived)
            assert shaped == await read_store.board_detail(board, archived=archived)
        assert shaped.board.updated_at.microsecond == 123000
