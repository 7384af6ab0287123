"""What the projector answers about comments and notifications (docs/comments.md). Only the
projector builds them; they are contracts because the OpenAPI and AsyncAPI documents
(`contracts.openapi`) describe them."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AwareDatetime, Field, StringConstraints

from contracts.base import Contract
from contracts.fields import (
    BoardId,
    CardId,
    CommentBody,
    CommentId,
    Count,
    EventVersion,
    Title,
    UserId,
    Version,
)


class CommentView(Contract):
    comment_id: CommentId
    card_id: CardId
    author_id: UserId
    # Markdown as the author wrote it: clients render it without raw HTML.
    body: CommentBody
    mentions: list[UserId] = []
    created_at: AwareDatetime
    edited_at: AwareDatetime | None = None
    # The board version of the last event that changed it.
    version: EventVersion


class CommentPage(Contract):
    """Oldest first; `next_after_version` is the cursor of the next page (None: no more)."""

    comments: list[CommentView]
    next_after_version: Version | None


# `<board id>:<version>`: unique per user, since one event notifies a user at most once.
NotificationId = Annotated[str, StringConstraints(pattern=r"^[0-9a-f-]{36}:[0-9]{1,19}$")]
NotificationKind = Literal["mention", "assignment"]


class NotificationView(Contract):
    notification_id: NotificationId
    kind: NotificationKind
    board_id: BoardId
    card_id: CardId
    # The card's title when the notification was made (it may have been renamed since).
    card_title: Title | None = None
    comment_id: CommentId | None = None
    # The start of the comment that mentions, for a mention.
    excerpt: str | None = None
    actor_id: UserId
    # How the board knew the actor then (name, else email), when it did.
    actor_name: str | None = None
    occurred_at: AwareDatetime
    version: EventVersion
    read: bool = False


class NotificationList(Contract):
    """The caller's own, newest first."""

    notifications: list[NotificationView]
    unread: Count


class MarkNotificationsRead(Contract):
    """Either the ids to mark read, or `all`."""

    ids: Annotated[list[NotificationId], Field(max_length=500)] = []
    all: bool = False


class UnreadCount(Contract):
    unread: Count


__all__ = [
    "CommentPage",
    "CommentView",
    "MarkNotificationsRead",
    "NotificationId",
    "NotificationKind",
    "NotificationList",
    "NotificationView",
    "UnreadCount",
]
