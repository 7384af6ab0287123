"""Limits every service can rely on because the contract itself refuses what breaks them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid5

import pytest
from pydantic import ValidationError

from contracts import (
    MAX_ASSIGNEES,
    MAX_DESCRIPTION,
    MAX_LABEL,
    MAX_LABELS,
    MAX_TITLE,
    AddCard,
    AddColumn,
    CardAdded,
    EditCard,
    MoveCard,
    MoveColumn,
    RenameBoard,
    command_adapter,
    command_envelope,
)


def uid(name: str) -> UUID:
    return uuid5(UUID(int=0), name)


CARD, OTHER, COLUMN = uid("card"), uid("other card"), uid("column")
DUE = datetime(2026, 9, 15, 17, 0, tzinfo=UTC)


def add_card(**fields: Any) -> AddCard:
    return AddCard.model_validate({"column_id": COLUMN, "title": "Ship it", **fields})


def edit_card(**fields: Any) -> EditCard:
    return EditCard.model_validate({"card_id": CARD, **fields})


def move_card(**fields: Any) -> MoveCard:
    return MoveCard.model_validate({"card_id": CARD, "column_id": COLUMN, **fields})


class TestTitle:
    def test_accepts_the_maximum_length(self) -> None:
        assert len(add_card(title="x" * MAX_TITLE).title) == MAX_TITLE == 200

    def test_rejects_one_character_more(self) -> None:
        with pytest.raises(ValidationError, match="at most 200 characters"):
            add_card(title="x" * (MAX_TITLE + 1))

    def test_is_stripped_before_it_is_measured(self) -> None:
        assert add_card(title=f"  {'x' * MAX_TITLE}  ").title == "x" * MAX_TITLE

    @pytest.mark.parametrize("title", ["", "   "])
    def test_rejects_a_blank_title(self, title: str) -> None:
        with pytest.raises(ValidationError):
            RenameBoard(title=title)


class TestDescription:
    def test_accepts_the_maximum_length(self) -> None:
        assert len(add_card(description="x" * MAX_DESCRIPTION).description) == 10_000

    def test_rejects_one_character_more(self) -> None:
        with pytest.raises(ValidationError, match="at most 10000 characters"):
            add_card(description="x" * (MAX_DESCRIPTION + 1))

    def test_limits_edits_too(self) -> None:
        with pytest.raises(ValidationError):
            edit_card(description="x" * (MAX_DESCRIPTION + 1))


class TestLabels:
    def test_accepts_twenty(self) -> None:
        labels = [f"label-{i}" for i in range(MAX_LABELS)]

        assert add_card(labels=labels).labels == labels
        assert MAX_LABELS == 20

    def test_rejects_twenty_one(self) -> None:
        with pytest.raises(ValidationError, match="at most 20 items"):
            add_card(labels=[f"label-{i}" for i in range(MAX_LABELS + 1)])

    def test_rejects_a_duplicate(self) -> None:
        with pytest.raises(ValidationError, match="items must be unique"):
            add_card(labels=["bug", "ui", "bug"])

    def test_rejects_labels_that_are_duplicates_once_stripped(self) -> None:
        with pytest.raises(ValidationError, match="items must be unique"):
            add_card(labels=["bug", " bug "])

    def test_rejects_a_label_too_long(self) -> None:
        with pytest.raises(ValidationError):
            add_card(labels=["x" * (MAX_LABEL + 1)])

    def test_rejects_a_duplicate_in_an_edit_and_in_an_event(self) -> None:
        with pytest.raises(ValidationError, match="items must be unique"):
            edit_card(labels=["bug", "bug"])
        with pytest.raises(ValidationError, match="items must be unique"):
            CardAdded(card_id=CARD, column_id=COLUMN, position="a0", title="t", labels=["a", "a"])


class TestAssignees:
    def test_rejects_a_duplicate(self) -> None:
        with pytest.raises(ValidationError, match="items must be unique"):
            add_card(assignees=["alice", "bob", "alice"])

    def test_rejects_more_than_the_maximum(self) -> None:
        with pytest.raises(ValidationError):
            add_card(assignees=[f"user-{i}" for i in range(MAX_ASSIGNEES + 1)])


class TestEditCard:
    def test_needs_a_field_to_change(self) -> None:
        with pytest.raises(ValidationError, match="give at least one of title"):
            edit_card()

    @pytest.mark.parametrize("field", ["title", "description", "labels", "assignees"])
    def test_rejects_null_for_a_field_that_cannot_be_empty(self, field: str) -> None:
        with pytest.raises(ValidationError, match=f"{field} cannot be null"):
            edit_card(**{field: None})

    def test_accepts_null_due_date_as_clearing_it(self) -> None:
        edit = edit_card(due_date=None)

        assert edit.changed_fields() == ["due_date"]

    def test_changes_only_the_fields_given(self) -> None:
        assert edit_card(title="New", due_date=DUE).changed_fields() == ["title", "due_date"]

    def test_dumps_only_the_fields_given(self) -> None:
        assert edit_card(title="New").model_dump(mode="json") == {
            "card_id": str(CARD),
            "title": "New",
        }

    @pytest.mark.parametrize(
        "fields", [{"title": "New"}, {"due_date": None}, {"labels": [], "due_date": DUE}]
    )
    def test_means_the_same_after_a_trip_through_json(self, fields: dict[str, Any]) -> None:
        sent = command_envelope(edit_card(**fields), command_id=uid("command"))

        received = command_adapter.validate_json(command_adapter.dump_json(sent))

        assert received == sent
        assert isinstance(received.payload, EditCard)
        assert received.payload.changed_fields() == list(fields)


class TestMoveCard:
    def test_rejects_both_anchors(self) -> None:
        with pytest.raises(
            ValidationError, match="at most one of after_card_id and before_card_id"
        ):
            move_card(after_card_id=OTHER, before_card_id=uid("third card"))

    @pytest.mark.parametrize("anchor", ["after_card_id", "before_card_id"])
    def test_rejects_the_card_as_its_own_anchor(self, anchor: str) -> None:
        with pytest.raises(ValidationError, match="relative to itself"):
            move_card(**{anchor: CARD})

    @pytest.mark.parametrize("anchor", ["after_card_id", "before_card_id"])
    def test_accepts_one_anchor(self, anchor: str) -> None:
        assert getattr(move_card(**{anchor: OTHER}), anchor) == OTHER

    def test_accepts_no_anchor_as_the_end_of_the_column(self) -> None:
        move = move_card()

        assert (move.after_card_id, move.before_card_id) == (None, None)


class TestPlacedByIntent:
    def test_add_card_rejects_both_anchors(self) -> None:
        with pytest.raises(ValidationError, match="at most one of"):
            add_card(after_card_id=OTHER, before_card_id=uid("third card"))

    @pytest.mark.parametrize(
        ("model", "fields"),
        [(AddColumn, {"title": "Doing"}), (MoveColumn, {"column_id": COLUMN})],
        ids=["AddColumn", "MoveColumn"],
    )
    def test_columns_reject_both_anchors(
        self, model: type[AddColumn | MoveColumn], fields: dict[str, Any]
    ) -> None:
        anchors = {"after_column_id": uid("after"), "before_column_id": uid("before")}

        with pytest.raises(ValidationError, match="at most one of"):
            model.model_validate({**fields, **anchors})
