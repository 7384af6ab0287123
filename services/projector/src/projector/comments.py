"""Comments on the read side: a card's count of them, and one document per comment.

A comment's document is written from the events a projection applied (`BoardProjection.applied`),
not kept in the projection: a board can hold many more comments than a writer needs in memory.
Each document carries the version of the event that last changed it, the guard of the next write,
as cards do (`projector.store.layout`). A deleted comment keeps its document, without its body, so
that a late redelivery of its creation cannot bring it back.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from contracts.envelope import AnyEvent

from contracts import events as ev

Doc = dict[str, Any]
CommentEvent = ev.CommentAdded | ev.CommentEdited | ev.CommentDeleted


def count_comment(card: Doc, e: CommentEvent) -> None:
    """The card's count of comments that stand (documents stored before comments had none)."""
    if isinstance(e, ev.CommentAdded):
        card["comments"] = card.get("comments", 0) + 1
    elif isinstance(e, ev.CommentDeleted):
        card["comments"] = max(card.get("comments", 0) - 1, 0)
    else:
        card.setdefault("comments", 0)


def comment_key(board_id: str, card_id: str, comment_id: str) -> str:
    """`_id` of a comment's document: a card's comments are one range (`comments_of`)."""
    return f"{board_id}:{card_id}:{comment_id}"


def comments_of(board_id: str, card_id: str) -> Doc:
    """The `_id` range of a card's comments (`:` and `;` are neighbours)."""
    return {"$gte": f"{board_id}:{card_id}:", "$lt": f"{board_id}:{card_id};"}


@dataclass(slots=True)
class CommentWrite:
    """What a batch does to one comment: the document to insert when the batch created it, and
    the fields its last event in the batch leaves (with that event's version)."""

    key: str
    insert: Doc | None = None
    latest: Doc = field(default_factory=dict)


def comment_writes(board_id: str, applied: Iterable[AnyEvent]) -> list[CommentWrite]:
    writes: dict[str, CommentWrite] = {}
    for event in applied:
        e = event.payload
        if not isinstance(e, CommentEvent):
            continue
        key = comment_key(board_id, str(e.card_id), str(e.comment_id))
        write = writes.setdefault(key, CommentWrite(key))
        if isinstance(e, ev.CommentAdded):
            write.insert = {
                "_id": key,
                "board_id": board_id,
                "card_id": str(e.card_id),
                "comment_id": str(e.comment_id),
                "author_id": e.author_id,
                "body": e.body,
                "mentions": list(e.mentions),
                "created_at": event.occurred_at,
                "edited_at": None,
                "deleted": False,
                # The cursor of a card's comments: the order they were made in.
                "created_version": event.version,
                "version": event.version,
            }
        elif isinstance(e, ev.CommentEdited):
            write.latest.update(body=e.body, mentions=list(e.mentions), edited_at=event.occurred_at)
        else:
            write.latest.update(body="", mentions=[], deleted=True)
        write.latest["version"] = event.version
        if write.insert is not None:
            write.insert.update(write.latest)
    return sorted(writes.values(), key=lambda w: w.key)
