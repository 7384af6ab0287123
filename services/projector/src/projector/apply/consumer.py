"""Applying the partition feeds to MongoDB.

One process at a time applies a partition: the holder of its lease in Redis. The holder reads the
feed with a consumer group, in batches; applies each board's events in version order (a gap is
healed from the board's own log, never skipped); writes the touched documents; moves the
partition's checkpoint in MongoDB forward; and only then acknowledges the entries. The consumer
group is a delivery mechanism, not the checkpoint: on taking a partition, the group is rewound to
the MongoDB checkpoint, so nothing after it can be missed, and what is delivered twice is dropped
by the documents' version guards.

An event that keeps failing (it cannot be parsed or applied) is parked on the partition's
dead-letter stream after `max_attempts`, with the reason; its board is blocked at that version
(later events of that board are parked too), while every other board keeps flowing. An event of
another history than the read models' (`apply.history`: the log was rewritten under them) is
parked at once, and its board is fenced too (`projector.fences`): the command side then appends
nothing more to it. A partition whose feed ends below its checkpoint, or of another epoch, stops
the process (`LogDivergedError`), after fencing its boards whose read models are beyond their
log's end.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from cardstream_runtime.redis_urls import AnyRedis
from contracts.envelope import AnyEvent
from contracts.streams import StreamKeys
from contracts.upcasting import parse_event
from pydantic import ValidationError
from redis.exceptions import ResponseError

from projector.apply.history import divergence
from projector.events import BoardEvents
from projector.fences import BoardFences, Fence, fence_boards_beyond_their_logs
from projector.projection import BoardProjection, ProjectionError, apply_event
from projector.store.port import Checkpoint, ReadStore
from projector.streams import (
    ZERO_ID,
    BoardLog,
    FeedEntry,
    Feeds,
    dead_letter_key,
    id_text,
    parse_id,
)

log = logging.getLogger("projector.consumer")

CACHED_BOARDS = 2_000

# Told, after a batch is written and its checkpoint moved, the version each board is at now.
OnWritten = Callable[[Mapping[str, int]], Awaitable[None]]


class LogDivergedError(Exception):
    """The log is not the one the read models were built from (a restore lost its tail, or a new
    epoch began). Applying on would silently diverge; an operator must rebuild."""


# Entries applied between two turns of the event loop to everything else.
YIELD_EVERY = 500


class EventFailedError(Exception):
    """`final`: retrying cannot help (its board is blocked by an event parked before it)."""

    def __init__(self, entry: FeedEntry, reason: str, *, final: bool = False) -> None:
        super().__init__(reason)
        self.entry = entry
        self.reason = reason
        self.final = final


class PartitionApplier:
    """Applies one partition's feed while this process holds its lease."""

    def __init__(
        self,
        redis: AnyRedis,
        keys: StreamKeys,
        store: ReadStore,
        partition: int,
        *,
        consumer: str,
        group: str = "projector",
        batch_size: int = 10_000,
        block_ms: int = 1000,
        max_attempts: int = 5,
        claim_idle_ms: int = 5000,
        on_applied: Callable[[Sequence[AnyEvent]], None] | None = None,
        on_written: OnWritten | None = None,
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.store = store
        self.partition = partition
        self.consumer = consumer
        self.group = group
        self.batch_size = batch_size
        self.block_ms = block_ms
        self.max_attempts = max_attempts
        self.claim_idle_ms = claim_idle_ms
        self.on_applied = on_applied
        self.on_written = on_written
        self.feed = keys.feed(partition)
        self._feeds = Feeds(redis, keys)
        self._log = BoardLog(redis, keys)
        self._fences = BoardFences(redis, keys)
        self.checkpoint: Checkpoint | None = None
        self._boards: OrderedDict[str, BoardProjection] = OrderedDict()
        self._attempts: dict[str, int] = {}
        self._blocked: dict[str, int] = {}

    # -- taking the partition ------------------------------------------------------------------

    async def start(self) -> None:
        """Checks the log against the checkpoint and rewinds the group to it."""
        self.checkpoint = await self.store.checkpoint(self.partition)
        await self._check_not_diverged(await self._feeds.epoch(self.partition))
        position = self.checkpoint.position if self.checkpoint else ZERO_ID
        try:
            await self.redis.xgroup_create(self.feed, self.group, id=position, mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        await self.redis.xgroup_setid(self.feed, self.group, id=position)
        await self._claim_abandoned()

    async def _check_not_diverged(self, current_epoch: str | None) -> None:
        problem = await self._divergence(current_epoch)
        if problem is None:
            return
        # Before stopping: the boards whose logs lost versions their read models hold must take
        # no command meanwhile. One read of the read models and one MGET: cheap next to a stop.
        fenced = await fence_boards_beyond_their_logs(
            self._fences,
            self.store,
            self._log,
            self.keys,
            [self.partition],
            why=f"partition {self.partition}'s log diverged",
            by=f"projector {self.consumer}",
        )
        raise LogDivergedError(
            f"{problem}; rebuild the read models"
            + (f" ({len(fenced)} boards beyond their log's end fenced)" if fenced else "")
        )

    async def _divergence(self, current_epoch: str | None) -> str | None:
        checkpoint = self.checkpoint
        if checkpoint is None:
            return None
        if (
            checkpoint.epoch is not None
            and current_epoch is not None
            and checkpoint.epoch != current_epoch
        ):
            return (
                f"partition {self.partition}: the log's epoch is {current_epoch}, the read models "
                f"were built from epoch {checkpoint.epoch}"
            )
        head = await self._feeds.last_id(self.partition)
        if parse_id(head) < parse_id(checkpoint.position):
            return (
                f"partition {self.partition}: the feed ends at {head}, below the checkpoint "
                f"{checkpoint.position}: the log lost its tail"
            )
        return None

    async def _claim_abandoned(self) -> None:
        # A crashed holder's pending entries: take them over. Those at or before the checkpoint
        # were applied already; the rest are delivered again by the rewound group.
        start = ZERO_ID
        while True:
            reply = await self.redis.xautoclaim(
                self.feed, self.group, self.consumer, self.claim_idle_ms, start_id=start, count=500
            )
            next_start, claimed = reply[0], reply[1]
            done = [entry_id for entry_id, _ in claimed if self._at_or_before_checkpoint(entry_id)]
            if done:
                await self.redis.xack(self.feed, self.group, *done)
            start = id_text(next_start)
            if start == ZERO_ID:
                return

    def _at_or_before_checkpoint(self, entry_id: bytes | str) -> bool:
        if self.checkpoint is None:
            return False
        return parse_id(entry_id) <= parse_id(self.checkpoint.position)

    # -- the loop ------------------------------------------------------------------------------

    async def run_once(self, *, block: bool = True) -> int:
        """Reads and applies one batch; returns how many entries it handled."""
        reply: Any = await self.redis.xreadgroup(
            self.group,
            self.consumer,
            {self.feed: ">"},
            count=self.batch_size,
            block=self.block_ms if block else None,
        )
        if not reply:
            return 0
        entries = [FeedEntry.of(entry_id, fields) for entry_id, fields in reply[0][1]]
        await self.apply(entries)
        return len(entries)

    async def apply(self, entries: Sequence[FeedEntry]) -> None:
        parked: list[tuple[FeedEntry, str]] = []
        touched: dict[str, BoardProjection] = {}
        try:
            for n, entry in enumerate(entries, 1):
                if n % YIELD_EVERY == 0:
                    # A batch of thousands is seconds of CPU: let the process's other partitions,
                    # its lease renewals and (role `both`) its readers run in between.
                    await asyncio.sleep(0)
                try:
                    await self._apply_entry(entry, touched)
                except EventFailedError as failure:
                    if not (failure.final or self._failed_enough(failure.entry)):
                        raise  # the batch is retried; nothing was acknowledged
                    parked.append((failure.entry, failure.reason))
            applied = [event for p in touched.values() for event in p.applied]
            written = await self._write(touched)
        except BaseException:
            # What was applied in memory but not written must be applied again from the store.
            for board_id in touched:
                self._boards.pop(board_id, None)
            raise
        if parked:
            await self._park(parked)
        await self._advance(entries)
        if self.on_written is not None and written:
            await self.on_written(written)
        if self.on_applied is not None and applied:
            self.on_applied(applied)

    async def _advance(self, entries: Sequence[FeedEntry]) -> None:
        epoch = await self._feeds.epoch(self.partition)
        checkpoint = Checkpoint(self.partition, entries[-1].entry_id, epoch)
        await self.store.save_checkpoint(checkpoint)
        self.checkpoint = checkpoint
        await self.redis.xack(self.feed, self.group, *[e.entry_id for e in entries])
        for entry in entries:
            self._attempts.pop(entry.entry_id, None)

    async def rewind(self) -> None:
        """Delivers everything after the checkpoint again (after a failed batch)."""
        position = self.checkpoint.position if self.checkpoint else ZERO_ID
        await self.redis.xgroup_setid(self.feed, self.group, id=position)

    def _failed_enough(self, entry: FeedEntry) -> bool:
        attempts = self._attempts.get(entry.entry_id, 0) + 1
        self._attempts[entry.entry_id] = attempts
        return attempts >= self.max_attempts

    async def _apply_entry(self, entry: FeedEntry, touched: dict[str, BoardProjection]) -> None:
        event = self._parse(entry)
        board_id = str(event.board_id)
        blocked_at = self._blocked.get(board_id)
        if blocked_at is not None and event.version > blocked_at:
            raise EventFailedError(
                entry, f"board {board_id} is blocked at version {blocked_at}", final=True
            )
        projection = touched.get(board_id) or await self._projection(board_id)
        touched[board_id] = projection
        if event.version <= projection.version:
            # Delivered again, and already applied: unless it is another event of that version.
            await self._check_same_history(projection, event, entry)
            return
        if event.version > projection.version + 1:
            await self._heal(projection, event.version - 1, entry)
        elif event.prev_hash is not None and projection.version > 0:
            await self._check_same_history(projection, event, entry)
        self._apply(projection, event, entry, entry.raw)

    async def _check_same_history(
        self, projection: BoardProjection, event: AnyEvent, entry: FeedEntry
    ) -> None:
        """A board whose events depart from the history its read models were built from
        (`apply.history`) stops here, its events parked with the reason, and is fenced, so that
        the command side appends nothing more to it until an operator has recovered it."""
        what = await divergence(self.store, projection, event)
        if what is None:
            return
        self._blocked[projection.board_id] = min(
            self._blocked.get(projection.board_id, projection.version), projection.version
        )
        log.error(
            "board %s diverged from its read models: %s",
            projection.board_id,
            what,
            extra={"fields": {"board_id": projection.board_id, "version": event.version}},
        )
        log_end = await self._log.head(uuid.UUID(projection.board_id))
        await self._fences.fence(
            Fence.found(
                projection.board_id,
                f"diverged: {what}",
                archive_version=projection.version,
                log_end=log_end,
                by=f"projector {self.consumer}",
            )
        )
        raise EventFailedError(
            entry,
            f"diverged: board {projection.board_id}: {what}; the log was rewritten under the "
            "read models (a restore?); this board stops until it is recovered",
            final=True,
        )

    def _parse(self, entry: FeedEntry) -> AnyEvent:
        try:
            event = parse_event(entry.raw)
        except ValidationError as exc:
            raise EventFailedError(entry, f"unreadable event: {exc.errors()[0]['msg']}") from None
        except ValueError as exc:  # not JSON, or a schema version no upcaster knows
            raise EventFailedError(entry, f"unreadable event: {exc}") from None
        if (entry.board_id, entry.version) != (str(event.board_id), event.version):
            raise EventFailedError(entry, "the entry's board or version disagrees with its event")
        return event

    def _apply(
        self, projection: BoardProjection, event: AnyEvent, entry: FeedEntry, source: bytes
    ) -> None:
        """`entry` is the feed entry being applied (failures count against it); `source` the
        event's stored JSON, which may come from the board's log when a gap is healed."""
        try:
            apply_event(projection, event, source=source)
            projection.last = (event.version, str(event.event_id), event.hash)
        except ProjectionError as exc:
            if self._attempts.get(entry.entry_id, 0) + 1 >= self.max_attempts:
                self._blocked[projection.board_id] = event.version
            raise EventFailedError(entry, str(exc)) from None

    async def _heal(self, projection: BoardProjection, up_to: int, entry: FeedEntry) -> None:
        """Reads the versions the feed skipped from the board's own log."""
        missing = await self._log.items(
            uuid.UUID(projection.board_id), projection.version + 1, up_to, count=up_to
        )
        log.warning(
            "healing a gap from the board's log",
            extra={
                "fields": {
                    "board": projection.board_id,
                    "from": projection.version + 1,
                    "to": up_to,
                }
            },
        )
        for _, raw in missing:
            try:
                event = parse_event(raw)
            except ValueError as exc:  # ValidationError too: not JSON, or not an event
                raise EventFailedError(
                    entry, f"unreadable event in the board's log: {exc}"
                ) from None
            self._apply(projection, event, entry, raw)
        if projection.version != up_to:
            raise EventFailedError(entry, f"the board's log lacks versions up to {up_to}")

    async def _projection(self, board_id: str) -> BoardProjection:
        cached = self._boards.get(board_id)
        if cached is None:
            cached = await self.store.load(board_id)
            if cached.torn:
                cached = await self._refold(cached)
        self._boards[board_id] = cached
        self._boards.move_to_end(board_id)
        while len(self._boards) > CACHED_BOARDS:
            self._boards.popitem(last=False)
        return cached

    async def _refold(self, torn: BoardProjection) -> BoardProjection:
        """The board as of its stored version, folded from its log; the cards stored ahead keep
        their documents (the guards leave them be) and are reached again by replaying."""
        log.warning("folding a torn board again", extra={"fields": {"board": torn.board_id}})
        # From the archive plus the Redis tail: compaction may have trimmed the log's start.
        events = BoardEvents.of(self.store, self._log)
        fresh = BoardProjection(board_id=torn.board_id)
        async for event in events.read(uuid.UUID(torn.board_id), to_version=torn.stored_version):
            apply_event(fresh, event)
        fresh.stored_version = torn.stored_version
        fresh.stored_cards = set(torn.stored_cards)
        fresh.dirty_cards.clear()
        fresh.dirty_members.clear()
        fresh.applied.clear()
        fresh.sources.clear()
        return fresh

    async def _write(self, touched: dict[str, BoardProjection]) -> dict[str, int]:
        """Writes what the batch changed; the versions of the boards written, by id."""
        dirty = {b: p.version for b, p in touched.items() if p.dirty}
        stale = await self.store.write(list(touched.values()))
        for projection in stale:
            dirty.pop(projection.board_id, None)
            # Another writer got there first (a lease handover): its documents stand; forget ours.
            self._boards.pop(projection.board_id, None)
            log.info(
                "board written by another projector",
                extra={"fields": {"board": projection.board_id}},
            )
        return dirty

    async def _park(self, parked: list[tuple[FeedEntry, str]]) -> None:
        key = dead_letter_key(self.keys, self.partition, self.group)
        async with self.redis.pipeline(transaction=False) as pipe:
            for entry, reason in parked:
                pipe.xadd(
                    key,
                    {
                        "entry_id": entry.entry_id,
                        "board": entry.board_id or "",
                        "version": "" if entry.version is None else str(entry.version),
                        "reason": reason,
                        "event": entry.raw,
                        "parked_at": str(int(time.time() * 1000)),
                    },
                )
            await pipe.execute()
        for entry, reason in parked:
            log.error(
                "parked an event on the dead-letter stream",
                extra={
                    "fields": {"entry": entry.entry_id, "board": entry.board_id, "reason": reason}
                },
            )
