"""Events: what happened to a board. Past tense, no suffix; each carries enough to show what a
field was before and after, so history never has to re-fold the log to say "from X to Y"."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import AwareDatetime, JsonValue

from contracts.base import Contract
from contracts.fields import (
    Assignees,
    CardId,
    ColumnId,
    Description,
    Email,
    Labels,
    OrderKey,
    PersonName,
    Role,
    Title,
    UserId,
)


class BoardCreated(Contract):
    title: Title
    owner_id: UserId


class BoardRenamed(Contract):
    title: Title
    previous_title: Title


class BoardArchived(Contract):
    pass


class BoardRestored(Contract):
    pass


class ColumnAdded(Contract):
    column_id: ColumnId
    title: Title
    position: OrderKey


class ColumnRenamed(Contract):
    column_id: ColumnId
    title: Title
    previous_title: Title


class ColumnMoved(Contract):
    column_id: ColumnId
    position: OrderKey
    previous_position: OrderKey


class ColumnArchived(Contract):
    column_id: ColumnId


class CardAdded(Contract):
    card_id: CardId
    column_id: ColumnId
    position: OrderKey
    title: Title
    description: Description = ""
    labels: Labels = []
    assignees: Assignees = []
    due_date: AwareDatetime | None = None


CardField = Literal["title", "description", "labels", "assignees", "due_date"]


class FieldChange(Contract):
    field: CardField
    before: JsonValue
    after: JsonValue


class CardEdited(Contract):
    card_id: CardId
    changes: list[FieldChange]


class CardMoved(Contract):
    """`after_card_id`/`before_card_id` are the neighbours the card landed between, as resolved
    against the board at that version (not necessarily what the caller named)."""

    card_id: CardId
    from_column_id: ColumnId
    to_column_id: ColumnId
    position: OrderKey
    previous_position: OrderKey
    after_card_id: CardId | None = None
    before_card_id: CardId | None = None


class Placement(Contract):
    id: UUID
    position: OrderKey


class CardsRebalanced(Contract):
    """Fresh, short order keys for a column's open cards, in the same order. Emitted just before
    the move, add or restore that would otherwise have needed an overlong key; it changes no
    card's place, only how the places are written."""

    column_id: ColumnId
    positions: list[Placement]


class ColumnsRebalanced(Contract):
    """The same for the board's active columns."""

    positions: list[Placement]


class CardArchived(Contract):
    card_id: CardId
    column_id: ColumnId


class CardRestored(Contract):
    card_id: CardId
    column_id: ColumnId
    position: OrderKey


class MemberAdded(Contract):
    user_id: UserId
    role: Role
    email: Email | None = None
    name: PersonName | None = None


class MemberRoleChanged(Contract):
    user_id: UserId
    role: Role
    previous_role: Role


class MemberRemoved(Contract):
    user_id: UserId
    previous_role: Role


Event = (
    BoardCreated
    | BoardRenamed
    | BoardArchived
    | BoardRestored
    | ColumnAdded
    | ColumnRenamed
    | ColumnMoved
    | ColumnArchived
    | ColumnsRebalanced
    | CardAdded
    | CardEdited
    | CardMoved
    | CardArchived
    | CardRestored
    | CardsRebalanced
    | MemberAdded
    | MemberRoleChanged
    | MemberRemoved
)

EVENT_TYPES: tuple[type[Contract], ...] = (
    BoardCreated,
    BoardRenamed,
    BoardArchived,
    BoardRestored,
    ColumnAdded,
    ColumnRenamed,
    ColumnMoved,
    ColumnArchived,
    ColumnsRebalanced,
    CardAdded,
    CardEdited,
    CardMoved,
    CardArchived,
    CardRestored,
    CardsRebalanced,
    MemberAdded,
    MemberRoleChanged,
    MemberRemoved,
)
