"""The projector's metrics in the Prometheus text format: how far each partition's read models
are behind its feed, which partitions this process applies and which feeds its WebSocket tail
reads, how many processes apply, what was parked.

Lag is measured against the MongoDB checkpoint, not the consumer group: the checkpoint is what
the read models reflect (see `projector.apply.consumer`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from cardstream_runtime.redis_urls import AnyRedis
from contracts.streams import StreamKeys

from projector.store.port import Checkpoint, ReadStore
from projector.streams import EntryId, Feeds, dead_letter_key, parse_id

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# Counting entries means reading them (a stream has no rank command) and feeds are never
# trimmed, so a scrape during a long catch-up stops counting here rather than pull the backlog
# over the wire; past the cap, lag_seconds still tells how far behind.
LAG_ENTRIES_CAP = 10_000


@dataclass(frozen=True, slots=True)
class PartitionLag:
    partition: int
    entries: int
    seconds: float
    dead_letters: int


def _first_id(reply: Sequence[Any]) -> EntryId | None:
    return parse_id(reply[0][0]) if reply else None


async def partition_lags(redis: AnyRedis, store: ReadStore, keys: StreamKeys) -> list[PartitionLag]:
    partitions = range(keys.partitions)
    checkpoints = await asyncio.gather(*(store.checkpoint(p) for p in partitions))
    async with redis.pipeline(transaction=False) as pipe:
        for p in partitions:
            pipe.xrevrange(keys.feed(p), count=1)
            pipe.xrange(keys.feed(p), count=1)
            pipe.xlen(keys.feed(p))
            pipe.xlen(dead_letter_key(keys, p))
        replies: list[Any] = await pipe.execute()
    lags = []
    for p, checkpoint in zip(partitions, checkpoints, strict=True):
        last, first, length, dead = replies[4 * p : 4 * p + 4]
        entries, seconds = await _lag(
            Feeds(redis, keys), p, checkpoint, _first_id(last), _first_id(first), length
        )
        lags.append(PartitionLag(p, entries, seconds, int(dead)))
    return lags


async def _lag(
    feeds: Feeds,
    partition: int,
    checkpoint: Checkpoint | None,
    head: EntryId | None,
    first: EntryId | None,
    length: int,
) -> tuple[int, float]:
    if head is None:
        return 0, 0.0
    if checkpoint is None:
        # Nothing applied yet: everything in the feed is behind, since its first entry.
        assert first is not None
        return int(length), (head[0] - first[0]) / 1000
    applied = parse_id(checkpoint.position)
    if head <= applied:
        return 0, 0.0
    entries = await feeds.count(partition, f"({checkpoint.position}", "+", cap=LAG_ENTRIES_CAP)
    return entries, (head[0] - applied[0]) / 1000


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _family(name: str, help_text: str, samples: Sequence[tuple[str, float]]) -> list[str]:
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} gauge"]
    lines += [f"{name}{labels} {_number(value)}" for labels, value in samples]
    return lines


def render(
    lags: Sequence[PartitionLag],
    *,
    applied: Collection[int],
    appliers: int,
    tailed: Collection[int] | None = None,
    websockets: int | None = None,
) -> str:
    """`applied`: the partitions whose lease this process holds; `appliers`: the live applying
    processes it last saw; `tailed` and `websockets` for a serving process only."""

    def per_partition(field: str) -> list[tuple[str, float]]:
        return [(f'{{partition="{lag.partition}"}}', getattr(lag, field)) for lag in lags]

    def whether(partitions: Collection[int]) -> list[tuple[str, float]]:
        return [(f'{{partition="{lag.partition}"}}', lag.partition in partitions) for lag in lags]

    lines = [
        *_family(
            "cardstream_projector_lag_entries",
            "Feed entries after the partition's checkpoint in MongoDB "
            f"(counted up to {LAG_ENTRIES_CAP}).",
            per_partition("entries"),
        ),
        *_family(
            "cardstream_projector_lag_seconds",
            "Time between the feed's last entry and the checkpoint's entry, by their ids.",
            per_partition("seconds"),
        ),
        *_family(
            "cardstream_projector_dead_letters",
            "Entries parked on the partition's dead-letter stream.",
            per_partition("dead_letters"),
        ),
        *_family(
            "cardstream_projector_partitions_held",
            "Partitions this process applies to MongoDB (holds the lease of).",
            [("", len(applied))],
        ),
        *_family(
            "cardstream_projector_partition_applied",
            "1 if this process applies the partition (holds its lease), else 0.",
            whether(applied),
        ),
        *_family(
            "cardstream_projector_appliers",
            "Processes applying the feeds, as this process last saw them (0 if it does not apply).",
            [("", appliers)],
        ),
    ]
    if tailed is not None:
        lines += _family(
            "cardstream_projector_partition_tailed",
            "1 if this process's WebSocket tail reads the partition's feed, else 0.",
            whether(tailed),
        )
    if websockets is not None:
        lines += _family(
            "cardstream_projector_websocket_connections",
            "Open WebSocket connections on this process.",
            [("", websockets)],
        )
    return "\n".join(lines) + "\n"
