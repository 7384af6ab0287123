"""The command side's use case: decide a command against a board and append what it causes.

Decided state stays in memory between commands; the append's version check is what makes that
safe (another process may have moved the board on), so the common path costs one Redis round trip.
Commands of one board are serialised in this process by a lock, so our own writers never race.
Beside each cached board sits the hash of its newest event, which the next events chain on from
(docs/event-chain.md); the domain never sees it.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID
from weakref import WeakValueDictionary

import orjson
from contracts.chain import ZERO_HASH, link
from contracts.envelope import AnyCommand, event_adapter, event_envelope
from contracts.events import Event

from boards.adapters.event_store import (
    Appended,
    ChainBrokenError,
    EpochChangedError,
    EventStore,
    IdempotencyMismatchError,
    NewEvents,
    Recorded,
    VersionConflictError,
)
from boards.domain import Board, Context, DomainError, decide, fold
from boards.domain.snapshot import from_snapshot, to_snapshot

log = logging.getLogger("boards.commands")

MAX_ATTEMPTS = 50
DEFAULT_CACHED_BOARDS = 10_000
# A snapshot every this many events bounds a cold load to one snapshot plus at most this many.
DEFAULT_SNAPSHOT_EVERY = 1_000


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Caller:
    user_id: str
    correlation_id: str


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


def request_hash(command: AnyCommand) -> str:
    canonical = orjson.dumps(
        command.model_dump(mode="json", exclude={"command_id"}), option=orjson.OPT_SORT_KEYS
    )
    return hashlib.sha256(canonical).hexdigest()


def encode_result(board_id: UUID, version: int, events: list[bytes]) -> bytes:
    # Events are already encoded; joining them avoids a second encode per event.
    head = orjson.dumps({"board_id": str(board_id), "version": version})[:-1]
    return head + b',"events":[' + b",".join(events) + b"]}"


class BoardCommands:
    def __init__(
        self,
        store: EventStore,
        *,
        clock: Callable[[], datetime] = utc_now,
        cached_boards: int = DEFAULT_CACHED_BOARDS,
        snapshot_every: int = DEFAULT_SNAPSHOT_EVERY,
    ) -> None:
        self._store = store
        self._clock = clock
        self._cache: OrderedDict[UUID, Decided] = OrderedDict()
        self._cached_boards = cached_boards
        self._locks: WeakValueDictionary[UUID, asyncio.Lock] = WeakValueDictionary()
        self._snapshot_every = snapshot_every
        self._snapshot_tasks: set[asyncio.Task[None]] = set()

    async def handle(self, board_id: UUID, command: AnyCommand, caller: Caller) -> Outcome:
        lock = self._locks.get(board_id)
        if lock is None:
            lock = self._locks[board_id] = asyncio.Lock()
        async with lock:
            return await self._handle(board_id, command, caller)

    async def load(self, board_id: UUID) -> Board:
        """The board as of the newest event in the store (and cached from then on)."""
        return (await self._refresh(board_id)).board

    async def _handle(self, board_id: UUID, command: AnyCommand, caller: Caller) -> Outcome:
        digest = request_hash(command)
        ctx = Context(actor=caller.user_id, command_id=command.command_id)
        state = self._cache.get(board_id) or await self._refresh(board_id)
        for _ in range(MAX_ATTEMPTS):
            try:
                events = self._decide(state.board, command, ctx)
            except (DomainError, VersionConflictError):
                fresh = await self._refresh(board_id)
                if fresh != state:
                    state = fresh  # our copy was stale; judge again on the board as it is
                    continue
                return await self._recorded_or_raise(board_id, command, digest)
            if not events:
                return await self._nothing_to_do(state.board, command, digest)
            try:
                return await self._append(state, command, caller, digest, events)
            except VersionConflictError:
                state = await self._refresh(board_id)
                if command.expected_version is not None:
                    return await self._recorded_or_raise(board_id, command, digest)
            except (EpochChangedError, ChainBrokenError):
                state = await self._refresh(board_id)
        raise VersionConflictError(state.board.version)

    @staticmethod
    def _decide(board: Board, command: AnyCommand, ctx: Context) -> list[Event]:
        if command.expected_version is not None and command.expected_version != board.version:
            raise VersionConflictError(board.version)
        return decide(board, command.payload, ctx)

    async def _nothing_to_do(self, board: Board, command: AnyCommand, digest: str) -> Outcome:
        # A retry of a command that did change the board decides to nothing now: answer as before.
        recorded = await self._store.recorded(board.board_id, command.command_id)
        if recorded is not None:
            return self._replay(recorded, digest)
        return Outcome(encode_result(board.board_id, board.version, []), board.version)

    async def _recorded_or_raise(self, board_id: UUID, command: AnyCommand, digest: str) -> Outcome:
        """Called while handling a refusal: a retried command that did apply gets its answer."""
        recorded = await self._store.recorded(board_id, command.command_id)
        if recorded is None:
            raise
        return self._replay(recorded, digest)

    @staticmethod
    def _replay(recorded: Recorded, digest: str) -> Outcome:
        if recorded.request_hash != digest:
            raise IdempotencyMismatchError("this command id was used for another command")
        version = orjson.loads(recorded.result)["version"]
        return Outcome(recorded.result, int(version))

    async def _append(
        self,
        state: Decided,
        command: AnyCommand,
        caller: Caller,
        digest: str,
        events: list[Event],
    ) -> Outcome:
        board = state.board
        epoch = await self._store.epoch(board.board_id)
        now = self._clock()
        unchained = [
            event_envelope(
                payload,
                event_id=uuid.uuid4(),
                board_id=board.board_id,
                version=board.version + i,
                occurred_at=now,
                actor=caller.user_id,
                command_id=command.command_id,
                correlation_id=caller.correlation_id,
                causation_id=str(command.command_id),
                epoch=epoch,
            )
            for i, payload in enumerate(events, start=1)
        ]
        envelopes = link(unchained, state.last_hash)
        encoded = [event_adapter.dump_json(e) for e in envelopes]
        version = board.version + len(envelopes)
        body = encode_result(board.board_id, version, encoded)
        outcome = await self._store.append(
            NewEvents(
                board_id=board.board_id,
                expected_version=board.version,
                epoch=epoch,
                events=encoded,
                command_id=command.command_id,
                request_hash=digest,
                result=body,
            )
        )
        if isinstance(outcome, Recorded):
            return self._replay(outcome, digest)
        assert isinstance(outcome, Appended)
        decided = fold(board, envelopes)
        self._remember(Decided(decided, envelopes[-1].hash or ZERO_HASH))
        if decided.version // self._snapshot_every > board.version // self._snapshot_every:
            self._snapshot_later(decided)
        return Outcome(body, outcome.version)

    async def _refresh(self, board_id: UUID) -> Decided:
        cached = self._cache.get(board_id)
        tip = await self._store.tip(board_id)
        # Unknown only for a board from before the chain whose log was trimmed: the append then
        # takes our word for it (docs/event-chain.md).
        tip_hash = tip.hash or ZERO_HASH
        if (
            cached is not None
            and cached.board.version == tip.version
            and (tip.hash is None or cached.last_hash == tip.hash)
        ):
            self._remember(cached)
            return cached
        board = cached.board if cached is not None else await self._from_snapshot(board_id)
        last_hash = cached.last_hash if cached is not None else None
        if tip.version < board.version or (cached is not None and tip.version == board.version):
            board, last_hash = Board(board_id=board_id), ZERO_HASH  # the log was rewritten
        # To the end, not to the tip: under contention the newest state is worth the read.
        events = await self._store.read(board_id, after_version=board.version)
        if events and last_hash is not None and events[0].prev_hash not in (None, last_hash):
            # What we cached is not what the log holds below the new events: fold it again.
            events = await self._store.read(board_id)
            board = Board(board_id=board_id)
        if events and events[-1].version > tip.version and events[-1].hash is None:
            events = [e for e in events if e.version <= tip.version]  # unchained: keep the tip's
        if events and events[-1].version > tip.version:
            tip_hash = events[-1].hash or tip_hash
        decided = Decided(fold(board, events), tip_hash)
        self._remember(decided)
        return decided

    async def _from_snapshot(self, board_id: UUID) -> Board:
        saved = await self._store.snapshot(board_id)
        board = from_snapshot(orjson.loads(saved[1])) if saved is not None else None
        return board or Board(board_id=board_id)

    def _snapshot_later(self, board: Board) -> None:
        # Off the request path: a snapshot is a cache of the log, never needed for correctness.
        task = asyncio.create_task(self._save_snapshot(board))
        self._snapshot_tasks.add(task)
        task.add_done_callback(self._snapshot_tasks.discard)

    async def _save_snapshot(self, board: Board) -> None:
        try:
            data = orjson.dumps(to_snapshot(board))
            await self._store.save_snapshot(board.board_id, board.version, data)
        except Exception:
            log.warning("could not save a snapshot", exc_info=True)

    async def drain(self) -> None:
        """Waits for snapshots being saved (tests, shutdown)."""
        await asyncio.gather(*self._snapshot_tasks, return_exceptions=True)

    def _remember(self, decided: Decided) -> None:
        board_id = decided.board.board_id
        self._cache[board_id] = decided
        self._cache.move_to_end(board_id)
        while len(self._cache) > self._cached_boards:
            self._cache.popitem(last=False)
