"""The read store over a real MongoDB-protocol server (FerretDB): guards, archive, checkpoints."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from contracts.envelope import AnyEvent, event_envelope
from contracts.events import (
    BoardCreated,
    CardAdded,
    CardArchived,
    CardMoved,
    ColumnAdded,
    Event,
    MemberAdded,
    MemberRemoved,
)
from contracts.fields import Role
from projector.projection import BoardProjection, apply_event
from projector.store.mongo import MongoReadStore
from projector.store.port import Checkpoint

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
    store: MongoReadStore, board_id: uuid.UUID, events: list[AnyEvent]
) -> BoardProjection:
    projection = await store.load(str(board_id))
    for event in events:
        apply_event(projection, event)
    assert await store.write([projection]) == []
    return projection


class TestWrite:
    async def test_a_board_written_reads_back_as_its_view(self, read_store: MongoReadStore) -> None:
        board_id = uuid.uuid4()
        events, _, done, card = _story(board_id)
        await _project(read_store, board_id, events)
        detail = await read_store.board_detail(board_id)
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

    async def test_the_per_user_index_follows_membership(self, read_store: MongoReadStore) -> None:
        board_id = uuid.uuid4()
        events, *_ = _story(board_id)
        projection = await _project(read_store, board_id, events)
        assert [s.board_id for s in await read_store.boards_of("bob")] == [board_id]
        apply_event(
            projection,
            _events(board_id, [MemberRemoved(user_id="bob", previous_role=Role.VIEWER)], 7)[0],
        )
        assert await read_store.write([projection]) == []
        assert await read_store.boards_of("bob") == []
        assert [s.role for s in await read_store.boards_of("alice")] == [Role.OWNER]

    async def test_every_event_is_archived_once(self, read_store: MongoReadStore) -> None:
        board_id = uuid.uuid4()
        events, *_ = _story(board_id)
        await _project(read_store, board_id, events)
        versions = [d["version"] async for d in read_store.events.find({"board_id": str(board_id)})]
        assert sorted(versions) == [1, 2, 3, 4, 5, 6]

    async def test_archived_cards_are_left_out_unless_asked_for(
        self, read_store: MongoReadStore
    ) -> None:
        board_id = uuid.uuid4()
        events, _, done, card = _story(board_id)
        events += _events(board_id, [CardArchived(card_id=card, column_id=done)], 7)
        await _project(read_store, board_id, events)
        assert (await read_store.board_detail(board_id)).cards == []  # type: ignore[union-attr]
        assert len((await read_store.board_detail(board_id, archived=True)).cards) == 1  # type: ignore[union-attr]


class TestGuards:
    async def test_a_writer_behind_another_is_told_its_projection_is_stale(
        self, read_store: MongoReadStore
    ) -> None:
        board_id = uuid.uuid4()
        events, *_ = _story(board_id)
        first, second = await read_store.load(str(board_id)), await read_store.load(str(board_id))
        for event in events[:3]:
            apply_event(first, event)
            apply_event(second, event)
        assert await read_store.write([first]) == []
        assert await read_store.write([second]) == [second]
        before = await read_store.board_detail(board_id)
        # Writing the same events again through a fresh load changes nothing.
        again = await read_store.load(str(board_id))
        assert again.version == 3
        assert await read_store.board_detail(board_id) == before

    async def test_redelivered_card_writes_change_nothing(self, read_store: MongoReadStore) -> None:
        board_id = uuid.uuid4()
        events, *_ = _story(board_id)
        await _project(read_store, board_id, events)
        stale = BoardProjection(board_id=str(board_id))
        for event in events[:4]:
            apply_event(stale, event)
        # Its board write loses the guard; its card write (older version) must not land either.
        assert await read_store.write([stale]) == [stale]
        detail = await read_store.board_detail(board_id)
        assert detail is not None
        assert detail.cards[0].version == 6


class TestCheckpoints:
    async def test_only_move_forward(self, read_store: MongoReadStore) -> None:
        assert await read_store.checkpoint(3) is None
        await read_store.save_checkpoint(Checkpoint(3, "100-5", "e1"))
        await read_store.save_checkpoint(Checkpoint(3, "100-2", "e1"))
        assert await read_store.checkpoint(3) == Checkpoint(3, "100-5", "e1")
        await read_store.save_checkpoint(Checkpoint(3, "200-0", "e1"))
        assert await read_store.checkpoint(3) == Checkpoint(3, "200-0", "e1")
