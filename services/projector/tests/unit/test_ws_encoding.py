"""What the hub sends, worked out without I/O: events as raw JSON encoded once per run, membership
read from the few events that change it, presence merged across processes, folded snapshots."""

from __future__ import annotations

import json
import uuid

from cardstream_testing.feeds import envelopes
from contracts.envelope import event_adapter
from contracts.events import (
    BoardCreated,
    BoardRenamed,
    Event,
    MemberAdded,
    MemberRemoved,
    MemberRoleChanged,
)
from contracts.fields import Role
from contracts.read_models import BoardDetail
from contracts.wire import EventsMessage, server_message_adapter
from projector.read.ws.batches import (
    MAX_EVENTS_PER_MESSAGE,
    MAX_MESSAGE_BYTES,
    BoardBatch,
    Run,
    contiguous,
    encode_events,
    fold_members,
    removals,
    runs_of,
)
from projector.read.ws.messages import (
    encode_error,
    encode_presence,
    encode_snapshot,
    snapshot_of_encoded,
    viewer_name,
)
from projector.read.ws.presence import merge_viewers
from projector.read.ws.snapshots import fold_detail

BOARD = uuid.uuid5(uuid.NAMESPACE_URL, "ws-batches")


def _items(payloads: list[Event], start: int = 1) -> list[tuple[int, bytes]]:
    return [
        (e.version, event_adapter.dump_json(e)) for e in envelopes(BOARD, payloads, start=start)
    ]


def _renames(count: int) -> list[Event]:
    return [BoardRenamed(title=f"t{i + 1}", previous_title=f"t{i}") for i in range(count)]


class TestEventsMessage:
    def test_joined_raw_events_are_a_valid_events_message(self) -> None:
        items = _items([BoardCreated(title="B", owner_id="alice"), *_renames(2)])
        message = server_message_adapter.validate_json(
            encode_events(str(BOARD), [raw for _, raw in items])
        )
        assert isinstance(message, EventsMessage)
        assert message.board_id == BOARD
        assert [e.version for e in message.events] == [1, 2, 3]

    def test_an_empty_events_message_is_valid_too(self) -> None:
        message = server_message_adapter.validate_json(encode_events(str(BOARD), []))
        assert isinstance(message, EventsMessage)
        assert message.events == []

    def test_a_run_encodes_its_message_once(self) -> None:
        run = Run(str(BOARD), _items(_renames(3)))
        assert run.message is run.message
        assert (run.first, run.last) == (1, 3)
        assert [v for v, _ in run.after(1).items] == [2, 3]


class TestRuns:
    def test_split_at_every_gap(self) -> None:
        items = _items(_renames(6))
        runs = runs_of(str(BOARD), [items[0], items[1], items[3], items[5]])
        assert [(r.first, r.last) for r in runs] == [(1, 2), (4, 4), (6, 6)]

    def test_split_where_a_message_would_hold_too_many_events(self) -> None:
        items = [(v, b"{}") for v in range(1, MAX_EVENTS_PER_MESSAGE + 2)]
        runs = runs_of(str(BOARD), items)
        assert [len(r.items) for r in runs] == [MAX_EVENTS_PER_MESSAGE, 1]

    def test_split_where_a_message_would_grow_too_large(self) -> None:
        big = b"x" * (MAX_MESSAGE_BYTES // 3)
        runs = runs_of(str(BOARD), [(v, big) for v in range(1, 5)])
        assert [len(r.items) for r in runs] == [2, 2]
        assert all(len(r.message) <= MAX_MESSAGE_BYTES + 100 for r in runs)

    def test_contiguous_means_consecutive_from_the_start(self) -> None:
        assert contiguous([(3, b""), (4, b"")], 3)
        assert contiguous([], 3)
        assert not contiguous([(3, b""), (5, b"")], 3)
        assert not contiguous([(4, b"")], 3)


class TestMembership:
    def test_fold_follows_creation_additions_and_removals(self) -> None:
        items = _items(
            [
                BoardCreated(title="B", owner_id="alice"),
                MemberAdded(user_id="bob", role=Role.VIEWER),
                MemberAdded(user_id="carol", role=Role.EDITOR),
                MemberRoleChanged(user_id="bob", role=Role.EDITOR, previous_role=Role.VIEWER),
                MemberRemoved(user_id="carol", previous_role=Role.EDITOR),
                BoardRenamed(title="MemberRemoved", previous_title="B"),
            ]
        )
        assert fold_members([], items) == {"alice", "bob"}
        assert fold_members(["dave"], items[4:]) == {"dave"}

    def test_removals_name_each_removed_user_once_with_the_first_version(self) -> None:
        items = _items(
            [
                BoardCreated(title="B", owner_id="alice"),
                MemberAdded(user_id="bob", role=Role.VIEWER),
                MemberRemoved(user_id="bob", previous_role=Role.VIEWER),
                MemberAdded(user_id="bob", role=Role.VIEWER),
                MemberRemoved(user_id="bob", previous_role=Role.VIEWER),
            ]
        )
        assert removals(items) == {"bob": 3}

    def test_a_title_that_reads_member_removed_is_not_a_removal(self) -> None:
        items = _items([BoardRenamed(title='"type":"MemberRemoved"', previous_title="B")])
        assert removals(items) == {}

    def test_unreadable_json_is_ignored(self) -> None:
        assert removals([(1, b"{MemberRemoved")]) == {}
        assert fold_members(["a"], [(1, b"[MemberAdded]")]) == {"a"}

    def test_a_batch_works_out_runs_and_removals_once(self) -> None:
        items = _items(
            [
                BoardCreated(title="B", owner_id="alice"),
                MemberAdded(user_id="bob", role=Role.VIEWER),
                MemberRemoved(user_id="bob", previous_role=Role.VIEWER),
            ]
        )
        batch = BoardBatch(str(BOARD), [items[0], items[2]])
        assert [(r.first, r.last) for r in batch.runs] == [(1, 1), (3, 3)]
        assert batch.removed == {"bob": 3}
        assert batch.items_from(1) == [items[2]]


class TestPresence:
    def test_viewers_are_distinct_users_of_fresh_entries(self) -> None:
        fields = {
            b"p1": json.dumps({"at": 1000, "viewers": [["bob", "Bob"], ["alice", None]]}).encode(),
            b"p2": json.dumps({"at": 990, "viewers": [["alice", "Alice"]]}).encode(),
            b"dead": json.dumps({"at": 100, "viewers": [["mallory", "M"]]}).encode(),
            b"junk": b"not json",
        }
        viewers, stale = merge_viewers(fields, now_ms=1000, ttl_ms=500)
        assert viewers == (("alice", "Alice"), ("bob", "Bob"))
        assert sorted(stale) == [b"dead", b"junk"]

    def test_presence_message_lists_the_viewers(self) -> None:
        message = json.loads(encode_presence(str(BOARD), [("alice", "Alice"), ("bob", None)]))
        assert message == {
            "type": "presence",
            "board_id": str(BOARD),
            "viewers": [{"user_id": "alice", "name": "Alice"}, {"user_id": "bob", "name": None}],
        }

    def test_an_overlong_name_is_cut_to_what_a_viewer_holds(self) -> None:
        name = viewer_name("x" * 500)
        assert name is not None
        assert len(name) == 200


class TestMessages:
    def test_an_error_names_its_board(self) -> None:
        assert json.loads(encode_error("not_found", "no", str(BOARD))) == {
            "type": "error",
            "code": "not_found",
            "message": "no",
            "board_id": str(BOARD),
        }


class TestFoldDetail:
    def test_a_board_folded_from_its_log_is_a_valid_snapshot(self) -> None:
        items = _items(
            [
                BoardCreated(title="B", owner_id="alice"),
                MemberAdded(user_id="bob", role=Role.VIEWER),
            ]
        )
        detail = fold_detail(str(BOARD), items)
        assert isinstance(detail, BoardDetail)
        assert detail.board.version == 2
        assert [m.user_id for m in detail.board.members] == ["alice", "bob"]
        snapshot = json.loads(encode_snapshot(detail))
        assert snapshot["type"] == "snapshot"
        assert snapshot["version"] == 2

    def test_a_snapshot_of_a_detail_encoded_before_is_the_same_bytes(self) -> None:
        items = _items([BoardCreated(title='B \u2603 "q"', owner_id="alice"), *_renames(3)])
        detail = fold_detail(str(BOARD), items)
        assert detail is not None
        encoded = detail.model_dump_json().encode()
        assert snapshot_of_encoded(encoded, 4) == encode_snapshot(detail)

    def test_no_board_without_its_creation(self) -> None:
        assert fold_detail(str(BOARD), []) is None
        assert fold_detail(str(BOARD), _items(_renames(1))) is None
