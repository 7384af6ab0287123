"""Rebuilding every read model into a new generation while the live one keeps serving.

1. The new generation N is named in the pointer as `building` (compaction then keeps what it
   needs) and its collections start empty.
2. Each partition: its checkpoint in generation N is set to the feed's head *first*; then every
   board of the partition is folded from the archive plus the Redis log (compaction may have
   trimmed both the feed and the logs) and written. Whatever was on the feed up to that head is
   in those folds; whatever comes after is applied next, and what is applied twice is dropped by
   the documents' version guards.
3. The same appliers as the live projector, as consumer group `<group>-gN`, apply the feeds to
   generation N until they reach the feed heads.
4. Verification, with the appliers paused: every board is at least at the log head it had before
   the last catch-up; it folds from the log to exactly the stored documents (canonical JSON) from a
   gapless sequence of as many events as its version; where the live generation holds the same
   version, the two are the same documents.
5. A last catch-up, then the switch-over: one guarded update of the pointer. The live projectors
   notice it, stop their appliers, move their readers to generation N and apply on from its
   checkpoints; the rebuild releases its leases so they can take the partitions.

WebSocket updates come from Redis, not from the read models, so subscribers see no change.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cardstream_runtime.redis_urls import AnyRedis
from contracts.streams import StreamKeys

from projector.apply.consumer import EventFailedError, PartitionApplier
from projector.apply.leases import Lease, kept
from projector.apply.supervisor import generation_group
from projector.events import BoardEvents
from projector.fences import LOST_VERSIONS, BoardFences, Fence
from projector.ops.progress import Progress
from projector.projection import BoardProjection, apply_event
from projector.store.layout import membership_entries
from projector.store.port import (
    Checkpoint,
    GenerationChangedError,
    ReadStore,
    canonical_documents,
)
from projector.streams import BoardLog, Feeds, lease_key, parse_id, rebuild_lock_key
from projector.views import as_stored

log = logging.getLogger("projector.rebuild")

Doc = dict[str, Any]
FOLDS_AT_ONCE = 8
ATTEMPTS = 3


class RebuildError(Exception):
    """The rebuild cannot go on (another one runs, a lease is held, a document is wrong)."""


@dataclass(frozen=True, slots=True)
class RebuildOptions:
    group: str = "projector"
    consumer: str = "rebuild"
    batch_size: int = 500
    lease_ms: int = 5000
    max_attempts: int = 5


@dataclass
class Verification:
    boards: int = 0
    events: int = 0
    equal_to_live: int = 0
    problems: list[str] = field(default_factory=list)
    # user -> board -> the membership entry the fold of that board ends with, and the version the
    # board was verified at (the per-user index is checked against these once, at the end).
    folded_members: dict[str, dict[str, tuple[Doc, int]]] = field(default_factory=dict)
    verified: set[str] = field(default_factory=set)
    # Boards found beyond their log's end, held for recovery (`projector.fences`).
    fenced: list[Fence] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def canonical(value: Any) -> str:
    """Canonical JSON: sorted keys, no spaces, times in ISO 8601."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=_default)


def folded_documents(projection: BoardProjection) -> Doc:
    """What a writer stores for a projection folded from version 1, in the stores' canonical
    shape (`ReadStore.stored_documents`)."""
    assert projection.board is not None
    return canonical_documents(
        as_stored(projection.board), map(as_stored, projection.cards.values())
    )


async def fold(
    events: BoardEvents, board_id: str, to_version: int | None = None
) -> tuple[BoardProjection, int]:
    """The board folded from version 1; and how many events that took."""
    projection = BoardProjection(board_id=board_id)
    count = 0
    pages = events.pages(uuid.UUID(board_id), to_version=to_version)
    async with contextlib.aclosing(pages) as stream:
        async for page in stream:
            for event in page:
                apply_event(projection, event)
            count += len(page)
            projection.applied.clear()
    return projection, count


class Rebuild:
    def __init__(
        self,
        redis: AnyRedis,
        store: ReadStore,
        keys: StreamKeys,
        options: RebuildOptions,
        progress: Progress,
        *,
        by: str = "rebuild",
    ) -> None:
        self.redis = redis
        self.store = store
        self.keys = keys
        self.options = options
        self.progress = progress
        self.feeds = Feeds(redis, keys)
        self.board_log = BoardLog(redis, keys)
        self.events = BoardEvents.of(store, self.board_log)
        self.fences = BoardFences(redis, keys)
        self.by = by
        self._appliers: list[PartitionApplier] = []
        self._lock = Lease(redis, rebuild_lock_key(keys), options.consumer, options.lease_ms * 4)

    # -- the whole run -------------------------------------------------------------------------

    async def run(self) -> Verification:
        if not await self._lock.acquire():
            raise RebuildError("another rebuild is running")
        async with kept(self._lock) as lock_lost:
            live, new = await self.store.begin_generation()
            self.progress.say(f"building generation {new} beside the live generation {live}")
            try:
                result = await self._build(live, new, lock_lost)
            except BaseException:
                with contextlib.suppress(Exception):
                    await self.store.abandon_generation(new)
                raise
        self.progress.say(f"switched the read models from generation {live} to {new}")
        return result

    async def _build(self, live: int, new: int, lock_lost: asyncio.Event) -> Verification:
        store = self.store.at(new)
        await store.ensure_indexes()
        known = await self._fold_all(store)
        async with self._holding_partitions(store, new) as leases_lost:
            await self._drain("catching up")
            heads = {board: await self.board_log.head(uuid.UUID(board)) for board in known}
            await self._drain("catching up again")
            result = await self.verify(store, live=self.store.at(live), heads=heads)
            if not result.ok:
                raise RebuildError(
                    f"generation {new} failed verification; the live generation {live} "
                    "stays: " + "; ".join(result.problems[:10])
                )
            await self._drain("last catch-up before the switch")
            if lock_lost.is_set() or any(lost.is_set() for lost in leases_lost):
                raise RebuildError("the rebuild lost a lease; the live generation stays")
            try:
                await self.store.switch_generation(live, new)
            except GenerationChangedError as exc:
                raise RebuildError(str(exc)) from None
        return result

    # -- folding what is already in the log ----------------------------------------------------

    async def _fold_all(self, store: ReadStore) -> set[str]:
        archived = await store.archived_boards()
        known: set[str] = set()
        partitions = self.keys.partitions
        for partition in range(partitions):
            boards = await self._fold_partition(store, partition, archived)
            known |= boards
            self.progress.say(
                f"folded partition {partition} ({partition + 1}/{partitions} partitions done): "
                f"{len(boards)} boards"
            )
        return known

    async def _fold_partition(
        self, store: ReadStore, partition: int, archived: Iterable[str]
    ) -> set[str]:
        head = await self.feeds.head(partition)
        # The checkpoint before the folds: everything on the feed up to it is in them.
        epoch = await self.feeds.epoch(partition)
        await store.save_checkpoint(Checkpoint(partition, head, epoch))
        boards = {b for b in archived if self.keys.partition_of(uuid.UUID(b)) == partition}
        if parse_id(head) > (0, 0):
            boards |= await self.feeds.boards(partition, head)
        semaphore = asyncio.Semaphore(FOLDS_AT_ONCE)
        done = 0

        async def fold_one(board_id: str) -> None:
            nonlocal done
            async with semaphore:
                count = await self._fold_and_write(store, board_id)
                self.progress.events += count
                done += 1
                self.progress.advance(done, len(boards), f"boards of partition {partition}")

        await asyncio.gather(*(fold_one(b) for b in sorted(boards)))
        return boards

    async def _fold_and_write(self, store: ReadStore, board_id: str) -> int:
        """Folds the board from version 1 and writes it a page at a time, as the appliers do: the
        comment documents (and notifications) are written from the events each write applied, so
        a fold written once at its end would leave the new generation without comments. The
        events are archived already (the rebuild reads them from there and the log)."""
        projection = BoardProjection(board_id=board_id)
        count = 0
        pages = self.events.pages(uuid.UUID(board_id))
        async with contextlib.aclosing(pages) as stream:
            async for page in stream:
                for event in page:
                    apply_event(projection, event)
                count += len(page)
                if projection.board is not None:
                    await store.write([projection], archive=False)
        return count

    # -- catching up with the feeds ------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _holding_partitions(
        self, store: ReadStore, new: int
    ) -> AsyncIterator[list[asyncio.Event]]:
        group = generation_group(self.options.group, new)
        async with contextlib.AsyncExitStack() as held:
            lost = []
            for partition in range(self.keys.partitions):
                lease = Lease(
                    self.redis,
                    lease_key(self.keys, partition, group),
                    self.options.consumer,
                    self.options.lease_ms,
                )
                if not await lease.acquire():
                    raise RebuildError(f"the lease of partition {partition} for {group} is held")
                lost.append(await held.enter_async_context(kept(lease)))
                applier = PartitionApplier(
                    self.redis,
                    self.keys,
                    store,
                    partition,
                    consumer=self.options.consumer,
                    group=group,
                    batch_size=self.options.batch_size,
                    max_attempts=self.options.max_attempts,
                    claim_idle_ms=self.options.lease_ms,
                )
                await applier.start()
                self._appliers.append(applier)
            yield lost

    async def _drain(self, what: str) -> None:
        """Applies every partition's feed up to the head it had when this began (a writer that
        keeps writing would keep a drain "until nothing is new" going forever)."""
        for n, applier in enumerate(self._appliers, start=1):
            self.progress.events += await self._drain_partition(applier)
            self.progress.advance(n, len(self._appliers), f"partitions {what}")
        self.progress.say(f"{what}: {len(self._appliers)} partitions caught up")

    async def _drain_partition(self, applier: PartitionApplier) -> int:
        target = parse_id(await self.feeds.head(applier.partition))
        handled = 0
        while applier.checkpoint is None or parse_id(applier.checkpoint.position) < target:
            try:
                count = await applier.run_once(block=False)
            except EventFailedError:
                await applier.rewind()  # counted; parked once it has failed often enough
                continue
            handled += count
            if count == 0:
                break
        return handled

    # -- verification --------------------------------------------------------------------------

    async def verify(
        self,
        store: ReadStore,
        *,
        live: ReadStore | None = None,
        heads: dict[str, int] | None = None,
        log_ends: dict[str, int] | None = None,
    ) -> Verification:
        result = Verification()
        stored = await store.stored_boards()
        for board_id in sorted((heads or {}).keys() - set(stored)):
            if heads and heads[board_id] > 0:
                result.problems.append(f"board {board_id}: no document")
        for n, board_id in enumerate(stored, start=1):
            head = (heads or {}).get(board_id)
            log_end = (log_ends or heads or {}).get(board_id)
            await self._verify_board(store, live, board_id, head, result, log_end)
            self.progress.advance(n, len(stored), "boards verified")
        _verify_user_index(await store.user_index(), result)
        compared = (
            f"{result.equal_to_live:,} equal to the live generation at the same version, "
            if live is not None and live.generation != store.generation
            else ""
        )
        self.progress.say(
            f"verified {result.boards:,} boards: {compared}{len(result.problems)} problems"
        )
        return result

    async def _verify_board(
        self,
        store: ReadStore,
        live: ReadStore | None,
        board_id: str,
        head: int | None,
        result: Verification,
        log_end: int | None = None,
    ) -> None:
        """`head`: the version the board must have reached (its log's head before the last
        catch-up); `log_end`: its log's head as read before, which it must not be beyond (the
        head is read again before a board is found beyond it)."""
        result.boards += 1
        result.verified.add(board_id)
        for _ in range(ATTEMPTS):
            # A generation being applied may move between reading its board and its cards.
            documents = await store.stored_documents(board_id)
            assert documents is not None
            version = int(documents["board"]["version"])
            projection, count = await fold(self.events, board_id, version)
            same = canonical(documents) == canonical(folded_documents(projection))
            if same or await store.board_version(uuid.UUID(board_id)) == version:
                break
        result.events += count
        self.progress.events += count
        if head is not None and version < head:
            result.problems.append(f"board {board_id}: at version {version}, the log at {head}")
        if log_end is not None and version > log_end:
            await self._beyond_log_end(board_id, version, result)
        if count != version or projection.version != version:
            result.problems.append(
                f"board {board_id}: version {version} but {count} events in the log"
            )
            return
        if not same:
            result.problems.append(f"board {board_id}: the documents differ from the fold")
        for user, entry in membership_entries(projection):
            result.folded_members.setdefault(user, {})[board_id] = (entry, version)
        if live is not None and store.generation != live.generation:
            assert documents is not None
            await self._compare_with_live(live, board_id, version, documents, result)

    async def _beyond_log_end(self, board_id: str, version: int, result: Verification) -> None:
        """Acknowledged events the log no longer has (an older copy of Redis restored): a new
        command would be appended as version head + 1 and mix two histories, so the board is
        fenced at once, usually before anyone writes to it. The log's end the caller passed was
        read before this board's turn, and writes go on (the appliers follow them): only its end
        now can tell, or a busy healthy board would be taken for one."""
        log_end = await self.board_log.head(uuid.UUID(board_id))
        if version <= log_end:
            return
        result.problems.append(
            f"board {board_id}: at version {version}, but its log ends at {log_end}: the log "
            "lost versions the archive holds (docs/operations.md#a-board-whose-log-diverged)"
        )
        fence = Fence.found(
            board_id,
            f"{self.by}: the read models are at version {version}, its log ends at {log_end}; "
            f"{LOST_VERSIONS}",
            archive_version=version,
            log_end=log_end,
            by=self.by,
        )
        await self.fences.fence(fence)
        result.fenced.append(fence)

    @staticmethod
    async def _compare_with_live(
        live: ReadStore, board_id: str, version: int, documents: Doc, result: Verification
    ) -> None:
        live_documents = await live.stored_documents(board_id)
        if live_documents is None or live_documents["board"]["version"] != version:
            return
        if canonical(live_documents) == canonical(documents):
            result.equal_to_live += 1
        elif await live.board_version(uuid.UUID(board_id)) == version:
            result.problems.append(f"board {board_id}: differs from the live documents")


def _verify_user_index(index: dict[str, dict[str, Doc]], result: Verification) -> None:
    """Every user's entry for every verified board is the one its fold ends with; an entry newer
    than the version its board was verified at belongs to a board applied since: left out."""
    folded = result.folded_members
    for user in sorted(index.keys() | folded.keys()):
        stored, expected = index.get(user, {}), folded.get(user, {})
        for board_id in sorted(stored.keys() | expected.keys()):
            entry = stored.get(board_id)
            want, version = expected.get(board_id, (None, 0))
            if entry is not None and want is None and board_id not in result.verified:
                continue
            if entry is not None and int(entry["version"]) > version:
                continue
            if canonical(entry) != canonical(want):
                result.problems.append(
                    f"user {user}: the index says {entry} for board {board_id}, the fold {want}"
                )


async def rebuild(
    redis: AnyRedis, store: ReadStore, keys: StreamKeys, options: RebuildOptions, progress: Progress
) -> Verification:
    return await Rebuild(redis, store, keys, options, progress).run()


async def verify_live(
    redis: AnyRedis, store: ReadStore, keys: StreamKeys, progress: Progress
) -> Verification:
    """The live generation against folds of the log, changing nothing."""
    live = store.at((await store.generation_pointer()).live)
    checking = Rebuild(redis, live, keys, RebuildOptions(), progress, by="rebuild --verify-only")
    # Not `heads`: the live read models may trail the log (they are applied meanwhile); only
    # being ahead of it is wrong.
    log_ends = {
        board: await checking.board_log.head(uuid.UUID(board))
        for board in await live.stored_boards()
    }
    return await checking.verify(live, log_ends=log_ends)
