"""WIP limits on the read side: the column shows its limit, the board its policy, and the history
tells both in words with their before and after values."""

from __future__ import annotations

import uuid

from cardstream_testing.feeds import envelopes
from contracts.events import (
    BoardCreated,
    ColumnAdded,
    ColumnWipLimitChanged,
    Event,
    MemberAdded,
    WipPolicyChanged,
)
from contracts.fields import Role
from projector.projection import BoardProjection, apply_event
from projector.read.audit import entries_of
from projector.views import detail_of

BOARD = uuid.uuid5(uuid.NAMESPACE_URL, "wip projection")
DOING = uuid.uuid5(BOARD, "doing")

SETUP: list[Event] = [
    BoardCreated(title="Plans", owner_id="alice"),
    MemberAdded(user_id="bob", role=Role.EDITOR, name="Bob"),
    ColumnAdded(column_id=DOING, title="Doing", position="a1"),
]


def _projected(*payloads: Event) -> BoardProjection:
    projection = BoardProjection(board_id=str(BOARD))
    for event in envelopes(BOARD, [*SETUP, *payloads]):
        apply_event(projection, event)
    return projection


class TestTheReadModel:
    def test_a_board_enforces_and_its_columns_have_no_limit_until_told(self) -> None:
        detail = detail_of(_projected())

        assert detail is not None
        assert detail.board.wip_policy == "enforce"
        assert [c.wip_limit for c in detail.board.columns] == [None]

    def test_shows_the_limit_on_the_column_and_the_policy_on_the_board(self) -> None:
        detail = detail_of(
            _projected(
                ColumnWipLimitChanged(column_id=DOING, limit=2, previous_limit=None),
                WipPolicyChanged(policy="warn", previous_policy="enforce"),
            )
        )

        assert detail is not None
        assert detail.board.wip_policy == "warn"
        assert [c.wip_limit for c in detail.board.columns] == [2]

    def test_a_cleared_limit_is_none_again(self) -> None:
        detail = detail_of(
            _projected(
                ColumnWipLimitChanged(column_id=DOING, limit=2, previous_limit=None),
                ColumnWipLimitChanged(column_id=DOING, limit=None, previous_limit=2),
            )
        )

        assert detail is not None
        assert [c.wip_limit for c in detail.board.columns] == [None]


class TestTheHistory:
    def test_tells_setting_changing_and_clearing_a_limit_and_the_policy(self) -> None:
        events = envelopes(
            BOARD,
            [
                *SETUP,
                ColumnWipLimitChanged(column_id=DOING, limit=3, previous_limit=None),
                ColumnWipLimitChanged(column_id=DOING, limit=2, previous_limit=3),
                ColumnWipLimitChanged(column_id=DOING, limit=None, previous_limit=2),
                WipPolicyChanged(policy="warn", previous_policy="enforce"),
            ],
        )

        entries = entries_of(BOARD, events)[len(SETUP) :]

        assert [e.summary for e in entries] == [
            "alice set the WIP limit of column 'Doing' to 3",
            "alice changed the WIP limit of column 'Doing' from 3 to 2",
            "alice removed the WIP limit of column 'Doing' (was 2)",
            "alice changed the board's WIP policy from enforce (refuse a card over the limit) "
            "to warn only",
        ]
        assert [(c.field, c.before, c.after) for e in entries for c in e.changes] == [
            ("wip_limit", None, 3),
            ("wip_limit", 3, 2),
            ("wip_limit", 2, None),
            ("wip_policy", "enforce", "warn"),
        ]
        assert [e.column_id for e in entries] == [DOING, DOING, DOING, None]
