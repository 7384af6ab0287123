"""Commands: what a caller asks a board to do. Imperative names; one model per intent.

Ids of things a command creates are optional: a client that renders optimistically picks its own
(UUIDs), otherwise the server derives them from the command id so a retried command creates the
same thing.
"""

from __future__ import annotations

from typing import Any, Self

from pydantic import (
    AwareDatetime,
    SerializerFunctionWrapHandler,
    model_serializer,
    model_validator,
)

from contracts.base import Contract
from contracts.fields import (
    Assignees,
    BoardId,
    CardId,
    ChecklistItemId,
    ChecklistText,
    ColumnId,
    CommentBody,
    CommentId,
    Description,
    Email,
    Labels,
    PersonName,
    Role,
    Title,
    UserId,
    WipLimit,
    WipPolicy,
)


def _at_most_one_anchor(model: Contract, after: str, before: str) -> None:
    if getattr(model, after) is not None and getattr(model, before) is not None:
        raise ValueError(f"give at most one of {after} and {before}")


class _PlacedCard(Contract):
    """A position given by intent: after or before a sibling card, or at the end when neither."""

    @model_validator(mode="after")
    def _one_anchor(self) -> Self:
        _at_most_one_anchor(self, "after_card_id", "before_card_id")
        return self


class _PlacedColumn(Contract):
    @model_validator(mode="after")
    def _one_anchor(self) -> Self:
        _at_most_one_anchor(self, "after_column_id", "before_column_id")
        return self


class CreateBoard(Contract):
    title: Title
    board_id: BoardId | None = None


class RenameBoard(Contract):
    title: Title


class ArchiveBoard(Contract):
    pass


class RestoreBoard(Contract):
    pass


class AddColumn(_PlacedColumn):
    title: Title
    column_id: ColumnId | None = None
    after_column_id: ColumnId | None = None
    before_column_id: ColumnId | None = None


class RenameColumn(Contract):
    column_id: ColumnId
    title: Title


class MoveColumn(_PlacedColumn):
    column_id: ColumnId
    after_column_id: ColumnId | None = None
    before_column_id: ColumnId | None = None

    @model_validator(mode="after")
    def _not_relative_to_itself(self) -> Self:
        if self.column_id in (self.after_column_id, self.before_column_id):
            raise ValueError("a column cannot be placed relative to itself")
        return self


class ArchiveColumn(Contract):
    column_id: ColumnId


class RestoreColumn(Contract):
    column_id: ColumnId


class AddCard(_PlacedCard):
    column_id: ColumnId
    title: Title
    description: Description = ""
    labels: Labels = []
    assignees: Assignees = []
    due_date: AwareDatetime | None = None
    card_id: CardId | None = None
    after_card_id: CardId | None = None
    before_card_id: CardId | None = None


EDITABLE_CARD_FIELDS = ("title", "description", "labels", "assignees", "due_date")


class EditCard(Contract):
    """A partial edit: a field left out stays as it is; `due_date: null` clears the due date."""

    card_id: CardId
    title: Title | None = None
    description: Description | None = None
    labels: Labels | None = None
    assignees: Assignees | None = None
    due_date: AwareDatetime | None = None

    @model_validator(mode="after")
    def _something_to_change(self) -> Self:
        given = self.changed_fields()
        if not given:
            raise ValueError(f"give at least one of {', '.join(EDITABLE_CARD_FIELDS)}")
        nulled = [f for f in given if f != "due_date" and getattr(self, f) is None]
        if nulled:
            raise ValueError(f"{', '.join(nulled)} cannot be null")
        return self

    def changed_fields(self) -> list[str]:
        return [f for f in EDITABLE_CARD_FIELDS if f in self.model_fields_set]

    # Left out and null differ (`due_date: null` clears it; null elsewhere is refused), so a dump
    # keeps only the fields given: otherwise it would not parse back, or would mean another edit.
    @model_serializer(mode="wrap")
    def _only_given(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        for name in EDITABLE_CARD_FIELDS:
            if name not in self.model_fields_set:
                data.pop(name, None)
        return data


class MoveCard(_PlacedCard):
    card_id: CardId
    column_id: ColumnId
    after_card_id: CardId | None = None
    before_card_id: CardId | None = None

    @model_validator(mode="after")
    def _not_relative_to_itself(self) -> Self:
        if self.card_id in (self.after_card_id, self.before_card_id):
            raise ValueError("a card cannot be placed relative to itself")
        return self


class ArchiveCard(Contract):
    card_id: CardId


class RestoreCard(Contract):
    card_id: CardId


class AddMember(Contract):
    user_id: UserId
    role: Role
    email: Email | None = None
    name: PersonName | None = None


class ChangeMemberRole(Contract):
    user_id: UserId
    role: Role


class RemoveMember(Contract):
    user_id: UserId


class AddComment(Contract):
    """`body` is Markdown; `<@USER_ID>` in it mentions a board member."""

    card_id: CardId
    body: CommentBody
    comment_id: CommentId | None = None


class EditComment(Contract):
    card_id: CardId
    comment_id: CommentId
    body: CommentBody


class DeleteComment(Contract):
    card_id: CardId
    comment_id: CommentId


class ChangeColumnWipLimit(Contract):
    """`limit: null` clears the limit. Required, so that clearing is said and never assumed."""

    column_id: ColumnId
    limit: WipLimit | None


class ChangeWipPolicy(Contract):
    policy: WipPolicy


class _PlacedChecklistItem(Contract):
    @model_validator(mode="after")
    def _one_anchor(self) -> Self:
        _at_most_one_anchor(self, "after_item_id", "before_item_id")
        return self


class AddChecklistItem(_PlacedChecklistItem):
    """An item on a card's checklist, placed by intent as cards are (at the end when no anchor)."""

    card_id: CardId
    text: ChecklistText
    item_id: ChecklistItemId | None = None
    after_item_id: ChecklistItemId | None = None
    before_item_id: ChecklistItemId | None = None


class RenameChecklistItem(Contract):
    card_id: CardId
    item_id: ChecklistItemId
    text: ChecklistText


class CheckChecklistItem(Contract):
    card_id: CardId
    item_id: ChecklistItemId


class UncheckChecklistItem(Contract):
    card_id: CardId
    item_id: ChecklistItemId


class MoveChecklistItem(_PlacedChecklistItem):
    card_id: CardId
    item_id: ChecklistItemId
    after_item_id: ChecklistItemId | None = None
    before_item_id: ChecklistItemId | None = None

    @model_validator(mode="after")
    def _not_relative_to_itself(self) -> Self:
        if self.item_id in (self.after_item_id, self.before_item_id):
            raise ValueError("an item cannot be placed relative to itself")
        return self


class RemoveChecklistItem(Contract):
    card_id: CardId
    item_id: ChecklistItemId


Command = (
    CreateBoard
    | RenameBoard
    | ArchiveBoard
    | RestoreBoard
    | AddColumn
    | RenameColumn
    | MoveColumn
    | ArchiveColumn
    | RestoreColumn
    | AddCard
    | EditCard
    | MoveCard
    | ArchiveCard
    | RestoreCard
    | AddMember
    | ChangeMemberRole
    | RemoveMember
    | AddComment
    | EditComment
    | DeleteComment
    | ChangeColumnWipLimit
    | ChangeWipPolicy
    | AddChecklistItem
    | RenameChecklistItem
    | CheckChecklistItem
    | UncheckChecklistItem
    | MoveChecklistItem
    | RemoveChecklistItem
)

COMMAND_TYPES: tuple[type[Contract], ...] = (
    CreateBoard,
    RenameBoard,
    ArchiveBoard,
    RestoreBoard,
    AddColumn,
    RenameColumn,
    MoveColumn,
    ArchiveColumn,
    RestoreColumn,
    AddCard,
    EditCard,
    MoveCard,
    ArchiveCard,
    RestoreCard,
    AddMember,
    ChangeMemberRole,
    RemoveMember,
    AddComment,
    EditComment,
    DeleteComment,
    ChangeColumnWipLimit,
    ChangeWipPolicy,
    AddChecklistItem,
    RenameChecklistItem,
    CheckChecklistItem,
    UncheckChecklistItem,
    MoveChecklistItem,
    RemoveChecklistItem,
)

__all__ = [
    "COMMAND_TYPES",
    "EDITABLE_CARD_FIELDS",
    "AddCard",
    "AddChecklistItem",
    "AddColumn",
    "AddComment",
    "AddMember",
    "ArchiveBoard",
    "ArchiveCard",
    "ArchiveColumn",
    "ChangeColumnWipLimit",
    "ChangeMemberRole",
    "ChangeWipPolicy",
    "CheckChecklistItem",
    "Command",
    "CreateBoard",
    "DeleteComment",
    "EditCard",
    "EditComment",
    "MoveCard",
    "MoveChecklistItem",
    "MoveColumn",
    "RemoveChecklistItem",
    "RemoveMember",
    "RenameBoard",
    "RenameChecklistItem",
    "RenameColumn",
    "RestoreBoard",
    "RestoreCard",
    "RestoreColumn",
    "UncheckChecklistItem",
]
