"""Splitting one gap over and over: keys are rebalanced, and nobody's place changes."""

from __future__ import annotations

import uuid
from uuid import UUID

from boards.domain import Board, Context, decide, fold
from boards.domain.ordering import REBALANCE_AT
from contracts.commands import AddCard, MoveCard, MoveColumn
from contracts.envelope import AnyEvent, event_envelope
from contracts.events import (
    BoardCreated,
    CardAdded,
    CardsRebalanced,
    ColumnAdded,
    ColumnsRebalanced,
    Event,
)

BOARD = uuid.uuid5(uuid.NAMESPACE_URL, "rebalancing")
TODO = uuid.uuid5(uuid.NAMESPACE_URL, "todo")


class _Log:
    def __init__(self) -> None:
        self.board = Board(board_id=BOARD)
        self.events: list[AnyEvent] = []

    def apply(self, payloads: list[Event]) -> None:
        envelopes = [
            event_envelope(
                p,
                event_id=uuid.uuid4(),
                board_id=BOARD,
                version=self.board.version + i,
                occurred_at="2026-01-01T00:00:00Z",
                actor="alice",
                command_id=uuid.uuid4(),
                correlation_id="c",
                causation_id="c",
                epoch="e",
            )
            for i, p in enumerate(payloads, start=1)
        ]
        self.events.extend(envelopes)
        self.board = fold(self.board, envelopes)

    def send(self, command: object) -> list[Event]:
        events = decide(self.board, command, Context("alice", uuid.uuid4()))  # type: ignore[arg-type]
        self.apply(events)
        return events


def _lane_ids(board: Board, column: UUID) -> list[UUID]:
    return [i for _, i in board.lane(column)]


def _start() -> _Log:
    log = _Log()
    log.apply(
        [
            BoardCreated(title="b", owner_id="alice"),
            ColumnAdded(column_id=TODO, title="t", position="a0"),
        ]
    )
    return log


class TestCardsRebalanced:
    def test_one_gap_split_two_thousand_times_keeps_keys_short_and_order_exact(self) -> None:
        log = _start()
        top = log.send(AddCard(column_id=TODO, title="top"))[0]
        assert isinstance(top, CardAdded)
        log.send(AddCard(column_id=TODO, title="bottom"))
        expected = _lane_ids(log.board, TODO)
        rebalances = 0
        for i in range(2000):
            events = log.send(AddCard(column_id=TODO, title=f"{i}", after_card_id=top.card_id))
            rebalances += sum(isinstance(e, CardsRebalanced) for e in events)
            added = events[-1]
            assert isinstance(added, CardAdded)
            expected.insert(1, added.card_id)
            assert max(len(k) for k, _ in log.board.lane(TODO)) <= REBALANCE_AT
        assert rebalances > 0
        assert _lane_ids(log.board, TODO) == expected

    def test_a_move_that_needs_a_rebalance_lands_where_asked(self) -> None:
        log = _start()
        ids = [log.send(AddCard(column_id=TODO, title=f"{i}"))[0].card_id for i in range(3)]  # type: ignore[attr-defined]
        for _ in range(400):
            lane = _lane_ids(log.board, TODO)
            log.send(MoveCard(card_id=lane[-1], column_id=TODO, after_card_id=lane[0]))
            new_lane = _lane_ids(log.board, TODO)
            assert new_lane == [lane[0], lane[-1], *lane[1:-1]]
        assert sorted(ids) == sorted(_lane_ids(log.board, TODO))
        assert any(e.type == "CardsRebalanced" for e in log.events)

    def test_folding_the_log_again_gives_the_same_board(self) -> None:
        log = _start()
        top = log.send(AddCard(column_id=TODO, title="top"))[0]
        for i in range(300):
            log.send(AddCard(column_id=TODO, title=f"{i}", after_card_id=top.card_id))  # type: ignore[attr-defined]
        assert fold(Board(board_id=BOARD), log.events) == log.board


class TestColumnsRebalanced:
    def test_columns_moved_into_one_gap_keep_short_keys_and_exact_order(self) -> None:
        log = _start()
        for i in range(3):
            log.apply([ColumnAdded(column_id=uuid.uuid4(), title=f"c{i}", position=f"a{i + 1}")])
        saw_rebalance = False
        for _ in range(400):
            order = [i for _, i in log.board.column_order]
            events = log.send(MoveColumn(column_id=order[-1], after_column_id=order[0]))
            saw_rebalance |= any(isinstance(e, ColumnsRebalanced) for e in events)
            assert [i for _, i in log.board.column_order] == [order[0], order[-1], *order[1:-1]]
            assert max(len(k) for k, _ in log.board.column_order) <= REBALANCE_AT
        assert saw_rebalance
