"""A snapshot brings back exactly the board it was taken of."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime

import orjson
from boards.domain import Board, Context, DomainError, decide, fold
from boards.domain.snapshot import SNAPSHOT_SCHEMA, from_snapshot, to_snapshot
from contracts.commands import (
    AddCard,
    AddColumn,
    AddMember,
    ArchiveCard,
    ArchiveColumn,
    Command,
    EditCard,
    MoveCard,
    RestoreColumn,
)
from contracts.envelope import event_envelope
from contracts.events import BoardCreated, CardAdded, Event
from contracts.fields import Role

BOARD = uuid.uuid5(uuid.NAMESPACE_URL, "snapshot")


class _History:
    def __init__(self) -> None:
        self.board = Board(board_id=BOARD)

    def apply(self, payloads: list[Event]) -> None:
        envelopes = [
            event_envelope(
                p,
                event_id=uuid.uuid4(),
                board_id=BOARD,
                version=self.board.version + i,
                occurred_at=datetime.now(UTC),
                actor="alice",
                command_id=uuid.uuid4(),
                correlation_id="c",
                causation_id="c",
                epoch="e",
            )
            for i, p in enumerate(payloads, start=1)
        ]
        self.board = fold(self.board, envelopes)

    def send(self, command: Command) -> list[Event]:
        events = decide(self.board, command, Context("alice", uuid.uuid4()))
        self.apply(events)
        return events


def _random_command(
    rng: random.Random, columns: list[uuid.UUID], cards: list[uuid.UUID], step: int
) -> Command:
    choice = rng.random()
    if choice < 0.3 or not cards:
        return AddCard(
            column_id=rng.choice(columns),
            title=f"card {step}",
            labels=["x"] if rng.random() < 0.5 else [],
            assignees=["bob"] if rng.random() < 0.3 else [],
            due_date=datetime(2027, 1, 1, tzinfo=UTC) if rng.random() < 0.3 else None,
        )
    if choice < 0.8:
        return MoveCard(card_id=rng.choice(cards), column_id=rng.choice(columns))
    if choice < 0.9:
        return EditCard(card_id=rng.choice(cards), description=f"d{step}")
    return ArchiveCard(card_id=rng.choice(cards))


def _busy_board(seed: int) -> Board:
    rng = random.Random(seed)
    history = _History()
    history.apply([BoardCreated(title="snap", owner_id="alice")])
    history.send(AddMember(user_id="bob", role=Role.EDITOR, email="b@x.io"))
    columns = [uuid.uuid4() for _ in range(4)]
    for i, column in enumerate(columns):
        history.send(AddColumn(column_id=column, title=f"c{i}"))
    cards: list[uuid.UUID] = []
    for step in range(400):
        try:
            events = history.send(_random_command(rng, columns, cards, step))
        except DomainError:
            continue
        cards.extend(e.card_id for e in events if isinstance(e, CardAdded))
    history.send(ArchiveColumn(column_id=columns[-1]))
    return history.board


class TestSnapshot:
    def test_brings_back_the_same_board(self) -> None:
        for seed in range(5):
            board = _busy_board(seed)
            assert board.open_cards > 0
            assert from_snapshot(orjson.loads(orjson.dumps(to_snapshot(board)))) == board

    def test_keeps_an_archived_column_restorable_with_its_cards(self) -> None:
        board = _busy_board(1)
        [archived] = [c.column_id for c in board.columns.values() if c.archived]
        assert board.lane(archived)
        restored = from_snapshot(orjson.loads(orjson.dumps(to_snapshot(board))))
        assert restored is not None
        restore = RestoreColumn(column_id=archived)
        context = Context("alice", uuid.uuid4())

        assert decide(restored, restore, context) == decide(board, restore, context)
        assert restored.lane(archived) == board.lane(archived)

    def test_ignores_a_snapshot_of_another_schema(self) -> None:
        data = to_snapshot(_busy_board(0))
        data["schema"] = SNAPSHOT_SCHEMA + 1
        assert from_snapshot(data) is None
