"""`decide`: the pure judgement of a command against a board's current state.

It returns the events the command causes (none when the board already is as asked) or raises a
`DomainError`. Here: who may give which command, and which rule judges it; the rules themselves
are by subject in `board_rules`, `column_rules`, `card_rules`, `member_rules` and
`wip_rules`.
"""

from __future__ import annotations

from typing import assert_never

import contracts.commands as c
import contracts.events as e
from contracts.fields import Role

from boards.domain.board_rules import (
    archive_board,
    board_exists,
    create_board,
    rename_board,
    restore_board,
)
from boards.domain.card_rules import add_card, archive_card, edit_card, move_card, restore_card
from boards.domain.checklist_rules import (
    add_checklist_item,
    check_checklist_item,
    move_checklist_item,
    remove_checklist_item,
    rename_checklist_item,
    uncheck_checklist_item,
)
from boards.domain.column_rules import (
    add_column,
    archive_column,
    move_column,
    rename_column,
    restore_column,
)
from boards.domain.comment_rules import add_comment, delete_comment, edit_comment
from boards.domain.context import Context, derive_id
from boards.domain.errors import BoardNotFoundError, PermissionDeniedError, RuleViolationError
from boards.domain.member_rules import add_member, change_member_role, remove_member
from boards.domain.model import Board
from boards.domain.wip_rules import change_column_wip_limit, change_wip_policy

__all__ = ["Context", "check_access", "decide", "derive_id"]


def decide(board: Board, command: c.Command, ctx: Context) -> list[e.Event]:
    check_access(board, command, ctx.actor)
    # Archiving again changes nothing and restoring is the way back; all else waits for it.
    if (
        _least_role(command) is not None
        and board.archived
        and not isinstance(command, c.RestoreBoard | c.ArchiveBoard)
    ):
        raise RuleViolationError("the board is archived; restore it first", code="board_archived")
    return _handle(board, command, ctx)


def check_access(board: Board, command: c.Command, actor: str) -> None:
    """The first refusal, before anything else about the board is judged or told (its version
    above all): a board the actor is not a member of answers as a missing one does, a role too
    low is forbidden, and a create of a taken id is refused alike for members and strangers."""
    least_role = _least_role(command)
    if least_role is not None:
        _authorize(board, command, actor, least_role)
    elif board.exists:
        raise board_exists(board.board_id)


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
            | c.ChangeWipPolicy()
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
            | c.AddComment()
            | c.EditComment()
            | c.DeleteComment()
            | c.ChangeColumnWipLimit()
            | c.AddChecklistItem()
            | c.RenameChecklistItem()
            | c.CheckChecklistItem()
            | c.UncheckChecklistItem()
            | c.MoveChecklistItem()
            | c.RemoveChecklistItem()
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
        case c.AddComment():
            return add_comment(board, command, ctx)
        case c.EditComment():
            return edit_comment(board, command, ctx)
        case c.DeleteComment():
            return delete_comment(board, command, ctx)
        case c.ChangeColumnWipLimit():
            return change_column_wip_limit(board, command, ctx)
        case c.ChangeWipPolicy():
            return change_wip_policy(board, command, ctx)
        case c.AddChecklistItem():
            return add_checklist_item(board, command, ctx)
        case c.RenameChecklistItem():
            return rename_checklist_item(board, command, ctx)
        case c.CheckChecklistItem():
            return check_checklist_item(board, command, ctx)
        case c.UncheckChecklistItem():
            return uncheck_checklist_item(board, command, ctx)
        case c.MoveChecklistItem():
            return move_checklist_item(board, command, ctx)
        case c.RemoveChecklistItem():
            return remove_checklist_item(board, command, ctx)
        case _:
            assert_never(command)
