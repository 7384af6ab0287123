"""The rules of the board itself: create, rename, archive, restore."""

from __future__ import annotations

from uuid import UUID

import contracts.commands as c
import contracts.events as e

from boards.domain.context import Context
from boards.domain.errors import BoardExistsError
from boards.domain.model import Board


def board_exists(board_id: UUID) -> BoardExistsError:
    """The one refusal of a create, to anyone: it says the id is taken and nothing about the
    board (its version, its members, whether the caller is one)."""
    return BoardExistsError("a board with this id exists", board_id=str(board_id))


def create_board(board: Board, command: c.CreateBoard, ctx: Context) -> list[e.Event]:
    if board.exists:
        raise board_exists(board.board_id)
    return [e.BoardCreated(title=command.title, owner_id=ctx.actor, owner=ctx.actor_profile)]


def rename_board(board: Board, command: c.RenameBoard, ctx: Context) -> list[e.Event]:
    if command.title == board.title:
        return []
    return [e.BoardRenamed(title=command.title, previous_title=board.title)]


def archive_board(board: Board, command: c.ArchiveBoard, ctx: Context) -> list[e.Event]:
    return [] if board.archived else [e.BoardArchived()]


def restore_board(board: Board, command: c.RestoreBoard, ctx: Context) -> list[e.Event]:
    return [e.BoardRestored()] if board.archived else []
