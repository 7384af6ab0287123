"""The pieces of a group commit (docs/adr/008-group-commit.md): who sent a command, the command
waiting in its board's queue, a group decided against one state (a plan), and how each command of
it is answered, from its decision or from the idempotency record of an earlier attempt (ADR 003).
`boards.service` runs the queues and the appends with them."""

from __future__ import annotations

import asyncio
import hashlib
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from uuid import UUID

import orjson
from contracts.envelope import AnyCommand
from contracts.events import MemberProfile
from contracts.fields import MAX_USER_ID

from boards.adapters.event_store import IdempotencyMismatchError, NewEvents, Recorded
from boards.domain import Board, BoardExistsError, BoardNotFoundError

# Commands appended by one call at most: bounds how long Redis spends in one function call.
MAX_GROUP = 128
MAX_TRACE_ID = 128


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Caller:
    user_id: str
    correlation_id: str
    # Their name and email as their token says: the owner's profile when they create a board.
    profile: MemberProfile | None = None

    def __post_init__(self) -> None:
        # Checked once here, so the events stamped with them need no validation of their own.
        if not 0 < len(self.user_id) <= MAX_USER_ID:
            raise ValueError("the caller's user id is empty or too long")
        if not 0 < len(self.correlation_id) <= MAX_TRACE_ID:
            raise ValueError("the correlation id is empty or too long")


@dataclass(frozen=True, slots=True)
class Decided:
    """A board as of its newest event, and that event's hash."""

    board: Board
    last_hash: str


@dataclass(frozen=True, slots=True)
class Outcome:
    """The response body, encoded once: it is also what a retried command gets back."""

    body: bytes
    version: int


@dataclass(slots=True)
class Pending:
    """A command waiting in its board's queue, and where its caller waits for the answer."""

    command: AnyCommand
    caller: Caller
    digest: str
    answer: asyncio.Future[Outcome]


@dataclass(slots=True)
class Plan:
    """A group decided against one state: the batches to append (one per command that changed
    the board, in order), and what each command is answered once the append has returned."""

    before: Decided
    after: Decided
    batches: list[NewEvents] = field(default_factory=list)
    appending: list[tuple[Pending, Outcome]] = field(default_factory=list)
    refused: list[tuple[Pending, Exception]] = field(default_factory=list)
    unchanged: list[tuple[Pending, Outcome]] = field(default_factory=list)


def request_hash(command: AnyCommand) -> str:
    canonical = orjson.dumps(
        command.model_dump(mode="json", exclude={"command_id"}), option=orjson.OPT_SORT_KEYS
    )
    return hashlib.sha256(canonical).hexdigest()


def encode_result(board_id: UUID, version: int, events: list[bytes]) -> bytes:
    # Events are already encoded; joining them avoids a second encode per event.
    head = orjson.dumps({"board_id": str(board_id), "version": version})[:-1]
    return head + b',"events":[' + b",".join(events) + b"]}"


def take_group(queue: deque[Pending]) -> list[Pending]:
    """The commands at the head of a board's queue that go into one append, in their order."""
    group: list[Pending] = []
    ids: set[UUID] = set()
    while queue and len(group) < MAX_GROUP:
        if queue[0].command.command_id in ids:
            break  # the same command twice: the second is answered from the first's record
        pending = queue.popleft()
        if pending.answer.done():
            continue  # its caller gave up before it was decided: it is not written
        ids.add(pending.command.command_id)
        group.append(pending)
    return group


def resolve(pending: Pending, outcome: Outcome) -> None:
    if not pending.answer.done():
        pending.answer.set_result(outcome)


def reject(pending: Pending, error: BaseException) -> None:
    if pending.answer.done():
        return
    if isinstance(error, Exception):
        pending.answer.set_exception(error)
    else:
        pending.answer.cancel()


def own_answer(recorded: Recorded, pending: Pending) -> Outcome | None:
    """The recorded answer, if the record is of this very request by this very caller.

    A record is bound to its caller by what it holds: the events it answered with carry the
    actor taken from the caller's verified token. One without events (none is written so) is
    nobody's. Records from before this binding are bound the same way.
    """
    if recorded.request_hash != pending.digest:
        return None
    body = orjson.loads(recorded.result)
    events = body.get("events")
    if not events or any(event.get("actor") != pending.caller.user_id for event in events):
        return None
    return Outcome(recorded.result, int(body["version"]))


def answer_from_record(
    pending: Pending, recorded: Recorded, refusal: Exception | None = None
) -> None:
    """Answers a command whose id the board has a record of (ADR 003).

    Only its own caller's retry gets the recorded answer. To a caller the board is hidden from
    (a missing board and one they are not a member of answer alike), or one creating a taken id,
    the record is as if it were not there: they get the refusal they would get without it, so a
    guessed or overheard command id tells them nothing. Anyone else learns that the id is taken.
    """
    own = own_answer(recorded, pending)
    if own is not None:
        resolve(pending, own)
    elif isinstance(refusal, BoardNotFoundError | BoardExistsError):
        reject(pending, refusal)
    else:
        reject(pending, IdempotencyMismatchError("this command id was used for another command"))
