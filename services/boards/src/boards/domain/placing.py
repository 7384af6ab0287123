"""Where a column or card lands, and the lookups every placing rule shares."""

from __future__ import annotations

from bisect import bisect_right
from uuid import UUID

import contracts.events as e

from boards.domain.errors import RuleViolationError
from boards.domain.model import Board, Card, Column
from boards.domain.ordering import Entry, Slot, index_of, place

# Sorts after every id: "after all entries with this key".
_LAST_ID = UUID(int=(1 << 128) - 1)


def placements(slot: Slot) -> list[e.Placement]:
    """A rebalanced slot's new keys, as events carry them."""
    return [e.Placement(id=item_id, position=key) for item_id, key in slot.rebalanced]


def rebalanced_cards(column_id: UUID, slot: Slot) -> list[e.Event]:
    return (
        [e.CardsRebalanced(column_id=column_id, positions=placements(slot))]
        if slot.rebalanced
        else []
    )


def rebalanced_columns(slot: Slot) -> list[e.Event]:
    return [e.ColumnsRebalanced(positions=placements(slot))] if slot.rebalanced else []


def find_card(board: Board, card_id: UUID, *, active: bool = True) -> Card:
    card = board.cards.get(card_id)
    if card is None:
        raise RuleViolationError("no such card", code="card_not_found", card_id=str(card_id))
    if active and card.archived:
        raise RuleViolationError("the card is archived", code="card_archived", card_id=str(card_id))
    return card


def find_column(board: Board, column_id: UUID, *, active: bool = True) -> Column:
    column = board.columns.get(column_id)
    if column is None:
        raise RuleViolationError(
            "no such column", code="column_not_found", column_id=str(column_id)
        )
    if active and column.archived:
        raise RuleViolationError(
            "the column is archived", code="column_archived", column_id=str(column_id)
        )
    return column


def column_anchor(board: Board, column_id: UUID | None) -> Entry | None:
    """An anchor column as it stands now; None (the end) when it has been archived."""
    if column_id is None:
        return None
    column = board.columns.get(column_id)
    if column is None:
        raise RuleViolationError(
            "no such column to place next to", code="column_not_found", column_id=str(column_id)
        )
    return None if column.archived else (column.position, column_id)


def card_anchor(board: Board, card_id: UUID | None, column_id: UUID) -> Entry | None:
    """An anchor card as it stands now; None (the end) when it left the column or was archived."""
    if card_id is None:
        return None
    card = board.cards.get(card_id)
    if card is None:
        raise RuleViolationError(
            "no such card to place next to", code="card_not_found", card_id=str(card_id)
        )
    if card.archived or card.column_id != column_id:
        return None
    return (card.position, card_id)


def without(lane: tuple[Entry, ...], entry: Entry) -> tuple[tuple[Entry, ...], int | None]:
    index = index_of(lane, entry)
    if index is None:
        return lane, None
    return lane[:index] + lane[index + 1 :], index


def stays(lane: tuple[Entry, ...], index: int | None, slot: Slot) -> bool:
    """True when the item at `index` already sits exactly between the slot's neighbours."""
    if index is None:
        return False
    current_after = lane[index - 1][1] if index > 0 else None
    current_before = lane[index + 1][1] if index + 1 < len(lane) else None
    return (current_after, current_before) == (slot.after, slot.before)


def where_it_was(lane: tuple[Entry, ...], key: str) -> Slot:
    """Back among its siblings after the last one whose key sorts before its old key, so it keeps
    its place relative to them even when its old key was since given to another."""
    index = bisect_right(lane, (key, _LAST_ID))
    return place(
        lane,
        after=lane[index - 1] if index > 0 else None,
        before=lane[0] if index == 0 and lane else None,
    )
