"""Group commit over a real Redis: commands that queue on a board while its append is in flight
go out together, each judged on its own, none answered before the group is durable (ADR 008).

A store whose first append waits at a gate holds a group in flight while the test queues more
commands behind it: the next group is then exactly those commands.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence

import orjson
import pytest
from boards import service
from boards.adapters.event_store import (
    Appended,
    BoardFencedError,
    Duplicates,
    IdempotencyMismatchError,
    NewEvents,
    VersionConflictError,
)
from boards.adapters.redis_store import RedisEventStore
from boards.domain import BoardExistsError, BoardNotFoundError, DomainError, RuleViolationError
from boards.groups import Caller, Outcome
from boards.service import BoardCommands
from contracts.commands import (
    AddCard,
    AddColumn,
    AddMember,
    CreateBoard,
    MoveCard,
    RenameBoard,
)
from contracts.envelope import AnyCommand, command_envelope
from contracts.events import Event
from contracts.fields import Role
from contracts.streams import StreamKeys
from redis.asyncio import Redis

ALICE = Caller(user_id="alice", correlation_id="test")
BOB = Caller(user_id="bob", correlation_id="test")
MALLORY = Caller(user_id="mallory", correlation_id="test")
BOUND = 10_000  # event-loop turns to wait for a condition before the test gives up


class GatedStore(RedisEventStore):
    """Records every group it is given; while `gate` is set, an append waits for it first."""

    def __init__(self, redis: Redis, keys: StreamKeys) -> None:
        super().__init__(redis, keys)
        self.groups: list[list[NewEvents]] = []
        self.gate: asyncio.Event | None = None
        self.at_gate = 0

    async def append_group(self, group: Sequence[NewEvents]) -> Appended | Duplicates:
        self.groups.append(list(group))
        if self.gate is not None:
            self.at_gate += 1
            await self.gate.wait()
        return await super().append_group(group)


async def _until(condition, what: str) -> None:  # type: ignore[no-untyped-def]
    for _ in range(BOUND):
        if condition():
            return
        await asyncio.sleep(0)  # one event-loop turn, not a timed wait
    raise AssertionError(f"never happened: {what}")


def _command(payload: Event | object, **kw) -> AnyCommand:  # type: ignore[no-untyped-def]
    return command_envelope(payload, command_id=uuid.uuid4(), **kw)  # type: ignore[arg-type]


class Board:
    """A board of one column and two cards, and a way to queue commands behind a held group."""

    def __init__(self, commands: BoardCommands, store: GatedStore) -> None:
        self.commands, self.store = commands, store
        self.board_id = uuid.uuid4()
        self.todo, self.done = uuid.uuid4(), uuid.uuid4()
        self.cards = [uuid.uuid4(), uuid.uuid4()]

    async def set_up(self) -> None:
        for payload in (
            CreateBoard(title="Groups"),
            AddColumn(title="To do", column_id=self.todo),
            AddColumn(title="Done", column_id=self.done),
            *(AddCard(column_id=self.todo, title="c", card_id=card) for card in self.cards),
        ):
            await self.commands.handle(self.board_id, _command(payload), ALICE)

    async def in_one_group(
        self, commands: list[AnyCommand], callers: list[Caller] | None = None
    ) -> list[Outcome | BaseException]:
        """Holds a first command's append in flight, queues `commands` behind it (each from its
        caller, Alice by default), then lets go: they are decided and appended as one group (the
        gate is gone by then)."""
        self.store.gate, self.store.at_gate = asyncio.Event(), 0
        held = asyncio.create_task(
            self.commands.handle(self.board_id, _command(RenameBoard(title="held")), ALICE)
        )
        await _until(lambda: self.store.at_gate == 1, "the first append reached the gate")
        tasks = [
            asyncio.create_task(self.commands.handle(self.board_id, c, caller))
            for c, caller in zip(commands, callers or [ALICE] * len(commands), strict=True)
        ]
        await _until(
            lambda: self.commands.queued(self.board_id) == len(commands), "all commands queued"
        )
        gate, self.store.gate = self.store.gate, None
        gate.set()
        await held
        return list(await asyncio.gather(*tasks, return_exceptions=True))


@pytest.fixture
async def board(redis: Redis, stream_keys: StreamKeys) -> Board:
    store = GatedStore(redis, stream_keys)
    await store.install()
    board = Board(BoardCommands(store), store)
    await board.set_up()
    return board


def _events(outcome: Outcome | BaseException) -> list[dict[str, object]]:
    assert isinstance(outcome, Outcome), outcome
    events: list[dict[str, object]] = orjson.loads(outcome.body)["events"]
    return events


class TestAGroup:
    async def test_goes_out_in_one_call_and_each_command_gets_its_own_answer(
        self, board: Board
    ) -> None:
        first, second = board.cards
        sent = [
            _command(MoveCard(card_id=first, column_id=board.done)),
            _command(MoveCard(card_id=second, column_id=board.done)),
            _command(RenameBoard(title="renamed")),
        ]
        answers = await board.in_one_group(sent)

        group = board.store.groups[-1]
        assert [batch.command_id for batch in group] == [c.command_id for c in sent]
        assert [a.version for a in answers if isinstance(a, Outcome)] == [7, 8, 9]
        events = await board.store.read(board.board_id)
        assert [e.version for e in events] == list(range(1, 10))
        assert [str(e.command_id) for e in events[6:]] == [str(c.command_id) for c in sent]
        for command, answer in zip(sent, answers, strict=True):
            recorded = await board.store.recorded(board.board_id, command.command_id)
            assert recorded is not None
            assert isinstance(answer, Outcome)
            assert recorded.result == answer.body

    async def test_a_refused_command_in_the_middle_is_answered_and_sinks_nothing(
        self, board: Board
    ) -> None:
        first, second = board.cards
        refused = _command(MoveCard(card_id=uuid.uuid4(), column_id=board.done))
        sent = [
            _command(MoveCard(card_id=first, column_id=board.done)),
            refused,
            _command(MoveCard(card_id=second, column_id=board.done)),
        ]
        answers = await board.in_one_group(sent)

        assert isinstance(answers[1], RuleViolationError)
        assert answers[1].code == "card_not_found"
        assert [_events(a)[0]["version"] for a in (answers[0], answers[2])] == [7, 8]
        assert [b.command_id for b in board.store.groups[-1]] == [
            sent[0].command_id,
            sent[2].command_id,
        ]
        events = await board.store.read(board.board_id)
        assert [e.version for e in events] == list(range(1, 9))
        assert refused.command_id not in {e.command_id for e in events}
        assert await board.store.recorded(board.board_id, refused.command_id) is None

    async def test_a_stale_expected_version_in_a_group_is_refused_alone(self, board: Board) -> None:
        # Both were sent at version 6 (after the held one); the first lands, so the second is
        # stale behind it.
        sent = [
            _command(RenameBoard(title="first"), expected_version=6),
            _command(RenameBoard(title="second"), expected_version=6),
        ]
        answers = await board.in_one_group(sent)
        assert isinstance(answers[0], Outcome)
        assert answers[0].version == 7
        assert isinstance(answers[1], VersionConflictError)
        assert answers[1].current_version == 7


class TestAGroupOfAFencedBoard:
    async def test_every_member_hears_the_fence_nothing_is_written_and_lifting_it_resumes(
        self, board: Board, redis: Redis, stream_keys: StreamKeys
    ) -> None:
        fence = stream_keys.fenced(stream_keys.partition_of(board.board_id))
        sent = [
            _command(MoveCard(card_id=board.cards[0], column_id=board.done)),
            _command(MoveCard(card_id=uuid.uuid4(), column_id=board.done)),  # refused by a rule
            _command(RenameBoard(title="renamed")),
        ]
        stranger = _command(RenameBoard(title="mine"))
        board.store.gate, board.store.at_gate = asyncio.Event(), 0
        held = asyncio.create_task(
            board.commands.handle(board.board_id, _command(RenameBoard(title="held")), ALICE)
        )
        await _until(lambda: board.store.at_gate == 1, "the first append reached the gate")
        queued = [
            *(asyncio.create_task(board.commands.handle(board.board_id, c, ALICE)) for c in sent),
            asyncio.create_task(board.commands.handle(board.board_id, stranger, MALLORY)),
        ]
        await _until(lambda: board.commands.queued(board.board_id) == 4, "all commands queued")
        # The projector fences the board while an append is in flight and a group waits behind.
        await redis.hset(fence, str(board.board_id), "the log lost versions")  # type: ignore[misc]
        gate, board.store.gate = board.store.gate, None
        gate.set()

        answers = await asyncio.gather(held, *queued, return_exceptions=True)

        assert all(isinstance(a, BoardFencedError) for a in answers[:-1]), answers
        # The fence would tell a stranger the board is there: she hears what she always does.
        assert isinstance(answers[-1], BoardNotFoundError)
        assert [b.command_id for b in board.store.groups[-1]] == [
            sent[0].command_id,
            sent[2].command_id,
        ]
        assert await board.store.head(board.board_id) == 5
        for command in sent:
            assert await board.store.recorded(board.board_id, command.command_id) is None
        await redis.hdel(fence, str(board.board_id))  # type: ignore[misc]
        again = await board.commands.handle(board.board_id, sent[0], ALICE)
        assert _events(again)[0]["version"] == 6


class TestRetriesInAGroup:
    async def test_the_same_command_twice_in_a_queue_applies_once(self, board: Board) -> None:
        move = _command(MoveCard(card_id=board.cards[0], column_id=board.done))
        answers = await board.in_one_group([move, move])
        assert isinstance(answers[0], Outcome)
        assert isinstance(answers[1], Outcome)
        assert answers[0].body == answers[1].body
        events = await board.store.read(board.board_id)
        assert [e.command_id for e in events].count(move.command_id) == 1

    async def test_a_recorded_command_in_a_group_gets_its_answer_and_the_rest_land(
        self, board: Board
    ) -> None:
        move = _command(MoveCard(card_id=board.cards[0], column_id=board.done))
        before = await board.commands.handle(board.board_id, move, ALICE)
        # Decided again, the retry changes nothing now (the card is there): its record, looked
        # for before that answer, gives it the first one.
        rename = _command(RenameBoard(title="after the retry"))
        other = _command(MoveCard(card_id=board.cards[1], column_id=board.done))
        answers = await board.in_one_group([rename, move, other])

        assert isinstance(answers[1], Outcome)
        assert answers[1].body == before.body
        assert [a.version for a in (answers[0], answers[2]) if isinstance(a, Outcome)] == [8, 9]
        events = await board.store.read(board.board_id)
        assert [e.version for e in events] == list(range(1, 10))
        assert [e.command_id for e in events].count(move.command_id) == 1

    async def test_a_retry_whose_decision_would_write_again_is_answered_from_its_record(
        self, redis: Redis, stream_keys: StreamKeys, board: Board
    ) -> None:
        # Another process has no memory of the rename: it decides it again (to an event), and
        # the store's record of its id, found in the group's call, answers it instead.
        rename = _command(RenameBoard(title="once"))
        first = await board.commands.handle(board.board_id, rename, ALICE)
        await board.commands.handle(board.board_id, _command(RenameBoard(title="twice")), ALICE)
        again = _command(RenameBoard(title="once"))
        again = again.model_copy(update={"command_id": rename.command_id})
        fresh = GatedStore(redis, stream_keys)
        other = Board(BoardCommands(fresh), fresh)
        other.board_id = board.board_id
        answers = await other.in_one_group([again, _command(RenameBoard(title="third"))])

        assert isinstance(answers[0], Outcome)
        assert answers[0].body == first.body
        assert isinstance(answers[1], Outcome)
        assert answers[1].version == 9
        duplicates = [g for g in fresh.groups if rename.command_id in {b.command_id for b in g}]
        assert duplicates, "the retry reached the store inside a group"
        events = await board.store.read(board.board_id)
        assert [e.command_id for e in events].count(rename.command_id) == 1
        assert [e.version for e in events] == list(range(1, 10))

    async def test_a_reused_id_for_another_command_is_refused_alone(self, board: Board) -> None:
        rename = _command(RenameBoard(title="one"))
        await board.commands.handle(board.board_id, rename, ALICE)
        reused = _command(RenameBoard(title="two")).model_copy(
            update={"command_id": rename.command_id}
        )
        other = _command(MoveCard(card_id=board.cards[0], column_id=board.done))
        answers = await board.in_one_group([reused, other])
        assert isinstance(answers[0], IdempotencyMismatchError)
        assert isinstance(answers[1], Outcome)
        assert answers[1].version == 8


class TestAGroupRacingAnotherProcess:
    async def test_is_decided_again_on_the_moved_board_and_no_caller_sees_a_conflict(
        self, redis: Redis, stream_keys: StreamKeys, board: Board
    ) -> None:
        store = board.store
        store.groups.clear()
        first_gate = store.gate = asyncio.Event()
        held = asyncio.create_task(
            board.commands.handle(board.board_id, _command(RenameBoard(title="held")), ALICE)
        )
        await _until(lambda: store.at_gate == 1, "the first append reached the gate")
        queued = [
            asyncio.create_task(
                board.commands.handle(
                    board.board_id, _command(MoveCard(card_id=card, column_id=board.done)), ALICE
                )
            )
            for card in board.cards
        ]
        await _until(lambda: board.commands.queued(board.board_id) == 2, "both queued")
        second_gate = store.gate = asyncio.Event()
        first_gate.set()
        await _until(lambda: store.at_gate == 2, "the group of two reached the gate")
        # Another process writes version 7 under the group, which was decided on version 6.
        await BoardCommands(RedisEventStore(redis, stream_keys)).handle(
            board.board_id, _command(RenameBoard(title="elsewhere")), ALICE
        )
        store.gate = None
        second_gate.set()
        answers = [await held, *await asyncio.gather(*queued)]

        assert [a.version for a in answers] == [6, 8, 9]
        moves = [[b.command_id for b in g] for g in store.groups[1:]]
        assert len(moves) == 2
        assert moves[0] == moves[1], "the same group, decided again"
        assert [g[0].expected_version for g in store.groups[1:]] == [6, 7]
        events = await board.store.read(board.board_id)
        assert [e.version for e in events] == list(range(1, 10))


def _told(answer: Outcome | BaseException, board_id: uuid.UUID) -> tuple[object, ...]:
    """All a refusal tells its caller, with the board's id (which they sent) left out."""
    assert isinstance(answer, DomainError), answer
    details = {k: v for k, v in answer.details.items() if v != str(board_id)}
    return type(answer), answer.code, answer.message, details


class TestCallersInAGroup:
    """Each command of a group is recorded for its own caller: a retry gets its answer only from
    the one who sent it (issue 12, hole 9)."""

    async def test_each_record_answers_only_its_own_caller(self, board: Board) -> None:
        await board.commands.handle(
            board.board_id, _command(AddMember(user_id="bob", role=Role.EDITOR)), ALICE
        )
        first, second = board.cards
        sent = [
            _command(MoveCard(card_id=first, column_id=board.done)),
            _command(MoveCard(card_id=second, column_id=board.done)),
            _command(RenameBoard(title="renamed")),
        ]
        answers = await board.in_one_group(sent, [ALICE, BOB, ALICE])
        assert [a.version for a in answers if isinstance(a, Outcome)] == [8, 9, 10]

        missing = uuid.uuid4()
        nowhere = await asyncio.gather(
            board.commands.handle(missing, sent[0], MALLORY), return_exceptions=True
        )
        retries = await board.in_one_group(
            [sent[0], sent[1], sent[0], sent[1], sent[2], _command(AddColumn(title="new"))],
            [ALICE, BOB, BOB, MALLORY, MALLORY, BOB],
        )
        assert retries[:2] == answers[:2], "each caller's own retry gets its own answer"
        assert isinstance(retries[2], IdempotencyMismatchError), "a member: the id is taken"
        assert isinstance(nowhere[0], BoardNotFoundError)
        for told in retries[3:5]:
            assert _told(told, board.board_id) == _told(nowhere[0], missing)
        assert isinstance(retries[5], Outcome)
        assert retries[5].version == 12  # after the held command
        events = await board.store.read(board.board_id)
        assert [e.version for e in events] == list(range(1, 13))
        assert {e.actor for e in events[7:10]} == {"alice", "bob"}

    async def test_a_process_that_thought_the_board_missing_answers_a_replayed_create_as_taken(
        self, redis: Redis, stream_keys: StreamKeys
    ) -> None:
        stale_store = GatedStore(redis, stream_keys)
        stale = BoardCommands(stale_store)
        board_id = uuid.uuid4()
        with pytest.raises(BoardNotFoundError):
            await stale.handle(board_id, _command(RenameBoard(title="x")), MALLORY)
        create = _command(CreateBoard(title="Plans", board_id=board_id))
        created = await BoardCommands(RedisEventStore(redis, stream_keys)).handle(
            board_id, create, ALICE
        )

        # Decided on the board it remembers (none), the replay goes to the store, whose record
        # refuses it: to Mallory that is the answer any create of a taken id gets.
        replayed = await asyncio.gather(
            stale.handle(board_id, create, MALLORY), return_exceptions=True
        )
        assert [[b.command_id for b in g] for g in stale_store.groups] == [[create.command_id]]
        fresh = await asyncio.gather(
            stale.handle(
                board_id, _command(CreateBoard(title="Plans", board_id=board_id)), MALLORY
            ),
            return_exceptions=True,
        )
        assert isinstance(replayed[0], BoardExistsError)
        assert _told(replayed[0], board_id) == _told(fresh[0], board_id)
        assert await stale.handle(board_id, create, ALICE) == created


class OvertakenStore(RedisEventStore):
    """Every append finds the board moved on by another writer, as if it always lost the race."""

    def __init__(self, redis: Redis, keys: StreamKeys) -> None:
        super().__init__(redis, keys)
        self.calls = 0

    async def append_group(self, group: Sequence[NewEvents]) -> Appended | Duplicates:
        self.calls += 1
        raise VersionConflictError(group[0].expected_version + 1)


class TestAGroupOutOfAttempts:
    async def test_tells_a_stranger_no_version(
        self, redis: Redis, stream_keys: StreamKeys, board: Board, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(service, "CONFLICT_BACKOFF_MAX_S", 0.0)
        overtaken = OvertakenStore(redis, stream_keys)
        commands = BoardCommands(overtaken)
        answers = await asyncio.gather(
            commands.handle(board.board_id, _command(RenameBoard(title="mine")), ALICE),
            commands.handle(board.board_id, _command(RenameBoard(title="mine")), MALLORY),
            return_exceptions=True,
        )
        assert overtaken.calls == service.MAX_ATTEMPTS
        assert isinstance(answers[0], VersionConflictError)
        missing = uuid.uuid4()
        nowhere = await asyncio.gather(
            commands.handle(missing, _command(RenameBoard(title="mine")), MALLORY),
            return_exceptions=True,
        )
        assert isinstance(nowhere[0], BoardNotFoundError)
        assert _told(answers[1], board.board_id) == _told(nowhere[0], missing)
