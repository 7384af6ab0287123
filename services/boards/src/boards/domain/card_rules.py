"""The rules of cards: add, edit, move, archive, restore, and the open-card limit."""

from __future__ import annotations

from typing import Any

import contracts.commands as c
import contracts.events as e
from contracts.fields import MAX_OPEN_CARDS

from boards.domain.context import Context, derive_id
from boards.domain.errors import RuleViolationError
from boards.domain.model import Board
from boards.domain.ordering import place
from boards.domain.placing import (
    card_anchor,
    find_card,
    find_column,
    rebalanced_cards,
    stays,
    where_it_was,
    without,
)
from boards.domain.wip_rules import check_room


def _check_open_card_limit(board: Board) -> None:
    if board.open_cards >= MAX_OPEN_CARDS:
        raise RuleViolationError(
            f"a board has at most {MAX_OPEN_CARDS} open cards",
            code="limit_exceeded",
            limit=MAX_OPEN_CARDS,
        )


def _check_assignees(board: Board, assignees: list[str] | None) -> None:
    strangers = [a for a in assignees or () if a not in board.members]
    if strangers:
        raise RuleViolationError(
            "only members of the board can be assigned", code="assignee_not_member", users=strangers
        )


def add_card(board: Board, command: c.AddCard, ctx: Context) -> list[e.Event]:
    find_column(board, command.column_id)
    check_room(board, command.column_id)
    _check_open_card_limit(board)
    _check_assignees(board, command.assignees)
    card_id = command.card_id or derive_id(ctx.command_id, "card")
    if card_id in board.cards:
        raise RuleViolationError("a card with this id exists", code="card_exists")
    slot = place(
        board.lane(command.column_id),
        after=card_anchor(board, command.after_card_id, command.column_id),
        before=card_anchor(board, command.before_card_id, command.column_id),
    )
    return [
        *rebalanced_cards(command.column_id, slot),
        e.CardAdded(
            card_id=card_id,
            column_id=command.column_id,
            position=slot.key,
            title=command.title,
            description=command.description,
            labels=command.labels,
            assignees=command.assignees,
            due_date=command.due_date,
        ),
    ]


def _json(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def edit_card(board: Board, command: c.EditCard, ctx: Context) -> list[e.Event]:
    card = find_card(board, command.card_id)
    _check_assignees(board, command.assignees)
    changes = []
    for name in command.changed_fields():
        before, after = _json(getattr(card, name)), _json(getattr(command, name))
        if before != after:
            changes.append(e.FieldChange(field=name, before=before, after=after))
    return [e.CardEdited(card_id=command.card_id, changes=changes)] if changes else []


def move_card(board: Board, command: c.MoveCard, ctx: Context) -> list[e.Event]:
    card = find_card(board, command.card_id)
    find_column(board, command.column_id)
    check_room(board, command.column_id, from_column_id=card.column_id)
    lane = board.lane(command.column_id)
    siblings, index = without(lane, (card.position, command.card_id))
    slot = place(
        siblings,
        after=card_anchor(board, command.after_card_id, command.column_id),
        before=card_anchor(board, command.before_card_id, command.column_id),
    )
    if stays(lane, index, slot):
        return []
    return [
        *rebalanced_cards(command.column_id, slot),
        e.CardMoved(
            card_id=command.card_id,
            from_column_id=card.column_id,
            to_column_id=command.column_id,
            position=slot.key,
            previous_position=card.position,
            after_card_id=slot.after,
            before_card_id=slot.before,
        ),
    ]


def archive_card(board: Board, command: c.ArchiveCard, ctx: Context) -> list[e.Event]:
    card = find_card(board, command.card_id, active=False)
    return (
        [] if card.archived else [e.CardArchived(card_id=command.card_id, column_id=card.column_id)]
    )


def restore_card(board: Board, command: c.RestoreCard, ctx: Context) -> list[e.Event]:
    card = find_card(board, command.card_id, active=False)
    if not card.archived:
        return []
    find_column(board, card.column_id)
    check_room(board, card.column_id)
    _check_open_card_limit(board)
    slot = where_it_was(board.lane(card.column_id), card.position)
    return [
        *rebalanced_cards(card.column_id, slot),
        e.CardRestored(card_id=command.card_id, column_id=card.column_id, position=slot.key),
    ]
