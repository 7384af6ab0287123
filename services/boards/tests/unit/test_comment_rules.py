"""Comments: who may add, edit and delete one, whom a body mentions, and that a snapshot keeps
what the rules need. Given-when-then in events, and Hypothesis over who does what in which order."""

from __future__ import annotations

from uuid import UUID, uuid5

import orjson
from boards.domain import BoardNotFoundError, PermissionDeniedError, RuleViolationError
from boards.domain.comment_rules import mentions
from boards.domain.snapshot import SNAPSHOT_SCHEMA, from_snapshot, to_snapshot
from contracts.commands import AddComment, DeleteComment, EditComment
from contracts.events import (
    BoardCreated,
    CardAdded,
    CardArchived,
    ColumnAdded,
    CommentAdded,
    CommentDeleted,
    CommentEdited,
    MemberAdded,
)
from contracts.fields import Role
from hypothesis import given as hypothesis_given
from hypothesis import settings
from hypothesis import strategies as st


def uid(name: str) -> UUID:
    return uuid5(UUID(int=0), name)


TODO, CARD, OTHER_CARD, NOTE, GHOST = (
    uid("todo"),
    uid("card"),
    uid("other card"),
    uid("note"),
    uid("ghost"),
)
# alice owns it, bob and dave edit, carol views, mallory is a stranger.
BOARD = (
    BoardCreated(title="Plans", owner_id="alice"),
    MemberAdded(user_id="bob", role=Role.EDITOR),
    MemberAdded(user_id="carol", role=Role.VIEWER),
    MemberAdded(user_id="dave", role=Role.EDITOR),
    ColumnAdded(column_id=TODO, title="To do", position="a0"),
    CardAdded(card_id=CARD, column_id=TODO, position="a0", title="Card"),
    CardAdded(card_id=OTHER_CARD, column_id=TODO, position="a1", title="Other"),
)
BOBS_NOTE = CommentAdded(card_id=CARD, comment_id=NOTE, author_id="bob", body="first")


class TestAddComment:
    def test_adds_a_comment_by_its_author(self, given):
        given(*BOARD).when(
            AddComment(card_id=CARD, comment_id=NOTE, body="Looks **good**"), actor="bob"
        ).then(CommentAdded(card_id=CARD, comment_id=NOTE, author_id="bob", body="Looks **good**"))

    def test_derives_the_comment_id_from_the_command_id(self, given):
        command_id = uid("command")
        event = (
            given(*BOARD)
            .when(AddComment(card_id=CARD, body="hi"), actor="bob", command_id=command_id)
            .event
        )
        assert isinstance(event, CommentAdded)
        assert event.comment_id == uuid5(command_id, "comment")

    def test_forbids_a_viewer(self, given):
        given(*BOARD).when(AddComment(card_id=CARD, body="hi"), actor="carol").then_rejects(
            PermissionDeniedError
        )

    def test_hides_the_board_from_a_stranger(self, given):
        given(*BOARD).when(AddComment(card_id=CARD, body="hi"), actor="mallory").then_rejects(
            BoardNotFoundError
        )

    def test_rejects_a_card_that_does_not_exist(self, given):
        given(*BOARD).when(AddComment(card_id=GHOST, body="hi")).then_rejects(
            RuleViolationError, "card_not_found"
        )

    def test_rejects_an_archived_card(self, given):
        given(*BOARD, CardArchived(card_id=CARD, column_id=TODO)).when(
            AddComment(card_id=CARD, body="hi")
        ).then_rejects(RuleViolationError, "card_archived")

    def test_rejects_a_comment_id_that_is_taken_even_when_deleted(self, given):
        deleted = CommentDeleted(card_id=CARD, comment_id=NOTE)
        given(*BOARD, BOBS_NOTE, deleted).when(
            AddComment(card_id=CARD, comment_id=NOTE, body="again"), actor="bob"
        ).then_rejects(RuleViolationError, "comment_exists")

    def test_carries_the_members_it_mentions_once_each_in_order(self, given):
        body = "<@dave> and <@mallory> and <@alice>, <@dave> again"
        event = given(*BOARD).when(AddComment(card_id=CARD, body=body), actor="bob").event
        assert isinstance(event, CommentAdded)
        assert event.mentions == ["dave", "alice"]


class TestEditComment:
    def test_lets_the_author_edit(self, given):
        given(*BOARD, BOBS_NOTE).when(
            EditComment(card_id=CARD, comment_id=NOTE, body="second, <@carol>"), actor="bob"
        ).then(
            CommentEdited(
                card_id=CARD, comment_id=NOTE, body="second, <@carol>", mentions=["carol"]
            )
        )

    def test_refuses_anyone_else_even_an_owner(self, given):
        for actor in ("alice", "dave"):
            given(*BOARD, BOBS_NOTE).when(
                EditComment(card_id=CARD, comment_id=NOTE, body="mine now"), actor=actor
            ).then_rejects(RuleViolationError, "not_comment_author")

    def test_refuses_an_unknown_comment(self, given):
        given(*BOARD).when(
            EditComment(card_id=CARD, comment_id=GHOST, body="x"), actor="bob"
        ).then_rejects(RuleViolationError, "comment_not_found")

    def test_refuses_a_deleted_comment(self, given):
        given(*BOARD, BOBS_NOTE, CommentDeleted(card_id=CARD, comment_id=NOTE)).when(
            EditComment(card_id=CARD, comment_id=NOTE, body="x"), actor="bob"
        ).then_rejects(RuleViolationError, "comment_not_found")

    def test_refuses_a_comment_named_under_another_card(self, given):
        given(*BOARD, BOBS_NOTE).when(
            EditComment(card_id=OTHER_CARD, comment_id=NOTE, body="x"), actor="bob"
        ).then_rejects(RuleViolationError, "comment_not_found")


class TestDeleteComment:
    def test_lets_the_author_delete(self, given):
        given(*BOARD, BOBS_NOTE).when(
            DeleteComment(card_id=CARD, comment_id=NOTE), actor="bob"
        ).then(CommentDeleted(card_id=CARD, comment_id=NOTE))

    def test_lets_an_owner_delete_anyones(self, given):
        given(*BOARD, BOBS_NOTE).when(
            DeleteComment(card_id=CARD, comment_id=NOTE), actor="alice"
        ).then(CommentDeleted(card_id=CARD, comment_id=NOTE))

    def test_refuses_another_editor(self, given):
        given(*BOARD, BOBS_NOTE).when(
            DeleteComment(card_id=CARD, comment_id=NOTE), actor="dave"
        ).then_rejects(RuleViolationError, "not_comment_author")

    def test_refuses_a_viewer(self, given):
        given(*BOARD, BOBS_NOTE).when(
            DeleteComment(card_id=CARD, comment_id=NOTE), actor="carol"
        ).then_rejects(PermissionDeniedError)

    def test_refuses_deleting_twice(self, given):
        given(*BOARD, BOBS_NOTE, CommentDeleted(card_id=CARD, comment_id=NOTE)).when(
            DeleteComment(card_id=CARD, comment_id=NOTE), actor="bob"
        ).then_rejects(RuleViolationError, "comment_not_found")


class TestMentions:
    def test_ignore_tokens_that_are_not_well_formed(self, given):
        board = given(*BOARD).board
        assert mentions(board, "<@ bob> <@bob <@> @bob <@<@bob>>") == ["bob"]


USERS = ("alice", "bob", "carol", "dave")
ACTIONS = st.lists(
    st.tuples(
        st.sampled_from(("add", "edit", "delete")), st.sampled_from(USERS), st.integers(0, 2)
    ),
    max_size=25,
)


class TestOwnership:
    """Whatever members try in whatever order, the rules hold against a simple model of them."""

    @settings(max_examples=150, deadline=None)
    @hypothesis_given(actions=ACTIONS)
    def test_only_authors_edit_and_only_authors_or_owners_delete(self, given, actions):
        scenario = given(*BOARD)
        authors: dict[UUID, str] = {}
        deleted: set[UUID] = set()
        for step, (verb, actor, slot) in enumerate(actions):
            comment_id = uid(f"comment {slot}")
            command = {
                "add": AddComment(card_id=CARD, comment_id=comment_id, body=f"step {step}"),
                "edit": EditComment(card_id=CARD, comment_id=comment_id, body=f"edit {step}"),
                "delete": DeleteComment(card_id=CARD, comment_id=comment_id),
            }[verb]
            outcome = scenario.when(command, actor=actor, command_id=uid(f"command {step}"))
            if actor == "carol":
                outcome.then_rejects(PermissionDeniedError)
                continue
            exists = comment_id in authors and comment_id not in deleted
            if verb == "add":
                allowed, code = comment_id not in authors, "comment_exists"
            elif not exists:
                allowed, code = False, "comment_not_found"
            elif verb == "edit":
                allowed, code = authors[comment_id] == actor, "not_comment_author"
            else:
                allowed = authors[comment_id] == actor or actor == "alice"
                code = "not_comment_author"
            if not allowed:
                outcome.then_rejects(RuleViolationError, code)
                continue
            outcome.then_accepted()
            scenario = outcome.after
            if verb == "add":
                authors[comment_id] = actor
            elif verb == "delete":
                deleted.add(comment_id)
        for comment_id, author in authors.items():
            kept = scenario.board.comments[comment_id]
            assert (kept.author_id, kept.deleted) == (author, comment_id in deleted)


class TestSnapshot:
    def test_keeps_each_comments_author_card_and_state(self, given):
        board = given(
            *BOARD, BOBS_NOTE, CommentEdited(card_id=CARD, comment_id=NOTE, body="b")
        ).board

        restored = from_snapshot(orjson.loads(orjson.dumps(to_snapshot(board))))

        assert restored == board
        assert SNAPSHOT_SCHEMA == 2

    def test_reads_a_schema_1_snapshot_as_a_board_without_comments(self, given):
        board = given(*BOARD).board
        old = to_snapshot(board)
        old["schema"] = 1
        del old["comments"]

        assert from_snapshot(old) == board
