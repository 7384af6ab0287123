"""The rules of columns: add, rename, move, archive, restore, and the 50-column limit."""

from __future__ import annotations

import contracts.commands as c
import contracts.events as e
from contracts.fields import MAX_COLUMNS

from boards.domain.context import Context, derive_id
from boards.domain.errors import RuleViolationError
from boards.domain.model import Board
from boards.domain.ordering import place
from boards.domain.placing import (
    column_anchor,
    find_column,
    rebalanced_columns,
    stays,
    where_it_was,
    without,
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
        after=column_anchor(board, command.after_column_id),
        before=column_anchor(board, command.before_column_id),
    )
    return [
        *rebalanced_columns(slot),
        e.ColumnAdded(column_id=column_id, title=command.title, position=slot.key),
    ]


def rename_column(board: Board, command: c.RenameColumn, ctx: Context) -> list[e.Event]:
    column = find_column(board, command.column_id)
    if column.title == command.title:
        return []
    return [
        e.ColumnRenamed(
            column_id=command.column_id, title=command.title, previous_title=column.title
        )
    ]


def move_column(board: Board, command: c.MoveColumn, ctx: Context) -> list[e.Event]:
    column = find_column(board, command.column_id)
    siblings, index = without(board.column_order, (column.position, command.column_id))
    slot = place(
        siblings,
        after=column_anchor(board, command.after_column_id),
        before=column_anchor(board, command.before_column_id),
    )
    if stays(board.column_order, index, slot):
        return []
    return [
        *rebalanced_columns(slot),
        e.ColumnMoved(
            column_id=command.column_id, position=slot.key, previous_position=column.position
        ),
    ]


def archive_column(board: Board, command: c.ArchiveColumn, ctx: Context) -> list[e.Event]:
    column = find_column(board, command.column_id, active=False)
    return [] if column.archived else [e.ColumnArchived(column_id=command.column_id)]


def restore_column(board: Board, command: c.RestoreColumn, ctx: Context) -> list[e.Event]:
    column = find_column(board, command.column_id, active=False)
    if not column.archived:
        return []
    _check_column_limit(board)
    # The model keeps an archived column's key (not its place in `column_order`), so it goes back
    # where that key sorts among the active columns now, not to the end. Its cards never left its
    # lane (archiving a column leaves them open), so they come back with it, in their order.
    slot = where_it_was(board.column_order, column.position)
    return [
        *rebalanced_columns(slot),
        e.ColumnRestored(column_id=command.column_id, position=slot.key),
    ]
