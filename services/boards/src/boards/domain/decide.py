"""`decide`: the pure judgement of a command against a board's current state.

It returns the events the command causes (none when the board already is as asked) or raises a
`DomainError`. Ids of created things are derived from the command id when the caller gave none,
so deciding the same command twice yields the same events.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID, uuid5

from contracts.commands import (
    AddCard,
    AddColumn,
    AddMember,
    ArchiveBoard,
    ArchiveCard,
    ArchiveColumn,
    ChangeMemberRole,
    Command,
    CreateBoard,
    EditCard,
    MoveCard,
    MoveColumn,
    RemoveMember,
    RenameBoard,
    RenameColumn,
    RestoreBoard,
    RestoreCard,
    RestoreColumn,
)
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
    Event,
    FieldChange,
    MemberAdded,
    MemberProfile,
    MemberRemoved,
    MemberRoleChanged,
    Placement,
)
from contracts.fields import MAX_COLUMNS, MAX_OPEN_CARDS, Role

from boards.domain.errors import (
    BoardExistsError,
    BoardNotFoundError,
    PermissionDeniedError,
    RuleViolationError,
)
from boards.domain.model import Board, Card, Column
from boards.domain.ordering import Entry, Slot, index_of, place

_EDITOR_COMMANDS = (
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
)


# Sorts after every id: "after all entries with this key".
_LAST_ID = UUID(int=(1 << 128) - 1)


@dataclass(frozen=True, slots=True)
class Context:
    actor: str
    command_id: UUID


def derive_id(command_id: UUID, kind: str) -> UUID:
    return uuid5(command_id, kind)


def decide(board: Board, command: Command, ctx: Context) -> list[Event]:
    if isinstance(command, CreateBoard):
        return create_board(board, command, ctx)
    _authorize(board, command, ctx.actor)
    if board.archived and not isinstance(command, RestoreBoard | ArchiveBoard):
        raise RuleViolationError("the board is archived; restore it first", code="board_archived")
    handler: Callable[[Board, Any, Context], list[Event]] = _HANDLERS[type(command)]
    return handler(board, command, ctx)


def _authorize(board: Board, command: Command, actor: str) -> None:
    role = board.members.get(actor) if board.exists else None
    if role is None:
        raise BoardNotFoundError("no such board", board_id=str(board.board_id))
    if role is Role.OWNER or (role is Role.EDITOR and isinstance(command, _EDITOR_COMMANDS)):
        return
    raise PermissionDeniedError(
        f"a board {role.value} may not {type(command).__name__}",
        role=role.value,
        command=type(command).__name__,
    )


# -- the board ---------------------------------------------------------------------------------


def create_board(board: Board, c: CreateBoard, ctx: Context) -> list[Event]:
    if board.exists:
        raise BoardExistsError("a board with this id exists", board_id=str(board.board_id))
    return [BoardCreated(title=c.title, owner_id=ctx.actor)]


def rename_board(board: Board, c: RenameBoard, ctx: Context) -> list[Event]:
    if c.title == board.title:
        return []
    return [BoardRenamed(title=c.title, previous_title=board.title)]


def archive_board(board: Board, c: ArchiveBoard, ctx: Context) -> list[Event]:
    return [] if board.archived else [BoardArchived()]


def restore_board(board: Board, c: RestoreBoard, ctx: Context) -> list[Event]:
    return [BoardRestored()] if board.archived else []


def _placements(slot: Slot) -> list[Placement]:
    return [Placement(id=item_id, position=key) for item_id, key in slot.rebalanced]


def _rebalanced_cards(column_id: UUID, slot: Slot) -> list[Event]:
    return (
        [CardsRebalanced(column_id=column_id, positions=_placements(slot))]
        if slot.rebalanced
        else []
    )


def _rebalanced_columns(slot: Slot) -> list[Event]:
    return [ColumnsRebalanced(positions=_placements(slot))] if slot.rebalanced else []


# -- columns -----------------------------------------------------------------------------------


def _column(board: Board, column_id: UUID, *, active: bool = True) -> Column:
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


def _column_anchor(board: Board, column_id: UUID | None) -> Entry | None:
    """An anchor column as it stands now; None (the end) when it has been archived."""
    if column_id is None:
        return None
    column = board.columns.get(column_id)
    if column is None:
        raise RuleViolationError(
            "no such column to place next to", code="column_not_found", column_id=str(column_id)
        )
    return None if column.archived else (column.position, column_id)


def _card_anchor(board: Board, card_id: UUID | None, column_id: UUID) -> Entry | None:
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


def _without(lane: tuple[Entry, ...], entry: Entry) -> tuple[tuple[Entry, ...], int | None]:
    index = index_of(lane, entry)
    if index is None:
        return lane, None
    return lane[:index] + lane[index + 1 :], index


def _stays(lane: tuple[Entry, ...], index: int | None, slot: Slot) -> bool:
    """True when the item at `index` already sits exactly between the slot's neighbours."""
    if index is None:
        return False
    current_after = lane[index - 1][1] if index > 0 else None
    current_before = lane[index + 1][1] if index + 1 < len(lane) else None
    return (current_after, current_before) == (slot.after, slot.before)


def _where_it_was(lane: tuple[Entry, ...], key: str) -> Slot:
    """Back among its siblings after the last one whose key sorts before its old key, so it keeps
    its place relative to them even when its old key was since given to another."""
    index = bisect_right(lane, (key, _LAST_ID))
    return place(
        lane,
        after=lane[index - 1] if index > 0 else None,
        before=lane[0] if index == 0 and lane else None,
    )


def _check_column_limit(board: Board) -> None:
    if board.active_columns() >= MAX_COLUMNS:
        raise RuleViolationError(
            f"a board has at most {MAX_COLUMNS} columns", code="limit_exceeded", limit=MAX_COLUMNS
        )


def add_column(board: Board, c: AddColumn, ctx: Context) -> list[Event]:
    _check_column_limit(board)
    column_id = c.column_id or derive_id(ctx.command_id, "column")
    if column_id in board.columns:
        raise RuleViolationError("a column with this id exists", code="column_exists")
    slot = place(
        board.column_order,
        after=_column_anchor(board, c.after_column_id),
        before=_column_anchor(board, c.before_column_id),
    )
    return [
        *_rebalanced_columns(slot),
        ColumnAdded(column_id=column_id, title=c.title, position=slot.key),
    ]


def rename_column(board: Board, c: RenameColumn, ctx: Context) -> list[Event]:
    column = _column(board, c.column_id)
    if column.title == c.title:
        return []
    return [ColumnRenamed(column_id=c.column_id, title=c.title, previous_title=column.title)]


def move_column(board: Board, c: MoveColumn, ctx: Context) -> list[Event]:
    column = _column(board, c.column_id)
    siblings, index = _without(board.column_order, (column.position, c.column_id))
    slot = place(
        siblings,
        after=_column_anchor(board, c.after_column_id),
        before=_column_anchor(board, c.before_column_id),
    )
    if _stays(board.column_order, index, slot):
        return []
    return [
        *_rebalanced_columns(slot),
        ColumnMoved(column_id=c.column_id, position=slot.key, previous_position=column.position),
    ]


def archive_column(board: Board, c: ArchiveColumn, ctx: Context) -> list[Event]:
    column = _column(board, c.column_id, active=False)
    return [] if column.archived else [ColumnArchived(column_id=c.column_id)]


def restore_column(board: Board, c: RestoreColumn, ctx: Context) -> list[Event]:
    column = _column(board, c.column_id, active=False)
    if not column.archived:
        return []
    _check_column_limit(board)
    # The model keeps an archived column's key (not its place in `column_order`), so it goes back
    # where that key sorts among the active columns now, not to the end. Its cards never left its
    # lane (archiving a column leaves them open), so they come back with it, in their order.
    slot = _where_it_was(board.column_order, column.position)
    return [
        *_rebalanced_columns(slot),
        ColumnRestored(column_id=c.column_id, position=slot.key),
    ]


# -- cards -------------------------------------------------------------------------------------


def _card(board: Board, card_id: UUID, *, active: bool = True) -> Card:
    card = board.cards.get(card_id)
    if card is None:
        raise RuleViolationError("no such card", code="card_not_found", card_id=str(card_id))
    if active and card.archived:
        raise RuleViolationError("the card is archived", code="card_archived", card_id=str(card_id))
    return card


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


def add_card(board: Board, c: AddCard, ctx: Context) -> list[Event]:
    _column(board, c.column_id)
    _check_open_card_limit(board)
    _check_assignees(board, c.assignees)
    card_id = c.card_id or derive_id(ctx.command_id, "card")
    if card_id in board.cards:
        raise RuleViolationError("a card with this id exists", code="card_exists")
    slot = place(
        board.lane(c.column_id),
        after=_card_anchor(board, c.after_card_id, c.column_id),
        before=_card_anchor(board, c.before_card_id, c.column_id),
    )
    return [
        *_rebalanced_cards(c.column_id, slot),
        CardAdded(
            card_id=card_id,
            column_id=c.column_id,
            position=slot.key,
            title=c.title,
            description=c.description,
            labels=c.labels,
            assignees=c.assignees,
            due_date=c.due_date,
        ),
    ]


def _json(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def edit_card(board: Board, c: EditCard, ctx: Context) -> list[Event]:
    card = _card(board, c.card_id)
    _check_assignees(board, c.assignees)
    changes = []
    for name in c.changed_fields():
        before, after = _json(getattr(card, name)), _json(getattr(c, name))
        if before != after:
            changes.append(FieldChange(field=name, before=before, after=after))
    return [CardEdited(card_id=c.card_id, changes=changes)] if changes else []


def move_card(board: Board, c: MoveCard, ctx: Context) -> list[Event]:
    card = _card(board, c.card_id)
    _column(board, c.column_id)
    lane = board.lane(c.column_id)
    siblings, index = _without(lane, (card.position, c.card_id))
    slot = place(
        siblings,
        after=_card_anchor(board, c.after_card_id, c.column_id),
        before=_card_anchor(board, c.before_card_id, c.column_id),
    )
    if _stays(lane, index, slot):
        return []
    return [
        *_rebalanced_cards(c.column_id, slot),
        CardMoved(
            card_id=c.card_id,
            from_column_id=card.column_id,
            to_column_id=c.column_id,
            position=slot.key,
            previous_position=card.position,
            after_card_id=slot.after,
            before_card_id=slot.before,
        ),
    ]


def archive_card(board: Board, c: ArchiveCard, ctx: Context) -> list[Event]:
    card = _card(board, c.card_id, active=False)
    return [] if card.archived else [CardArchived(card_id=c.card_id, column_id=card.column_id)]


def restore_card(board: Board, c: RestoreCard, ctx: Context) -> list[Event]:
    card = _card(board, c.card_id, active=False)
    if not card.archived:
        return []
    _column(board, card.column_id)
    _check_open_card_limit(board)
    slot = _where_it_was(board.lane(card.column_id), card.position)
    return [
        *_rebalanced_cards(card.column_id, slot),
        CardRestored(card_id=c.card_id, column_id=card.column_id, position=slot.key),
    ]


# -- members -----------------------------------------------------------------------------------


def _member_role(board: Board, user_id: str) -> Role:
    role = board.members.get(user_id)
    if role is None:
        raise RuleViolationError("no such member", code="member_not_found", user_id=user_id)
    return role


def _check_not_last_owner(board: Board, user_id: str) -> None:
    owners = [u for u, r in board.members.items() if r is Role.OWNER]
    if owners == [user_id]:
        raise RuleViolationError("a board keeps at least one owner", code="last_owner")


def add_member(board: Board, c: AddMember, ctx: Context) -> list[Event]:
    if c.user_id in board.members:
        raise RuleViolationError(
            "already a member; change the role instead", code="member_exists", user_id=c.user_id
        )
    profile = MemberProfile(email=c.email, name=c.name) if c.email or c.name else None
    return [MemberAdded(user_id=c.user_id, role=c.role, profile=profile)]


def change_member_role(board: Board, c: ChangeMemberRole, ctx: Context) -> list[Event]:
    role = _member_role(board, c.user_id)
    if role is c.role:
        return []
    if role is Role.OWNER:
        _check_not_last_owner(board, c.user_id)
    return [MemberRoleChanged(user_id=c.user_id, role=c.role, previous_role=role)]


def remove_member(board: Board, c: RemoveMember, ctx: Context) -> list[Event]:
    role = _member_role(board, c.user_id)
    if role is Role.OWNER:
        _check_not_last_owner(board, c.user_id)
    return [MemberRemoved(user_id=c.user_id, previous_role=role)]


_HANDLERS: dict[type[Any], Callable[[Board, Any, Context], list[Event]]] = {
    RenameBoard: rename_board,
    ArchiveBoard: archive_board,
    RestoreBoard: restore_board,
    AddColumn: add_column,
    RenameColumn: rename_column,
    MoveColumn: move_column,
    ArchiveColumn: archive_column,
    RestoreColumn: restore_column,
    AddCard: add_card,
    EditCard: edit_card,
    MoveCard: move_card,
    ArchiveCard: archive_card,
    RestoreCard: restore_card,
    AddMember: add_member,
    ChangeMemberRole: change_member_role,
    RemoveMember: remove_member,
}
