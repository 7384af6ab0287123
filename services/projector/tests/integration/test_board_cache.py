"""The serving process's board cache, over both read stores: it answers exactly what the store
holds (byte for byte), at the store's version, catching up by events rather than reading the board
again, and reads it whole whenever it cannot be sure (a rebuild switched, events missing)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import orjson
import pytest
from cardstream_testing.feeds import envelopes
from contracts.envelope import AnyEvent
from contracts.events import (
    BoardCreated,
    BoardRenamed,
    CardAdded,
    CardArchived,
    CardMoved,
    ColumnAdded,
    ColumnArchived,
    Event,
    MemberAdded,
    MemberRemoved,
)
from contracts.fields import Role
from projector.events import BoardEvents
from projector.projection import BoardProjection, apply_event
from projector.read.cache import BoardCache
from projector.store.memory import InMemoryReadStore
from projector.store.mongo import MongoReadStore
from projector.store.port import ReadStore

# Run on one server and on the test cluster.
pytestmark = pytest.mark.redis_kinds("server", "cluster")


async def _nothing(board_id: uuid.UUID, first: int, last: int | None, count: int) -> list[AnyEvent]:
    return []


class Board:
    """A board's events written to the store the way the applier writes them."""

    def __init__(self, store: ReadStore) -> None:
        self.store = store
        self.id = uuid.uuid4()
        self.version = 0
        self.todo, self.done = uuid.uuid4(), uuid.uuid4()
        self.cards = [uuid.uuid4() for _ in range(3)]

    async def write(self, *payloads: Event, store: ReadStore | None = None) -> None:
        target = store or self.store
        # Microseconds in every time: the store keeps milliseconds, and so must the cache.
        events = [
            e.model_copy(update={"occurred_at": e.occurred_at + timedelta(microseconds=123_456)})
            for e in envelopes(self.id, payloads, start=self.version + 1)
        ]
        projection = await target.load(str(self.id))
        for event in events:
            apply_event(projection, event)
        assert await target.write([projection]) == []
        self.version += len(payloads)

    async def create(self) -> None:
        await self.write(
            BoardCreated(title="Plans", owner_id="alice"),
            ColumnAdded(column_id=self.todo, title="To do", position="a0"),
            ColumnAdded(column_id=self.done, title="Done", position="a1"),
            *(
                CardAdded(card_id=card, column_id=self.todo, position=f"a{i}", title=f"c{i}")
                for i, card in enumerate(self.cards)
            ),
            MemberAdded(user_id="bob", role=Role.EDITOR, name="Bob"),
        )

    async def change(self) -> None:
        await self.write(
            CardMoved(
                card_id=self.cards[0],
                from_column_id=self.todo,
                to_column_id=self.done,
                position="a0",
                previous_position="a0",
            ),
            CardArchived(card_id=self.cards[1], column_id=self.todo),
            BoardRenamed(title="Plans 2", previous_title="Plans"),
            CardAdded(card_id=uuid.uuid4(), column_id=self.done, position="a1", title="new"),
            MemberRemoved(user_id="bob", previous_role=Role.EDITOR),
            ColumnArchived(column_id=self.todo),
        )


def _cache(store: ReadStore, *, max_cards: int = 1_000, archive: bool = True) -> BoardCache:
    events = BoardEvents(store.archived_events if archive else _nothing, _nothing)
    return BoardCache(store, lambda: events, max_cards=max_cards)


async def _assert_as_stored(cache: BoardCache, board: Board) -> None:
    for archived in (False, True):
        held = await cache.board(board.id, archived=archived)
        stored = await board.store.board_detail(board.id, archived=archived)
        assert held is not None
        assert stored is not None
        assert held.version == board.version == stored.board.version
        assert held.detail == stored.model_dump_json().encode()
        assert held.members == {m.user_id for m in stored.board.members}


class TestAnswers:
    async def test_a_board_is_read_once_and_then_served_from_memory(self, store: ReadStore) -> None:
        board = Board(store)
        await board.create()
        cache = _cache(store)
        await _assert_as_stored(cache, board)
        await _assert_as_stored(cache, board)
        assert cache.loads == 1

    async def test_changes_in_the_store_are_caught_up_by_their_events(
        self, store: ReadStore
    ) -> None:
        board = Board(store)
        await board.create()
        cache = _cache(store)
        await _assert_as_stored(cache, board)
        await board.change()
        await _assert_as_stored(cache, board)
        held = await cache.board(board.id)
        assert held is not None
        assert held.members == {"alice"}
        assert orjson.loads(held.detail)["board"]["title"] == "Plans 2"
        assert (cache.loads, cache.caught_up) == (1, 1)

    async def test_readers_at_once_read_the_board_once(self, store: ReadStore) -> None:
        board = Board(store)
        await board.create()
        cache = _cache(store)
        held = await asyncio.gather(*(cache.board(board.id) for _ in range(8)))
        assert {h.detail if h else None for h in held} == {held[0].detail if held[0] else None}
        assert cache.loads == 1

    async def test_a_board_the_store_does_not_hold_is_none(self, store: ReadStore) -> None:
        assert await _cache(store).board(uuid.uuid4()) is None

    async def test_without_the_events_in_between_the_board_is_read_again(
        self, store: ReadStore
    ) -> None:
        board = Board(store)
        await board.create()
        cache = _cache(store, archive=False)
        await _assert_as_stored(cache, board)
        await board.change()
        await _assert_as_stored(cache, board)
        assert (cache.loads, cache.caught_up) == (2, 0)


class TestRebuilds:
    async def test_a_switched_generation_is_read_even_at_the_same_version(
        self, store: ReadStore
    ) -> None:
        board = Board(store)
        await board.create()
        cache = _cache(store)
        await _assert_as_stored(cache, board)
        live, new = await store.begin_generation()
        # The same number of events, other content: only the generation tells them apart.
        rebuilt = Board(store.at(new))
        rebuilt.id = board.id
        await rebuilt.write(
            BoardCreated(title="Rebuilt", owner_id="alice"),
            *(BoardRenamed(title=f"R{i}", previous_title="x") for i in range(board.version - 1)),
        )
        await store.switch_generation(live, new)
        store.switch_to(new)
        held = await cache.board(board.id)
        assert held is not None
        assert held.version == board.version
        assert orjson.loads(held.detail)["board"]["title"] == f"R{board.version - 2}"
        assert cache.loads == 2

    async def test_a_store_behind_the_cache_is_believed(self, store: ReadStore) -> None:
        board = Board(store)
        await board.create()
        cache = _cache(store)
        await _assert_as_stored(cache, board)
        behind = Board(store.at(3))
        behind.id = board.id
        await behind.write(BoardCreated(title="Older", owner_id="carol"))
        store.switch_to(3)
        held = await cache.board(board.id)
        assert held is not None
        assert (held.version, held.members) == (1, {"carol"})


class TestBounds:
    async def test_the_board_used_least_recently_goes_first(self, store: ReadStore) -> None:
        first, second = Board(store), Board(store)
        await first.create()
        await second.create()
        cache = _cache(store, max_cards=len(first.cards))
        await cache.board(first.id)
        await cache.board(second.id)
        await cache.board(second.id)
        assert cache.loads == 2
        await cache.board(first.id)
        assert cache.loads == 3

    async def test_no_caching_reads_the_store_every_time(self, store: ReadStore) -> None:
        board = Board(store)
        await board.create()
        cache = _cache(store, max_cards=0)
        await _assert_as_stored(cache, board)
        await _assert_as_stored(cache, board)
        assert cache.loads == 4


class TestTornReads:
    async def test_a_board_caught_between_two_writes_is_folded_at_its_documents_version(
        self,
    ) -> None:
        class Torn(InMemoryReadStore):
            """Every load finds the cards stored ahead of the board document."""

            async def load(self, board_id: str) -> BoardProjection:
                projection = await super().load(board_id)
                projection.stored_version = 0
                return projection

        store = Torn()
        board = Board(store)
        await board.create()
        cache = _cache(store)
        await _assert_as_stored(cache, board)
        # Folded once from the log, then held like a loaded board: the store is never asked.
        assert (cache.loads, cache.folds, cache.uncached) == (0, 1, 0)

    async def test_a_card_written_ahead_of_its_board_is_not_served_with_it(
        self, read_store: MongoReadStore
    ) -> None:
        # Seen by the chaos run: the applier writes cards first, so between its two writes the
        # store holds the board at V and a card of V + 1; a snapshot at V must not show it.
        store = read_store
        board = Board(store)
        await board.create()
        ahead = await store.cards.find_one({"_id": f"{board.id}:{board.cards[0]}"})
        assert ahead is not None
        early = uuid.uuid4()
        await store.cards.insert_one(
            {
                **ahead,
                "_id": f"{board.id}:{early}",
                "card_id": str(early),
                "version": board.version + 1,
            }
        )
        cache = _cache(store)

        held = await cache.board(board.id)

        assert held is not None
        assert held.version == board.version
        assert str(early) not in held.detail.decode()
        assert cache.folds == 1
