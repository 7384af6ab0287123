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
import time
import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TextIO

from contracts.streams import BOARD_FIELD, StreamKeys
from pymongo.asynchronous.database import AsyncDatabase
from redis.asyncio import Redis

from projector.audit.log import BoardEvents, MongoEventArchive, RedisEventLog
from projector.audit.shape import as_stored
from projector.consumer import EventFailedError, PartitionApplier, PartitionLease, lease_key
from projector.generations import rebuild_lock_key
from projector.mongo import (
    GENERATION_COLLECTIONS,
    GENERATIONS,
    POINTER_ID,
    Checkpoint,
    MongoReadStore,
    collection_name,
    generation_pointer,
)
from projector.projections import BoardProjection, apply_event
from projector.supervisor import generation_group

log = logging.getLogger("projector.rebuild")

Doc = dict[str, Any]
FEED_PAGE = 5_000
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

    @property
    def ok(self) -> bool:
        return not self.problems


class Progress:
    """Lines on stderr while the rebuild runs: what is done, and how fast."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._started = time.monotonic()
        self.events = 0

    def say(self, message: str) -> None:
        elapsed = max(time.monotonic() - self._started, 1e-6)
        rate = self.events / elapsed
        print(
            f"rebuild [{elapsed:7.1f}s] {message} ({self.events:,} events, {rate:,.0f} events/s)",
            file=self._out,
            flush=True,
        )


def _id_tuple(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def canonical(value: Any) -> str:
    """Canonical JSON: sorted keys, no spaces, times in ISO 8601."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=_default)


def _strip(doc: Doc, *names: str) -> Doc:
    return {k: v for k, v in doc.items() if k not in ("_id", *names)}


async def stored_documents(store: MongoReadStore, board_id: str) -> Doc | None:
    """A board's documents in one generation, in a canonical shape (None: no board document)."""
    board = await store.boards.find_one({"_id": board_id})
    if board is None:
        return None
    cards = [_strip(c) async for c in store.cards.find({"board_id": board_id})]
    members = {
        m["user_id"]: _strip(m, "user_id", "board_id")
        async for m in store.memberships.find({"board_id": board_id})
    }
    return {
        "board": _strip(board),
        "cards": sorted(cards, key=lambda c: str(c["card_id"])),
        "memberships": members,
    }


def folded_documents(projection: BoardProjection) -> Doc:
    """What a writer stores for a projection folded from version 1, in the same shape."""
    assert projection.board is not None
    return {
        "board": as_stored(projection.board),
        "cards": sorted(
            (as_stored(c) for c in projection.cards.values()), key=lambda c: str(c["card_id"])
        ),
        "memberships": {user: as_stored(m) for user, m in projection.dirty_members.items()},
    }


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


async def feed_head(redis: Redis, feed: str) -> str:
    entries: Any = await redis.xrevrange(feed, count=1)
    return entries[0][0].decode() if entries else "0-0"


async def feed_boards(redis: Redis, feed: str, up_to: str) -> set[str]:
    """The boards named on a feed up to an entry id."""
    boards: set[str] = set()
    start = "-"
    while True:
        page: Any = await redis.xrange(feed, start, up_to, count=FEED_PAGE)
        for _, fields in page:
            board = fields.get(BOARD_FIELD.encode())
            if board is not None:
                boards.add(board.decode())
        if len(page) < FEED_PAGE:
            return boards
        start = "(" + page[-1][0].decode()


async def log_head(redis: Redis, keys: StreamKeys, board_id: str) -> int:
    entries: Any = await redis.xrevrange(keys.board_log(uuid.UUID(board_id)), count=1)
    return int(entries[0][0].split(b"-", 1)[0]) if entries else 0


async def archived_boards(store: MongoReadStore) -> list[str]:
    return sorted(str(b) for b in await store.events.distinct("board_id"))


class Rebuild:
    def __init__(
        self,
        redis: Redis,
        db: AsyncDatabase[Doc],
        keys: StreamKeys,
        options: RebuildOptions,
        out: TextIO,
    ) -> None:
        self.redis = redis
        self.db = db
        self.keys = keys
        self.options = options
        self.progress = Progress(out)
        self.events = BoardEvents(MongoEventArchive(db["events"]), RedisEventLog(redis, keys))
        self._appliers: list[PartitionApplier] = []
        self._leases: list[PartitionLease] = []

    # -- the whole run -------------------------------------------------------------------------

    async def run(self) -> Verification:
        live, new = await self._begin()
        store = MongoReadStore(self.db, generation=new)
        try:
            await store.ensure_indexes()
            known = await self._fold_all(store)
            async with self._holding_partitions(store, new):
                await self._drain("catching up")
                heads = {board: await log_head(self.redis, self.keys, board) for board in known}
                await self._drain("catching up again")
                result = await self.verify(store, live=store.at(live), heads=heads)
                if not result.ok:
                    raise RebuildError(
                        f"generation {new} failed verification; the live generation {live} "
                        "stays: " + "; ".join(result.problems[:10])
                    )
                await self._drain("last catch-up before the switch")
                await self._switch(live, new)
        except BaseException:
            await self._abandon(new)
            raise
        self.progress.say(f"switched the read models from generation {live} to {new}")
        return result

    async def _begin(self) -> tuple[int, int]:
        pointer = await generation_pointer(self.db)
        taken = await self.redis.set(
            self._lock_key(), self.options.consumer, nx=True, px=self.options.lease_ms * 4
        )
        if not taken:
            raise RebuildError("another rebuild is running")
        new = pointer.building or pointer.live + 1
        for base in GENERATION_COLLECTIONS:
            await self.db.drop_collection(collection_name(base, new))
        await self.db[GENERATIONS].update_one(
            {"_id": POINTER_ID},
            {"$set": {"building": new}, "$setOnInsert": {"live": pointer.live}},
            upsert=True,
        )
        self.progress.say(f"building generation {new} beside the live generation {pointer.live}")
        return pointer.live, new

    def _lock_key(self) -> str:
        return rebuild_lock_key(self.keys)

    async def _abandon(self, new: int) -> None:
        with contextlib.suppress(Exception):
            await self.db[GENERATIONS].update_one(
                {"_id": POINTER_ID, "building": new}, {"$set": {"building": None}}
            )
        with contextlib.suppress(Exception):
            await self.redis.delete(self._lock_key())

    async def _switch(self, live: int, new: int) -> None:
        switched = await self.db[GENERATIONS].update_one(
            {"_id": POINTER_ID, "live": live, "building": new},
            {"$set": {"live": new, "building": None, "previous": live}},
        )
        if switched.matched_count != 1:
            raise RebuildError("the generation pointer changed under the rebuild")
        await self.redis.delete(self._lock_key())

    # -- folding what is already in the log ----------------------------------------------------

    async def _fold_all(self, store: MongoReadStore) -> set[str]:
        archived = await archived_boards(store)
        known: set[str] = set()
        for partition in range(self.keys.partitions):
            boards = await self._fold_partition(store, partition, archived)
            known |= boards
            self.progress.say(
                f"folded partition {partition} ({partition + 1}/{self.keys.partitions} "
                f"partitions done): {len(boards)} boards"
            )
        return known

    async def _fold_partition(
        self, store: MongoReadStore, partition: int, archived: Iterable[str]
    ) -> set[str]:
        feed = self.keys.feed(partition)
        head = await feed_head(self.redis, feed)
        epoch: bytes | None = await self.redis.get(self.keys.epoch(partition))  # type: ignore[assignment]
        # The checkpoint before the folds: everything on the feed up to it is in them.
        await store.save_checkpoint(Checkpoint(partition, head, epoch.decode() if epoch else None))
        boards = {b for b in archived if self.keys.partition_of(uuid.UUID(b)) == partition}
        if head != "0-0":
            boards |= await feed_boards(self.redis, feed, head)
        queue = sorted(boards)
        semaphore = asyncio.Semaphore(FOLDS_AT_ONCE)

        async def fold_one(board_id: str) -> None:
            async with semaphore:
                projection, count = await fold(self.events, board_id)
                if projection.board is not None:
                    await store.write([projection])
                self.progress.events += count

        await asyncio.gather(*(fold_one(b) for b in queue))
        return boards

    # -- catching up with the feeds ------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _holding_partitions(self, store: MongoReadStore, new: int) -> AsyncIterator[None]:
        group = generation_group(self.options.group, new)
        for partition in range(self.keys.partitions):
            lease = PartitionLease(
                self.redis,
                lease_key(self.keys, partition, group),
                self.options.consumer,
                self.options.lease_ms,
            )
            if not await lease.acquire():
                raise RebuildError(f"the lease of partition {partition} for {group} is held")
            self._leases.append(lease)
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
        renewing = asyncio.create_task(self._renew_leases())
        try:
            yield
        finally:
            renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewing
            for lease in self._leases:
                await lease.release()

    async def _renew_leases(self) -> None:
        lock = self._lock_key()
        while True:
            await asyncio.sleep(self.options.lease_ms / 3000)
            for lease in self._leases:
                if not await lease.renew():
                    log.error("the rebuild lost a lease", extra={"fields": {"key": lease.key}})
            await self.redis.pexpire(lock, self.options.lease_ms * 4)

    async def _drain(self, what: str) -> None:
        """Applies every partition's feed up to the head it had when this began (a writer that
        keeps writing would keep a drain "until nothing is new" going forever)."""
        handled = 0
        for n, applier in enumerate(self._appliers, start=1):
            handled += await self._drain_partition(applier)
            self.progress.events += handled
            self.progress.say(f"{what}: {n}/{len(self._appliers)} partitions caught up")

    async def _drain_partition(self, applier: PartitionApplier) -> int:
        target = _id_tuple(await feed_head(self.redis, applier.feed))
        handled = 0
        while applier.checkpoint is None or _id_tuple(applier.checkpoint.position) < target:
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
        store: MongoReadStore,
        *,
        live: MongoReadStore | None = None,
        heads: dict[str, int] | None = None,
    ) -> Verification:
        result = Verification()
        stored = {str(b["_id"]) async for b in store.boards.find({}, {"_id": 1})}
        for board_id in sorted((heads or {}).keys() - stored):
            if heads and heads[board_id] > 0:
                result.problems.append(f"board {board_id}: no document")
        for n, board_id in enumerate(sorted(stored), start=1):
            head = (heads or {}).get(board_id)
            await self._verify_board(store, live, board_id, head, result)
            if n % 500 == 0:
                self.progress.say(f"verified {n:,} of {len(stored):,} boards")
        self.progress.say(
            f"verified {result.boards:,} boards: {result.equal_to_live:,} equal to the live "
            f"generation at the same version, {len(result.problems)} problems"
        )
        return result

    async def _verify_board(
        self,
        store: MongoReadStore,
        live: MongoReadStore | None,
        board_id: str,
        head: int | None,
        result: Verification,
    ) -> None:
        result.boards += 1
        for _ in range(ATTEMPTS):
            # A generation being applied may move between reading its board and its cards.
            documents = await stored_documents(store, board_id)
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
        if count != version or projection.version != version:
            result.problems.append(
                f"board {board_id}: version {version} but {count} events in the log"
            )
            return
        if not same:
            result.problems.append(f"board {board_id}: the documents differ from the fold")
        if live is not None and store.generation != live.generation:
            live_documents = await stored_documents(live, board_id)
            if live_documents is not None and live_documents["board"]["version"] == version:
                if canonical(live_documents) == canonical(documents):
                    result.equal_to_live += 1
                elif await live.board_version(uuid.UUID(board_id)) == version:
                    result.problems.append(f"board {board_id}: differs from the live documents")


async def rebuild(
    redis: Redis,
    db: AsyncDatabase[Doc],
    keys: StreamKeys,
    options: RebuildOptions,
    out: TextIO,
) -> Verification:
    return await Rebuild(redis, db, keys, options, out).run()


async def verify_live(
    redis: Redis, db: AsyncDatabase[Doc], keys: StreamKeys, out: TextIO
) -> Verification:
    """The live generation against folds of the log, changing nothing."""
    pointer = await generation_pointer(db)
    checker = Rebuild(redis, db, keys, RebuildOptions(), out)
    return await checker.verify(MongoReadStore(db, generation=pointer.live))
