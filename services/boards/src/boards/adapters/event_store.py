"""The event store port: what the command side needs from an append-only log of board events."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol
from uuid import UUID

from contracts.envelope import AnyEvent

IDEMPOTENCY_TTL_SECONDS = 24 * 60 * 60


class EventStoreError(Exception):
    pass


class VersionConflictError(EventStoreError):
    def __init__(self, current_version: int) -> None:
        super().__init__(f"the board is at version {current_version}")
        self.current_version = current_version


class IdempotencyMismatchError(EventStoreError):
    """The command id was used before for a different command."""


class EpochChangedError(EventStoreError):
    """The log's epoch is not the one the events were stamped with: decide and stamp again."""


class ChainBrokenError(EventStoreError):
    """The first event's `prev_hash` is not the hash of the board's head (or the events are not
    chained to each other): the writer's idea of the board is not the stored one."""

    def __init__(self, head_hash: str | None) -> None:
        super().__init__(f"the board's head hash is {head_hash}")
        self.head_hash = head_hash


class BoardFencedError(EventStoreError):
    """The board is held for recovery: its log lost versions the projector's archive holds (an
    older copy of Redis restored), and the projector fenced it (`StreamKeys.fenced`). Nothing was
    written; trying again changes nothing until an operator has recovered the board and lifted
    the fence. `reason` is the fence as the projector wrote it, for the logs, not for callers."""

    def __init__(self, board_id: UUID, reason: str) -> None:
        super().__init__(f"board {board_id} is held for recovery")
        self.board_id = board_id
        self.reason = reason


class CorruptLogError(EventStoreError):
    """A key the append touches is not what the store wrote; nothing was written."""


class ReplicationTimeoutError(EventStoreError):
    """The primary has the call's effects (fsynced to its AOF), but fewer replicas than required
    confirmed them within the wait (`WAIT`): not acknowledged, because a failover now could lose
    them. The caller retries with the same command id; the retry is answered from the command's
    record once enough replicas have it (docs/adr/011-replica-acks.md)."""

    def __init__(self, acked: int, required: int) -> None:
        super().__init__(f"{acked} of {required} replicas confirmed the write in time")
        self.acked = acked
        self.required = required


@dataclass(frozen=True, slots=True)
class Recorded:
    """What an earlier append of the same command id stored: its request hash and response."""

    request_hash: str
    result: bytes


@dataclass(frozen=True, slots=True)
class Tip:
    """A board's newest version and the hash of its event at that version (`ZERO_HASH` for an
    empty board; `None` if unknown: a board written before the chain whose log was trimmed)."""

    version: int
    hash: str | None


@dataclass(frozen=True, slots=True)
class Appended:
    version: int


@dataclass(frozen=True, slots=True)
class Duplicates:
    """A group refused because some of its command ids were recorded before; nothing was written.
    `recorded` holds each such command's record by its place in the group."""

    recorded: Mapping[int, Recorded]


@dataclass(frozen=True, slots=True)
class NewEvents:
    """Encoded event envelopes of one command, stamped with versions after `expected_version`."""

    board_id: UUID
    expected_version: int
    epoch: str
    events: Sequence[bytes]
    command_id: UUID
    request_hash: str
    result: bytes


def check_group(group: Sequence[NewEvents]) -> None:
    """A group is commands of one board, in one epoch, each with events, each numbered on from
    the one before it. Anything else is a bug in the caller, not a state of the store."""
    if not group:
        raise ValueError("an empty group")
    first = group[0]
    version = first.expected_version
    for batch in group:
        if batch.board_id != first.board_id or batch.epoch != first.epoch:
            raise ValueError("a group is of one board and one epoch")
        if batch.expected_version != version or not batch.events:
            raise ValueError("each command of a group has events and follows the one before")
        version += len(batch.events)


def one_of_one(batch: NewEvents, outcome: Appended | Duplicates) -> Appended | Recorded:
    """`append` as a group of one: its record, when it had one, answers it."""
    if isinstance(outcome, Appended):
        return outcome
    recorded = outcome.recorded[0]
    if recorded.request_hash != batch.request_hash:
        raise IdempotencyMismatchError("this command id was used for another command")
    return recorded


class EventStore(Protocol):
    async def epoch(self, board_id: UUID) -> str: ...

    async def append(self, batch: NewEvents) -> Appended | Recorded:
        """Atomically appends the events, or returns the earlier record of the same command.

        The events must be chained (`contracts.chain.link`) on from the hash of the board's head.
        Raises BoardFencedError, VersionConflictError, IdempotencyMismatchError,
        EpochChangedError, ChainBrokenError or CorruptLogError, each having written nothing.
        """
        ...

    async def append_group(self, group: Sequence[NewEvents]) -> Appended | Duplicates:
        """Atomically appends the events of several commands of one board (`check_group`), each
        with its own record, and returns the version after the last; or writes nothing at all.

        When a command id of the group was recorded before, writes nothing and returns the
        records (`Duplicates`): the caller answers those commands from them and decides the rest
        again. The events must chain on from the head's hash and on from each other, across the
        commands. Raises BoardFencedError (for the whole group: it is one board's; only once no
        record was found), VersionConflictError (the first command's expected version is not the
        head), EpochChangedError, ChainBrokenError or CorruptLogError, each having written nothing.
        """
        ...

    async def read(
        self, board_id: UUID, *, after_version: int = 0, to_version: int | None = None
    ) -> list[AnyEvent]: ...

    async def recorded(self, board_id: UUID, command_id: UUID) -> Recorded | None: ...

    async def head(self, board_id: UUID) -> int: ...

    async def tip(self, board_id: UUID) -> Tip: ...

    async def snapshot(self, board_id: UUID) -> tuple[int, bytes] | None:
        """The newest saved snapshot of the board and the version it reflects."""
        ...

    async def save_snapshot(self, board_id: UUID, version: int, data: bytes) -> bool:
        """Keeps it unless a snapshot of the same or a newer version is already saved."""
        ...
