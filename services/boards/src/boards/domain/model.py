"""A board's decided state and `evolve`, the pure fold of its events.

State is immutable; evolve copies only the part an event touches. Active cards are also kept per
column as (key, id) tuples in order, so placing a card costs the size of its column, not the board.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any
from uuid import UUID

from contracts.envelope import AnyEvent
from contracts.events import (
    BoardArchived,
    BoardCreated,
    BoardRenamed,
    BoardRestored,
    CardAdded,
    CardArchived,
    CardEdited,
    CardMoved,
    CardRestored,
    CardsRebalanced,
    ColumnAdded,
    ColumnArchived,
    ColumnMoved,
    ColumnRenamed,
    ColumnRestored,
    ColumnsRebalanced,
    MemberAdded,
    MemberRemoved,
    MemberRoleChanged,
)
from contracts.fields import Role

Lane = tuple[tuple[str, UUID], ...]


@dataclass(frozen=True, slots=True)
class Column:
    column_id: UUID
    title: str
    position: str
    archived: bool = False


@dataclass(frozen=True, slots=True)
class Card:
    card_id: UUID
    column_id: UUID
    position: str
    title: str
    description: str = ""
    labels: tuple[str, ...] = ()
    assignees: tuple[str, ...] = ()
    due_date: datetime | None = None
    archived: bool = False


@dataclass(frozen=True, slots=True)
class Board:
    board_id: UUID
    version: int = 0
    title: str = ""
    archived: bool = False
    members: Mapping[str, Role] = field(default_factory=dict)
    columns: Mapping[UUID, Column] = field(default_factory=dict)
    cards: Mapping[UUID, Card] = field(default_factory=dict)
    column_order: Lane = ()
    lanes: Mapping[UUID, Lane] = field(default_factory=dict)
    open_cards: int = 0

    @property
    def exists(self) -> bool:
        return self.version > 0

    def lane(self, column_id: UUID) -> Lane:
        return self.lanes.get(column_id, ())

    def active_columns(self) -> int:
        return len(self.column_order)


def _insert(lane: Lane, key: str, item_id: UUID) -> Lane:
    items = list(lane)
    bisect.insort(items, (key, item_id))
    return tuple(items)


def _remove(lane: Lane, key: str, item_id: UUID) -> Lane:
    index = bisect.bisect_left(lane, (key, item_id))
    if index < len(lane) and lane[index] == (key, item_id):
        return lane[:index] + lane[index + 1 :]
    return lane


def _with(mapping: Mapping[Any, Any], key: Any, value: Any) -> dict[Any, Any]:
    copy = dict(mapping)
    copy[key] = value
    return copy


def _board_created(board: Board, e: BoardCreated) -> Board:
    return replace(board, title=e.title, members={e.owner_id: Role.OWNER})


def _board_renamed(board: Board, e: BoardRenamed) -> Board:
    return replace(board, title=e.title)


def _board_archived(board: Board, e: BoardArchived) -> Board:
    return replace(board, archived=True)


def _board_restored(board: Board, e: BoardRestored) -> Board:
    return replace(board, archived=False)


def _column_added(board: Board, e: ColumnAdded) -> Board:
    column = Column(e.column_id, e.title, e.position)
    return replace(
        board,
        columns=_with(board.columns, e.column_id, column),
        column_order=_insert(board.column_order, e.position, e.column_id),
    )


def _column_renamed(board: Board, e: ColumnRenamed) -> Board:
    column = replace(board.columns[e.column_id], title=e.title)
    return replace(board, columns=_with(board.columns, e.column_id, column))


def _column_moved(board: Board, e: ColumnMoved) -> Board:
    column = replace(board.columns[e.column_id], position=e.position)
    order = _remove(board.column_order, board.columns[e.column_id].position, e.column_id)
    order = _insert(order, e.position, e.column_id)
    return replace(board, columns=_with(board.columns, e.column_id, column), column_order=order)


def _column_archived(board: Board, e: ColumnArchived) -> Board:
    column = board.columns[e.column_id]
    return replace(
        board,
        columns=_with(board.columns, e.column_id, replace(column, archived=True)),
        column_order=_remove(board.column_order, column.position, e.column_id),
    )


def _column_restored(board: Board, e: ColumnRestored) -> Board:
    # Its lane was kept while it was archived: its cards are on the board again with it.
    column = replace(board.columns[e.column_id], archived=False, position=e.position)
    return replace(
        board,
        columns=_with(board.columns, e.column_id, column),
        column_order=_insert(board.column_order, e.position, e.column_id),
    )


def _columns_rebalanced(board: Board, e: ColumnsRebalanced) -> Board:
    columns = dict(board.columns)
    for placement in e.positions:
        columns[placement.id] = replace(columns[placement.id], position=placement.position)
    return replace(board, columns=columns, column_order=_rekeyed(board.column_order, e))


def _cards_rebalanced(board: Board, e: CardsRebalanced) -> Board:
    cards = dict(board.cards)
    for placement in e.positions:
        cards[placement.id] = replace(cards[placement.id], position=placement.position)
    lane = _rekeyed(board.lane(e.column_id), e)
    return replace(board, cards=cards, lanes=_with(board.lanes, e.column_id, lane))


def _rekeyed(lane: Lane, e: CardsRebalanced | ColumnsRebalanced) -> Lane:
    # Items the event does not name (the one about to move) keep their key until their own event.
    named = {p.id: p.position for p in e.positions}
    return tuple(sorted((named.get(item_id, key), item_id) for key, item_id in lane))


def _card_added(board: Board, e: CardAdded) -> Board:
    card = Card(
        e.card_id,
        e.column_id,
        e.position,
        e.title,
        e.description,
        tuple(e.labels),
        tuple(e.assignees),
        e.due_date,
    )
    return replace(
        board,
        cards=_with(board.cards, e.card_id, card),
        lanes=_with(
            board.lanes, e.column_id, _insert(board.lane(e.column_id), e.position, e.card_id)
        ),
        open_cards=board.open_cards + 1,
    )


def _card_edited(board: Board, e: CardEdited) -> Board:
    changes: dict[str, Any] = {}
    for change in e.changes:
        value: Any = change.after
        if change.field in ("labels", "assignees"):
            value = tuple(value or ())
        elif change.field == "due_date" and value is not None:
            value = datetime.fromisoformat(str(value))
        changes[change.field] = value
    card = replace(board.cards[e.card_id], **changes)
    return replace(board, cards=_with(board.cards, e.card_id, card))


def _card_moved(board: Board, e: CardMoved) -> Board:
    card = replace(board.cards[e.card_id], column_id=e.to_column_id, position=e.position)
    old_lane = board.lane(e.from_column_id)
    old_key = board.cards[e.card_id].position
    lanes = _with(board.lanes, e.from_column_id, _remove(old_lane, old_key, e.card_id))
    lanes[e.to_column_id] = _insert(lanes.get(e.to_column_id, ()), e.position, e.card_id)
    return replace(board, cards=_with(board.cards, e.card_id, card), lanes=lanes)


def _card_archived(board: Board, e: CardArchived) -> Board:
    card = board.cards[e.card_id]
    lane = _remove(board.lane(e.column_id), card.position, e.card_id)
    return replace(
        board,
        cards=_with(board.cards, e.card_id, replace(card, archived=True)),
        lanes=_with(board.lanes, e.column_id, lane),
        open_cards=board.open_cards - 1,
    )


def _card_restored(board: Board, e: CardRestored) -> Board:
    card = replace(
        board.cards[e.card_id], archived=False, column_id=e.column_id, position=e.position
    )
    return replace(
        board,
        cards=_with(board.cards, e.card_id, card),
        lanes=_with(
            board.lanes, e.column_id, _insert(board.lane(e.column_id), e.position, e.card_id)
        ),
        open_cards=board.open_cards + 1,
    )


def _member_added(board: Board, e: MemberAdded) -> Board:
    return replace(board, members=_with(board.members, e.user_id, e.role))


def _member_role_changed(board: Board, e: MemberRoleChanged) -> Board:
    return replace(board, members=_with(board.members, e.user_id, e.role))


def _member_removed(board: Board, e: MemberRemoved) -> Board:
    members = dict(board.members)
    del members[e.user_id]
    return replace(board, members=members)


_APPLIERS: dict[type[Any], Callable[[Board, Any], Board]] = {
    BoardCreated: _board_created,
    BoardRenamed: _board_renamed,
    BoardArchived: _board_archived,
    BoardRestored: _board_restored,
    ColumnAdded: _column_added,
    ColumnRenamed: _column_renamed,
    ColumnMoved: _column_moved,
    ColumnArchived: _column_archived,
    ColumnRestored: _column_restored,
    ColumnsRebalanced: _columns_rebalanced,
    CardsRebalanced: _cards_rebalanced,
    CardAdded: _card_added,
    CardEdited: _card_edited,
    CardMoved: _card_moved,
    CardArchived: _card_archived,
    CardRestored: _card_restored,
    MemberAdded: _member_added,
    MemberRoleChanged: _member_role_changed,
    MemberRemoved: _member_removed,
}


def evolve(board: Board, event: AnyEvent) -> Board:
    if event.version != board.version + 1:
        raise ValueError(
            f"event version {event.version} does not follow board version {board.version}"
        )
    return replace(_APPLIERS[type(event.payload)](board, event.payload), version=event.version)


def fold(board: Board, events: Iterable[AnyEvent]) -> Board:
    for event in events:
        board = evolve(board, event)
    return board
