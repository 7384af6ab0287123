"""decide() command by command: given a board's events, when a member asks, then these events."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID, uuid5

import pytest
from boards.domain import (
    Board,
    BoardExistsError,
    BoardNotFoundError,
    DomainError,
    PermissionDeniedError,
    RuleViolationError,
    check_access,
    derive_id,
)
from boards.domain.ordering import REBALANCE_AT, key_between
from contracts.commands import (
    AddCard,
    AddColumn,
    AddMember,
    ArchiveBoard,
    ArchiveCard,
    ArchiveColumn,
    ChangeMemberRole,
    Command,
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
)
from contracts.fields import MAX_COLUMNS, MAX_OPEN_CARDS, Role


def uid(name: str) -> UUID:
    return uuid5(UUID(int=0), name)


TODO, DOING, DONE, NOWHERE = uid("todo"), uid("doing"), uid("done"), uid("no such column")
A, B, C, D, E, GHOST = uid("a"), uid("b"), uid("c"), uid("d"), uid("e"), uid("no such card")
DUE = datetime(2024, 5, 1, 9, 30, tzinfo=UTC)

CREATED = BoardCreated(title="Plans", owner_id="alice")
TEAM = (
    MemberAdded(user_id="bob", role=Role.EDITOR),
    MemberAdded(user_id="carol", role=Role.VIEWER),
)
COLUMNS = (
    ColumnAdded(column_id=TODO, title="To do", position="a0"),
    ColumnAdded(column_id=DOING, title="Doing", position="a1"),
    ColumnAdded(column_id=DONE, title="Done", position="a2"),
)
CARDS = (
    CardAdded(card_id=A, column_id=TODO, position="a0", title="A"),
    CardAdded(card_id=B, column_id=TODO, position="a1", title="B"),
    CardAdded(card_id=C, column_id=TODO, position="a2", title="C"),
    CardAdded(card_id=D, column_id=DOING, position="a0", title="D"),
)
# alice owns it, bob edits, carol views, mallory is a stranger; To do holds A B C, Doing holds D.
BOARD = (CREATED, *TEAM, *COLUMNS, *CARDS)


def ids(board: Board, column_id: UUID) -> list[UUID]:
    return [item_id for _, item_id in board.lane(column_id)]


def keys(board: Board, column_id: UUID) -> list[str]:
    return [key for key, _ in board.lane(column_id)]


def column_ids(board: Board) -> list[UUID]:
    return [column_id for _, column_id in board.column_order]


def successive_keys(count: int) -> list[str]:
    result: list[str] = []
    for _ in range(count):
        result.append(key_between(result[-1] if result else None, None))
    return result


# contracts.fields.OrderKey: an event carrying a longer key does not validate.
ORDER_KEY_BOUND = 256
# Splitting one gap again and again adds a character to the key about every six times.
SPLITS = 2_000


def archived(card_id: UUID) -> CardArchived:
    return CardArchived(card_id=card_id, column_id=TODO)


# -- every command -----------------------------------------------------------------------------

OWNER_COMMANDS = {
    "RenameBoard": RenameBoard(title="Roadmap"),
    "ArchiveBoard": ArchiveBoard(),
    "RestoreBoard": RestoreBoard(),
    "AddMember": AddMember(user_id="dave", role=Role.EDITOR),
    "ChangeMemberRole": ChangeMemberRole(user_id="bob", role=Role.VIEWER),
    "RemoveMember": RemoveMember(user_id="carol"),
}
EDITOR_COMMANDS = {
    "AddColumn": AddColumn(title="Review"),
    "RenameColumn": RenameColumn(column_id=TODO, title="Backlog"),
    "MoveColumn": MoveColumn(column_id=TODO, after_column_id=DONE),
    "ArchiveColumn": ArchiveColumn(column_id=DONE),
    "RestoreColumn": RestoreColumn(column_id=DONE),
    "AddCard": AddCard(column_id=TODO, title="E"),
    "EditCard": EditCard(card_id=A, title="A, again"),
    "MoveCard": MoveCard(card_id=A, column_id=DONE),
    "ArchiveCard": ArchiveCard(card_id=A),
    "RestoreCard": RestoreCard(card_id=A),
}
BOARD_COMMANDS = {**OWNER_COMMANDS, **EDITOR_COMMANDS}
# What each command changes must be there to change: on BOARD nothing is archived yet.
ARCHIVED_FIRST = {
    RestoreBoard: (BoardArchived(),),
    RestoreColumn: (ColumnArchived(column_id=DONE),),
    RestoreCard: (archived(A),),
}


def board_for(command: Command) -> tuple[Event, ...]:
    return (*BOARD, *ARCHIVED_FIRST.get(type(command), ()))


def by_name(commands: dict[str, object]) -> pytest.MarkDecorator:
    return pytest.mark.parametrize("command", list(commands.values()), ids=list(commands))


class TestEveryCommand:
    @by_name(BOARD_COMMANDS)
    def test_rejects_a_board_that_does_not_exist(self, given, command):
        given().when(command, actor="alice").then_rejects(BoardNotFoundError)

    @by_name(BOARD_COMMANDS)
    def test_hides_the_board_from_a_non_member(self, given, command):
        given(*board_for(command)).when(command, actor="mallory").then_rejects(BoardNotFoundError)

    @by_name(BOARD_COMMANDS)
    def test_forbids_a_viewer(self, given, command):
        given(*board_for(command)).when(command, actor="carol").then_rejects(PermissionDeniedError)

    @by_name(OWNER_COMMANDS)
    def test_forbids_an_editor_to_change_the_board_or_its_members(self, given, command):
        given(*board_for(command)).when(command, actor="bob").then_rejects(PermissionDeniedError)

    @by_name(EDITOR_COMMANDS)
    def test_lets_an_editor_change_columns_and_cards(self, given, command):
        given(*board_for(command)).when(command, actor="bob").then_accepted()

    @by_name(BOARD_COMMANDS)
    def test_lets_an_owner_do_anything(self, given, command):
        given(*board_for(command)).when(command, actor="alice").then_accepted()

    @by_name({k: v for k, v in BOARD_COMMANDS.items() if k not in ("RestoreBoard", "ArchiveBoard")})
    def test_rejects_anything_but_restore_on_an_archived_board(self, given, command):
        outcome = given(*BOARD, BoardArchived()).when(command, actor="alice")
        outcome.then_rejects(RuleViolationError, "board_archived")

    @by_name(BOARD_COMMANDS)
    def test_checks_membership_before_the_archived_state(self, given, command):
        outcome = given(*BOARD, BoardArchived()).when(command, actor="mallory")
        outcome.then_rejects(BoardNotFoundError)

    def test_hides_the_board_from_a_member_who_was_removed(self, given):
        given(*BOARD, MemberRemoved(user_id="bob", previous_role=Role.EDITOR)).when(
            AddCard(column_id=TODO, title="E"), actor="bob"
        ).then_rejects(BoardNotFoundError)


def _refusal(board: Board, command: Command, actor: str) -> tuple[object, ...]:
    with pytest.raises(DomainError) as raised:
        check_access(board, command, actor)
    error = raised.value
    return type(error), error.code, error.message, error.details


class TestCheckAccess:
    """The first refusal, which the service judges before a command's expected version: what a
    stranger is told of a board is what a missing board tells (issue 12, hole 9)."""

    @by_name(BOARD_COMMANDS)
    def test_tells_a_stranger_what_a_missing_board_tells(self, given, command):
        board = given(*board_for(command)).board
        missing = Board(board_id=board.board_id)
        assert _refusal(board, command, "mallory") == _refusal(missing, command, "mallory")
        assert _refusal(board, command, "mallory")[0] is BoardNotFoundError

    @pytest.mark.parametrize("actor", ["alice", "bob", "mallory"])
    def test_tells_anyone_creating_a_taken_id_the_same(self, given, actor):
        board = given(*BOARD, BoardArchived()).board
        told = _refusal(board, CreateBoard(title="Again"), actor)
        assert told == (
            BoardExistsError,
            "board_exists",
            "a board with this id exists",
            {"board_id": str(board.board_id)},
        )

    @by_name(BOARD_COMMANDS)
    def test_lets_a_member_with_the_role_through(self, given, command):
        check_access(given(*board_for(command)).board, command, "alice")


# -- the board ---------------------------------------------------------------------------------


class TestCreateBoard:
    def test_makes_the_creator_its_owner(self, given):
        outcome = given().when(CreateBoard(title="Plans"), actor="alice")
        outcome.then(BoardCreated(title="Plans", owner_id="alice"))
        board = outcome.after.board
        assert (board.version, board.title, board.members) == (1, "Plans", {"alice": Role.OWNER})

    def test_records_the_name_and_email_the_creator_signed_in_with(self, given):
        profile = MemberProfile(name="Alice", email="alice@example.com")
        outcome = given().when(CreateBoard(title="Plans"), actor="alice", profile=profile)
        outcome.then(BoardCreated(title="Plans", owner_id="alice", owner=profile))

    def test_rejects_a_board_id_that_is_taken(self, given):
        given(CREATED).when(CreateBoard(title="Again"), actor="alice").then_rejects(
            BoardExistsError
        )

    def test_rejects_a_board_id_that_is_taken_whoever_asks(self, given):
        given(CREATED).when(CreateBoard(title="Again"), actor="mallory").then_rejects(
            BoardExistsError
        )

    def test_rejects_a_board_id_that_is_taken_even_when_archived(self, given):
        given(CREATED, BoardArchived()).when(CreateBoard(title="Again")).then_rejects(
            BoardExistsError
        )


class TestRenameBoard:
    def test_renames_the_board_remembering_the_old_title(self, given):
        given(*BOARD).when(RenameBoard(title="Roadmap")).then(
            BoardRenamed(title="Roadmap", previous_title="Plans")
        )

    def test_does_nothing_when_renamed_to_its_own_title(self, given):
        given(*BOARD).when(RenameBoard(title="Plans")).then_nothing()


class TestArchiveBoard:
    def test_archives_the_board(self, given):
        outcome = given(*BOARD).when(ArchiveBoard())
        outcome.then(BoardArchived())
        assert outcome.after.board.archived

    def test_does_nothing_to_an_archived_board(self, given):
        given(*BOARD, BoardArchived()).when(ArchiveBoard()).then_nothing()


class TestRestoreBoard:
    def test_restores_an_archived_board(self, given):
        outcome = given(*BOARD, BoardArchived()).when(RestoreBoard())
        outcome.then(BoardRestored())
        assert not outcome.after.board.archived

    def test_does_nothing_to_an_active_board(self, given):
        given(*BOARD).when(RestoreBoard()).then_nothing()

    def test_forbids_an_editor_to_restore_an_archived_board(self, given):
        given(*BOARD, BoardArchived()).when(RestoreBoard(), actor="bob").then_rejects(
            PermissionDeniedError
        )

    def test_opens_the_board_to_changes_again(self, given):
        given(*BOARD, BoardArchived(), BoardRestored()).when(
            AddCard(column_id=DONE, title="E", card_id=E), actor="bob"
        ).then(CardAdded(card_id=E, column_id=DONE, position="a0", title="E"))


# -- columns -----------------------------------------------------------------------------------


class TestAddColumn:
    def test_adds_the_first_column(self, given):
        given(CREATED).when(AddColumn(title="To do", column_id=TODO)).then(
            ColumnAdded(column_id=TODO, title="To do", position="a0")
        )

    def test_adds_a_column_at_the_end_by_default(self, given):
        new = uid("review")
        outcome = given(*BOARD).when(AddColumn(title="Review", column_id=new))
        outcome.then(ColumnAdded(column_id=new, title="Review", position=key_between("a2", None)))
        assert column_ids(outcome.after.board) == [TODO, DOING, DONE, new]

    def test_adds_a_column_after_another(self, given):
        new = uid("review")
        outcome = given(*BOARD).when(AddColumn(title="Review", column_id=new, after_column_id=TODO))
        outcome.then(ColumnAdded(column_id=new, title="Review", position=key_between("a0", "a1")))
        assert column_ids(outcome.after.board) == [TODO, new, DOING, DONE]

    def test_adds_a_column_before_another(self, given):
        new = uid("review")
        outcome = given(*BOARD).when(
            AddColumn(title="Review", column_id=new, before_column_id=TODO)
        )
        outcome.then(ColumnAdded(column_id=new, title="Review", position=key_between(None, "a0")))
        assert column_ids(outcome.after.board) == [new, TODO, DOING, DONE]

    def test_adds_at_the_end_when_the_anchor_column_was_archived(self, given):
        new = uid("review")
        given(*BOARD, ColumnArchived(column_id=DONE)).when(
            AddColumn(title="Review", column_id=new, after_column_id=DONE)
        ).then(ColumnAdded(column_id=new, title="Review", position=key_between("a1", None)))

    def test_rejects_an_anchor_column_that_does_not_exist(self, given):
        given(*BOARD).when(AddColumn(title="Review", after_column_id=NOWHERE)).then_rejects(
            RuleViolationError, "column_not_found"
        )

    def test_rejects_a_before_anchor_that_does_not_exist(self, given):
        given(*BOARD).when(AddColumn(title="Review", before_column_id=NOWHERE)).then_rejects(
            RuleViolationError, "column_not_found"
        )

    def test_rejects_a_column_id_that_is_taken(self, given):
        given(*BOARD).when(AddColumn(title="Again", column_id=TODO)).then_rejects(
            RuleViolationError, "column_exists"
        )

    def test_rejects_the_id_of_an_archived_column(self, given):
        given(*BOARD, ColumnArchived(column_id=DONE)).when(
            AddColumn(title="Again", column_id=DONE)
        ).then_rejects(RuleViolationError, "column_exists")

    def test_derives_the_column_id_from_the_command_id(self, given):
        command_id = uid("command")
        event = given(*BOARD).when(AddColumn(title="Review"), command_id=command_id).event
        assert isinstance(event, ColumnAdded)
        assert event.column_id == derive_id(command_id, "column")

    def test_rejects_a_column_beyond_the_limit(self, given):
        columns = [
            ColumnAdded(column_id=uid(f"column {i}"), title=f"Column {i}", position=key)
            for i, key in enumerate(successive_keys(MAX_COLUMNS))
        ]
        given(CREATED, *columns).when(AddColumn(title="One too many")).then_rejects(
            RuleViolationError, "limit_exceeded"
        )

    def test_counts_only_active_columns_against_the_limit(self, given):
        columns = [
            ColumnAdded(column_id=uid(f"column {i}"), title=f"Column {i}", position=key)
            for i, key in enumerate(successive_keys(MAX_COLUMNS))
        ]
        outcome = given(CREATED, *columns, ColumnArchived(column_id=columns[0].column_id)).when(
            AddColumn(title="Fits again")
        )
        assert outcome.after.board.active_columns() == MAX_COLUMNS


class TestRenameColumn:
    def test_renames_the_column_remembering_the_old_title(self, given):
        given(*BOARD).when(RenameColumn(column_id=TODO, title="Backlog")).then(
            ColumnRenamed(column_id=TODO, title="Backlog", previous_title="To do")
        )

    def test_does_nothing_when_renamed_to_its_own_title(self, given):
        given(*BOARD).when(RenameColumn(column_id=TODO, title="To do")).then_nothing()

    def test_rejects_a_column_that_does_not_exist(self, given):
        given(*BOARD).when(RenameColumn(column_id=NOWHERE, title="X")).then_rejects(
            RuleViolationError, "column_not_found"
        )

    def test_rejects_an_archived_column(self, given):
        given(*BOARD, ColumnArchived(column_id=DONE)).when(
            RenameColumn(column_id=DONE, title="Finished")
        ).then_rejects(RuleViolationError, "column_archived")


class TestMoveColumn:
    def test_moves_a_column_after_another(self, given):
        outcome = given(*BOARD).when(MoveColumn(column_id=TODO, after_column_id=DOING))
        outcome.then(
            ColumnMoved(column_id=TODO, position=key_between("a1", "a2"), previous_position="a0")
        )
        assert column_ids(outcome.after.board) == [DOING, TODO, DONE]

    def test_moves_a_column_before_another(self, given):
        outcome = given(*BOARD).when(MoveColumn(column_id=DONE, before_column_id=TODO))
        outcome.then(
            ColumnMoved(column_id=DONE, position=key_between(None, "a0"), previous_position="a2")
        )
        assert column_ids(outcome.after.board) == [DONE, TODO, DOING]

    def test_moves_a_column_to_the_end_without_an_anchor(self, given):
        outcome = given(*BOARD).when(MoveColumn(column_id=TODO))
        outcome.then(
            ColumnMoved(column_id=TODO, position=key_between("a2", None), previous_position="a0")
        )
        assert column_ids(outcome.after.board) == [DOING, DONE, TODO]

    def test_does_nothing_when_already_after_the_anchor(self, given):
        given(*BOARD).when(MoveColumn(column_id=DOING, after_column_id=TODO)).then_nothing()

    def test_does_nothing_when_already_before_the_anchor(self, given):
        given(*BOARD).when(MoveColumn(column_id=TODO, before_column_id=DOING)).then_nothing()

    def test_does_nothing_when_already_at_the_end(self, given):
        given(*BOARD).when(MoveColumn(column_id=DONE)).then_nothing()

    def test_moves_to_the_end_when_the_anchor_column_was_archived(self, given):
        given(*BOARD, ColumnArchived(column_id=DONE)).when(
            MoveColumn(column_id=TODO, before_column_id=DONE)
        ).then(
            ColumnMoved(column_id=TODO, position=key_between("a1", None), previous_position="a0")
        )

    def test_rejects_an_anchor_column_that_does_not_exist(self, given):
        given(*BOARD).when(MoveColumn(column_id=TODO, after_column_id=NOWHERE)).then_rejects(
            RuleViolationError, "column_not_found"
        )

    def test_rejects_a_column_that_does_not_exist(self, given):
        given(*BOARD).when(MoveColumn(column_id=NOWHERE)).then_rejects(
            RuleViolationError, "column_not_found"
        )

    def test_rejects_an_archived_column(self, given):
        given(*BOARD, ColumnArchived(column_id=DONE)).when(
            MoveColumn(column_id=DONE, before_column_id=TODO)
        ).then_rejects(RuleViolationError, "column_archived")

    def test_keeps_order_keys_within_their_bound_however_often_one_gap_is_split(self, given):
        # Always the last column to just after the first: each lands in a gap half the last one.
        scenario = given(*BOARD)
        for _ in range(SPLITS):
            order = column_ids(scenario.board)
            outcome = scenario.when(MoveColumn(column_id=order[-1], after_column_id=order[0]))
            if outcome.error is not None:
                return  # a refusal (a DomainError) is an answer; a crash is not
            scenario = outcome.after
            longest = max(len(key) for key, _ in scenario.board.column_order)
            assert longest <= ORDER_KEY_BOUND


class TestArchiveColumn:
    def test_archives_the_column_and_takes_it_off_the_board(self, given):
        outcome = given(*BOARD).when(ArchiveColumn(column_id=DOING))
        outcome.then(ColumnArchived(column_id=DOING))
        board = outcome.after.board
        assert board.columns[DOING].archived
        assert column_ids(board) == [TODO, DONE]

    def test_does_nothing_to_an_archived_column(self, given):
        given(*BOARD, ColumnArchived(column_id=DONE)).when(
            ArchiveColumn(column_id=DONE)
        ).then_nothing()

    def test_rejects_a_column_that_does_not_exist(self, given):
        given(*BOARD).when(ArchiveColumn(column_id=NOWHERE)).then_rejects(
            RuleViolationError, "column_not_found"
        )


class TestRestoreColumn:
    def test_restores_the_column_where_it_was_with_its_cards(self, given):
        outcome = given(*BOARD, ColumnArchived(column_id=DOING)).when(
            RestoreColumn(column_id=DOING), actor="bob"
        )
        outcome.then(ColumnRestored(column_id=DOING, position="a1"))
        board = outcome.after.board
        assert not board.columns[DOING].archived
        assert column_ids(board) == [TODO, DOING, DONE]
        assert (ids(board, DOING), board.open_cards) == ([D], 4)

    def test_does_nothing_to_an_active_column(self, given):
        given(*BOARD).when(RestoreColumn(column_id=DOING)).then_nothing()

    def test_takes_the_next_gap_when_its_old_key_was_taken(self, given):
        new = uid("review")
        took_its_key = ColumnAdded(column_id=new, title="Review", position="a2")
        outcome = given(*BOARD, ColumnArchived(column_id=DONE), took_its_key).when(
            RestoreColumn(column_id=DONE)
        )
        outcome.then(ColumnRestored(column_id=DONE, position=key_between("a2", None)))
        assert column_ids(outcome.after.board) == [TODO, DOING, new, DONE]

    def test_goes_back_where_its_old_key_sorts_among_the_columns_now(self, given):
        to_the_end = ColumnMoved(column_id=TODO, position="a3", previous_position="a0")
        outcome = given(*BOARD, ColumnArchived(column_id=DOING), to_the_end).when(
            RestoreColumn(column_id=DOING)
        )
        outcome.then(ColumnRestored(column_id=DOING, position=key_between(None, "a2")))
        assert column_ids(outcome.after.board) == [DOING, DONE, TODO]

    def test_rewrites_the_column_keys_when_its_gap_has_become_too_narrow(self, given):
        narrow = "a1"
        while len(narrow) <= REBALANCE_AT:
            narrow = key_between("a0", narrow)
        columns = (
            ColumnAdded(column_id=TODO, title="To do", position="a0"),
            ColumnAdded(column_id=DONE, title="Done", position=narrow),
            ColumnAdded(column_id=DOING, title="Doing", position=key_between("a0", narrow)),
        )
        outcome = given(CREATED, *columns, ColumnArchived(column_id=DOING)).when(
            RestoreColumn(column_id=DOING)
        )
        rebalanced, restored = outcome.then_accepted()
        assert isinstance(rebalanced, ColumnsRebalanced)
        assert isinstance(restored, ColumnRestored)
        board = outcome.after.board
        assert column_ids(board) == [TODO, DOING, DONE]
        assert max(len(key) for key, _ in board.column_order) <= REBALANCE_AT

    def test_opens_the_column_to_cards_again(self, given):
        restored = (ColumnArchived(column_id=DONE), ColumnRestored(column_id=DONE, position="a2"))
        given(*BOARD, *restored).when(
            MoveCard(card_id=A, column_id=DONE), actor="bob"
        ).then_accepted()

    def test_rejects_a_column_that_does_not_exist(self, given):
        given(*BOARD).when(RestoreColumn(column_id=NOWHERE)).then_rejects(
            RuleViolationError, "column_not_found"
        )

    def test_rejects_a_column_beyond_the_limit(self, given):
        columns = [
            ColumnAdded(column_id=uid(f"column {i}"), title=f"Column {i}", position=key)
            for i, key in enumerate(successive_keys(MAX_COLUMNS + 1))
        ]
        first = columns[0].column_id
        given(CREATED, columns[0], ColumnArchived(column_id=first), *columns[1:]).when(
            RestoreColumn(column_id=first)
        ).then_rejects(RuleViolationError, "limit_exceeded")


# -- cards -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def full_board(given):
    """Exactly the open-card limit on the board, plus one archived card (the first)."""
    cards = [
        CardAdded(card_id=uid(f"card {i}"), column_id=(TODO, DOING)[i % 2], position=key, title="x")
        for i, key in enumerate(successive_keys(MAX_OPEN_CARDS + 1))
    ]
    first = CardArchived(card_id=cards[0].card_id, column_id=TODO)
    scenario = given(CREATED, *TEAM, *COLUMNS, *cards, first)
    assert scenario.board.open_cards == MAX_OPEN_CARDS
    return scenario


FIRST_OF_FULL_BOARD = uid("card 0")


class TestAddCard:
    def test_adds_a_card_with_everything_it_was_given(self, given):
        given(*BOARD).when(
            AddCard(
                column_id=DONE,
                title="E",
                description="the fifth",
                labels=["bug", "ui"],
                assignees=["bob", "carol"],
                due_date=DUE,
                card_id=E,
            ),
            actor="bob",
        ).then(
            CardAdded(
                card_id=E,
                column_id=DONE,
                position="a0",
                title="E",
                description="the fifth",
                labels=["bug", "ui"],
                assignees=["bob", "carol"],
                due_date=DUE,
            )
        )

    def test_adds_a_card_at_the_end_of_the_column_by_default(self, given):
        outcome = given(*BOARD).when(AddCard(column_id=TODO, title="E", card_id=E))
        outcome.then(
            CardAdded(card_id=E, column_id=TODO, position=key_between("a2", None), title="E")
        )
        board = outcome.after.board
        assert ids(board, TODO) == [A, B, C, E]
        assert board.open_cards == 5

    def test_adds_a_card_after_another(self, given):
        outcome = given(*BOARD).when(AddCard(column_id=TODO, title="E", card_id=E, after_card_id=A))
        outcome.then(
            CardAdded(card_id=E, column_id=TODO, position=key_between("a0", "a1"), title="E")
        )
        assert ids(outcome.after.board, TODO) == [A, E, B, C]

    def test_adds_a_card_before_another(self, given):
        outcome = given(*BOARD).when(
            AddCard(column_id=TODO, title="E", card_id=E, before_card_id=A)
        )
        outcome.then(
            CardAdded(card_id=E, column_id=TODO, position=key_between(None, "a0"), title="E")
        )
        assert ids(outcome.after.board, TODO) == [E, A, B, C]

    def test_adds_at_the_end_when_the_anchor_is_in_another_column(self, given):
        given(*BOARD).when(AddCard(column_id=TODO, title="E", card_id=E, before_card_id=D)).then(
            CardAdded(card_id=E, column_id=TODO, position=key_between("a2", None), title="E")
        )

    def test_adds_at_the_end_when_the_anchor_was_archived(self, given):
        given(*BOARD, archived(C)).when(
            AddCard(column_id=TODO, title="E", card_id=E, after_card_id=A)
        ).then(CardAdded(card_id=E, column_id=TODO, position=key_between("a0", "a1"), title="E"))
        given(*BOARD, archived(A)).when(
            AddCard(column_id=TODO, title="E", card_id=E, after_card_id=A)
        ).then(CardAdded(card_id=E, column_id=TODO, position=key_between("a2", None), title="E"))

    def test_rejects_an_anchor_card_that_does_not_exist(self, given):
        given(*BOARD).when(AddCard(column_id=TODO, title="E", after_card_id=GHOST)).then_rejects(
            RuleViolationError, "card_not_found"
        )
        given(*BOARD).when(AddCard(column_id=TODO, title="E", before_card_id=GHOST)).then_rejects(
            RuleViolationError, "card_not_found"
        )

    def test_rejects_a_column_that_does_not_exist(self, given):
        given(*BOARD).when(AddCard(column_id=NOWHERE, title="E")).then_rejects(
            RuleViolationError, "column_not_found"
        )

    def test_rejects_an_archived_column(self, given):
        given(*BOARD, ColumnArchived(column_id=DONE)).when(
            AddCard(column_id=DONE, title="E")
        ).then_rejects(RuleViolationError, "column_archived")

    def test_rejects_an_assignee_who_is_not_a_member(self, given):
        error = (
            given(*BOARD)
            .when(AddCard(column_id=TODO, title="E", assignees=["bob", "mallory"]))
            .then_rejects(RuleViolationError, "assignee_not_member")
        )
        assert error.details["users"] == ["mallory"]

    def test_rejects_a_card_id_that_is_taken(self, given):
        given(*BOARD).when(AddCard(column_id=TODO, title="E", card_id=A)).then_rejects(
            RuleViolationError, "card_exists"
        )

    def test_rejects_the_id_of_an_archived_card(self, given):
        given(*BOARD, archived(A)).when(AddCard(column_id=TODO, title="E", card_id=A)).then_rejects(
            RuleViolationError, "card_exists"
        )

    def test_rejects_a_card_beyond_the_open_card_limit(self, full_board):
        full_board.when(AddCard(column_id=DONE, title="One too many")).then_rejects(
            RuleViolationError, "limit_exceeded"
        )

    def test_counts_only_open_cards_against_the_limit(self, full_board):
        outcome = full_board.given(CardArchived(card_id=uid("card 1"), column_id=DOING)).when(
            AddCard(column_id=DONE, title="Fits again", card_id=E)
        )
        outcome.then(CardAdded(card_id=E, column_id=DONE, position="a0", title="Fits again"))
        assert outcome.after.board.open_cards == MAX_OPEN_CARDS

    def test_keeps_order_keys_within_their_bound_however_often_one_gap_is_split(self, given):
        # Always just below card A: each new card lands between A and the one added before it.
        scenario = given(*BOARD)
        for i in range(SPLITS):
            command = AddCard(column_id=TODO, title="Below A", after_card_id=A)
            outcome = scenario.when(command, command_id=uid(f"add {i}"))
            if outcome.error is not None:
                return  # a refusal (a DomainError) is an answer; a crash is not
            scenario = outcome.after
            assert max(len(key) for key in keys(scenario.board, TODO)) <= ORDER_KEY_BOUND


class TestDerivedIds:
    def test_derives_the_card_id_from_the_command_id(self, given):
        command_id = uid("command")
        event = given(*BOARD).when(AddCard(column_id=TODO, title="E"), command_id=command_id).event
        assert isinstance(event, CardAdded)
        assert event.card_id == derive_id(command_id, "card")

    def test_decides_the_same_command_the_same_way_twice(self, given):
        scenario, command = given(*BOARD), AddCard(column_id=TODO, title="E")
        first = scenario.when(command, command_id=uid("once")).then_accepted()
        again = scenario.when(command, command_id=uid("once")).then_accepted()
        assert first == again

    def test_gives_different_commands_different_ids(self, given):
        scenario, command = given(*BOARD), AddCard(column_id=TODO, title="E")
        first = scenario.when(command, command_id=uid("one")).event
        second = scenario.when(command, command_id=uid("two")).event
        assert isinstance(first, CardAdded)
        assert isinstance(second, CardAdded)
        assert first.card_id != second.card_id

    def test_refuses_a_replayed_command_once_its_card_exists(self, given):
        command = AddCard(column_id=TODO, title="E")
        applied = given(*BOARD).when(command, command_id=uid("once")).after
        applied.when(command, command_id=uid("once")).then_rejects(
            RuleViolationError, "card_exists"
        )

    def test_derives_card_and_column_ids_that_differ_for_one_command(self):
        command_id = uid("command")
        assert derive_id(command_id, "card") != derive_id(command_id, "column")
        assert derive_id(command_id, "card") == derive_id(command_id, "card")


class TestEditCard:
    def test_records_each_changed_field_before_and_after(self, given):
        given(*BOARD).when(
            EditCard(
                card_id=A,
                title="A+",
                description="more",
                labels=["bug"],
                assignees=["bob"],
                due_date=DUE,
            ),
            actor="bob",
        ).then(
            CardEdited(
                card_id=A,
                changes=[
                    FieldChange(field="title", before="A", after="A+"),
                    FieldChange(field="description", before="", after="more"),
                    FieldChange(field="labels", before=[], after=["bug"]),
                    FieldChange(field="assignees", before=[], after=["bob"]),
                    FieldChange(field="due_date", before=None, after=DUE.isoformat()),
                ],
            )
        )

    def test_leaves_out_fields_given_as_they_already_are(self, given):
        given(*BOARD).when(EditCard(card_id=A, title="A", description="more")).then(
            CardEdited(
                card_id=A, changes=[FieldChange(field="description", before="", after="more")]
            )
        )

    def test_does_nothing_when_every_field_is_as_it_already_is(self, given):
        given(*BOARD).when(EditCard(card_id=A, title="A", labels=[], due_date=None)).then_nothing()

    def test_clears_the_due_date(self, given):
        card = CardAdded(card_id=E, column_id=DONE, position="a0", title="E", due_date=DUE)
        outcome = given(*BOARD, card).when(EditCard(card_id=E, due_date=None))
        outcome.then(
            CardEdited(
                card_id=E,
                changes=[FieldChange(field="due_date", before=DUE.isoformat(), after=None)],
            )
        )
        assert outcome.after.board.cards[E].due_date is None

    def test_leaves_the_card_as_edited(self, given):
        edit = EditCard(
            card_id=A, title="A+", labels=["bug", "ui"], assignees=["bob"], due_date=DUE
        )
        card = given(*BOARD).when(edit).after.board.cards[A]
        assert (card.title, card.labels, card.assignees, card.due_date) == (
            "A+",
            ("bug", "ui"),
            ("bob",),
            DUE,
        )

    def test_rejects_a_card_that_does_not_exist(self, given):
        given(*BOARD).when(EditCard(card_id=GHOST, title="X")).then_rejects(
            RuleViolationError, "card_not_found"
        )

    def test_rejects_an_archived_card(self, given):
        given(*BOARD, archived(A)).when(EditCard(card_id=A, title="X")).then_rejects(
            RuleViolationError, "card_archived"
        )

    def test_rejects_an_assignee_who_is_not_a_member(self, given):
        given(*BOARD).when(EditCard(card_id=A, assignees=["mallory"])).then_rejects(
            RuleViolationError, "assignee_not_member"
        )


def moved(
    card_id: UUID,
    from_to: tuple[UUID, UUID],
    position: str,
    previous: str,
    between: tuple[UUID | None, UUID | None] = (None, None),
) -> CardMoved:
    return CardMoved(
        card_id=card_id,
        from_column_id=from_to[0],
        to_column_id=from_to[1],
        position=position,
        previous_position=previous,
        after_card_id=between[0],
        before_card_id=between[1],
    )


class TestMoveCard:
    def test_moves_a_card_after_another_in_its_column(self, given):
        outcome = given(*BOARD).when(MoveCard(card_id=C, column_id=TODO, after_card_id=A))
        outcome.then(moved(C, (TODO, TODO), key_between("a0", "a1"), "a2", between=(A, B)))
        assert ids(outcome.after.board, TODO) == [A, C, B]

    def test_moves_a_card_before_another_in_its_column(self, given):
        outcome = given(*BOARD).when(MoveCard(card_id=C, column_id=TODO, before_card_id=A))
        outcome.then(moved(C, (TODO, TODO), key_between(None, "a0"), "a2", between=(None, A)))
        assert ids(outcome.after.board, TODO) == [C, A, B]

    def test_moves_a_card_to_the_end_of_its_column_without_an_anchor(self, given):
        outcome = given(*BOARD).when(MoveCard(card_id=A, column_id=TODO))
        outcome.then(moved(A, (TODO, TODO), key_between("a2", None), "a0", between=(C, None)))
        assert ids(outcome.after.board, TODO) == [B, C, A]

    def test_moves_a_card_into_an_empty_column(self, given):
        outcome = given(*BOARD).when(MoveCard(card_id=B, column_id=DONE), actor="bob")
        outcome.then(moved(B, (TODO, DONE), "a0", "a1"))
        board = outcome.after.board
        assert (ids(board, TODO), ids(board, DONE)) == ([A, C], [B])
        assert board.cards[B].column_id == DONE

    def test_moves_a_card_between_columns_next_to_an_anchor(self, given):
        outcome = given(*BOARD).when(MoveCard(card_id=B, column_id=DOING, before_card_id=D))
        outcome.then(moved(B, (TODO, DOING), key_between(None, "a0"), "a1", between=(None, D)))
        assert ids(outcome.after.board, DOING) == [B, D]

    def test_does_nothing_when_already_after_the_anchor(self, given):
        given(*BOARD).when(MoveCard(card_id=B, column_id=TODO, after_card_id=A)).then_nothing()

    def test_does_nothing_when_already_before_the_anchor(self, given):
        given(*BOARD).when(MoveCard(card_id=A, column_id=TODO, before_card_id=B)).then_nothing()

    def test_does_nothing_when_already_at_the_end(self, given):
        given(*BOARD).when(MoveCard(card_id=C, column_id=TODO)).then_nothing()

    def test_moves_to_the_end_when_the_anchor_is_in_another_column(self, given):
        given(*BOARD).when(MoveCard(card_id=A, column_id=TODO, after_card_id=D)).then(
            moved(A, (TODO, TODO), key_between("a2", None), "a0", between=(C, None))
        )

    def test_moves_to_the_end_when_the_anchor_has_moved_away(self, given):
        anchor_left = moved(B, (TODO, DOING), key_between("a0", None), "a1", between=(D, None))
        given(*BOARD, anchor_left).when(MoveCard(card_id=D, column_id=TODO, before_card_id=B)).then(
            moved(D, (DOING, TODO), key_between("a2", None), "a0", between=(C, None))
        )

    def test_moves_to_the_end_when_the_anchor_was_archived(self, given):
        given(*BOARD, archived(B)).when(MoveCard(card_id=A, column_id=TODO, before_card_id=B)).then(
            moved(A, (TODO, TODO), key_between("a2", None), "a0", between=(C, None))
        )

    def test_rejects_an_anchor_card_that_does_not_exist(self, given):
        given(*BOARD).when(MoveCard(card_id=A, column_id=TODO, after_card_id=GHOST)).then_rejects(
            RuleViolationError, "card_not_found"
        )
        given(*BOARD).when(MoveCard(card_id=A, column_id=TODO, before_card_id=GHOST)).then_rejects(
            RuleViolationError, "card_not_found"
        )

    def test_rejects_a_card_that_does_not_exist(self, given):
        given(*BOARD).when(MoveCard(card_id=GHOST, column_id=TODO)).then_rejects(
            RuleViolationError, "card_not_found"
        )

    def test_rejects_an_archived_card(self, given):
        given(*BOARD, archived(A)).when(MoveCard(card_id=A, column_id=DONE)).then_rejects(
            RuleViolationError, "card_archived"
        )

    def test_rejects_move_into_a_column_that_does_not_exist(self, given):
        given(*BOARD).when(MoveCard(card_id=A, column_id=NOWHERE)).then_rejects(
            RuleViolationError, "column_not_found"
        )

    def test_rejects_move_into_archived_column(self, given):
        given(*BOARD, ColumnArchived(column_id=DONE)).when(
            MoveCard(card_id=A, column_id=DONE)
        ).then_rejects(RuleViolationError, "column_archived")

    def test_keeps_keys_strictly_ordered_over_many_moves_into_one_gap(self, given):
        # Always between the first two cards: keys grow longer but stay distinct and in order.
        scenario = given(*BOARD)
        for _ in range(40):
            last = ids(scenario.board, TODO)[-1]
            first = ids(scenario.board, TODO)[0]
            scenario = scenario.when(
                MoveCard(card_id=last, column_id=TODO, after_card_id=first)
            ).after
            lane_keys = keys(scenario.board, TODO)
            assert lane_keys == sorted(set(lane_keys))
        assert sorted(ids(scenario.board, TODO)) == sorted([A, B, C])

    def test_keeps_order_keys_within_their_bound_however_often_one_gap_is_split(self, given):
        # Always the last card to just after the first: each lands in a gap half the last one.
        scenario = given(*BOARD)
        for _ in range(SPLITS):
            lane = ids(scenario.board, TODO)
            outcome = scenario.when(
                MoveCard(card_id=lane[-1], column_id=TODO, after_card_id=lane[0])
            )
            if outcome.error is not None:
                return  # a refusal (a DomainError) is an answer; a crash is not
            scenario = outcome.after
            assert max(len(key) for key in keys(scenario.board, TODO)) <= ORDER_KEY_BOUND


class TestArchiveCard:
    def test_archives_a_card_and_takes_it_off_its_column(self, given):
        outcome = given(*BOARD).when(ArchiveCard(card_id=B), actor="bob")
        outcome.then(CardArchived(card_id=B, column_id=TODO))
        board = outcome.after.board
        assert board.cards[B].archived
        assert (ids(board, TODO), board.open_cards) == ([A, C], 3)

    def test_does_nothing_to_an_archived_card(self, given):
        given(*BOARD, archived(B)).when(ArchiveCard(card_id=B)).then_nothing()

    def test_rejects_a_card_that_does_not_exist(self, given):
        given(*BOARD).when(ArchiveCard(card_id=GHOST)).then_rejects(
            RuleViolationError, "card_not_found"
        )


class TestRestoreCard:
    def test_restores_a_card_where_it_was(self, given):
        outcome = given(*BOARD, archived(B)).when(RestoreCard(card_id=B), actor="bob")
        outcome.then(CardRestored(card_id=B, column_id=TODO, position="a1"))
        board = outcome.after.board
        assert not board.cards[B].archived
        assert (ids(board, TODO), board.open_cards) == ([A, B, C], 4)

    def test_does_nothing_to_an_active_card(self, given):
        given(*BOARD).when(RestoreCard(card_id=B)).then_nothing()

    def test_takes_the_next_gap_when_its_old_key_was_taken(self, given):
        took_its_key = moved(C, (TODO, TODO), "a1", "a2", between=(A, None))
        outcome = given(*BOARD, archived(B), took_its_key).when(RestoreCard(card_id=B))
        outcome.then(CardRestored(card_id=B, column_id=TODO, position=key_between("a1", None)))
        board = outcome.after.board
        assert ids(board, TODO) == [A, C, B]
        assert keys(board, TODO) == sorted(set(keys(board, TODO)))

    def test_takes_the_gap_before_the_next_card_when_its_old_key_was_taken(self, given):
        took_its_key = CardAdded(card_id=E, column_id=TODO, position="a0", title="E")
        outcome = given(*BOARD, archived(A), took_its_key).when(RestoreCard(card_id=A))
        outcome.then(CardRestored(card_id=A, column_id=TODO, position=key_between("a0", "a1")))
        board = outcome.after.board
        assert ids(board, TODO) == [E, A, B, C]
        assert keys(board, TODO) == sorted(set(keys(board, TODO)))

    def test_rejects_a_card_that_does_not_exist(self, given):
        given(*BOARD).when(RestoreCard(card_id=GHOST)).then_rejects(
            RuleViolationError, "card_not_found"
        )

    def test_rejects_a_card_whose_column_was_archived(self, given):
        given(*BOARD, archived(A), ColumnArchived(column_id=TODO)).when(
            RestoreCard(card_id=A)
        ).then_rejects(RuleViolationError, "column_archived")

    def test_rejects_a_card_beyond_the_open_card_limit(self, full_board):
        full_board.when(RestoreCard(card_id=FIRST_OF_FULL_BOARD)).then_rejects(
            RuleViolationError, "limit_exceeded"
        )


# -- members -----------------------------------------------------------------------------------


class TestAddMember:
    def test_adds_a_member_with_a_role(self, given):
        outcome = given(*BOARD).when(
            AddMember(user_id="dave", role=Role.EDITOR, email="dave@example.com", name="Dave")
        )
        outcome.then(
            MemberAdded(user_id="dave", role=Role.EDITOR, email="dave@example.com", name="Dave")
        )
        assert outcome.after.board.members["dave"] is Role.EDITOR

    def test_lets_a_new_member_act_by_their_role(self, given):
        given(*BOARD, MemberAdded(user_id="dave", role=Role.OWNER)).when(
            RenameBoard(title="Dave's"), actor="dave"
        ).then(BoardRenamed(title="Dave's", previous_title="Plans"))

    def test_rejects_someone_who_is_already_a_member(self, given):
        given(*BOARD).when(AddMember(user_id="bob", role=Role.OWNER)).then_rejects(
            RuleViolationError, "member_exists"
        )


class TestChangeMemberRole:
    def test_changes_a_members_role_remembering_the_old_one(self, given):
        outcome = given(*BOARD).when(ChangeMemberRole(user_id="bob", role=Role.VIEWER))
        outcome.then(MemberRoleChanged(user_id="bob", role=Role.VIEWER, previous_role=Role.EDITOR))
        assert outcome.after.board.members["bob"] is Role.VIEWER

    def test_does_nothing_when_the_role_is_the_same(self, given):
        given(*BOARD).when(ChangeMemberRole(user_id="bob", role=Role.EDITOR)).then_nothing()

    def test_does_nothing_when_the_last_owner_stays_owner(self, given):
        given(*BOARD).when(ChangeMemberRole(user_id="alice", role=Role.OWNER)).then_nothing()

    def test_rejects_someone_who_is_not_a_member(self, given):
        given(*BOARD).when(ChangeMemberRole(user_id="mallory", role=Role.EDITOR)).then_rejects(
            RuleViolationError, "member_not_found"
        )

    def test_rejects_demoting_the_last_owner(self, given):
        given(*BOARD).when(ChangeMemberRole(user_id="alice", role=Role.EDITOR)).then_rejects(
            RuleViolationError, "last_owner"
        )

    def test_lets_an_owner_step_down_when_another_owner_remains(self, given):
        given(
            *BOARD, MemberRoleChanged(user_id="bob", role=Role.OWNER, previous_role=Role.EDITOR)
        ).when(ChangeMemberRole(user_id="alice", role=Role.VIEWER), actor="alice").then(
            MemberRoleChanged(user_id="alice", role=Role.VIEWER, previous_role=Role.OWNER)
        )


class TestRemoveMember:
    def test_removes_a_member_remembering_their_role(self, given):
        outcome = given(*BOARD).when(RemoveMember(user_id="carol"))
        outcome.then(MemberRemoved(user_id="carol", previous_role=Role.VIEWER))
        assert "carol" not in outcome.after.board.members

    def test_rejects_someone_who_is_not_a_member(self, given):
        given(*BOARD).when(RemoveMember(user_id="mallory")).then_rejects(
            RuleViolationError, "member_not_found"
        )

    def test_rejects_removing_the_last_owner(self, given):
        given(*BOARD).when(RemoveMember(user_id="alice")).then_rejects(
            RuleViolationError, "last_owner"
        )

    def test_removes_an_owner_when_another_owner_remains(self, given):
        given(*BOARD, MemberAdded(user_id="dave", role=Role.OWNER)).when(
            RemoveMember(user_id="alice"), actor="dave"
        ).then(MemberRemoved(user_id="alice", previous_role=Role.OWNER))
