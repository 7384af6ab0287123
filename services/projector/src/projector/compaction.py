"""Compaction: trimming the Redis streams below what nothing needs from Redis any more.

A board's log is trimmed (`XTRIM MINID <v>-0`, exact, never MAXLEN) below the lowest of
- each generation's coverage of the board (live, and a rebuild under way): the version of its board
  document, since a writer stores a board's events in the archive before its documents;
- the archive's gapless prefix of the board: only versions the `events` collection holds, all of
  them, from version 1;
- the version of the board's latest snapshot: the command side loads a board from its snapshot
  plus the log after it, so it never reads what is trimmed.
The entry at that version stays, so a log is never emptied and its head is always in Redis.

A partition's feed is trimmed below the lowest checkpoint of every generation: those entries were
applied and archived. Consumer groups are delivery, not checkpoints (docs/adr/006); a generation
without a checkpoint for a partition keeps its whole feed.

Readers of events go through `projector.audit.log.BoardEvents`, which reads the archive and the log
as one sequence, so trimming changes no answer.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from contracts.streams import StreamKeys, board_entry_id
from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase
from redis.asyncio import Redis

from projector.mongo import MongoReadStore, generation_pointer

Doc = dict[str, Any]
FEED_COUNT_PAGE = 10_000


@dataclass(frozen=True, slots=True)
class BoardTrim:
    board_id: str
    # The log's first version before trimming (None: no log in Redis).
    first: int | None
    # Versions below this are trimmed (or would be, in a dry run); None: nothing to trim.
    min_version: int | None
    snapshot: int
    coverage: int
    archived: int
    trimmed: int

    def as_dict(self) -> Doc:
        return {"kind": "board", **asdict(self)}


@dataclass(frozen=True, slots=True)
class FeedTrim:
    partition: int
    min_id: str | None
    reason: str
    trimmed: int

    def as_dict(self) -> Doc:
        return {"kind": "feed", **asdict(self)}


@dataclass(frozen=True, slots=True)
class CompactionReport:
    boards: list[BoardTrim]
    feeds: list[FeedTrim]
    dry_run: bool

    @property
    def trimmed(self) -> int:
        return sum(t.trimmed for t in self.boards) + sum(t.trimmed for t in self.feeds)


def _id_tuple(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


async def _stores(db: AsyncDatabase[Doc]) -> list[MongoReadStore]:
    pointer = await generation_pointer(db)
    generations = [pointer.live]
    if pointer.building is not None and pointer.building != pointer.live:
        generations.append(pointer.building)
    return [MongoReadStore(db, generation=g) for g in generations]


async def _archived_prefix(store: MongoReadStore, board_id: str, up_to: int) -> int:
    """The highest v <= `up_to` such that the archive holds every version 1..v."""
    if up_to <= 0:
        return 0
    query = {"board_id": board_id, "version": {"$lte": up_to}}
    if await store.events.count_documents(query) == up_to:
        return up_to  # (board, version) is unique, so `up_to` documents are 1..up_to
    expected = 1
    async for doc in store.events.find(query, {"version": 1}).sort("version", ASCENDING):
        if int(doc["version"]) != expected:
            break
        expected += 1
    return expected - 1


async def _first_version(redis: Redis, log: str) -> int | None:
    entries: Any = await redis.xrange(log, count=1)
    return int(entries[0][0].split(b"-", 1)[0]) if entries else None


async def _snapshot_version(redis: Redis, keys: StreamKeys, board: uuid.UUID) -> int:
    version: Any = await redis.hget(keys.board_snapshot(board), "version")
    return int(version) if version is not None else 0


async def compact_board(
    redis: Redis,
    stores: Sequence[MongoReadStore],
    keys: StreamKeys,
    board_id: str,
    *,
    dry_run: bool = False,
) -> BoardTrim:
    board = uuid.UUID(board_id)
    log = keys.board_log(board)
    snapshot = await _snapshot_version(redis, keys, board)
    coverage = min([await s.board_version(board) or 0 for s in stores])
    archived = await _archived_prefix(stores[0], board_id, min(snapshot, coverage))
    bound = min(snapshot, coverage, archived)
    first = await _first_version(redis, log)
    if first is None or bound <= first:
        return BoardTrim(board_id, first, None, snapshot, coverage, archived, 0)
    trimmed = bound - first  # a board's log is gapless
    if not dry_run:
        trimmed = int(await redis.xtrim(log, minid=board_entry_id(bound), approximate=False))
    return BoardTrim(board_id, first, bound, snapshot, coverage, archived, trimmed)


async def _count_below(redis: Redis, feed: str, min_id: str) -> int:
    count, start = 0, "-"
    while True:
        page: Any = await redis.xrange(feed, start, "(" + min_id, count=FEED_COUNT_PAGE)
        count += len(page)
        if len(page) < FEED_COUNT_PAGE:
            return count
        start = "(" + page[-1][0].decode()


async def compact_feed(
    redis: Redis,
    stores: Sequence[MongoReadStore],
    keys: StreamKeys,
    partition: int,
    *,
    dry_run: bool = False,
) -> FeedTrim:
    positions = []
    for store in stores:
        checkpoint = await store.checkpoint(partition)
        if checkpoint is None:
            reason = f"generation {store.generation} has no checkpoint"
            return FeedTrim(partition, None, reason, 0)
        positions.append(checkpoint.position)
    min_id = min(positions, key=_id_tuple)
    feed = keys.feed(partition)
    if dry_run:
        trimmed = await _count_below(redis, feed, min_id) if min_id != "0-0" else 0
    else:
        trimmed = int(await redis.xtrim(feed, minid=min_id, approximate=False))
    return FeedTrim(partition, min_id, "lowest checkpoint", trimmed)


async def compact(
    redis: Redis,
    db: AsyncDatabase[Doc],
    keys: StreamKeys,
    *,
    board_ids: Sequence[str] | None = None,
    dry_run: bool = False,
) -> CompactionReport:
    """Every archived board's log (or those of `board_ids`), and with all boards, every feed."""
    stores = await _stores(db)
    if board_ids is None:
        boards = sorted(str(b) for b in await stores[0].events.distinct("board_id"))
    else:
        boards = [str(uuid.UUID(b)) for b in board_ids]
    trims = [await compact_board(redis, stores, keys, b, dry_run=dry_run) for b in boards]
    feeds = []
    if board_ids is None:
        feeds = [
            await compact_feed(redis, stores, keys, p, dry_run=dry_run)
            for p in range(keys.partitions)
        ]
    return CompactionReport(trims, feeds, dry_run)
