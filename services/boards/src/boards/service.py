"""The command side's use case: decide commands against a board and append what they cause.

Decided state stays in memory between commands; the append's version check is what makes that
safe (another process may have moved the board on), so the common path costs one Redis round trip.
Commands of one board queue in this process and are committed in groups (docs/adr/008): while a
group's append is in flight the next commands queue up; then they are decided one after another
against the board as the group before left it, and appended together in one atomic call, each
with its own idempotency record and answer. Nothing is answered before that call returns.
Beside each cached board sits the hash of its newest event, which the next events chain on from
(docs/event-chain.md); the domain never sees it.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import OrderedDict, deque
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Any
from uuid import UUID

import orjson
from contracts.chain import ZERO_HASH
from contracts.commands import CreateBoard
from contracts.envelope import AnyCommand
from contracts.events import Event

from boards.adapters.event_store import (
    BoardFencedError,
    ChainBrokenError,
    Duplicates,
    EpochChangedError,
    EventStore,
    NewEvents,
    VersionConflictError,
)
from boards.domain import (
    Board,
    BoardNotFoundError,
    Context,
    DomainError,
    advance,
    board_exists,
    check_access,
    decide,
    fold,
)
from boards.domain.snapshot import from_snapshot, to_snapshot
from boards.groups import (
    Caller,
    Decided,
    Outcome,
    Pending,
    Plan,
    answer_from_record,
    encode_result,
    reject,
    request_hash,
    resolve,
    take_group,
    utc_now,
)
from boards.sealing import Stamp, seal

log = logging.getLogger("boards.commands")

MAX_ATTEMPTS = 50
# After a conflict the group is decided again at once; after a second one it waits a random
# while first (full jitter, doubling up to the cap). Without it, processes deciding groups for
# one board can overtake each other in lockstep until the attempts run out, and callers get a
# conflict they did not cause (seen with four processes and twenty writers on a loaded machine).
CONFLICT_BACKOFF_S = 0.001
CONFLICT_BACKOFF_MAX_S = 0.05
DEFAULT_CACHED_BOARDS = 10_000
# A snapshot every this many events bounds a cold load to one snapshot plus at most this many.
DEFAULT_SNAPSHOT_EVERY = 1_000


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
        self._queues: dict[UUID, deque[Pending]] = {}
        self._snapshot_every = snapshot_every
        self._tasks: set[asyncio.Task[None]] = set()

    async def handle(self, board_id: UUID, command: AnyCommand, caller: Caller) -> Outcome:
        answer: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        pending = Pending(command, caller, request_hash(command), answer)
        queue = self._queues.get(board_id)
        if queue is None:
            # The first command of an idle board starts its committer, which runs until the
            # board's queue is empty again.
            queue = self._queues[board_id] = deque()
            self._start(self._commit_queue(board_id, queue))
        queue.append(pending)
        return await answer

    def queued(self, board_id: UUID) -> int:
        """Commands of the board waiting for the group in flight to be appended."""
        queue = self._queues.get(board_id)
        return len(queue) if queue is not None else 0

    async def load(self, board_id: UUID) -> Board:
        """The board as of the newest event in the store (and cached from then on)."""
        return (await self._refresh(board_id)).board

    def _start(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _commit_queue(self, board_id: UUID, queue: deque[Pending]) -> None:
        try:
            while queue:
                group = take_group(queue)
                if group:
                    await self._commit_group(board_id, group)
        except BaseException as exc:
            for pending in queue:
                reject(pending, exc)
            raise
        finally:
            # No await between the last look at the queue and this: nothing can join it unseen.
            if self._queues.get(board_id) is queue:
                del self._queues[board_id]

    async def _commit_group(self, board_id: UUID, group: list[Pending]) -> None:
        try:
            await self._settle(board_id, group)
        except BaseException as exc:
            # Redis unreachable, a bug, shutdown: each caller of the group hears it.
            for pending in group:
                reject(pending, exc)
            if not isinstance(exc, Exception):
                raise

    async def _settle(self, board_id: UUID, group: list[Pending]) -> None:
        state = self._cache.get(board_id) or await self._refresh(board_id)
        for attempt in range(MAX_ATTEMPTS):
            plan = self._plan(state, group, await self._store.epoch(board_id))
            if not plan.batches:
                fresh = await self._refresh(board_id) if plan.refused else state
                if fresh != state:
                    state = fresh  # our copy was stale; judge again on the board as it is
                    continue
                await self._answer(board_id, plan)
                return
            try:
                outcome = await self._store.append_group(plan.batches)
            except BoardFencedError as fenced:
                # Held for recovery: no decision again can change that (docs/operations.md).
                await self._refuse_all(board_id, state, plan, group, fenced)
                return
            except (VersionConflictError, EpochChangedError, ChainBrokenError):
                # Another writer moved the board (or its log changed): decide the whole group
                # again on the board as it is now, so no caller sees a conflict it did not cause.
                if attempt:
                    ceiling = min(CONFLICT_BACKOFF_MAX_S, CONFLICT_BACKOFF_S * 2**attempt)
                    await asyncio.sleep(random.uniform(0, ceiling))
                state = await self._refresh(board_id)
                continue
            if isinstance(outcome, Duplicates):
                group = self._answer_duplicates(plan, outcome, group)
                continue
            self._committed(plan)
            await self._answer(board_id, plan)
            return
        # Out of attempts.
        await self._refuse_all(
            board_id, state, plan, group, VersionConflictError(state.board.version)
        )

    async def _refuse_all(
        self, board_id: UUID, state: Decided, plan: Plan, group: list[Pending], error: Exception
    ) -> None:
        """Every command of the group hears `error`, but one refused because the board is hidden
        from its caller keeps that refusal: `error` (a conflict's version, a fence) would tell
        them the board is there."""
        hidden: list[tuple[Pending, Exception]] = [
            (p, e) for p, e in plan.refused if isinstance(e, BoardNotFoundError)
        ]
        await self._answer(board_id, Plan(before=state, after=state, refused=hidden))
        for pending in group:
            reject(pending, error)

    def _plan(self, state: Decided, group: list[Pending], epoch: str) -> Plan:
        """Decides the group's commands one after another, each on the board as the ones before
        it left it; a refused command leaves the board as it was for the next."""
        plan = Plan(before=state, after=state)
        now = self._clock()
        for pending in group:
            board = plan.after.board
            ctx = Context(
                actor=pending.caller.user_id,
                command_id=pending.command.command_id,
                actor_profile=pending.caller.profile,
            )
            try:
                payloads = self._decide(board, pending.command, ctx)
            except (DomainError, VersionConflictError) as exc:
                plan.refused.append((pending, exc))
                continue
            if not payloads:
                unchanged = Outcome(encode_result(board.board_id, board.version, []), board.version)
                plan.unchanged.append((pending, unchanged))
                continue
            self._add(
                plan,
                pending,
                payloads,
                Stamp(
                    board_id=board.board_id,
                    occurred_at=now,
                    actor=pending.caller.user_id,
                    command_id=pending.command.command_id,
                    correlation_id=pending.caller.correlation_id,
                    epoch=epoch,
                ),
            )
        return plan

    @staticmethod
    def _add(plan: Plan, pending: Pending, payloads: list[Event], stamp: Stamp) -> None:
        board = plan.after.board
        sealed = seal(payloads, stamp, after_version=board.version, prev_hash=plan.after.last_hash)
        version = board.version + len(sealed.events)
        body = encode_result(board.board_id, version, sealed.events)
        plan.batches.append(
            NewEvents(
                board_id=board.board_id,
                expected_version=board.version,
                epoch=stamp.epoch,
                events=sealed.events,
                command_id=pending.command.command_id,
                request_hash=pending.digest,
                result=body,
            )
        )
        plan.appending.append((pending, Outcome(body, version)))
        plan.after = Decided(advance(board, payloads), sealed.last_hash)

    @staticmethod
    def _decide(board: Board, command: AnyCommand, ctx: Context) -> list[Event]:
        # Before the version: a stale expected_version must not tell a stranger the board's.
        check_access(board, command.payload, ctx.actor)
        if command.expected_version is not None and command.expected_version != board.version:
            raise VersionConflictError(board.version)
        return decide(board, command.payload, ctx)

    @staticmethod
    def _answer_duplicates(
        plan: Plan, duplicates: Duplicates, group: list[Pending]
    ) -> list[Pending]:
        """Answers the group's retried commands from their records; the rest are decided again."""
        answered = set()
        for index, recorded in duplicates.recorded.items():
            pending = plan.appending[index][0]
            # A create decided on a board we thought missing: the record says it is there.
            refusal = (
                board_exists(plan.before.board.board_id)
                if isinstance(pending.command.payload, CreateBoard)
                else None
            )
            answer_from_record(pending, recorded, refusal)
            answered.add(id(pending))
        return [pending for pending in group if id(pending) not in answered]

    def _committed(self, plan: Plan) -> None:
        before, after = plan.before.board, plan.after.board
        self._remember(plan.after)
        if after.version // self._snapshot_every > before.version // self._snapshot_every:
            self._snapshot_later(after)

    async def _answer(self, board_id: UUID, plan: Plan) -> None:
        for pending, outcome in plan.appending:
            resolve(pending, outcome)
        # A retry of a command that did change the board may now be refused or change nothing:
        # before either answer, its record is looked for (ADR 003).
        refused, unchanged = plan.refused, plan.unchanged
        if not refused and not unchanged:
            return
        records = await asyncio.gather(
            *(
                self._store.recorded(board_id, pending.command.command_id)
                for pending, _ in [*refused, *unchanged]
            )
        )
        for (pending, error), recorded in zip(refused, records[: len(refused)], strict=True):
            if recorded is None:
                reject(pending, error)
            else:
                answer_from_record(pending, recorded, error)
        for (pending, outcome), recorded in zip(unchanged, records[len(refused) :], strict=True):
            if recorded is None:
                resolve(pending, outcome)
            else:
                answer_from_record(pending, recorded)

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
        self._start(self._save_snapshot(board))

    async def _save_snapshot(self, board: Board) -> None:
        try:
            data = orjson.dumps(to_snapshot(board))
            await self._store.save_snapshot(board.board_id, board.version, data)
        except Exception:
            log.warning("could not save a snapshot", exc_info=True)

    async def drain(self) -> None:
        """Waits for queued commands and snapshots being saved (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def _remember(self, decided: Decided) -> None:
        board_id = decided.board.board_id
        self._cache[board_id] = decided
        self._cache.move_to_end(board_id)
        while len(self._cache) > self._cached_boards:
            self._cache.popitem(last=False)
