"""The rules of a card's checklist: add, rename, check, uncheck, move and remove items.

Items are ordered by the same fractional keys as cards (`ordering.place`), so a reorder is one
event and two concurrent inserts at one spot both land, in the order the log gives them. Anyone
who may edit the card may change its checklist; an archived card's checklist is frozen with it.
"""

from __future__ import annotations

from uuid import UUID

import contracts.commands as c
import contracts.events as e
from contracts.fields import MAX_CHECKLIST_ITEMS

from boards.domain.context import Context, derive_id
from boards.domain.errors import RuleViolationError
from boards.domain.model import Board, Card, ChecklistItem
from boards.domain.ordering import Entry, place
from boards.domain.placing import find_card, placements, stays, without


def _item(card: Card, item_id: UUID) -> ChecklistItem:
    item = card.checklist.get(item_id)
    if item is None:
        raise RuleViolationError(
            "no such checklist item",
            code="checklist_item_not_found",
            card_id=str(card.card_id),
            item_id=str(item_id),
        )
    return item


def _anchor(card: Card, item_id: UUID | None) -> Entry | None:
    """An anchor that was removed meanwhile means the end, as a card anchor that left does."""
    if item_id is None:
        return None
    item = card.checklist.get(item_id)
    return (item.position, item_id) if item else None


def add_checklist_item(board: Board, command: c.AddChecklistItem, ctx: Context) -> list[e.Event]:
    card = find_card(board, command.card_id)
    if len(card.checklist) >= MAX_CHECKLIST_ITEMS:
        raise RuleViolationError(
            f"a checklist has at most {MAX_CHECKLIST_ITEMS} items",
            code="limit_exceeded",
            limit=MAX_CHECKLIST_ITEMS,
        )
    item_id = command.item_id or derive_id(ctx.command_id, "checklist item")
    if item_id in card.checklist:
        raise RuleViolationError(
            "a checklist item with this id exists", code="checklist_item_exists"
        )
    slot = place(
        card.checklist_lane(),
        after=_anchor(card, command.after_item_id),
        before=_anchor(card, command.before_item_id),
    )
    return [
        e.ChecklistItemAdded(
            card_id=command.card_id,
            item_id=item_id,
            text=command.text,
            position=slot.key,
            rebalanced=placements(slot),
        )
    ]


def rename_checklist_item(
    board: Board, command: c.RenameChecklistItem, ctx: Context
) -> list[e.Event]:
    item = _item(find_card(board, command.card_id), command.item_id)
    if item.text == command.text:
        return []
    return [
        e.ChecklistItemRenamed(
            card_id=command.card_id,
            item_id=command.item_id,
            text=command.text,
            previous_text=item.text,
        )
    ]


def check_checklist_item(
    board: Board, command: c.CheckChecklistItem, ctx: Context
) -> list[e.Event]:
    item = _item(find_card(board, command.card_id), command.item_id)
    if item.checked:
        return []
    return [e.ChecklistItemChecked(card_id=command.card_id, item_id=command.item_id)]


def uncheck_checklist_item(
    board: Board, command: c.UncheckChecklistItem, ctx: Context
) -> list[e.Event]:
    item = _item(find_card(board, command.card_id), command.item_id)
    if not item.checked:
        return []
    return [e.ChecklistItemUnchecked(card_id=command.card_id, item_id=command.item_id)]


def move_checklist_item(board: Board, command: c.MoveChecklistItem, ctx: Context) -> list[e.Event]:
    card = find_card(board, command.card_id)
    item = _item(card, command.item_id)
    lane = card.checklist_lane()
    siblings, index = without(lane, (item.position, item.item_id))
    slot = place(
        siblings,
        after=_anchor(card, command.after_item_id),
        before=_anchor(card, command.before_item_id),
    )
    if stays(lane, index, slot):
        return []
    return [
        e.ChecklistItemMoved(
            card_id=command.card_id,
            item_id=command.item_id,
            position=slot.key,
            previous_position=item.position,
            rebalanced=placements(slot),
        )
    ]


def remove_checklist_item(
    board: Board, command: c.RemoveChecklistItem, ctx: Context
) -> list[e.Event]:
    item = _item(find_card(board, command.card_id), command.item_id)
    return [
        e.ChecklistItemRemoved(
            card_id=command.card_id, item_id=command.item_id, text=item.text, checked=item.checked
        )
    ]
