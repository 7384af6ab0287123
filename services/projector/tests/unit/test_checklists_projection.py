"""A card's checklist in the read model (items in order, progress on the card) and in history."""

from __future__ import annotations

import uuid
from uuid import UUID

import pytest
from cardstream_testing.golden import story_envelopes
from contracts.events import (
    BoardCreated,
    CardAdded,
    ChecklistItemAdded,
    ChecklistItemChecked,
    ChecklistItemMoved,
    ChecklistItemRemoved,
    ChecklistItemRenamed,
    ChecklistItemUnchecked,
    ColumnAdded,
    Event,
    Placement,
)
from contracts.read_models import CardView, ChecklistProgress
from projector.projection import BoardProjection, ProjectionError, apply_event
from projector.read.audit import entries_of
from projector.views import detail_of

BOARD = UUID("0b0a4d00-0000-4000-8000-0000000000c1")
TODO = UUID("00000000-0000-4000-8000-0000000000c1")
CARD = UUID("00000000-0000-4000-8000-0000000000ca")
A = UUID("00000000-0000-4000-8000-00000000000a")
B = UUID("00000000-0000-4000-8000-00000000000b")
C = UUID("00000000-0000-4000-8000-00000000000c")

A_CARD: tuple[Event, ...] = (
    BoardCreated(title="Plans", owner_id="alice"),
    ColumnAdded(column_id=TODO, title="To do", position="a0"),
    CardAdded(card_id=CARD, column_id=TODO, position="a0", title="Release"),
)
ITEMS: tuple[Event, ...] = (
    ChecklistItemAdded(card_id=CARD, item_id=A, text="Draft", position="a0"),
    ChecklistItemAdded(card_id=CARD, item_id=B, text="Review", position="a1"),
    ChecklistItemAdded(card_id=CARD, item_id=C, text="Publish", position="Zz"),
    ChecklistItemChecked(card_id=CARD, item_id=A),
    ChecklistItemRenamed(card_id=CARD, item_id=B, text="Review twice", previous_text="Review"),
)


def _card(*story: Event) -> CardView:
    projection = BoardProjection(board_id=str(BOARD))
    for event in story_envelopes(BOARD, (*A_CARD, *story)):
        apply_event(projection, event)
    detail = detail_of(projection)
    assert detail is not None
    [card] = detail.cards
    return card


class TestTheCardReadModel:
    def test_has_no_items_and_no_progress_before_any_checklist_event(self) -> None:
        card = _card()

        assert (card.checklist, card.progress) == ([], ChecklistProgress(done=0, total=0))

    def test_lists_the_items_in_key_order_with_their_text_and_tick(self) -> None:
        card = _card(*ITEMS)

        assert [(i.item_id, i.text, i.checked) for i in card.checklist] == [
            (C, "Publish", False),
            (A, "Draft", True),
            (B, "Review twice", False),
        ]
        assert card.progress == ChecklistProgress(done=1, total=3)

    def test_follows_moves_rebalancing_unchecks_and_removals(self) -> None:
        card = _card(
            *ITEMS,
            ChecklistItemMoved(
                card_id=CARD,
                item_id=C,
                position="a2",
                previous_position="Zz",
                rebalanced=[Placement(id=A, position="a5"), Placement(id=B, position="a6")],
            ),
            ChecklistItemUnchecked(card_id=CARD, item_id=A),
            ChecklistItemChecked(card_id=CARD, item_id=B),
            ChecklistItemRemoved(card_id=CARD, item_id=A, text="Draft", checked=False),
        )

        assert [(i.item_id, i.position) for i in card.checklist] == [(C, "a2"), (B, "a6")]
        assert card.progress == ChecklistProgress(done=1, total=2)

    def test_refuses_an_event_about_an_item_the_card_does_not_have(self) -> None:
        with pytest.raises(ProjectionError):
            _card(ChecklistItemChecked(card_id=CARD, item_id=uuid.uuid4()))

    def test_reads_a_card_document_stored_before_checklists(self) -> None:
        projection = BoardProjection(board_id=str(BOARD))
        for event in story_envelopes(BOARD, A_CARD):
            apply_event(projection, event)
        stored = projection.cards[str(CARD)]

        assert "checklist" not in stored
        assert CardView.model_validate(stored).progress == ChecklistProgress()


class TestTheHistory:
    def test_tells_each_checklist_event_with_the_item_and_card_by_name(self) -> None:
        story = (
            *ITEMS,
            ChecklistItemUnchecked(card_id=CARD, item_id=A),
            ChecklistItemMoved(card_id=CARD, item_id=A, position="a9", previous_position="a0"),
            ChecklistItemRemoved(card_id=CARD, item_id=A, text="Draft", checked=False),
        )
        entries = entries_of(BOARD, story_envelopes(BOARD, (*A_CARD, *story)))[len(A_CARD) :]

        assert [e.summary for e in entries] == [
            "alice added 'Draft' to the checklist of 'Release'",
            "alice added 'Review' to the checklist of 'Release'",
            "alice added 'Publish' to the checklist of 'Release'",
            "alice checked 'Draft' on 'Release'",
            "alice renamed checklist item 'Review' to 'Review twice' on 'Release'",
            "alice unchecked 'Draft' on 'Release'",
            "alice moved checklist item 'Draft' on 'Release'",
            "alice removed 'Draft' from the checklist of 'Release'",
        ]
        assert all(e.card_id == CARD and e.column_id == TODO for e in entries)
        renamed = entries[4].changes
        assert [(c.field, c.before, c.after, c.item) for c in renamed] == [
            ("text", "Review", "Review twice", str(B))
        ]
