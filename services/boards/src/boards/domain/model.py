"""A board's decided state and `evolve`, the pure fold of its events.

State is immutable; evolve copies only the part an event touches. Active cards are also kept per
column as (key, id) tuples in order, so placing a card costs the size of its column, not the board.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, assert_never
from uuid import UUID

import contracts.events as e
from contracts.envelope import AnyEvent
from contracts.fields import DEFAULT_WIP_POLICY, Role, WipPolicy

Lane = tuple[tuple[str, UUID], ...]


@dataclass(frozen=True, slots=True)
class Column:
    column_id: UUID
    title: str
    position: str
    archived: bool = False
    wip_limit: int | None = None


@dataclass(frozen=True, slots=True)
class ChecklistItem:
    item_id: UUID
    text: str
    position: str
    checked: bool = False


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
    checklist: Mapping[UUID, ChecklistItem] = field(default_factory=dict)

    def checklist_lane(self) -> Lane:
        """The items as (key, id) in order; a checklist is short, so it is sorted when asked."""
        return tuple(sorted((item.position, item.item_id) for item in self.checklist.values()))


@dataclass(frozen=True, slots=True)
class Comment:
    """What the comment rules need: whose it is, on which card, and whether it is gone (`edited`
    only so that every event leaves its mark on the fold)."""

    card_id: UUID
    author_id: str
    edited: bool = False
    deleted: bool = False


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
    comments: Mapping[UUID, Comment] = field(default_factory=dict)
    wip_policy: WipPolicy = DEFAULT_WIP_POLICY

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


def _column_added(board: Board, event: e.ColumnAdded) -> Board:
    column = Column(event.column_id, event.title, event.position)
    return replace(
        board,
        columns=_with(board.columns, event.column_id, column),
        column_order=_insert(board.column_order, event.position, event.column_id),
    )


def _column_renamed(board: Board, event: e.ColumnRenamed) -> Board:
    column = replace(board.columns[event.column_id], title=event.title)
    return replace(board, columns=_with(board.columns, event.column_id, column))


def _column_moved(board: Board, event: e.ColumnMoved) -> Board:
    column = replace(board.columns[event.column_id], position=event.position)
    order = _remove(board.column_order, board.columns[event.column_id].position, event.column_id)
    order = _insert(order, event.position, event.column_id)
    return replace(board, columns=_with(board.columns, event.column_id, column), column_order=order)


def _column_archived(board: Board, event: e.ColumnArchived) -> Board:
    column = board.columns[event.column_id]
    return replace(
        board,
        columns=_with(board.columns, event.column_id, replace(column, archived=True)),
        column_order=_remove(board.column_order, column.position, event.column_id),
    )


def _column_restored(board: Board, event: e.ColumnRestored) -> Board:
    # Its lane was kept while it was archived: its cards are on the board again with it.
    column = replace(board.columns[event.column_id], archived=False, position=event.position)
    return replace(
        board,
        columns=_with(board.columns, event.column_id, column),
        column_order=_insert(board.column_order, event.position, event.column_id),
    )


def _columns_rebalanced(board: Board, event: e.ColumnsRebalanced) -> Board:
    columns = dict(board.columns)
    for placement in event.positions:
        columns[placement.id] = replace(columns[placement.id], position=placement.position)
    return replace(board, columns=columns, column_order=_rekeyed(board.column_order, event))


def _cards_rebalanced(board: Board, event: e.CardsRebalanced) -> Board:
    cards = dict(board.cards)
    for placement in event.positions:
        cards[placement.id] = replace(cards[placement.id], position=placement.position)
    lane = _rekeyed(board.lane(event.column_id), event)
    return replace(board, cards=cards, lanes=_with(board.lanes, event.column_id, lane))


def _rekeyed(lane: Lane, event: e.CardsRebalanced | e.ColumnsRebalanced) -> Lane:
    # Items the event does not name (the one about to move) keep their key until their own event.
    named = {p.id: p.position for p in event.positions}
    return tuple(sorted((named.get(item_id, key), item_id) for key, item_id in lane))


def _opened(board: Board, card: Card) -> Board:
    lane = _insert(board.lane(card.column_id), card.position, card.card_id)
    return replace(
        board,
        cards=_with(board.cards, card.card_id, card),
        lanes=_with(board.lanes, card.column_id, lane),
        open_cards=board.open_cards + 1,
    )


def _card_added(board: Board, event: e.CardAdded) -> Board:
    card = Card(
        event.card_id,
        event.column_id,
        event.position,
        event.title,
        event.description,
        tuple(event.labels),
        tuple(event.assignees),
        event.due_date,
    )
    return _opened(board, card)


def _card_edited(board: Board, event: e.CardEdited) -> Board:
    changes: dict[str, Any] = {}
    for change in event.changes:
        value: Any = change.after
        if change.field in ("labels", "assignees"):
            value = tuple(value or ())
        elif change.field == "due_date" and value is not None:
            value = datetime.fromisoformat(str(value))
        changes[change.field] = value
    card = replace(board.cards[event.card_id], **changes)
    return replace(board, cards=_with(board.cards, event.card_id, card))


def _card_moved(board: Board, event: e.CardMoved) -> Board:
    card = replace(
        board.cards[event.card_id], column_id=event.to_column_id, position=event.position
    )
    old_lane = board.lane(event.from_column_id)
    old_key = board.cards[event.card_id].position
    lanes = _with(board.lanes, event.from_column_id, _remove(old_lane, old_key, event.card_id))
    lanes[event.to_column_id] = _insert(
        lanes.get(event.to_column_id, ()), event.position, event.card_id
    )
    return replace(board, cards=_with(board.cards, event.card_id, card), lanes=lanes)


def _card_archived(board: Board, event: e.CardArchived) -> Board:
    card = board.cards[event.card_id]
    lane = _remove(board.lane(event.column_id), card.position, event.card_id)
    return replace(
        board,
        cards=_with(board.cards, event.card_id, replace(card, archived=True)),
        lanes=_with(board.lanes, event.column_id, lane),
        open_cards=board.open_cards - 1,
    )


def _card_restored(board: Board, event: e.CardRestored) -> Board:
    card = replace(
        board.cards[event.card_id],
        archived=False,
        column_id=event.column_id,
        position=event.position,
    )
    return _opened(board, card)


def _member_removed(board: Board, event: e.MemberRemoved) -> Board:
    members = dict(board.members)
    del members[event.user_id]
    return replace(board, members=members)


def _comment_changed(board: Board, event: e.CommentEdited | e.CommentDeleted) -> Board:
    comment = board.comments[event.comment_id]
    if isinstance(event, e.CommentEdited):
        comment = replace(comment, edited=True)
    else:
        comment = replace(comment, deleted=True)
    return replace(board, comments=_with(board.comments, event.comment_id, comment))


def _column_wip_limit_changed(board: Board, event: e.ColumnWipLimitChanged) -> Board:
    column = replace(board.columns[event.column_id], wip_limit=event.limit)
    return replace(board, columns=_with(board.columns, event.column_id, column))


def _with_items(board: Board, card_id: UUID, items: Mapping[UUID, ChecklistItem]) -> Board:
    card = replace(board.cards[card_id], checklist=items)
    return replace(board, cards=_with(board.cards, card_id, card))


def _rekeyed_items(
    items: Mapping[UUID, ChecklistItem], placements: Iterable[e.Placement]
) -> dict[UUID, ChecklistItem]:
    copy = dict(items)
    for placement in placements:
        copy[placement.id] = replace(copy[placement.id], position=placement.position)
    return copy


ChecklistEvent = (
    e.ChecklistItemAdded
    | e.ChecklistItemRenamed
    | e.ChecklistItemChecked
    | e.ChecklistItemUnchecked
    | e.ChecklistItemMoved
    | e.ChecklistItemRemoved
)


def _checklist_changed(board: Board, event: ChecklistEvent) -> Board:
    match event:
        case e.ChecklistItemAdded():
            items = _rekeyed_items(board.cards[event.card_id].checklist, event.rebalanced)
            items[event.item_id] = ChecklistItem(event.item_id, event.text, event.position)
        case e.ChecklistItemMoved():
            items = _rekeyed_items(board.cards[event.card_id].checklist, event.rebalanced)
            items[event.item_id] = replace(items[event.item_id], position=event.position)
        case e.ChecklistItemRenamed():
            items = dict(board.cards[event.card_id].checklist)
            items[event.item_id] = replace(items[event.item_id], text=event.text)
        case e.ChecklistItemChecked() | e.ChecklistItemUnchecked():
            items = dict(board.cards[event.card_id].checklist)
            checked = isinstance(event, e.ChecklistItemChecked)
            items[event.item_id] = replace(items[event.item_id], checked=checked)
        case e.ChecklistItemRemoved():
            items = dict(board.cards[event.card_id].checklist)
            del items[event.item_id]
        case _:
            assert_never(event)
    return _with_items(board, event.card_id, items)


def evolve(board: Board, event: AnyEvent) -> Board:
    if event.version != board.version + 1:
        raise ValueError(
            f"event version {event.version} does not follow board version {board.version}"
        )
    return replace(_apply(board, event.payload), version=event.version)


# A case per event type and nothing more, so it is long rather than complex; the last case makes
# an event type it forgets a type error.
def _apply(board: Board, event: e.Event) -> Board:  # noqa: C901
    match event:
        case e.BoardCreated(title=title, owner_id=owner_id):
            return replace(board, title=title, members={owner_id: Role.OWNER})
        case e.BoardRenamed(title=title):
            return replace(board, title=title)
        case e.BoardArchived():
            return replace(board, archived=True)
        case e.BoardRestored():
            return replace(board, archived=False)
        case e.ColumnAdded():
            return _column_added(board, event)
        case e.ColumnRenamed():
            return _column_renamed(board, event)
        case e.ColumnMoved():
            return _column_moved(board, event)
        case e.ColumnArchived():
            return _column_archived(board, event)
        case e.ColumnRestored():
            return _column_restored(board, event)
        case e.ColumnsRebalanced():
            return _columns_rebalanced(board, event)
        case e.CardAdded():
            return _card_added(board, event)
        case e.CardEdited():
            return _card_edited(board, event)
        case e.CardMoved():
            return _card_moved(board, event)
        case e.CardArchived():
            return _card_archived(board, event)
        case e.CardRestored():
            return _card_restored(board, event)
        case e.CardsRebalanced():
            return _cards_rebalanced(board, event)
        case e.MemberAdded() | e.MemberRoleChanged():
            return replace(board, members=_with(board.members, event.user_id, event.role))
        case e.MemberRemoved():
            return _member_removed(board, event)
        case e.CommentAdded():
            comment = Comment(event.card_id, event.author_id)
            return replace(board, comments=_with(board.comments, event.comment_id, comment))
        case e.CommentEdited():
            return _comment_changed(board, event)
        case e.CommentDeleted():
            return _comment_changed(board, event)
        case e.ColumnWipLimitChanged():
            return _column_wip_limit_changed(board, event)
        case e.WipPolicyChanged(policy=policy):
            return replace(board, wip_policy=policy)
        case (
            e.ChecklistItemAdded()
            | e.ChecklistItemRenamed()
            | e.ChecklistItemChecked()
            | e.ChecklistItemUnchecked()
            | e.ChecklistItemMoved()
            | e.ChecklistItemRemoved()
        ):
            return _checklist_changed(board, event)
        case _:
            assert_never(event)


def fold(board: Board, events: Iterable[AnyEvent]) -> Board:
    for event in events:
        board = evolve(board, event)
    return board


def advance(board: Board, events: Iterable[e.Event]) -> Board:
    """The board after events just decided on it, numbered on from its version: what `fold`
    gives for their envelopes, without building envelopes for it (the command path's use)."""
    for event in events:
        board = replace(_apply(board, event), version=board.version + 1)
    return board
