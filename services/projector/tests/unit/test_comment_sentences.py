"""Comments in the audit history: what each of the three events says, and the changes it records."""

from __future__ import annotations

import uuid

from cardstream_testing.feeds import envelopes
from contracts.events import (
    BoardCreated,
    CardAdded,
    ColumnAdded,
    CommentAdded,
    CommentDeleted,
    CommentEdited,
    MemberAdded,
)
from contracts.fields import Role
from projector.read.audit import entries_of

BOARD = uuid.UUID("0b0a4d00-0000-4000-8000-0000000000dd")
TODO, CARD, NOTE = (uuid.uuid5(BOARD, n) for n in ("todo", "card", "note"))


def test_comments_are_told_with_their_card_mentions_and_bodies_before_and_after() -> None:
    events = envelopes(
        BOARD,
        [
            BoardCreated(title="Plans", owner_id="ada"),
            MemberAdded(user_id="bob", role=Role.EDITOR, name="Bob"),
            ColumnAdded(column_id=TODO, title="To do", position="a0"),
            CardAdded(card_id=CARD, column_id=TODO, position="a0", title="Ship it"),
            CommentAdded(
                card_id=CARD, comment_id=NOTE, author_id="ada", body="hi <@bob>", mentions=["bob"]
            ),
            CommentEdited(card_id=CARD, comment_id=NOTE, body="hello"),
            CommentDeleted(card_id=CARD, comment_id=NOTE),
        ],
        actor="ada",
    )

    told = entries_of(BOARD, events)[-3:]

    assert [e.summary for e in told] == [
        "ada commented on 'Ship it': 'hi <@bob>' (mentioning Bob)",
        "ada edited a comment on 'Ship it': 'hello'",
        "ada deleted ada's comment on 'Ship it'",
    ]
    assert all(e.card_id == CARD for e in told)
    assert [(c.field, c.before, c.after) for e in told for c in e.changes] == [
        ("body", None, "hi <@bob>"),
        ("mentions", None, ["bob"]),
        ("body", "hi <@bob>", "hello"),
        ("body", "hello", None),
    ]
