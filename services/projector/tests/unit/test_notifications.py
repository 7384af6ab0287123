"""Which events notify whom, and what a batch writes for each comment."""

from __future__ import annotations

import uuid

from cardstream_testing.feeds import envelopes
from contracts.events import (
    BoardCreated,
    CardAdded,
    CardEdited,
    CommentAdded,
    CommentDeleted,
    CommentEdited,
    FieldChange,
)
from projector.comments import comment_key, comment_writes
from projector.notifications import notifications_of

BOARD = uuid.UUID("0b0a4d00-0000-4000-8000-0000000000cc")
CARD, COLUMN, NOTE = (uuid.uuid5(BOARD, n) for n in ("card", "column", "note"))


def _made(*payloads, actor="alice"):
    events = envelopes(BOARD, payloads, actor=actor)
    docs = notifications_of(str(BOARD), events, lambda _: "Card", lambda u: u.title())
    return [(d["user_id"], d["kind"], d["version"], d["actor_name"]) for d in docs]


class TestNotifications:
    def test_a_mention_notifies_each_mentioned_member_but_not_the_author(self) -> None:
        said = CommentAdded(
            card_id=CARD, comment_id=NOTE, author_id="alice", body="b", mentions=["bob", "alice"]
        )
        assert _made(said) == [("bob", "mention", 1, "Alice")]

    def test_an_assignment_notifies_only_the_newly_assigned(self) -> None:
        added = CardAdded(
            card_id=CARD, column_id=COLUMN, position="a0", title="t", assignees=["bob", "alice"]
        )
        edited = CardEdited(
            card_id=CARD,
            changes=[FieldChange(field="assignees", before=["bob"], after=["bob", "carol"])],
        )
        assert _made(added, edited) == [
            ("bob", "assignment", 1, "Alice"),
            ("carol", "assignment", 2, "Alice"),
        ]

    def test_nothing_else_notifies(self) -> None:
        assert _made(BoardCreated(title="x", owner_id="alice")) == []


class TestCommentWrites:
    def test_a_batch_folds_each_comment_into_one_insert_and_its_last_state(self) -> None:
        events = envelopes(
            BOARD,
            [
                CommentAdded(card_id=CARD, comment_id=NOTE, author_id="bob", body="one"),
                CommentEdited(card_id=CARD, comment_id=NOTE, body="two"),
                CommentDeleted(card_id=CARD, comment_id=NOTE),
            ],
        )

        [write] = comment_writes(str(BOARD), events)

        assert write.key == comment_key(str(BOARD), str(CARD), str(NOTE))
        assert write.insert is not None
        assert (write.insert["body"], write.insert["deleted"], write.insert["version"]) == (
            "",
            True,
            3,
        )
        assert write.insert["created_version"] == 1
        assert write.latest == {
            "body": "",
            "mentions": [],
            "edited_at": events[1].occurred_at,
            "deleted": True,
            "version": 3,
        }
