"""Notifications for a user, made from a board's events as they are written: a mention in a new
comment, and a card assigned to them (on creation or by an edit). Nobody is notified of what they
did themselves.

One document per user and event (`_id` = `<user>|<board>:<version>`), so a user's notifications
are one range of `_id`s (`of_user`) and writing the same event again (a redelivery, a rebuild)
inserts nothing new: notifications live outside the read-model generations, since whether one was
read is the user's doing, not the log's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from contracts.envelope import AnyEvent

from contracts import events as ev
from projector.projection import BoardProjection
from projector.store.layout import membership_id, memberships_of

Doc = dict[str, Any]

# A mention's notification shows this much of the comment.
EXCERPT = 140


def notification_id(board_id: str, version: int) -> str:
    return f"{board_id}:{version}"


def key(user_id: str, notification: str) -> str:
    """A user's notifications are laid out as the per-user index is (`store.layout`)."""
    return membership_id(user_id, notification)


def of_user(user_id: str) -> Doc:
    """The `_id` range of a user's notifications."""
    return memberships_of(user_id)


def _excerpt(body: str) -> str:
    return body if len(body) <= EXCERPT else body[: EXCERPT - 1] + "…"


def _assigned(e: ev.Event) -> list[str]:
    if isinstance(e, ev.CardAdded):
        return list(e.assignees)
    if isinstance(e, ev.CardEdited):
        for change in e.changes:
            if change.field == "assignees":
                before = set(change.before or []) if isinstance(change.before, list) else set()
                after = change.after if isinstance(change.after, list) else []
                return [str(u) for u in after if u not in before]
    return []


def notifications_of(
    board_id: str,
    applied: Iterable[AnyEvent],
    card_title: Callable[[str], str | None],
    person: Callable[[str], str | None] = lambda _: None,
) -> list[Doc]:
    """The notification documents the events make, read False. `card_title` and `person` name
    the card and the actor as the board knows them now (None: unknown)."""
    docs = []
    for event in applied:
        e = event.payload
        if isinstance(e, ev.CommentAdded):
            users, kind, extra = (
                list(e.mentions),
                "mention",
                {
                    "comment_id": str(e.comment_id),
                    "excerpt": _excerpt(e.body),
                },
            )
        else:
            users, kind, extra = _assigned(e), "assignment", {}
        card_id = str(getattr(e, "card_id", ""))
        for user in users:
            if user == event.actor:
                continue
            nid = notification_id(board_id, event.version)
            docs.append(
                {
                    "_id": key(user, nid),
                    "user_id": user,
                    "notification_id": nid,
                    "kind": kind,
                    "board_id": board_id,
                    "card_id": card_id,
                    "card_title": card_title(card_id),
                    "comment_id": None,
                    "excerpt": None,
                    **extra,
                    "actor_id": event.actor,
                    "actor_name": person(event.actor),
                    "occurred_at": event.occurred_at,
                    "version": event.version,
                    "read": False,
                }
            )
    return docs


def names(p: BoardProjection) -> tuple[Callable[[str], str | None], Callable[[str], str | None]]:
    """How a projection names cards (title) and people (name, else email)."""

    def card_title(card: str) -> str | None:
        doc = p.cards.get(card)
        return str(doc["title"]) if doc else None

    def person(user: str) -> str | None:
        members = p.board["members"] if p.board else []
        member = next((m for m in members if m["user_id"] == user), None)
        return (member.get("name") or member.get("email")) if member else None

    return card_title, person


def newest_first(docs: Iterable[Doc]) -> list[Doc]:
    return sorted(docs, key=lambda d: (d["occurred_at"], d["_id"]), reverse=True)
