"""History entries, told from the events alone: sentences, before/after values, names, filters."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from cardstream_testing.feeds import T0, envelopes
from contracts.envelope import AnyEvent
from contracts.events import (
    BoardArchived,
    BoardCreated,
    BoardRenamed,
    BoardRestored,
    CardAdded,
    CardArchived,
    CardEdited,
    CardMoved,
    CardRestored,
    CardsRebalanced,
    ColumnAdded,
    ColumnArchived,
    ColumnMoved,
    ColumnRenamed,
    ColumnRestored,
    ColumnsRebalanced,
    Event,
    FieldChange,
    MemberAdded,
    MemberProfile,
    MemberRemoved,
    MemberRoleChanged,
    Placement,
)
from contracts.fields import Role
from projector.projection import ProjectionError
from projector.read.audit import HistoryEntry, HistoryFilter, entries_of

BOARD = uuid.uuid5(uuid.NAMESPACE_URL, "audit history")
TODO, DOING, DONE = (uuid.uuid5(BOARD, name) for name in ("todo", "doing", "done"))
LOGIN, SIGNUP = uuid.uuid5(BOARD, "login"), uuid.uuid5(BOARD, "signup")


def _log(*steps: tuple[str, Event]) -> list[AnyEvent]:
    """Events by (actor, payload), one second apart from version 1."""
    events = envelopes(BOARD, [payload for _, payload in steps])
    return [
        e.model_copy(update={"actor": actor}) for e, (actor, _) in zip(events, steps, strict=True)
    ]


def _setup() -> list[tuple[str, Event]]:
    return [
        ("ada", BoardCreated(title="Plans", owner_id="ada")),
        ("ada", MemberAdded(user_id="bob", role=Role.EDITOR, name="Bob")),
        ("ada", ColumnAdded(column_id=TODO, title="To do", position="a0")),
        ("ada", ColumnAdded(column_id=DOING, title="Doing", position="a1")),
        ("ada", ColumnAdded(column_id=DONE, title="Done", position="a2")),
        ("ada", CardAdded(card_id=LOGIN, column_id=TODO, position="a0", title="Fix login")),
        ("bob", CardAdded(card_id=SIGNUP, column_id=TODO, position="a1", title="Signup")),
    ]


def _move(card: uuid.UUID, source: uuid.UUID, target: uuid.UUID, key: str = "a0") -> CardMoved:
    return CardMoved(
        card_id=card,
        from_column_id=source,
        to_column_id=target,
        position=key,
        previous_position="a0",
    )


def _last(*steps: tuple[str, Event]) -> HistoryEntry:
    return entries_of(BOARD, _log(*_setup(), *steps))[-1]


def _changes(entry: HistoryEntry) -> list[tuple[str, Any, Any, str | None]]:
    return [(c.field, c.before, c.after, c.item) for c in entry.changes]


class TestACardMovedThreeTimes:
    def test_has_three_entries_with_columns_actors_and_times(self) -> None:
        log = _log(
            *_setup(),
            ("bob", _move(LOGIN, TODO, DOING)),
            ("ada", ColumnRenamed(column_id=DOING, title="In progress", previous_title="Doing")),
            ("ada", _move(LOGIN, DOING, DONE)),
            ("carol", _move(LOGIN, DONE, TODO)),
        )
        moves = [
            e for e in entries_of(BOARD, log, HistoryFilter(card_id=LOGIN)) if e.type == "CardMoved"
        ]
        assert [(e.actor.id, e.actor.name, e.summary) for e in moves] == [
            ("bob", "Bob", "Bob moved 'Fix login' from To do to Doing"),
            # The column is named as it was called when the card moved.
            ("ada", "ada", "ada moved 'Fix login' from In progress to Done"),
            ("carol", "carol", "carol moved 'Fix login' from Done to To do"),
        ]
        assert [e.version for e in moves] == [8, 10, 11]
        assert [e.occurred_at for e in moves] == [T0 + timedelta(seconds=v) for v in (8, 10, 11)]
        assert [_changes(e)[0] for e in moves] == [
            ("column_id", str(TODO), str(DOING), None),
            ("column_id", str(DOING), str(DONE), None),
            ("column_id", str(DONE), str(TODO), None),
        ]
        assert all(e.card_id == LOGIN for e in moves)


SENTENCES: list[tuple[Event, str, list[tuple[str, Any, Any, str | None]]]] = [
    (
        BoardRenamed(title="Roadmap", previous_title="Plans"),
        "ada renamed the board from 'Plans' to 'Roadmap'",
        [("title", "Plans", "Roadmap", None)],
    ),
    (BoardArchived(), "ada archived the board", [("archived", False, True, None)]),
    (
        ColumnRenamed(column_id=DONE, title="Shipped", previous_title="Done"),
        "ada renamed column 'Done' to 'Shipped'",
        [("title", "Done", "Shipped", None)],
    ),
    (
        ColumnMoved(column_id=TODO, position="a1V", previous_position="a0"),
        "ada moved column 'To do' after 'Doing'",
        [("position", "a0", "a1V", None)],
    ),
    (
        ColumnMoved(column_id=DONE, position="Zz", previous_position="a2"),
        "ada moved column 'Done' to the front",
        [("position", "a2", "Zz", None)],
    ),
    (
        ColumnArchived(column_id=DONE),
        "ada archived column 'Done'",
        [("archived", False, True, None)],
    ),
    (
        CardEdited(
            card_id=LOGIN,
            changes=[
                FieldChange(field="title", before="Fix login", after="Fix the login"),
                FieldChange(field="labels", before=[], after=["bug", "ui"]),
                FieldChange(field="assignees", before=[], after=["bob", "zed"]),
                FieldChange(field="due_date", before=None, after="2026-02-01T00:00:00Z"),
            ],
        ),
        "ada edited 'Fix login': title 'Fix login' → 'Fix the login', labels [] → [bug, ui], "
        "assignees [] → [Bob, zed], due_date none → 2026-02-01T00:00:00Z",
        [
            ("title", "Fix login", "Fix the login", None),
            ("labels", [], ["bug", "ui"], None),
            ("assignees", [], ["bob", "zed"], None),
            ("due_date", None, "2026-02-01T00:00:00Z", None),
        ],
    ),
    (
        _move(LOGIN, TODO, TODO, key="a2"),
        "ada moved 'Fix login' within To do",
        [("position", "a0", "a2", None)],
    ),
    (
        CardArchived(card_id=LOGIN, column_id=TODO),
        "ada archived 'Fix login' in To do",
        [("archived", False, True, None)],
    ),
    (
        CardsRebalanced(
            column_id=TODO,
            positions=[Placement(id=LOGIN, position="b"), Placement(id=SIGNUP, position="c")],
        ),
        "ada rewrote the order keys of 2 cards in To do (none moved)",
        [("position", "a0", "b", str(LOGIN)), ("position", "a1", "c", str(SIGNUP))],
    ),
    (
        ColumnsRebalanced(positions=[Placement(id=TODO, position="b")]),
        "ada rewrote the order keys of 1 columns (none moved)",
        [("position", "a0", "b", str(TODO))],
    ),
    (
        MemberAdded(user_id="carol", role=Role.VIEWER, name="Carol", email="c@example.com"),
        "ada added Carol as viewer",
        [
            ("role", None, "viewer", "carol"),
            ("name", None, "Carol", "carol"),
            ("email", None, "c@example.com", "carol"),
        ],
    ),
    (
        MemberRoleChanged(user_id="bob", role=Role.VIEWER, previous_role=Role.EDITOR),
        "ada changed Bob's role from editor to viewer",
        [("role", "editor", "viewer", "bob")],
    ),
    (
        MemberRemoved(user_id="bob", previous_role=Role.EDITOR),
        "ada removed Bob (editor) from the board",
        [("role", "editor", None, "bob")],
    ),
]


class TestSentences:
    @pytest.mark.parametrize(
        ("payload", "summary", "changes"),
        SENTENCES,
        ids=[type(p).__name__ for p, _, _ in SENTENCES],
    )
    def test_says_what_happened_from_what_to_what(
        self, payload: Event, summary: str, changes: list[tuple[str, Any, Any, str | None]]
    ) -> None:
        entry = _last(("ada", payload))
        assert (entry.type, entry.summary) == (type(payload).__name__, summary)
        assert _changes(entry) == changes

    def test_the_owner_is_named_from_the_profile_their_board_was_created_with(self) -> None:
        owner = MemberProfile(name="Ada Lovelace", email="ada@example.com")
        entries = entries_of(
            BOARD,
            _log(
                ("ada", BoardCreated(title="Plans", owner_id="ada", owner=owner)),
                ("ada", ColumnAdded(column_id=TODO, title="To do", position="a0")),
            ),
        )

        assert [e.summary for e in entries] == [
            "Ada Lovelace created the board 'Plans'",
            "Ada Lovelace added column 'To do'",
        ]
        assert entries[1].actor.name == "Ada Lovelace"

    def test_the_first_entries_create_the_board_columns_and_cards(self) -> None:
        entries = entries_of(BOARD, _log(*_setup()))
        assert [e.summary for e in entries] == [
            "ada created the board 'Plans'",  # an owner without a profile: the id stands in
            "ada added Bob as editor",
            "ada added column 'To do'",
            "ada added column 'Doing'",
            "ada added column 'Done'",
            "ada added 'Fix login' to To do",
            "Bob added 'Signup' to To do",
        ]
        assert _changes(entries[0]) == [
            ("title", None, "Plans", None),
            ("owner_id", None, "ada", None),
        ]
        assert _changes(entries[5]) == [
            ("title", None, "Fix login", None),
            ("column_id", None, str(TODO), None),
            ("position", None, "a0", None),
        ]
        assert (entries[5].card_id, entries[5].column_id) == (LOGIN, TODO)

    def test_a_restored_card_says_where_it_went_back_to(self) -> None:
        entry = _last(
            ("ada", CardArchived(card_id=LOGIN, column_id=TODO)),
            ("bob", CardRestored(card_id=LOGIN, column_id=DONE, position="a5")),
        )
        assert entry.summary == "Bob restored 'Fix login' to Done"
        assert _changes(entry) == [
            ("archived", True, False, None),
            ("column_id", str(TODO), str(DONE), None),
            ("position", "a0", "a5", None),
        ]

    def test_a_restored_column_says_so_and_where_it_went_back_to(self) -> None:
        log = _log(
            *_setup(),
            ("ada", ColumnArchived(column_id=DONE)),
            ("bob", ColumnRestored(column_id=DONE, position="a3")),
        )
        entry = entries_of(BOARD, log, HistoryFilter(column_id=DONE))[-1]
        assert (entry.type, entry.summary) == ("ColumnRestored", "Bob restored column 'Done'")
        assert entry.column_id == DONE
        assert _changes(entry) == [
            ("archived", True, False, None),
            ("position", "a2", "a3", None),
        ]

    def test_a_board_restored_and_a_member_who_leaves(self) -> None:
        entries = entries_of(
            BOARD,
            _log(
                *_setup(),
                ("ada", BoardArchived()),
                ("ada", BoardRestored()),
                ("bob", MemberRemoved(user_id="bob", previous_role=Role.EDITOR)),
            ),
        )
        assert [e.summary for e in entries[-2:]] == ["ada restored the board", "Bob left the board"]

    def test_long_texts_are_cut_in_sentences_but_not_in_changes(self) -> None:
        long = "x" * 100
        entry = _last(
            (
                "ada",
                CardEdited(
                    card_id=LOGIN,
                    changes=[FieldChange(field="description", before="", after=long)],
                ),
            )
        )
        assert entry.summary == f"ada edited 'Fix login': description '' → '{'x' * 59}…'"
        assert _changes(entry) == [("description", "", long, None)]

    def test_a_removed_member_is_still_named_in_later_entries(self) -> None:
        entry = _last(
            ("ada", MemberRemoved(user_id="bob", previous_role=Role.EDITOR)),
            (
                "ada",
                CardEdited(
                    card_id=LOGIN,
                    changes=[FieldChange(field="assignees", before=["bob"], after=[])],
                ),
            ),
        )
        assert entry.summary == "ada edited 'Fix login': assignees [Bob] → []"


class TestABrokenLog:
    def test_an_event_the_board_cannot_take_is_an_error_not_an_entry(self) -> None:
        log = _log(("ada", CardAdded(card_id=LOGIN, column_id=TODO, position="a0", title="x")))
        with pytest.raises(ProjectionError, match="no BoardCreated"):
            entries_of(BOARD, log)


def _story() -> list[AnyEvent]:
    return _log(
        *_setup(),  # 1-7
        ("bob", _move(LOGIN, TODO, DOING)),  # 8
        (
            "bob",
            CardEdited(
                card_id=SIGNUP,
                changes=[FieldChange(field="title", before="Signup", after="Sign up")],
            ),
        ),  # 9
        ("ada", _move(SIGNUP, TODO, DONE)),  # 10
        ("ada", ColumnRenamed(column_id=DOING, title="Busy", previous_title="Doing")),  # 11
        (
            "bob",
            CardEdited(
                card_id=LOGIN, changes=[FieldChange(field="labels", before=[], after=["x"])]
            ),
        ),  # 12
        (
            "ada",
            CardsRebalanced(column_id=DOING, positions=[Placement(id=LOGIN, position="b")]),
        ),  # 13
        ("ada", ColumnsRebalanced(positions=[Placement(id=DOING, position="b")])),  # 14
    )


def _versions(history_filter: HistoryFilter) -> list[int]:
    return [e.version for e in entries_of(BOARD, _story(), history_filter)]


class TestFilters:
    def test_by_card_keeps_the_events_about_that_card(self) -> None:
        assert _versions(HistoryFilter(card_id=LOGIN)) == [6, 8, 12]
        assert _versions(HistoryFilter(card_id=uuid.uuid4())) == []

    def test_by_column_keeps_its_own_events_and_those_of_cards_in_it(self) -> None:
        # 8: a card moved in; 12: edited while there; 13: its cards' keys rewritten.
        assert _versions(HistoryFilter(column_id=DOING)) == [4, 8, 11, 12, 13]
        # 9: a card edited while there; 10: moved out.
        assert _versions(HistoryFilter(column_id=TODO)) == [3, 6, 7, 8, 9, 10]

    def test_by_actor(self) -> None:
        assert _versions(HistoryFilter(actor="bob")) == [7, 8, 9, 12]

    def test_by_versions_and_times_inclusive(self) -> None:
        assert _versions(HistoryFilter(from_version=11, to_version=12)) == [11, 12]
        since, until = T0 + timedelta(seconds=3), T0 + timedelta(seconds=5)
        assert _versions(HistoryFilter(since=since, until=until)) == [3, 4, 5]

    def test_conditions_combine(self) -> None:
        assert _versions(HistoryFilter(card_id=LOGIN, actor="bob", from_version=9)) == [12]
