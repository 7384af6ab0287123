"""A card's checklist: items added, renamed, checked, moved and removed, in a stable order."""

from __future__ import annotations

import uuid
from uuid import UUID

import orjson
import pytest
from boards.domain import PermissionDeniedError, RuleViolationError
from boards.domain.snapshot import from_snapshot, to_snapshot
from contracts.commands import (
    AddChecklistItem,
    CheckChecklistItem,
    MoveChecklistItem,
    RemoveChecklistItem,
    RenameChecklistItem,
    UncheckChecklistItem,
)
from contracts.events import (
    BoardCreated,
    CardAdded,
    CardArchived,
    ChecklistItemAdded,
    ChecklistItemChecked,
    ChecklistItemMoved,
    ChecklistItemRemoved,
    ChecklistItemRenamed,
    ChecklistItemUnchecked,
    ColumnAdded,
    MemberAdded,
)
from contracts.fields import MAX_CHECKLIST_ITEMS, Role
from hypothesis import given as for_all
from hypothesis import settings
from hypothesis import strategies as st
from pydantic import ValidationError

TODO = UUID("00000000-0000-4000-8000-0000000000c1")
CARD = UUID("00000000-0000-4000-8000-0000000000ca")
A = UUID("00000000-0000-4000-8000-00000000000a")
B = UUID("00000000-0000-4000-8000-00000000000b")
C = UUID("00000000-0000-4000-8000-00000000000c")

A_CARD = (
    BoardCreated(title="Plans", owner_id="alice"),
    MemberAdded(user_id="bob", role=Role.EDITOR),
    MemberAdded(user_id="vic", role=Role.VIEWER),
    ColumnAdded(column_id=TODO, title="To do", position="a0"),
    CardAdded(card_id=CARD, column_id=TODO, position="a0", title="Release"),
)


def _items(*pairs: tuple[UUID, str]) -> tuple[ChecklistItemAdded, ...]:
    return tuple(
        ChecklistItemAdded(card_id=CARD, item_id=item_id, text=f"item {i}", position=key)
        for i, (item_id, key) in enumerate(pairs)
    )


def _order(scenario) -> list[UUID]:
    return [item_id for _, item_id in scenario.board.cards[CARD].checklist_lane()]


class TestAddChecklistItem:
    def test_adds_an_item_at_the_end_with_the_id_the_client_chose(self, given):
        scenario = given(*A_CARD, *_items((A, "a0")))

        outcome = scenario.when(AddChecklistItem(card_id=CARD, item_id=B, text=" Ship it "))

        outcome.then(ChecklistItemAdded(card_id=CARD, item_id=B, text="Ship it", position="a1"))
        assert _order(outcome.after) == [A, B]

    def test_places_an_item_before_another(self, given):
        scenario = given(*A_CARD, *_items((A, "a0"), (B, "a1")))

        after = scenario.when(
            AddChecklistItem(card_id=CARD, item_id=C, text="first", before_item_id=A)
        ).after

        assert _order(after) == [C, A, B]

    def test_lets_an_editor_add_but_not_a_viewer(self, given):
        scenario = given(*A_CARD)
        command = AddChecklistItem(card_id=CARD, item_id=A, text="x")

        scenario.when(command, actor="bob").then_accepted()
        scenario.when(command, actor="vic").then_rejects(PermissionDeniedError)

    def test_refuses_an_item_id_that_is_taken(self, given):
        scenario = given(*A_CARD, *_items((A, "a0")))

        scenario.when(AddChecklistItem(card_id=CARD, item_id=A, text="again")).then_rejects(
            RuleViolationError, "checklist_item_exists"
        )

    def test_refuses_an_item_on_an_unknown_or_archived_card(self, given):
        scenario = given(*A_CARD, CardArchived(card_id=CARD, column_id=TODO))

        scenario.when(AddChecklistItem(card_id=CARD, text="x")).then_rejects(
            RuleViolationError, "card_archived"
        )
        scenario.when(AddChecklistItem(card_id=uuid.uuid4(), text="x")).then_rejects(
            RuleViolationError, "card_not_found"
        )

    def test_refuses_an_item_over_the_limit(self, given):
        full = [
            ChecklistItemAdded(card_id=CARD, item_id=uuid.uuid4(), text="x", position=f"a{i:03}")
            for i in range(MAX_CHECKLIST_ITEMS)
        ]
        scenario = given(*A_CARD, *full)

        error = scenario.when(AddChecklistItem(card_id=CARD, text="one more")).then_rejects(
            RuleViolationError, "limit_exceeded"
        )
        assert error.details == {"limit": MAX_CHECKLIST_ITEMS}

    @pytest.mark.parametrize("text", ["", "   ", "x" * 501])
    def test_refuses_empty_or_overlong_text_as_malformed(self, text):
        with pytest.raises(ValidationError):
            AddChecklistItem(card_id=CARD, text=text)

    def test_derives_the_item_id_from_the_command_when_none_is_given(self, given):
        scenario = given(*A_CARD)
        command = AddChecklistItem(card_id=CARD, text="x")

        assert scenario.when(command).event == scenario.when(command).event


class TestTheOtherItemCommands:
    def test_rename_says_what_the_text_was(self, given):
        scenario = given(*A_CARD, *_items((A, "a0")))

        scenario.when(RenameChecklistItem(card_id=CARD, item_id=A, text="new")).then(
            ChecklistItemRenamed(card_id=CARD, item_id=A, text="new", previous_text="item 0")
        )
        scenario.when(RenameChecklistItem(card_id=CARD, item_id=A, text="item 0")).then_nothing()

    def test_check_and_uncheck_change_only_what_differs(self, given):
        scenario = given(*A_CARD, *_items((A, "a0")))

        checked = scenario.when(CheckChecklistItem(card_id=CARD, item_id=A))
        checked.then(ChecklistItemChecked(card_id=CARD, item_id=A))
        assert checked.after.board.cards[CARD].checklist[A].checked
        scenario.when(UncheckChecklistItem(card_id=CARD, item_id=A)).then_nothing()
        checked.after.when(CheckChecklistItem(card_id=CARD, item_id=A)).then_nothing()
        checked.after.when(UncheckChecklistItem(card_id=CARD, item_id=A)).then(
            ChecklistItemUnchecked(card_id=CARD, item_id=A)
        )

    def test_move_is_one_event_with_the_new_key(self, given):
        scenario = given(*A_CARD, *_items((A, "a0"), (B, "a1"), (C, "a2")))

        outcome = scenario.when(MoveChecklistItem(card_id=CARD, item_id=C, after_item_id=A))

        assert len(outcome.then_accepted()) == 1
        assert isinstance(outcome.event, ChecklistItemMoved)
        assert outcome.event.previous_position == "a2"
        assert _order(outcome.after) == [A, C, B]
        scenario.when(MoveChecklistItem(card_id=CARD, item_id=B, after_item_id=A)).then_nothing()

    def test_remove_says_what_went(self, given):
        scenario = given(*A_CARD, *_items((A, "a0")), ChecklistItemChecked(card_id=CARD, item_id=A))

        outcome = scenario.when(RemoveChecklistItem(card_id=CARD, item_id=A))

        outcome.then(ChecklistItemRemoved(card_id=CARD, item_id=A, text="item 0", checked=True))
        assert outcome.after.board.cards[CARD].checklist == {}

    @pytest.mark.parametrize(
        "command",
        [
            RenameChecklistItem(card_id=CARD, item_id=B, text="x"),
            CheckChecklistItem(card_id=CARD, item_id=B),
            UncheckChecklistItem(card_id=CARD, item_id=B),
            MoveChecklistItem(card_id=CARD, item_id=B),
            RemoveChecklistItem(card_id=CARD, item_id=B),
        ],
        ids=lambda c: type(c).__name__,
    )
    def test_refuses_an_unknown_item_with_its_own_code(self, given, command):
        error = (
            given(*A_CARD, *_items((A, "a0")))
            .when(command)
            .then_rejects(RuleViolationError, "checklist_item_not_found")
        )
        assert error.details == {"card_id": str(CARD), "item_id": str(B)}

    def test_a_viewer_may_not_tick(self, given):
        given(*A_CARD, *_items((A, "a0"))).when(
            CheckChecklistItem(card_id=CARD, item_id=A), actor="vic"
        ).then_rejects(PermissionDeniedError)

    def test_an_archived_card_keeps_its_checklist_as_it_was(self, given):
        scenario = given(*A_CARD, *_items((A, "a0")), CardArchived(card_id=CARD, column_id=TODO))

        scenario.when(CheckChecklistItem(card_id=CARD, item_id=A)).then_rejects(
            RuleViolationError, "card_archived"
        )


# Each step: add an item after/before one already there (by index), move one, or remove one.
_STEPS = st.lists(
    st.tuples(st.sampled_from(["add", "move", "remove"]), st.integers(0, 40), st.booleans()),
    max_size=60,
)


class TestChecklistOrder:
    @settings(max_examples=100, deadline=None)
    @for_all(_STEPS)
    def test_follows_every_intent_like_a_list_and_keys_stay_short(self, given, steps):
        scenario = given(*A_CARD)
        expected: list[UUID] = []
        for n, (kind, index, before) in enumerate(steps):
            anchor = expected[index % len(expected)] if expected else None
            if kind == "add":
                item_id = uuid.uuid5(CARD, str(n))
                side = {"before_item_id": anchor} if before else {"after_item_id": anchor}
                command = AddChecklistItem(card_id=CARD, item_id=item_id, text="x", **side)
                position = expected.index(anchor) + (0 if before else 1) if anchor else 0
                expected.insert(position, item_id)
            elif not expected:
                continue
            elif kind == "move":
                item_id = expected[(index * 7 + 3) % len(expected)]
                if item_id == anchor:
                    continue
                command = MoveChecklistItem(card_id=CARD, item_id=item_id, after_item_id=anchor)
                expected.remove(item_id)
                expected.insert(expected.index(anchor) + 1, item_id)
            else:
                item_id = expected.pop(index % len(expected))
                command = RemoveChecklistItem(card_id=CARD, item_id=item_id)
            scenario = scenario.when(command).after

        assert _order(scenario) == expected
        assert all(len(i.position) <= 32 for i in scenario.board.cards[CARD].checklist.values())

    @settings(max_examples=50, deadline=None)
    @for_all(st.permutations(range(4)))
    def test_concurrent_inserts_at_one_spot_all_land_in_log_order(self, given, order):
        # Four people add "after A" at once; each command is decided on the board the one before
        # it left, as the store's optimistic retry does: every item lands, in the log's order.
        scenario = given(*A_CARD, *_items((A, "a0"), (B, "a1")))
        ids = [uuid.uuid5(CARD, f"concurrent {i}") for i in order]
        for item_id in ids:
            command = AddChecklistItem(card_id=CARD, item_id=item_id, text="x", after_item_id=A)
            scenario = scenario.when(command).after

        assert _order(scenario) == [A, *reversed(ids), B]


class TestChecklistSnapshot:
    def test_carries_the_items_and_reads_back_the_same_board(self, given):
        board = given(
            *A_CARD, *_items((A, "a0"), (B, "a1")), ChecklistItemChecked(card_id=CARD, item_id=B)
        ).board

        assert from_snapshot(orjson.loads(orjson.dumps(to_snapshot(board)))) == board

    def test_reads_a_schema_1_snapshot_as_the_board_with_empty_checklists(self, given):
        board = given(*A_CARD).board
        data = to_snapshot(board)
        data["schema"] = 1
        data["cards"] = [row[:9] for row in data["cards"]]

        assert from_snapshot(data) == board
