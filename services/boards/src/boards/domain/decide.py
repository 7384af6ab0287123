"""`decide`: the pure judgement of a command against a board's current state.

It returns the events the command causes (none when the board already is as asked) or raises a
`DomainError`. Ids of created things are derived from the command id when the caller gave none,
so deciding the same command twice yields the same events.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from typing import Any, assert_never
from uuid import UUID, uuid5

import contracts.commands as c
import contracts.events as e
from contracts.fields import MAX_COLUMNS, MAX_OPEN_CARDS, Role

from boards.domain.errors import (
    BoardExistsError,
    BoardNotFoundError,
    PermissionDeniedError,
    RuleViolationError,
)
from boards.domain.model import Board, Card, Column
from boards.domain.ordering import Entry, Slot, index_of, place

# Sorts after every id: "after all entries with this key".
_LAST_ID = UUID(int=(1 << 128) - 1)


@dataclass(frozen=True, slots=True)
class Context:
    actor: str
    command_id: UUID


def derive_id(command_id: UUID, kind: str) -> UUID:
    return uuid5(command_id, kind)


def decide(board: Board, command: c.Command, ctx: Context) -> list[e.Event]:
    least_role = _least_role(command)
    if least_role is not None:
        _authorize(board, command, ctx.actor, least_role)
        # Archiving again changes nothing and restoring is the way back; all else waits for it.
        if board.archived and not isinstance(command, c.RestoreBoard | c.ArchiveBoard):
            raise RuleViolationError(
                "the board is archived; restore it first", code="board_archived"
            )
    return _handle(board, command, ctx)


def _least_role(command: c.Command) -> Role | None:
    """The least role that may give the command; None for one that anyone may give, as it needs
    no board to exist yet."""
    match command:
        case c.CreateBoard():
            return None
        case (
            c.RenameBoard()
            | c.ArchiveBoard()
            | c.RestoreBoard()
            | c.AddMember()
            | c.ChangeMemberRole()
            | c.RemoveMember()
        ):
            return Role.OWNER
        case (
            c.AddColumn()
            | c.RenameColumn()
            | c.MoveColumn()
            | c.ArchiveColumn()
            | c.RestoreColumn()
            | c.AddCard()
            | c.EditCard()
            | c.MoveCard()
            | c.ArchiveCard()
            | c.RestoreCard()
        ):
            return Role.EDITOR
        case _:
            assert_never(command)


# Each role may do what the roles below it may.
_RANK = {Role.VIEWER: 0, Role.EDITOR: 1, Role.OWNER: 2}


def _authorize(board: Board, command: c.Command, actor: str, least_role: Role) -> None:
    role = board.members.get(actor) if board.exists else None
    if role is None:
        raise BoardNotFoundError("no such board", board_id=str(board.board_id))
    if _RANK[role] >= _RANK[least_role]:
        return
    raise PermissionDeniedError(
        f"a board {role.value} may not {type(command).__name__}",
        role=role.value,
        command=type(command).__name__,
    )


# A case per command type and nothing more, so it is long rather than complex; the last case makes
# a command type it forgets a type error.
def _handle(board: Board, command: c.Command, ctx: Context) -> list[e.Event]:  # noqa: C901
    match command:
        case c.CreateBoard():
            return create_board(board, command, ctx)
        case c.RenameBoard():
            return rename_board(board, command, ctx)
        case c.ArchiveBoard():
            return archive_board(board, command, ctx)
        case c.RestoreBoard():
            return restore_board(board, command, ctx)
        case c.AddColumn():
            return add_column(board, command, ctx)
        case c.RenameColumn():
            return rename_column(board, command, ctx)
        case c.MoveColumn():
            return move_column(board, command, ctx)
        case c.ArchiveColumn():
            return archive_column(board, command, ctx)
        case c.RestoreColumn():
            return restore_column(board, command, ctx)
        case c.AddCard():
            return add_card(board, command, ctx)
        case c.EditCard():
            return edit_card(board, command, ctx)
        case c.MoveCard():
            return move_card(board, command, ctx)
        case c.ArchiveCard():
            return archive_card(board, command, ctx)
        case c.RestoreCard():
            return restore_card(board, command, ctx)
        case c.AddMember():
            return add_member(board, command, ctx)
        case c.ChangeMemberRole():
            return change_member_role(board, command, ctx)
        case c.RemoveMember():
            return remove_member(board, command, ctx)
        case _:
            assert_never(command)


# -- the board ---------------------------------------------------------------------------------


def create_board(board: Board, command: c.CreateBoard, ctx: Context) -> list[e.Event]:
    if board.exists:
        raise BoardExistsError("a board with this id exists", board_id=str(board.board_id))
    return [e.BoardCreated(title=command.title, owner_id=ctx.actor)]


def rename_board(board: Board, command: c.RenameBoard, ctx: Context) -> list[e.Event]:
    if command.title == board.title:
        return []
    return [e.BoardRenamed(title=command.title, previous_title=board.title)]


def archive_board(board: Board, command: c.ArchiveBoard, ctx: Context) -> list[e.Event]:
    return [] if board.archived else [e.BoardArchived()]


def restore_board(board: Board, command: c.RestoreBoard, ctx: Context) -> list[e.Event]:
    return [e.BoardRestored()] if board.archived else []


def _placements(slot: Slot) -> list[e.Placement]:
    return [e.Placement(id=item_id, position=key) for item_id, key in slot.rebalanced]


def _rebalanced_cards(column_id: UUID, slot: Slot) -> list[e.Event]:
    return (
        [e.CardsRebalanced(column_id=column_id, positions=_placements(slot))]
        if slot.rebalanced
        else []
    )


def _rebalanced_columns(slot: Slot) -> list[e.Event]:
    return [e.ColumnsRebalanced(positions=_placements(slot))] if slot.rebalanced else []


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


def add_column(board: Board, command: c.AddColumn, ctx: Context) -> list[e.Event]:
    _check_column_limit(board)
    column_id = command.column_id or derive_id(ctx.command_id, "column")
    if column_id in board.columns:
        raise RuleViolationError("a column with this id exists", code="column_exists")
    slot = place(
        board.column_order,
        after=_column_anchor(board, command.after_column_id),
        before=_column_anchor(board, command.before_column_id),
    )
    return [
        *_rebalanced_columns(slot),
        e.ColumnAdded(column_id=column_id, title=command.title, position=slot.key),
    ]


def rename_column(board: Board, command: c.RenameColumn, ctx: Context) -> list[e.Event]:
    column = _column(board, command.column_id)
    if column.title == command.title:
        return []
    return [
        e.ColumnRenamed(
            column_id=command.column_id, title=command.title, previous_title=column.title
        )
    ]


def move_column(board: Board, command: c.MoveColumn, ctx: Context) -> list[e.Event]:
    column = _column(board, command.column_id)
    siblings, index = _without(board.column_order, (column.position, command.column_id))
    slot = place(
        siblings,
        after=_column_anchor(board, command.after_column_id),
        before=_column_anchor(board, command.before_column_id),
    )
    if _stays(board.column_order, index, slot):
        return []
    return [
        *_rebalanced_columns(slot),
        e.ColumnMoved(
            column_id=command.column_id, position=slot.key, previous_position=column.position
        ),
    ]


def archive_column(board: Board, command: c.ArchiveColumn, ctx: Context) -> list[e.Event]:
    column = _column(board, command.column_id, active=False)
    return [] if column.archived else [e.ColumnArchived(column_id=command.column_id)]


def restore_column(board: Board, command: c.RestoreColumn, ctx: Context) -> list[e.Event]:
    column = _column(board, command.column_id, active=False)
    if not column.archived:
        return []
    _check_column_limit(board)
    # The model keeps an archived column's key (not its place in `column_order`), so it goes back
    # where that key sorts among the active columns now, not to the end. Its cards never left its
    # lane (archiving a column leaves them open), so they come back with it, in their order.
    slot = _where_it_was(board.column_order, column.position)
    return [
        *_rebalanced_columns(slot),
        e.ColumnRestored(column_id=command.column_id, position=slot.key),
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


def add_card(board: Board, command: c.AddCard, ctx: Context) -> list[e.Event]:
    _column(board, command.column_id)
    _check_open_card_limit(board)
    _check_assignees(board, command.assignees)
    card_id = command.card_id or derive_id(ctx.command_id, "card")
    if card_id in board.cards:
        raise RuleViolationError("a card with this id exists", code="card_exists")
    slot = place(
        board.lane(command.column_id),
        after=_card_anchor(board, command.after_card_id, command.column_id),
        before=_card_anchor(board, command.before_card_id, command.column_id),
    )
    return [
        *_rebalanced_cards(command.column_id, slot),
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
    card = _card(board, command.card_id)
    _check_assignees(board, command.assignees)
    changes = []
    for name in command.changed_fields():
        before, after = _json(getattr(card, name)), _json(getattr(command, name))
        if before != after:
            changes.append(e.FieldChange(field=name, before=before, after=after))
    return [e.CardEdited(card_id=command.card_id, changes=changes)] if changes else []


def move_card(board: Board, command: c.MoveCard, ctx: Context) -> list[e.Event]:
    card = _card(board, command.card_id)
    _column(board, command.column_id)
    lane = board.lane(command.column_id)
    siblings, index = _without(lane, (card.position, command.card_id))
    slot = place(
        siblings,
        after=_card_anchor(board, command.after_card_id, command.column_id),
        before=_card_anchor(board, command.before_card_id, command.column_id),
    )
    if _stays(lane, index, slot):
        return []
    return [
        *_rebalanced_cards(command.column_id, slot),
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
    card = _card(board, command.card_id, active=False)
    return (
        [] if card.archived else [e.CardArchived(card_id=command.card_id, column_id=card.column_id)]
    )


def restore_card(board: Board, command: c.RestoreCard, ctx: Context) -> list[e.Event]:
    card = _card(board, command.card_id, active=False)
    if not card.archived:
        return []
    _column(board, card.column_id)
    _check_open_card_limit(board)
    slot = _where_it_was(board.lane(card.column_id), card.position)
    return [
        *_rebalanced_cards(card.column_id, slot),
        e.CardRestored(card_id=command.card_id, column_id=card.column_id, position=slot.key),
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


def add_member(board: Board, command: c.AddMember, ctx: Context) -> list[e.Event]:
    if command.user_id in board.members:
        raise RuleViolationError(
            "already a member; change the role instead",
            code="member_exists",
            user_id=command.user_id,
        )
    profile = (
        e.MemberProfile(email=command.email, name=command.name)
        if command.email or command.name
        else None
    )
    return [e.MemberAdded(user_id=command.user_id, role=command.role, profile=profile)]


def change_member_role(board: Board, command: c.ChangeMemberRole, ctx: Context) -> list[e.Event]:
    role = _member_role(board, command.user_id)
    if role is command.role:
        return []
    if role is Role.OWNER:
        _check_not_last_owner(board, command.user_id)
    return [e.MemberRoleChanged(user_id=command.user_id, role=command.role, previous_role=role)]


def remove_member(board: Board, command: c.RemoveMember, ctx: Context) -> list[e.Event]:
    role = _member_role(board, command.user_id)
    if role is Role.OWNER:
        _check_not_last_owner(board, command.user_id)
    return [e.MemberRemoved(user_id=command.user_id, previous_role=role)]
