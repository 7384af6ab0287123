"""The read side's projection and the command side's fold agree on every board, for any history.

Both fold the same events; they are written separately (the services share only contracts), so
this test is what keeps them describing the same board.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from boards.domain import Board, Context, DomainError, decide, fold
from contracts.commands import (
    AddCard,
    AddColumn,
    AddMember,
    ArchiveCard,
    ArchiveColumn,
    ChangeMemberRole,
    Command,
    EditCard,
    MoveCard,
    MoveColumn,
    RemoveMember,
    RenameBoard,
    RenameColumn,
    RestoreCard,
    RestoreColumn,
)
from contracts.envelope import AnyEvent, event_envelope
from contracts.events import BoardCreated
from contracts.fields import Role
from hypothesis import given, settings
from hypothesis import strategies as st
from projector.projection import BoardProjection, apply_event

BOARD = uuid.uuid5(uuid.NAMESPACE_URL, "projection-contract")
COLUMNS = [uuid.uuid5(BOARD, f"column {i}") for i in range(4)]
CARDS = [uuid.uuid5(BOARD, f"card {i}") for i in range(8)]
USERS = ["bob", "carol"]
T0 = datetime(2026, 1, 1, tzinfo=UTC)

ids = st.sampled_from(CARDS)
columns = st.sampled_from(COLUMNS)
maybe_card = st.none() | ids
commands = st.one_of(
    st.builds(AddColumn, title=st.sampled_from(["a", "b"]), column_id=columns),
    st.builds(RenameColumn, column_id=columns, title=st.sampled_from(["x", "y"])),
    st.tuples(columns, st.none() | columns)
    .filter(lambda t: t[0] != t[1])
    .map(lambda t: MoveColumn(column_id=t[0], after_column_id=t[1])),
    st.builds(ArchiveColumn, column_id=columns),
    st.builds(RestoreColumn, column_id=columns),
    st.builds(
        AddCard, column_id=columns, title=st.just("card"), card_id=ids, after_card_id=maybe_card
    ),
    st.builds(EditCard, card_id=ids, title=st.sampled_from(["p", "q"]), labels=st.just(["l"])),
    st.tuples(ids, columns, maybe_card)
    .filter(lambda t: t[0] != t[2])
    .map(lambda t: MoveCard(card_id=t[0], column_id=t[1], after_card_id=t[2])),
    st.builds(ArchiveCard, card_id=ids),
    st.builds(RestoreCard, card_id=ids),
    st.builds(
        AddMember, user_id=st.sampled_from(USERS), role=st.sampled_from([Role.EDITOR, Role.VIEWER])
    ),
    st.builds(ChangeMemberRole, user_id=st.sampled_from(USERS), role=st.sampled_from(list(Role))),
    st.builds(RemoveMember, user_id=st.sampled_from(USERS)),
    st.builds(RenameBoard, title=st.sampled_from(["B1", "B2"])),
)


def _envelopes(board: Board, payloads: list, at: int) -> list[AnyEvent]:  # type: ignore[type-arg]
    return [
        event_envelope(
            p,
            event_id=uuid.uuid4(),
            board_id=BOARD,
            version=board.version + i,
            occurred_at=T0 + timedelta(seconds=at),
            actor="alice",
            command_id=uuid.uuid4(),
            correlation_id="c",
            causation_id="c",
            epoch="e",
        )
        for i, p in enumerate(payloads, start=1)
    ]


def _agree(board: Board, projection: BoardProjection) -> None:
    doc = projection.board
    assert doc is not None
    assert doc["version"] == board.version
    assert doc["title"] == board.title
    assert {m["user_id"]: m["role"] for m in doc["members"]} == {
        u: r.value for u, r in board.members.items()
    }
    active_columns = [c["column_id"] for c in doc["columns"] if not c["archived"]]
    assert active_columns == [str(i) for _, i in board.column_order]
    for column_id, lane in board.lanes.items():
        projected = sorted(
            (c["position"], c["card_id"])
            for c in projection.cards.values()
            if c["column_id"] == str(column_id) and not c["archived"]
        )
        assert projected == [(key, str(card)) for key, card in lane]
    assert doc["counts"]["open_cards"] == board.open_cards
    assert doc["counts"]["columns"] == board.active_columns()
    for card in board.cards.values():
        view = projection.cards[str(card.card_id)]
        assert (view["title"], view["archived"], tuple(view["labels"])) == (
            card.title,
            card.archived,
            card.labels,
        )


@settings(max_examples=200, deadline=None)
@given(st.lists(commands, max_size=40))
def test_the_projection_and_the_fold_agree(history: list[Command]) -> None:
    board = Board(board_id=BOARD)
    projection = BoardProjection(board_id=str(BOARD))
    created = _envelopes(board, [BoardCreated(title="B0", owner_id="alice")], 0)
    board = fold(board, created)
    apply_event(projection, created[0])
    setup: list[Command] = [
        AddColumn(title=f"c{i}", column_id=c) for i, c in enumerate(COLUMNS[:3])
    ]
    setup += [
        AddCard(column_id=COLUMNS[i % 3], title="card", card_id=c) for i, c in enumerate(CARDS[:5])
    ]
    setup += [AddMember(user_id="bob", role=Role.EDITOR)]
    for at, command in enumerate(setup + history, start=1):
        try:
            payloads = decide(board, command, Context("alice", uuid.uuid4()))
        except DomainError:
            continue
        events = _envelopes(board, payloads, at)
        board = fold(board, events)
        for event in events:
            apply_event(projection, event)
        _agree(board, projection)
