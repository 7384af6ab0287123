"""Writing events where the boards service writes them (`contracts.streams`), for tests of readers.

This is a test data builder, not a second writer: it does none of the store's checks. Tests that
need the real write path start the boards service instead.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from uuid import UUID

from contracts.envelope import AnyEvent, event_adapter, event_envelope
from contracts.events import Event
from contracts.streams import BOARD_FIELD, EVENT_FIELD, VERSION_FIELD, StreamKeys, board_entry_id
from redis.asyncio import Redis

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def envelopes(
    board_id: UUID,
    payloads: Sequence[Event],
    *,
    start: int = 1,
    epoch: str = "test-epoch",
    actor: str = "alice",
) -> list[AnyEvent]:
    """Events numbered from `start`, one second apart (times are part of the read models)."""
    return [
        event_envelope(
            payload,
            event_id=uuid.uuid5(board_id, f"event {start + i}"),
            board_id=board_id,
            version=start + i,
            occurred_at=T0 + timedelta(seconds=start + i),
            actor=actor,
            command_id=uuid.uuid5(board_id, f"command {start + i}"),
            correlation_id="test",
            causation_id="test",
            epoch=epoch,
        )
        for i, payload in enumerate(payloads)
    ]


async def ensure_epoch(redis: Redis, keys: StreamKeys, board_id: UUID, epoch: str) -> None:
    await redis.set(keys.epoch(keys.partition_of(board_id)), epoch, nx=True)


async def append(
    redis: Redis,
    keys: StreamKeys,
    events: Sequence[AnyEvent],
    *,
    to_log: bool = True,
    to_feed: bool = True,
) -> None:
    """Writes the events to their boards' logs and partition feeds, as `cardstream_append` does.
    `to_feed=False` leaves a gap in the feed that readers must heal from the log."""
    for event in events:
        raw = event_adapter.dump_json(event)
        board = event.board_id
        await ensure_epoch(redis, keys, board, event.epoch)
        if to_log:
            await redis.xadd(
                keys.board_log(board), {EVENT_FIELD: raw}, id=board_entry_id(event.version)
            )
            await redis.set(keys.board_head(board), event.version)
        if to_feed:
            await redis.xadd(
                keys.feed(keys.partition_of(board)),
                {BOARD_FIELD: str(board), VERSION_FIELD: event.version, EVENT_FIELD: raw},
            )


class ListedEvents:
    """A board's events as an in-memory event source of the projector's readers (`first`, `last`,
    `count` -> the events of those versions), counting how many it handed out: how tests see
    that a checkpointed read read less."""

    def __init__(self, events: Sequence[AnyEvent]) -> None:
        self.events = list(events)
        self.served = 0

    async def __call__(
        self, board_id: UUID, first: int, last: int | None, count: int
    ) -> list[AnyEvent]:
        page = [
            e for e in self.events if e.version >= first and (last is None or e.version <= last)
        ][:count]
        self.served += len(page)
        return page


async def no_events(board_id: UUID, first: int, last: int | None, count: int) -> list[AnyEvent]:
    """An event source that holds nothing (an empty archive)."""
    return []
