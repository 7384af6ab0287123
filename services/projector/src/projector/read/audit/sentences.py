"""A board's events in words: each event described against the board as it was just before it.

The board is folded event by event with the live projection (`apply_event`), so cards, columns and
people are named as they were called at that version, and "before" values come from the board
itself where the event does not carry them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import assert_never
from uuid import UUID

from contracts.envelope import AnyEvent
from pydantic import JsonValue

from contracts import events as ev
from projector.checklists import ChecklistEvent
from projector.read.audit.board_then import BoardThen, quote
from projector.read.audit.comment_sentences import CommentEvent, comment_sentence
from projector.read.audit.models import Change, HistoryActor, HistoryEntry


@dataclass(slots=True)
class Said:
    text: str
    changes: list[Change] = field(default_factory=list)
    card_id: UUID | None = None
    column_id: UUID | None = None


# -- what each event says ----------------------------------------------------------------------


def _board_created(b: BoardThen, e: ev.BoardCreated) -> Said:
    return Said(
        f"created the board {quote(e.title)}",
        [
            Change(field="title", before=None, after=e.title),
            Change(field="owner_id", before=None, after=e.owner_id),
        ],
    )


def _board_renamed(b: BoardThen, e: ev.BoardRenamed) -> Said:
    return Said(
        f"renamed the board from {quote(e.previous_title)} to {quote(e.title)}",
        [Change(field="title", before=e.previous_title, after=e.title)],
    )


def _board_archived(b: BoardThen, e: ev.BoardArchived) -> Said:
    return Said("archived the board", [Change(field="archived", before=False, after=True)])


def _board_restored(b: BoardThen, e: ev.BoardRestored) -> Said:
    return Said("restored the board", [Change(field="archived", before=True, after=False)])


def _column_added(b: BoardThen, e: ev.ColumnAdded) -> Said:
    return Said(
        f"added column {quote(e.title)}",
        [
            Change(field="title", before=None, after=e.title),
            Change(field="position", before=None, after=e.position),
        ],
        column_id=e.column_id,
    )


def _column_renamed(b: BoardThen, e: ev.ColumnRenamed) -> Said:
    return Said(
        f"renamed column {quote(e.previous_title)} to {quote(e.title)}",
        [Change(field="title", before=e.previous_title, after=e.title)],
        column_id=e.column_id,
    )


def _column_moved(b: BoardThen, e: ev.ColumnMoved) -> Said:
    moved = str(e.column_id)
    landed = (e.position, moved)
    before = [
        c
        for c in b.columns
        if not c["archived"]
        and c["column_id"] != moved
        and (c["position"], c["column_id"]) < landed
    ]
    where = f"after {quote(before[-1]['title'])}" if before else "to the front"
    return Said(
        f"moved column {quote(b.column_name(moved))} {where}",
        [Change(field="position", before=e.previous_position, after=e.position)],
        column_id=e.column_id,
    )


def _column_archived(b: BoardThen, e: ev.ColumnArchived) -> Said:
    return Said(
        f"archived column {quote(b.column_name(e.column_id))}",
        [Change(field="archived", before=False, after=True)],
        column_id=e.column_id,
    )


def _column_restored(b: BoardThen, e: ev.ColumnRestored) -> Said:
    column = b.column(e.column_id) or {}
    return Said(
        f"restored column {quote(b.column_name(e.column_id))}",
        [
            Change(field="archived", before=column.get("archived", True), after=False),
            Change(field="position", before=column.get("position"), after=e.position),
        ],
        column_id=e.column_id,
    )


def _columns_rebalanced(b: BoardThen, e: ev.ColumnsRebalanced) -> Said:
    changes = [
        Change(
            field="position",
            before=(b.column(p.id) or {}).get("position"),
            after=p.position,
            item=str(p.id),
        )
        for p in e.positions
    ]
    return Said(f"rewrote the order keys of {len(e.positions)} columns (none moved)", changes)


def _card_added(b: BoardThen, e: ev.CardAdded) -> Said:
    given: list[tuple[str, JsonValue]] = [
        ("title", e.title),
        ("column_id", str(e.column_id)),
        ("position", e.position),
        ("description", e.description or None),
        ("labels", list(e.labels) or None),
        ("assignees", list(e.assignees) or None),
        ("due_date", e.due_date.isoformat() if e.due_date else None),
    ]
    return Said(
        f"added {quote(e.title)} to {b.column_name(e.column_id)}",
        [Change(field=name, before=None, after=value) for name, value in given if value],
        card_id=e.card_id,
        column_id=e.column_id,
    )


def _value(b: BoardThen, name: str, value: JsonValue) -> str:
    if value is None:
        return "none"
    if isinstance(value, list):
        shown = [b.person(str(v)) if name == "assignees" else str(v) for v in value]
        return "[" + ", ".join(shown) + "]"
    if isinstance(value, str) and name in ("title", "description"):
        return quote(value)
    return str(value)


def _card_edited(b: BoardThen, e: ev.CardEdited) -> Said:
    edits = ", ".join(
        f"{c.field} {_value(b, c.field, c.before)} → {_value(b, c.field, c.after)}"
        for c in e.changes
    )
    column = b.card(e.card_id)["column_id"] if str(e.card_id) in b.projection.cards else None
    return Said(
        f"edited {b.card_title(e.card_id)}: {edits}",
        [Change(field=c.field, before=c.before, after=c.after) for c in e.changes],
        card_id=e.card_id,
        column_id=UUID(column) if column else None,
    )


def _card_moved(b: BoardThen, e: ev.CardMoved) -> Said:
    title = b.card_title(e.card_id)
    changes = []
    if e.from_column_id == e.to_column_id:
        text = f"moved {title} within {b.column_name(e.to_column_id)}"
    else:
        text = (
            f"moved {title} from {b.column_name(e.from_column_id)} "
            f"to {b.column_name(e.to_column_id)}"
        )
        changes.append(
            Change(field="column_id", before=str(e.from_column_id), after=str(e.to_column_id))
        )
    changes.append(Change(field="position", before=e.previous_position, after=e.position))
    return Said(text, changes, card_id=e.card_id, column_id=e.to_column_id)


def _card_archived(b: BoardThen, e: ev.CardArchived) -> Said:
    return Said(
        f"archived {b.card_title(e.card_id)} in {b.column_name(e.column_id)}",
        [Change(field="archived", before=False, after=True)],
        card_id=e.card_id,
        column_id=e.column_id,
    )


def _card_restored(b: BoardThen, e: ev.CardRestored) -> Said:
    card = b.projection.cards.get(str(e.card_id), {})
    changes = [Change(field="archived", before=card.get("archived", True), after=False)]
    if card.get("column_id") != str(e.column_id):
        changes.append(
            Change(field="column_id", before=card.get("column_id"), after=str(e.column_id))
        )
    changes.append(Change(field="position", before=card.get("position"), after=e.position))
    return Said(
        f"restored {b.card_title(e.card_id)} to {b.column_name(e.column_id)}",
        changes,
        card_id=e.card_id,
        column_id=e.column_id,
    )


def _cards_rebalanced(b: BoardThen, e: ev.CardsRebalanced) -> Said:
    changes = [
        Change(
            field="position",
            before=b.projection.cards.get(str(p.id), {}).get("position"),
            after=p.position,
            item=str(p.id),
        )
        for p in e.positions
    ]
    return Said(
        f"rewrote the order keys of {len(e.positions)} cards in "
        f"{b.column_name(e.column_id)} (none moved)",
        changes,
        column_id=e.column_id,
    )


def _member_added(b: BoardThen, e: ev.MemberAdded) -> Said:
    given: list[tuple[str, JsonValue]] = [
        ("role", e.role.value),
        ("name", e.name),
        ("email", e.email),
    ]
    return Said(
        f"added {b.person(e.user_id)} as {e.role.value}",
        [Change(field=n, before=None, after=v, item=e.user_id) for n, v in given if v],
    )


def _member_role_changed(b: BoardThen, e: ev.MemberRoleChanged) -> Said:
    return Said(
        f"changed {b.person(e.user_id)}'s role from {e.previous_role.value} to {e.role.value}",
        [Change(field="role", before=e.previous_role.value, after=e.role.value, item=e.user_id)],
    )


def _member_removed(b: BoardThen, e: ev.MemberRemoved) -> Said:
    return Said(
        f"removed {b.person(e.user_id)} ({e.previous_role.value}) from the board",
        [Change(field="role", before=e.previous_role.value, after=None, item=e.user_id)],
    )


def _comment(b: BoardThen, e: CommentEvent) -> Said:
    text, changes = comment_sentence(
        e,
        card=b.card_title(e.card_id),
        known=b.comments.get(str(e.comment_id)),
        person=b.person,
        quote=quote,
    )
    return Said(text, changes, card_id=e.card_id)


def _column_wip_limit_changed(b: BoardThen, e: ev.ColumnWipLimitChanged) -> Said:
    name = quote(b.column_name(e.column_id))
    if e.limit is None:
        text = f"removed the WIP limit of column {name} (was {e.previous_limit})"
    elif e.previous_limit is None:
        text = f"set the WIP limit of column {name} to {e.limit}"
    else:
        text = f"changed the WIP limit of column {name} from {e.previous_limit} to {e.limit}"
    return Said(
        text,
        [Change(field="wip_limit", before=e.previous_limit, after=e.limit)],
        column_id=e.column_id,
    )


_POLICY_WORDS = {"enforce": "enforce (refuse a card over the limit)", "warn": "warn only"}


def _wip_policy_changed(b: BoardThen, e: ev.WipPolicyChanged) -> Said:
    return Said(
        f"changed the board's WIP policy from {_POLICY_WORDS[e.previous_policy]} "
        f"to {_POLICY_WORDS[e.policy]}",
        [Change(field="wip_policy", before=e.previous_policy, after=e.policy)],
    )


def _item_text(b: BoardThen, card_id: UUID, item_id: UUID) -> str:
    card = b.projection.cards.get(str(card_id), {})
    item = next((i for i in card.get("checklist", []) if i["item_id"] == str(item_id)), None)
    return quote(item["text"]) if item else f"item {item_id}"


def _on_card(b: BoardThen, card_id: UUID) -> UUID | None:
    column = b.projection.cards.get(str(card_id), {}).get("column_id")
    return UUID(column) if column else None


def _checklist_said(b: BoardThen, e: ChecklistEvent) -> Said:
    card, item = b.card_title(e.card_id), str(e.item_id)
    match e:
        case ev.ChecklistItemAdded():
            text = f"added {quote(e.text)} to the checklist of {card}"
            changes = [
                Change(field="text", before=None, after=e.text, item=item),
                Change(field="position", before=None, after=e.position, item=item),
            ]
        case ev.ChecklistItemRenamed():
            text = f"renamed checklist item {quote(e.previous_text)} to {quote(e.text)} on {card}"
            changes = [Change(field="text", before=e.previous_text, after=e.text, item=item)]
        case ev.ChecklistItemChecked():
            text = f"checked {_item_text(b, e.card_id, e.item_id)} on {card}"
            changes = [Change(field="checked", before=False, after=True, item=item)]
        case ev.ChecklistItemUnchecked():
            text = f"unchecked {_item_text(b, e.card_id, e.item_id)} on {card}"
            changes = [Change(field="checked", before=True, after=False, item=item)]
        case ev.ChecklistItemMoved():
            text = f"moved checklist item {_item_text(b, e.card_id, e.item_id)} on {card}"
            changes = [
                Change(field="position", before=e.previous_position, after=e.position, item=item)
            ]
        case ev.ChecklistItemRemoved():
            text = f"removed {quote(e.text)} from the checklist of {card}"
            changes = [
                Change(field="text", before=e.text, after=None, item=item),
                Change(field="checked", before=e.checked, after=None, item=item),
            ]
        case _:
            assert_never(e)
    return Said(text, changes, card_id=e.card_id, column_id=_on_card(b, e.card_id))


def _said(b: BoardThen, payload: ev.Event) -> Said:  # noqa: C901
    # A match, not a table: an event type added to `contracts.events` and forgotten here is a
    # type error (assert_never).
    match payload:
        case ev.BoardCreated():
            return _board_created(b, payload)
        case ev.BoardRenamed():
            return _board_renamed(b, payload)
        case ev.BoardArchived():
            return _board_archived(b, payload)
        case ev.BoardRestored():
            return _board_restored(b, payload)
        case ev.ColumnAdded():
            return _column_added(b, payload)
        case ev.ColumnRenamed():
            return _column_renamed(b, payload)
        case ev.ColumnMoved():
            return _column_moved(b, payload)
        case ev.ColumnArchived():
            return _column_archived(b, payload)
        case ev.ColumnRestored():
            return _column_restored(b, payload)
        case ev.ColumnsRebalanced():
            return _columns_rebalanced(b, payload)
        case ev.CardAdded():
            return _card_added(b, payload)
        case ev.CardEdited():
            return _card_edited(b, payload)
        case ev.CardMoved():
            return _card_moved(b, payload)
        case ev.CardArchived():
            return _card_archived(b, payload)
        case ev.CardRestored():
            return _card_restored(b, payload)
        case ev.CardsRebalanced():
            return _cards_rebalanced(b, payload)
        case ev.MemberAdded():
            return _member_added(b, payload)
        case ev.MemberRoleChanged():
            return _member_role_changed(b, payload)
        case ev.MemberRemoved():
            return _member_removed(b, payload)
        case ev.CommentAdded() | ev.CommentEdited() | ev.CommentDeleted():
            return _comment(b, payload)
        case ev.ColumnWipLimitChanged():
            return _column_wip_limit_changed(b, payload)
        case ev.WipPolicyChanged():
            return _wip_policy_changed(b, payload)
        case (
            ev.ChecklistItemAdded()
            | ev.ChecklistItemRenamed()
            | ev.ChecklistItemChecked()
            | ev.ChecklistItemUnchecked()
            | ev.ChecklistItemMoved()
            | ev.ChecklistItemRemoved()
        ):
            return _checklist_said(b, payload)
        case _:
            assert_never(payload)


def describe(board: BoardThen, event: AnyEvent) -> HistoryEntry:
    """The entry for `event`, told against `board` as it was just before it."""
    said = _said(board, event.payload)
    name = board.person(event.actor)
    if isinstance(event.payload, ev.MemberRemoved) and event.payload.user_id == event.actor:
        said.text = "left the board"
    return HistoryEntry(
        version=event.version,
        occurred_at=event.occurred_at,
        actor=HistoryActor(id=event.actor, name=name),
        type=event.type,
        summary=f"{name} {said.text}",
        card_id=said.card_id,
        column_id=said.column_id,
        changes=said.changes,
    )
