"""Work-in-progress limits: a column's limit, the board's policy, and the room a card needs.

A card *enters* a column when it is added to it, moved into it from another column, or restored
into it; only then is the limit judged. Moving within a column changes nothing it counts, and
archived cards are not in any lane, so they never count. A limit set below what a column already
holds is allowed (the team decides to pull less), the column then shows over its limit.
"""

from __future__ import annotations

from uuid import UUID

import contracts.commands as c
import contracts.events as e

from boards.domain.context import Context
from boards.domain.errors import RuleViolationError
from boards.domain.model import Board
from boards.domain.placing import find_column


def change_column_wip_limit(
    board: Board, command: c.ChangeColumnWipLimit, ctx: Context
) -> list[e.Event]:
    column = find_column(board, command.column_id)
    if column.wip_limit == command.limit:
        return []
    return [
        e.ColumnWipLimitChanged(
            column_id=command.column_id, limit=command.limit, previous_limit=column.wip_limit
        )
    ]


def change_wip_policy(board: Board, command: c.ChangeWipPolicy, ctx: Context) -> list[e.Event]:
    if board.wip_policy == command.policy:
        return []
    return [e.WipPolicyChanged(policy=command.policy, previous_policy=board.wip_policy)]


def check_room(board: Board, column_id: UUID, *, from_column_id: UUID | None = None) -> None:
    """Refuses a card entering `column_id` at its limit, unless the board only warns.
    `from_column_id`: where the card is now, when it is on the board already."""
    if from_column_id == column_id or board.wip_policy == "warn":
        return
    column = board.columns.get(column_id)
    limit = column.wip_limit if column is not None else None
    if limit is None:
        return
    count = len(board.lane(column_id))
    if count >= limit:
        raise RuleViolationError(
            f"the column {column.title!r} is at its WIP limit of {limit}"
            if column is not None
            else "the column is at its WIP limit",
            code="wip_limit_reached",
            column_id=str(column_id),
            limit=limit,
            count=count,
        )
