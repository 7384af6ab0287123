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

Readers of events go through `projector.events.BoardEvents`, which reads the archive and the log
as one sequence, so trimming changes no answer.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from cardstream_runtime.redis_urls import AnyRedis
from contracts.streams import StreamKeys

from projector.ops.progress import Progress
from projector.store.port import ReadStore
from projector.streams import BoardLog, Feeds, parse_id

Doc = dict[str, Any]


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


async def _stores(store: ReadStore) -> list[ReadStore]:
    pointer = await store.generation_pointer()
    generations = [pointer.live]
    if pointer.building is not None and pointer.building != pointer.live:
        generations.append(pointer.building)
    return [store.at(g) for g in generations]


async def compact_board(
    redis: AnyRedis,
    stores: Sequence[ReadStore],
    keys: StreamKeys,
    board_id: str,
    *,
    dry_run: bool = False,
) -> BoardTrim:
    board = uuid.UUID(board_id)
    board_log = BoardLog(redis, keys)
    snapshot = await board_log.snapshot_version(board)
    coverage = min([await s.board_version(board) or 0 for s in stores])
    archived = await stores[0].archived_prefix(board, min(snapshot, coverage))
    bound = min(snapshot, coverage, archived)
    first = await board_log.first_version(board)
    if first is None or bound <= first:
        return BoardTrim(board_id, first, None, snapshot, coverage, archived, 0)
    trimmed = bound - first  # a board's log is gapless
    if not dry_run:
        trimmed = await board_log.trim_below(board, bound)
    return BoardTrim(board_id, first, bound, snapshot, coverage, archived, trimmed)


async def compact_feed(
    feeds: Feeds,
    stores: Sequence[ReadStore],
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
    min_id = min(positions, key=parse_id)
    if not dry_run:
        trimmed = await feeds.trim_below(partition, min_id)
    elif parse_id(min_id) > (0, 0):
        trimmed = await feeds.count(partition, "-", "(" + min_id)
    else:
        trimmed = 0
    return FeedTrim(partition, min_id, "lowest checkpoint", trimmed)


async def compact(
    redis: AnyRedis,
    store: ReadStore,
    keys: StreamKeys,
    progress: Progress,
    *,
    board_ids: Sequence[str] | None = None,
    dry_run: bool = False,
) -> CompactionReport:
    """Every archived board's log (or those of `board_ids`), and with all boards, every feed."""
    stores = await _stores(store)
    if board_ids is None:
        boards = await store.archived_boards()
    else:
        boards = [str(uuid.UUID(b)) for b in board_ids]
    trims = []
    for n, board in enumerate(boards, start=1):
        trims.append(await compact_board(redis, stores, keys, board, dry_run=dry_run))
        progress.advance(n, len(boards), "boards")
    feeds = []
    if board_ids is None:
        feeds = [
            await compact_feed(Feeds(redis, keys), stores, p, dry_run=dry_run)
            for p in range(keys.partitions)
        ]
    report = CompactionReport(trims, feeds, dry_run)
    progress.say(f"{'would trim' if dry_run else 'trimmed'} {report.trimmed:,} entries")
    return report
