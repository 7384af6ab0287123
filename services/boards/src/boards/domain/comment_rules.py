"""The rules of comments: who may add, edit and delete one, and whom a body mentions.

The board keeps only the author (and card) of each comment id: bodies live in the read store.
"""

from __future__ import annotations

import re
from uuid import UUID

import contracts.commands as c
import contracts.events as e
from contracts.fields import MAX_ASSIGNEES, Role

from boards.domain.context import Context, derive_id
from boards.domain.errors import RuleViolationError
from boards.domain.model import Board, Comment
from boards.domain.placing import find_card

# What the client inserts for a member picked from the autocomplete: `<@USER_ID>`.
MENTION = re.compile(r"<@([^<>\s]{1,128})>")


def mentions(board: Board, body: str) -> list[str]:
    """The board members the body mentions, once each, in the order they first appear; a token
    naming someone who is not a member is left as text and notifies no one."""
    found: list[str] = []
    for user_id in MENTION.findall(body):
        if user_id in board.members and user_id not in found:
            found.append(user_id)
    return found[:MAX_ASSIGNEES]


def _comment(board: Board, card_id: UUID, comment_id: UUID) -> Comment:
    comment = board.comments.get(comment_id)
    if comment is None or comment.deleted or comment.card_id != card_id:
        raise RuleViolationError(
            "no such comment on this card", code="comment_not_found", comment_id=str(comment_id)
        )
    return comment


def add_comment(board: Board, command: c.AddComment, ctx: Context) -> list[e.Event]:
    find_card(board, command.card_id)
    comment_id = command.comment_id or derive_id(ctx.command_id, "comment")
    # A deleted comment's id stays taken, so a late retry cannot bring it back.
    if comment_id in board.comments:
        raise RuleViolationError(
            "a comment with this id exists", code="comment_exists", comment_id=str(comment_id)
        )
    return [
        e.CommentAdded(
            card_id=command.card_id,
            comment_id=comment_id,
            author_id=ctx.actor,
            body=command.body,
            mentions=mentions(board, command.body),
        )
    ]


def edit_comment(board: Board, command: c.EditComment, ctx: Context) -> list[e.Event]:
    find_card(board, command.card_id)
    comment = _comment(board, command.card_id, command.comment_id)
    if comment.author_id != ctx.actor:
        raise RuleViolationError(
            "only its author may edit a comment",
            code="not_comment_author",
            comment_id=str(command.comment_id),
        )
    return [
        e.CommentEdited(
            card_id=command.card_id,
            comment_id=command.comment_id,
            body=command.body,
            mentions=mentions(board, command.body),
        )
    ]


def delete_comment(board: Board, command: c.DeleteComment, ctx: Context) -> list[e.Event]:
    comment = _comment(board, command.card_id, command.comment_id)
    if comment.author_id != ctx.actor and board.members.get(ctx.actor) is not Role.OWNER:
        raise RuleViolationError(
            "only its author or a board owner may delete a comment",
            code="not_comment_author",
            comment_id=str(command.comment_id),
        )
    return [e.CommentDeleted(card_id=command.card_id, comment_id=command.comment_id)]
