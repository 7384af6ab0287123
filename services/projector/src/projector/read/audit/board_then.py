"""The board as it was just before an event: what the history sentences (`sentences`) name
things by, folded event by event with the live projection, with everyone it has known by name and
the comments' texts (a comment's later sentences quote them)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from contracts.envelope import AnyEvent

from contracts import events as ev
from projector.projection import BoardProjection, apply_event
from projector.read.audit.checkpoints import copy_projection
from projector.read.audit.comment_sentences import CommentThen, remember

# Longer texts are cut in sentences (never in `changes`).
QUOTE_LIMIT = 60

Doc = dict[str, Any]


def quote(text: str) -> str:
    if len(text) > QUOTE_LIMIT:
        text = text[: QUOTE_LIMIT - 1] + "…"
    return f"'{text}'"


class BoardThen:
    """The board just before the event being described, and everyone it has known by name."""

    def __init__(self, board_id: str) -> None:
        self.projection = BoardProjection(board_id=board_id)
        self.names: dict[str, str] = {}
        self.comments: dict[str, CommentThen] = {}

    @property
    def version(self) -> int:
        return self.projection.version

    def copy(self) -> BoardThen:
        """A copy to walk on from (a history checkpoint's): nothing it changes reaches this one."""
        then = BoardThen(self.projection.board_id)
        then.projection = copy_projection(self.projection)
        then.names = dict(self.names)
        then.comments = {k: CommentThen(c.author_id, c.body) for k, c in self.comments.items()}
        return then

    @property
    def columns(self) -> list[Doc]:
        board = self.projection.board
        return board["columns"] if board else []

    def person(self, user_id: str) -> str:
        return self.names.get(user_id, user_id)

    def card(self, card_id: UUID) -> Doc:
        return self.projection.cards[str(card_id)]

    def card_title(self, card_id: UUID) -> str:
        card = self.projection.cards.get(str(card_id))
        return quote(card["title"]) if card else f"card {card_id}"

    def column(self, column_id: UUID | str) -> Doc | None:
        wanted = str(column_id)
        return next((c for c in self.columns if c["column_id"] == wanted), None)

    def column_name(self, column_id: UUID | str) -> str:
        column = self.column(column_id)
        return str(column["title"]) if column else f"column {column_id}"

    def card_columns(self, card_id: UUID) -> set[str]:
        card = self.projection.cards.get(str(card_id))
        return {card["column_id"]} if card else set()

    def learn(self, event: AnyEvent) -> None:
        payload = event.payload
        if isinstance(payload, ev.MemberAdded) and payload.name:
            self.names[payload.user_id] = payload.name
        if isinstance(payload, ev.BoardCreated) and payload.owner and payload.owner.name:
            self.names[payload.owner_id] = payload.owner.name

    def apply(self, event: AnyEvent) -> None:
        apply_event(self.projection, event)
        self.projection.applied.clear()  # kept for a writer; a long walk should not hold them
        remember(self.comments, event.payload)
