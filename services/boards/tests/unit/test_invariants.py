"""Whatever members and strangers ask, in any order, the folded board stays consistent.

Commands mostly name the members, columns and cards the board already has, otherwise ids from small
pools (and a small pool of command ids, so derived ids collide too). A command may be refused, but
only with a `DomainError`: anything else escapes `Scenario.when` and fails the run. Each command is
decided twice to check that decide() is a function of the board and the command alone.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from boards.domain import Board
from contracts.commands import (
    AddCard,
    AddColumn,
    AddMember,
    ArchiveBoard,
    ArchiveCard,
    ArchiveColumn,
    ChangeColumnWipLimit,
    ChangeMemberRole,
    ChangeWipPolicy,
    CreateBoard,
    EditCard,
    MoveCard,
    MoveColumn,
    RemoveMember,
    RenameBoard,
    RenameColumn,
    RestoreBoard,
    RestoreCard,
    RestoreColumn,
)
from contracts.fields import MAX_COLUMNS, MAX_OPEN_CARDS, Role
from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

USERS = ("alice", "bob", "carol", "dave")
PEOPLE = (*USERS, "mallory", "eve")
COMMAND_IDS = (UUID(int=0xC0DE1), UUID(int=0xC0DE2), UUID(int=0xC0DE3))
COLUMN_IDS = tuple(UUID(int=0xC01 + i) for i in range(4))
CARD_IDS = tuple(UUID(int=0xCA0 + i) for i in range(8))

# Whom or what a command names. Mostly someone who may act, or a column or card in use, so that
# commands get past the first checks; less often any member, column or card the board knows; now
# and then anyone or any id from a pool, which may or may not exist.
picks = st.integers(min_value=0, max_value=9)
maybe_picks = st.none() | picks
command_ids = st.sampled_from(COMMAND_IDS)
roles = st.sampled_from(Role)
titles = st.sampled_from(("One", "Two", "Three"))
sides = st.sampled_from(("after", "before"))
new_columns = st.none() | st.sampled_from(COLUMN_IDS)
new_cards = st.none() | st.sampled_from(CARD_IDS)
card_fields = st.fixed_dictionaries(
    {},
    optional={
        "title": titles,
        "description": st.sampled_from(("", "more")),
        "labels": st.lists(st.sampled_from(("bug", "ui", "ops")), unique=True, max_size=2),
        "assignees": st.lists(st.sampled_from(PEOPLE), unique=True, max_size=2),
        "due_date": st.sampled_from((None, datetime(2024, 5, 1, tzinfo=UTC))),
    },
)


OWNER_COMMANDS = (
    RenameBoard,
    ArchiveBoard,
    RestoreBoard,
    AddMember,
    ChangeMemberRole,
    RemoveMember,
    ChangeWipPolicy,
)


def _pick(pick: int, likely: list[Any], known: list[Any], pool: tuple[Any, ...]) -> Any:
    if pick < 6 and likely:
        return likely[pick % len(likely)]
    if pick < 8 and known:
        return known[pick % len(known)]
    return pool[pick % len(pool)]


class BoardMachine(RuleBasedStateMachine):
    def __init__(self, given: Any) -> None:
        super().__init__()
        self.scenario = given()

    @property
    def board(self) -> Board:
        return self.scenario.board

    def who(self, pick: int, command: Any) -> str:
        members = self.board.members
        may = (Role.OWNER,) if isinstance(command, OWNER_COMMANDS) else (Role.OWNER, Role.EDITOR)
        likely = sorted(user for user, role in members.items() if role in may)
        return _pick(pick, likely, sorted(members), PEOPLE)

    def member(self, pick: int) -> str:
        members = sorted(self.board.members)
        return _pick(pick, members, members, PEOPLE)

    def column(self, pick: int) -> UUID:
        active = [column_id for _, column_id in self.board.column_order]
        known = sorted(self.board.columns)
        return _pick(pick, active, known, COLUMN_IDS)

    def archived_column(self, pick: int) -> UUID:
        archived = sorted(c.column_id for c in self.board.columns.values() if c.archived)
        return _pick(pick, archived, sorted(self.board.columns), COLUMN_IDS)

    def card(self, pick: int) -> UUID:
        cards = self.board.cards
        active = sorted(card_id for card_id, card in cards.items() if not card.archived)
        return _pick(pick, active, sorted(cards), CARD_IDS)

    def next_to(
        self, kind: str, side: str, pick: int | None, *, not_for: UUID | None = None
    ) -> Any:
        if pick is None:
            return {}
        anchor = self.column(pick) if kind == "column" else self.card(pick)
        return {} if anchor == not_for else {f"{side}_{kind}_id": anchor}

    def decide(self, pick: int, command: Any, command_id: UUID = COMMAND_IDS[0]) -> None:
        actor = self.who(pick, command)
        outcome = self.scenario.when(command, actor=actor, command_id=command_id)
        again = self.scenario.when(command, actor=actor, command_id=command_id)
        assert (again.events, type(again.error)) == (outcome.events, type(outcome.error))
        name = type(command).__name__
        if outcome.error is not None:
            event(f"{name} refused: {outcome.error.code}")
            return
        event(f"{name} accepted" if outcome.events else f"{name} changed nothing")
        self.scenario = outcome.after

    @initialize(actor=picks, team=st.lists(roles, min_size=len(USERS), max_size=len(USERS)))
    def create_a_board_with_a_team_columns_and_cards(self, actor, team):
        # Starting from a populated board keeps runs short; every step of it is decided too.
        self.decide(actor, CreateBoard(title="Board"))
        for user_id, role in zip(USERS, team, strict=True):
            self.decide(0, AddMember(user_id=user_id, role=role))
        for column_id in COLUMN_IDS[:2]:
            self.decide(0, AddColumn(title="Column", column_id=column_id))
        for card_id in CARD_IDS[:3]:
            self.decide(0, AddCard(column_id=COLUMN_IDS[0], title="Card", card_id=card_id))

    # -- the board ---------------------------------------------------------------------------

    @rule(actor=picks)
    def create_it_again(self, actor):
        self.decide(actor, CreateBoard(title="Again"))

    @rule(actor=picks, title=titles)
    def rename_board(self, actor, title):
        self.decide(actor, RenameBoard(title=title))

    @precondition(lambda self: not self.board.archived)
    @rule(actor=picks, restore_at_once=st.booleans())
    def archive_board(self, actor, restore_at_once):
        # An archived board refuses nearly everything; half the time, don't let it idle there.
        self.decide(actor, ArchiveBoard())
        if restore_at_once:
            self.decide(0, RestoreBoard())

    @rule(actor=picks)
    def restore_board(self, actor):
        self.decide(actor, RestoreBoard())

    # -- columns -----------------------------------------------------------------------------

    @rule(
        actor=picks,
        command_id=command_ids,
        title=titles,
        column_id=new_columns,
        side=sides,
        anchor=maybe_picks,
    )
    def add_column(self, actor, command_id, title, column_id, side, anchor):
        placed = self.next_to("column", side, anchor)
        self.decide(actor, AddColumn(title=title, column_id=column_id, **placed), command_id)

    @rule(actor=picks, column=picks, title=titles)
    def rename_column(self, actor, column, title):
        self.decide(actor, RenameColumn(column_id=self.column(column), title=title))

    @rule(actor=picks, column=picks, side=sides, anchor=maybe_picks)
    def move_column(self, actor, column, side, anchor):
        column_id = self.column(column)
        placed = self.next_to("column", side, anchor, not_for=column_id)
        self.decide(actor, MoveColumn(column_id=column_id, **placed))

    @rule(actor=picks, column=picks)
    def archive_column(self, actor, column):
        self.decide(actor, ArchiveColumn(column_id=self.column(column)))

    @rule(actor=picks, column=picks)
    def restore_column(self, actor, column):
        self.decide(actor, RestoreColumn(column_id=self.archived_column(column)))

    # -- cards -------------------------------------------------------------------------------

    @rule(
        actor=picks,
        command_id=command_ids,
        column=picks,
        card_id=new_cards,
        side=sides,
        anchor=maybe_picks,
        fields=card_fields,
    )
    def add_card(self, actor, command_id, column, card_id, side, anchor, fields):
        fields = {"title": "Card", **{k: v for k, v in fields.items() if v is not None}}
        placed = self.next_to("card", side, anchor)
        command = AddCard(column_id=self.column(column), card_id=card_id, **placed, **fields)
        self.decide(actor, command, command_id)

    @rule(actor=picks, card=picks, fields=card_fields)
    def edit_card(self, actor, card, fields):
        self.decide(actor, EditCard(card_id=self.card(card), **(fields or {"title": "Edited"})))

    @rule(actor=picks, card=picks, column=picks, side=sides, anchor=maybe_picks)
    def move_card(self, actor, card, column, side, anchor):
        card_id = self.card(card)
        placed = self.next_to("card", side, anchor, not_for=card_id)
        self.decide(actor, MoveCard(card_id=card_id, column_id=self.column(column), **placed))

    @rule(actor=picks, card=picks)
    def archive_card(self, actor, card):
        self.decide(actor, ArchiveCard(card_id=self.card(card)))

    @rule(actor=picks, card=picks)
    def restore_card(self, actor, card):
        self.decide(actor, RestoreCard(card_id=self.card(card)))

    # -- members -----------------------------------------------------------------------------

    @rule(actor=picks, user_id=st.sampled_from(PEOPLE), role=roles)
    def add_member(self, actor, user_id, role):
        self.decide(actor, AddMember(user_id=user_id, role=role))

    @rule(actor=picks, user=picks, role=roles)
    def change_member_role(self, actor, user, role):
        self.decide(actor, ChangeMemberRole(user_id=self.member(user), role=role))

    @rule(actor=picks, user=picks)
    def remove_member(self, actor, user):
        self.decide(actor, RemoveMember(user_id=self.member(user)))

    # -- work-in-progress limits (test_wip_limits.py has their own properties) -----------------

    @rule(actor=picks, column=picks, limit=st.none() | st.integers(min_value=1, max_value=3))
    def change_column_wip_limit(self, actor, column, limit):
        self.decide(actor, ChangeColumnWipLimit(column_id=self.column(column), limit=limit))

    @rule(actor=picks, policy=st.sampled_from(("enforce", "warn")))
    def change_wip_policy(self, actor, policy):
        self.decide(actor, ChangeWipPolicy(policy=policy))

    # -- what must always hold ---------------------------------------------------------------

    @invariant()
    def versions_are_gapless(self):
        versions = [e.version for e in self.scenario.history]
        assert versions == list(range(1, len(versions) + 1))
        assert self.board.version == len(versions)
        assert {e.board_id for e in self.scenario.history} <= {self.board.board_id}

    @invariant()
    def every_active_card_is_in_a_column_that_exists(self):
        for card in self.board.cards.values():
            if not card.archived:
                assert card.column_id in self.board.columns, card

    @invariant()
    def order_keys_strictly_increase_within_each_column(self):
        for column_id, lane in self.board.lanes.items():
            keys = [key for key, _ in lane]
            assert keys == sorted(set(keys)), (column_id, lane)

    @invariant()
    def lanes_hold_exactly_the_active_cards(self):
        expected: dict[UUID, set[tuple[str, UUID]]] = {}
        for card in self.board.cards.values():
            if not card.archived:
                expected.setdefault(card.column_id, set()).add((card.position, card.card_id))
        actual = {column_id: set(lane) for column_id, lane in self.board.lanes.items() if lane}
        assert actual == expected
        for lane in self.board.lanes.values():
            assert len(set(lane)) == len(lane)

    @invariant()
    def open_cards_counts_the_active_cards(self):
        active = sum(not card.archived for card in self.board.cards.values())
        assert self.board.open_cards == active <= MAX_OPEN_CARDS

    @invariant()
    def column_order_holds_exactly_the_active_columns(self):
        order = self.board.column_order
        active = {(c.position, c.column_id) for c in self.board.columns.values() if not c.archived}
        assert set(order) == active
        assert [key for key, _ in order] == sorted({key for key, _ in order})
        assert self.board.active_columns() <= MAX_COLUMNS

    @invariant()
    def the_board_keeps_an_owner_and_valid_roles(self):
        if not self.board.exists:
            return
        roles = Counter(self.board.members.values())
        assert roles[Role.OWNER] >= 1
        assert all(isinstance(role, Role) for role in self.board.members.values())


class TestBoardInvariants:
    def test_hold_after_any_sequence_of_commands(self, given):
        run_state_machine_as_test(
            lambda: BoardMachine(given),
            settings=settings(max_examples=150, stateful_step_count=40, deadline=None),
        )
