"""Comments in words, for history and export. A comment's body and author are remembered as the
walk passes them, so an edit can say what the text was and a deletion whose comment it was."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from contracts import events as ev
from projector.read.audit.models import Change

CommentEvent = ev.CommentAdded | ev.CommentEdited | ev.CommentDeleted


@dataclass(slots=True)
class CommentThen:
    author_id: str
    body: str


def remember(comments: dict[str, CommentThen], payload: ev.Event) -> None:
    """Keeps what a later sentence about the comment needs (called once the event is told)."""
    if isinstance(payload, ev.CommentAdded):
        comments[str(payload.comment_id)] = CommentThen(payload.author_id, payload.body)
    elif isinstance(payload, ev.CommentEdited) and str(payload.comment_id) in comments:
        comments[str(payload.comment_id)].body = payload.body
    elif isinstance(payload, ev.CommentDeleted):
        comments.pop(str(payload.comment_id), None)


def comment_sentence(
    e: CommentEvent,
    *,
    card: str,
    known: CommentThen | None,
    person: Callable[[str], str],
    quote: Callable[[str], str],
) -> tuple[str, list[Change]]:
    """What the event says (after the actor's name), and the changes it made."""
    item = str(e.comment_id)
    match e:
        case ev.CommentAdded():
            text = f"commented on {card}: {quote(e.body)}"
            changes = [Change(field="body", before=None, after=e.body, item=item)]
            if e.mentions:
                text += f" (mentioning {', '.join(person(u) for u in e.mentions)})"
                changes.append(
                    Change(field="mentions", before=None, after=list(e.mentions), item=item)
                )
        case ev.CommentEdited():
            text = f"edited a comment on {card}: {quote(e.body)}"
            before = known.body if known else None
            changes = [Change(field="body", before=before, after=e.body, item=item)]
        case ev.CommentDeleted():
            whose = f"{person(known.author_id)}'s comment" if known else "a comment"
            text = f"deleted {whose} on {card}"
            before = known.body if known else None
            changes = [Change(field="body", before=before, after=None, item=item)]
    return text, changes
