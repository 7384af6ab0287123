"""The rules of the board itself: create, rename, archive, restore."""

from __future__ import annotations

import contracts.commands as c
import contracts.events as e

from boards.domain.context import Context
from boards.domain.errors import BoardExistsError
from boards.domain.model import Board


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
