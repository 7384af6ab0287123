"""Group commit under interleavings Hypothesis chooses: two processes (two `BoardCommands` on one
store) send a burst of commands at one board, some refused, some retried, while the store lets
other work run a chosen number of turns between a group's decision and its append. Whatever the
order, the log is gapless and chained, every answer is in it as answered, nothing is applied
twice, and a refusal wrote nothing.

`InMemoryEventStore` stands in for Redis here: the contract suite holds it to `RedisEventStore`,
groups included.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import orjson
from boards.adapters.event_store import Appended, Duplicates, NewEvents, VersionConflictError
from boards.adapters.memory_store import InMemoryEventStore
from boards.domain import Board, RuleViolationError, fold
from boards.groups import Caller, Outcome
from boards.service import BoardCommands
from contracts.chain import Checked, first_break
from contracts.commands import AddCard, AddColumn, CreateBoard, MoveCard, RenameBoard
from contracts.envelope import AnyCommand, AnyEvent, command_envelope
from contracts.events import CardAdded
from hypothesis import given, settings
from hypothesis import strategies as st

ALICE = Caller(user_id="alice", correlation_id="test")
BOARD = uuid.UUID("b0a2d000-0000-4000-8000-00000000cafe")
COLUMNS = [uuid.UUID(int=1), uuid.UUID(int=2)]
CARDS = [uuid.UUID(int=10 + i) for i in range(3)]
SET_UP = 1 + len(COLUMNS) + len(CARDS)


class YieldingStore(InMemoryEventStore):
    """Lets the event loop run `turns` times before each append: other commands get decided,
    the other process appends, in between."""

    def __init__(self, turns: Sequence[int]) -> None:
        super().__init__()
        self._turns = itertools.cycle(turns)

    async def append_group(self, group: Sequence[NewEvents]) -> Appended | Duplicates:
        for _ in range(next(self._turns)):
            await asyncio.sleep(0)  # one turn of the loop, not a timed wait
        return await super().append_group(group)


@dataclass(frozen=True)
class Send:
    process: int
    command: AnyCommand


def _sends() -> st.SearchStrategy[list[Send]]:
    move = st.builds(
        lambda card, column: MoveCard(card_id=card, column_id=column),
        st.sampled_from([*CARDS, uuid.UUID(int=99)]),  # card 99 does not exist: refused
        st.sampled_from(COLUMNS),
    )
    rename = st.builds(lambda n: RenameBoard(title=f"t{n}"), st.integers(0, 3))
    # Adding a card is not idempotent by decision: a retry would be refused (card_exists) if its
    # record did not answer it; two commands adding one card: the second is refused.
    add = st.builds(
        lambda n: AddCard(column_id=COLUMNS[1], title="new", card_id=uuid.UUID(int=50 + n)),
        st.integers(0, 2),
    )
    # expected_version 0 is stale on a board that exists: a refusal (409) inside a group.
    command = st.builds(
        lambda payload, command_id, stale: command_envelope(
            payload, command_id=command_id, expected_version=0 if stale else None
        ),
        move | rename | add,
        st.uuids(version=4),
        st.sampled_from([False, False, False, True]),
    )
    send = st.builds(Send, st.integers(0, 1), command)
    # Some commands are sent again (a retry, by either process) somewhere in the burst.
    return st.lists(send, min_size=1, max_size=12).flatmap(
        lambda sends: st.lists(
            st.tuples(st.sampled_from(sends), st.integers(0, 1), st.integers(0, len(sends))),
            max_size=4,
        ).map(lambda retries: _with_retries(sends, retries))
    )


def _with_retries(sends: list[Send], retries: list[tuple[Send, int, int]]) -> list[Send]:
    burst = list(sends)
    for original, process, at in retries:
        burst.insert(at, Send(process, original.command))
    return burst


async def _set_up(commands: BoardCommands) -> None:
    payloads = [
        CreateBoard(title="t0", board_id=BOARD),
        *(AddColumn(title="c", column_id=c) for c in COLUMNS),
        *(AddCard(column_id=COLUMNS[0], title="card", card_id=c) for c in CARDS),
    ]
    for payload in payloads:
        await commands.handle(BOARD, command_envelope(payload, command_id=uuid.uuid4()), ALICE)


async def _play(sends: list[Send], turns: list[int]) -> None:
    store = YieldingStore(turns)
    processes = [BoardCommands(store), BoardCommands(store)]
    await _set_up(processes[0])
    answers = await asyncio.gather(
        *(processes[s.process].handle(BOARD, s.command, ALICE) for s in sends),
        return_exceptions=True,
    )
    events = await store.read(BOARD)
    documents = [json.loads(raw) for _, _, raw in store.feed]

    assert [e.version for e in events] == list(range(1, len(events) + 1))
    assert isinstance(first_break(enumerate(documents, start=1)), Checked)
    stored = {e.version: str(e.event_id) for e in events}
    applied: dict[uuid.UUID, list[int]] = {}
    for event in events[SET_UP:]:
        applied.setdefault(event.command_id, []).append(event.version)
    for send, answer in zip(sends, answers, strict=True):
        command_id = send.command.command_id
        if isinstance(answer, Outcome):
            answered = orjson.loads(answer.body)["events"]
            for event in answered:
                assert stored[event["version"]] == event["event_id"], "answered, not stored"
            if answered:
                assert applied[command_id] == [e["version"] for e in answered], "applied twice"
        elif isinstance(answer, VersionConflictError):
            assert send.command.expected_version == 0, "a conflict the caller did not cause"
        else:
            # The other refusals: moving a card that does not exist, adding one that does.
            assert isinstance(answer, RuleViolationError), answer
            payload = send.command.payload
            if isinstance(payload, AddCard):
                assert answer.code == "card_exists"
                assert _added_by_another(payload.card_id, command_id, events)
            else:
                assert answer.code == "card_not_found"
                assert getattr(payload, "card_id", None) == uuid.UUID(int=99)
    for command_id, versions in applied.items():
        answered = [
            a for s, a in zip(sends, answers, strict=True) if s.command.command_id == command_id
        ]
        assert any(isinstance(a, Outcome) for a in answered), "stored but never acknowledged"
        assert versions == list(range(versions[0], versions[-1] + 1)), "applied twice"
    folded = fold(Board(board_id=BOARD), events)
    for process in processes:
        assert await process.load(BOARD) == folded


def _added_by_another(card_id: uuid.UUID, command_id: uuid.UUID, events: list[AnyEvent]) -> bool:
    return any(
        isinstance(e.payload, CardAdded) and e.payload.card_id == card_id
        for e in events
        if e.command_id != command_id
    )


class TestGroupCommitUnderInterleavings:
    @settings(max_examples=60, deadline=None)
    @given(_sends(), st.lists(st.integers(0, 3), min_size=1, max_size=5))
    def test_the_log_holds_every_answer_once_and_nothing_refused(
        self, sends: list[Send], turns: list[int]
    ) -> None:
        asyncio.run(_play(sends, turns))
