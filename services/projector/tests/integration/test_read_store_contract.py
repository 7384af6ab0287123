"""The read store contract: every ReadStore (the in-memory fake and MongoDB over FerretDB) must
pass all of it: documents, guards, archive, checkpoints, verification shapes, generations."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from contracts.envelope import AnyEvent, event_envelope
from contracts.events import (
    BoardCreated,
    CardAdded,
    CardArchived,
    CardMoved,
    CardRestored,
    ColumnAdded,
    Event,
    MemberAdded,
    MemberRemoved,
)
from contracts.fields import Role
from projector.projection import BoardProjection, apply_event
from projector.store.port import Checkpoint, GenerationChangedError, GenerationPointer, ReadStore

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def _events(board_id: uuid.UUID, payloads: list[Event], start: int = 1) -> list[AnyEvent]:
    return [
        event_envelope(
            p,
            event_id=uuid.uuid4(),
            board_id=board_id,
            version=start + i,
            occurred_at=T0 + timedelta(seconds=start + i),
            actor="alice",
            command_id=uuid.uuid4(),
            correlation_id="c",
            causation_id="c",
            epoch="e1",
        )
        for i, p in enumerate(payloads)
    ]


def _story(board_id: uuid.UUID) -> tuple[list[AnyEvent], uuid.UUID, uuid.UUID, uuid.UUID]:
    todo, done, card = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    events = _events(
        board_id,
        [
            BoardCreated(title="Plans", owner_id="alice"),
            ColumnAdded(column_id=todo, title="To do", position="a0"),
            ColumnAdded(column_id=done, title="Done", position="a1"),
            CardAdded(card_id=card, column_id=todo, position="a0", title="Ship"),
            MemberAdded(user_id="bob", role=Role.VIEWER, name="Bob"),
            CardMoved(
                card_id=card,
                from_column_id=todo,
                to_column_id=done,
                position="a0",
                previous_position="a0",
            ),
        ],
    )
    return events, todo, done, card


async def _project(
    store: ReadStore, board_id: uuid.UUID, events: list[AnyEvent]
) -> BoardProjection:
    projection = await store.load(str(board_id))
    for event in events:
        apply_event(projection, event)
    assert await store.write([projection]) == []
    return projection


class TestWrite:
    async def test_a_board_written_reads_back_as_its_view(self, store: ReadStore) -> None:
        board_id = uuid.uuid4()
        events, _, done, card = _story(board_id)
        await _project(store, board_id, events)
        detail = await store.board_detail(board_id)
        assert detail is not None
        assert detail.board.version == 6
        assert [c.title for c in detail.board.columns] == ["To do", "Done"]
        assert [(c.card_id, c.column_id, c.version) for c in detail.cards] == [(card, done, 6)]
        assert detail.board.counts.open_cards == 1
        assert {m.user_id: m.role for m in detail.board.members} == {
            "alice": Role.OWNER,
            "bob": Role.VIEWER,
        }
        assert detail.board.updated_at == events[-1].occurred_at

    async def test_the_per_user_index_follows_membership(self, store: ReadStore) -> None:
        board_id = uuid.uuid4()
        events, *_ = _story(board_id)
        projection = await _project(store, board_id, events)
        assert [s.board_id for s in await store.boards_of("bob")] == [board_id]
        apply_event(
            projection,
            _events(board_id, [MemberRemoved(user_id="bob", previous_role=Role.VIEWER)], 7)[0],
        )
        assert await store.write([projection]) == []
        assert await store.boards_of("bob") == []
        assert [s.role for s in await store.boards_of("alice")] == [Role.OWNER]

    async def test_every_event_is_archived_once(self, store: ReadStore) -> None:
        board_id = uuid.uuid4()
        events, *_ = _story(board_id)
        await _project(store, board_id, events)
        documents = await store.archived_documents(board_id)
        assert [version for version, _ in documents] == [1, 2, 3, 4, 5, 6]
        assert [doc["event_id"] for _, doc in documents] == [str(e.event_id) for e in events]  # type: ignore[index]

    async def test_archived_cards_are_left_out_unless_asked_for(self, store: ReadStore) -> None:
        board_id = uuid.uuid4()
        events, _, done, card = _story(board_id)
        events += _events(board_id, [CardArchived(card_id=card, column_id=done)], 7)
        await _project(store, board_id, events)
        assert (await store.board_detail(board_id)).cards == []  # type: ignore[union-attr]
        assert len((await store.board_detail(board_id, archived=True)).cards) == 1  # type: ignore[union-attr]


class TestArchivedCards:
    async def test_an_archived_card_leaves_the_open_cards_and_comes_back_restored(
        self, store: ReadStore
    ) -> None:
        board_id = uuid.uuid4()
        events, _, done, card = _story(board_id)
        projection = await _project(store, board_id, events)
        for event in _events(board_id, [CardArchived(card_id=card, column_id=done)], 7):
            apply_event(projection, event)
        assert await store.write([projection]) == []
        assert (await store.board_detail(board_id)).cards == []  # type: ignore[union-attr]
        stored = await store.stored_documents(str(board_id))
        assert [c["archived"] for c in stored["cards"]] == [True]  # type: ignore[index]
        for event in _events(
            board_id, [CardRestored(card_id=card, column_id=done, position="a0")], 8
        ):
            apply_event(projection, event)
        assert await store.write([projection]) == []
        [shown] = (await store.board_detail(board_id)).cards  # type: ignore[union-attr]
        assert (shown.card_id, shown.archived, shown.version) == (card, False, 8)
        loaded = await store.load(str(board_id))
        assert loaded.cards == projection.cards
        assert loaded.stored_cards == {str(card)}
        assert len((await store.stored_documents(str(board_id)))["cards"]) == 1  # type: ignore[index]

    async def test_many_cards_of_one_board_read_back_whole(self, store: ReadStore) -> None:
        board_id = uuid.uuid4()
        events, todo, _, _ = _story(board_id)
        cards = [uuid.uuid4() for _ in range(200)]
        added = [
            CardAdded(card_id=c, column_id=todo, position=f"b{i:03d}", title=f"card {i}")
            for i, c in enumerate(cards)
        ]
        await _project(store, board_id, events + _events(board_id, added, 7))
        detail = await store.board_detail(board_id)
        assert detail is not None
        assert {c.card_id for c in detail.cards} >= set(cards)
        assert (await store.card(board_id, cards[123])).title == "card 123"  # type: ignore[union-attr]


class TestGuards:
    async def test_a_writer_behind_another_is_told_its_projection_is_stale(
        self, store: ReadStore
    ) -> None:
        board_id = uuid.uuid4()
        events, *_ = _story(board_id)
        first, second = await store.load(str(board_id)), await store.load(str(board_id))
        for event in events[:3]:
            apply_event(first, event)
            apply_event(second, event)
        assert await store.write([first]) == []
        assert await store.write([second]) == [second]
        before = await store.board_detail(board_id)
        # Writing the same events again through a fresh load changes nothing.
        again = await store.load(str(board_id))
        assert again.version == 3
        assert await store.board_detail(board_id) == before

    async def test_redelivered_card_writes_change_nothing(self, store: ReadStore) -> None:
        board_id = uuid.uuid4()
        events, *_ = _story(board_id)
        await _project(store, board_id, events)
        stale = BoardProjection(board_id=str(board_id))
        for event in events[:4]:
            apply_event(stale, event)
        # Its board write loses the guard; its card write (older version) must not land either.
        assert await store.write([stale]) == [stale]
        detail = await store.board_detail(board_id)
        assert detail is not None
        assert detail.cards[0].version == 6


class TestCheckpoints:
    async def test_only_move_forward(self, store: ReadStore) -> None:
        assert await store.checkpoint(3) is None
        await store.save_checkpoint(Checkpoint(3, "100-5", "e1"))
        await store.save_checkpoint(Checkpoint(3, "100-2", "e1"))
        assert await store.checkpoint(3) == Checkpoint(3, "100-5", "e1")
        await store.save_checkpoint(Checkpoint(3, "200-0", "e1"))
        assert await store.checkpoint(3) == Checkpoint(3, "200-0", "e1")


class TestReads:
    async def test_an_unknown_board_reads_as_none_everywhere(self, store: ReadStore) -> None:
        board_id = uuid.uuid4()
        assert await store.board_version(board_id) is None
        assert await store.board_view(board_id) is None
        assert await store.board_detail(board_id) is None
        assert await store.card(board_id, uuid.uuid4()) is None
        loaded = await store.load(str(board_id))
        assert (loaded.board, loaded.version, loaded.stored_version) == (None, 0, 0)

    async def test_a_card_is_found_on_its_own_board_only(self, store: ReadStore) -> None:
        board_id, other = uuid.uuid4(), uuid.uuid4()
        events, _, done, card = _story(board_id)
        await _project(store, board_id, events)
        found = await store.card(board_id, card)
        assert found is not None
        assert (found.column_id, found.version) == (done, 6)
        assert await store.card(other, card) is None
        assert await store.board_version(board_id) == 6

    async def test_a_load_holds_what_was_written(self, store: ReadStore) -> None:
        board_id = uuid.uuid4()
        events, _, _, card = _story(board_id)
        written = await _project(store, board_id, events)
        loaded = await store.load(str(board_id))
        assert loaded.board == written.board
        assert loaded.cards == written.cards
        assert (loaded.stored_version, loaded.stored_cards) == (6, {str(card)})
        assert not loaded.dirty
        assert not loaded.torn

    async def test_boards_of_sorts_by_title_then_id(self, store: ReadStore) -> None:
        titles = ["beta", "Alpha", "alpha"]
        boards = [uuid.uuid4() for _ in titles]
        for board_id, title in zip(boards, titles, strict=True):
            await _project(
                store, board_id, _events(board_id, [BoardCreated(title=title, owner_id="zoe")])
            )
        listed = [(s.title, s.board_id) for s in await store.boards_of("zoe")]
        first, second = sorted(
            [("Alpha", boards[1]), ("alpha", boards[2])], key=lambda t: str(t[1])
        )
        assert listed == [first, second, ("beta", boards[0])]


class TestConcurrentWriters:
    async def test_boards_of_one_user_written_at_once_are_all_in_the_index(
        self, store: ReadStore
    ) -> None:
        # Different partitions' appliers write different boards of the same people at once.
        boards = [uuid.uuid4() for _ in range(20)]
        projections = []
        for board_id in boards:
            projection = BoardProjection(board_id=str(board_id))
            for event in _events(board_id, [BoardCreated(title="t", owner_id="carol")]):
                apply_event(projection, event)
            projections.append(projection)

        await asyncio.gather(*(store.write([p]) for p in projections))

        assert {s.board_id for s in await store.boards_of("carol")} == set(boards)


class TestArchive:
    async def test_pages_of_versions_are_read_back_in_order(self, store: ReadStore) -> None:
        board_id = uuid.uuid4()
        events, *_ = _story(board_id)
        await _project(store, board_id, events)
        page = await store.archived_events(board_id, 2, 5, 3)
        assert [e.version for e in page] == [2, 3, 4]
        assert [e.event_id for e in page] == [e.event_id for e in events[1:4]]
        assert [e.version for e in await store.archived_events(board_id, 5, None, 10)] == [5, 6]
        assert await store.archived_events(board_id, 7, None, 10) == []
        assert str(board_id) in await store.archived_boards()

    async def test_keeps_each_event_as_the_json_it_was_stored_as(self, store: ReadStore) -> None:
        board_id = uuid.uuid4()
        [created] = _events(board_id, [BoardCreated(title="t", owner_id="alice")])
        stored = orjson.loads(created.model_dump_json())
        stored["extra_field_of_a_newer_writer"] = "kept"
        projection = BoardProjection(board_id=str(board_id))
        apply_event(projection, created, source=orjson.dumps(stored))
        await store.write([projection])
        assert await store.archived_documents(board_id) == [(1, stored)]

    async def test_the_gapless_prefix_stops_at_the_first_missing_version(
        self, store: ReadStore
    ) -> None:
        board_id = uuid.uuid4()
        events, *_ = _story(board_id)
        projection = BoardProjection(board_id=str(board_id))
        for event in events:
            apply_event(projection, event)
        del projection.applied[3]  # version 4 never reaches the archive
        await store.write([projection])
        assert await store.archived_prefix(board_id, 6) == 3
        assert await store.archived_prefix(board_id, 2) == 2
        assert await store.archived_prefix(board_id, 0) == 0


class TestVerificationShapes:
    async def test_stored_documents_are_canonical_and_listed(self, store: ReadStore) -> None:
        board_id = uuid.uuid4()
        events, *_ = _story(board_id)
        await _project(store, board_id, events)
        documents = await store.stored_documents(str(board_id))
        assert documents is not None
        assert "_id" not in documents["board"]
        assert documents["board"]["version"] == 6
        assert [c["title"] for c in documents["cards"]] == ["Ship"]
        assert str(board_id) in await store.stored_boards()
        index = await store.user_index()
        assert index["alice"][str(board_id)] == {"role": "owner", "active": True, "version": 1}
        assert index["bob"][str(board_id)] == {"role": "viewer", "active": True, "version": 5}
        assert await store.stored_documents(str(uuid.uuid4())) is None

    async def test_board_versions_lists_every_board_of_the_generation_at_its_version(
        self, store: ReadStore
    ) -> None:
        first, second = uuid.uuid4(), uuid.uuid4()
        events, *_ = _story(first)
        await _project(store, first, events)
        await _project(store, second, _story(second)[0][:2])
        assert await store.board_versions() == {str(first): 6, str(second): 2}
        assert await store.at(store.generation + 1).board_versions() == {}


class TestGenerations:
    async def test_a_generation_holds_its_own_read_models_and_shares_the_archive(
        self, store: ReadStore
    ) -> None:
        board_id = uuid.uuid4()
        events, *_ = _story(board_id)
        await _project(store, board_id, events)
        await store.save_checkpoint(Checkpoint(0, "5-0", "e1"))
        other = store.at(7)
        assert other.generation == 7
        assert await other.board_version(board_id) is None
        assert await other.checkpoint(0) is None
        assert [e.version for e in await other.archived_events(board_id, 1, None, 10)] == [
            1,
            2,
            3,
            4,
            5,
            6,
        ]
        store.switch_to(7)
        assert await store.board_version(board_id) is None
        store.switch_to(0)
        assert await store.board_version(board_id) == 6

    async def test_a_rebuild_begins_switches_and_drops(self, store: ReadStore) -> None:
        board_id = uuid.uuid4()
        assert await store.generation_pointer() == GenerationPointer(live=0)
        assert await store.begin_generation() == (0, 1)
        assert await store.generation_pointer() == GenerationPointer(0, building=1)
        events, *_ = _story(board_id)
        await _project(store.at(1), board_id, events)
        with pytest.raises(GenerationChangedError):
            await store.switch_generation(0, 2)
        await store.switch_generation(0, 1)
        assert await store.generation_pointer() == GenerationPointer(live=1)
        assert await store.at(1).board_version(board_id) == 6
        assert await store.drop_generation(1) != []
        assert await store.at(1).board_version(board_id) is None

    async def test_an_unfinished_generation_is_begun_again_empty(self, store: ReadStore) -> None:
        board_id = uuid.uuid4()
        _, new = await store.begin_generation()
        await _project(store.at(new), board_id, _story(board_id)[0])
        await store.abandon_generation(new)
        assert (await store.generation_pointer()).building is None
        again = await store.begin_generation()
        assert await store.begin_generation() == again
        assert await store.at(again[1]).board_version(board_id) is None
