"""The rules of membership: add, change a role, remove, and the last owner who stays."""

from __future__ import annotations

import contracts.commands as c
import contracts.events as e
from contracts.fields import Role

from boards.domain.context import Context
from boards.domain.errors import RuleViolationError
from boards.domain.model import Board


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
