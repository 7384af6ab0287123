"""Dropping a generation of read models that nothing reads any more (docs/operations.md).

A rebuild leaves the generation it replaced in place, for comparison and for a way back by hand.
Dropping it removes its four collections, its consumer groups on the partition feeds and their
leases. The live and the building generation are refused, and so is a generation whose leases are
still held: a projector that has not yet followed the switch still applies it. The rebuild lock is
held meanwhile, so no rebuild can start building the generation being dropped. Dead-letter
streams are kept: what was parked there is evidence, whichever generation parked it.
"""

from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass, field
from typing import Any

from contracts.streams import StreamKeys
from pymongo.asynchronous.database import AsyncDatabase
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from projector.consumer import lease_key
from projector.mongo import GENERATION_COLLECTIONS, collection_name, generation_pointer
from projector.supervisor import generation_group

Doc = dict[str, Any]
# Long enough for four drops and a few Redis calls; released as soon as the drop is done.
LOCK_MS = 60_000

_RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end"


class GenerationInUseError(Exception):
    """The generation may still be read or written: nothing was dropped."""


@dataclass(frozen=True, slots=True)
class DroppedGeneration:
    generation: int
    collections: list[str] = field(default_factory=list)
    consumer_groups: int = 0

    def as_dict(self) -> Doc:
        return {"kind": "dropped_generation", **asdict(self)}


def rebuild_lock_key(keys: StreamKeys) -> str:
    return f"{keys.prefix}cs:rebuild:lock"


async def drop_generation(
    redis: Redis,
    db: AsyncDatabase[Doc],
    keys: StreamKeys,
    *,
    generation: int,
    group: str,
    owner: str,
) -> DroppedGeneration:
    lock = rebuild_lock_key(keys)
    if not await redis.set(lock, owner, nx=True, px=LOCK_MS):
        raise GenerationInUseError("a rebuild is running; drop the generation after it")
    try:
        pointer = await generation_pointer(db)
        if generation == pointer.live:
            raise GenerationInUseError(f"generation {generation} is the live one")
        if generation == pointer.building:
            raise GenerationInUseError(f"generation {generation} is being built")
        consumer_group = generation_group(group, generation)
        leases = [lease_key(keys, p, consumer_group) for p in range(keys.partitions)]
        if await redis.exists(*leases):
            raise GenerationInUseError(
                f"a projector still applies generation {generation} (its leases are held): "
                "wait until every projector has followed the switch"
            )
        existing = set(await db.list_collection_names())
        dropped = []
        for base in GENERATION_COLLECTIONS:
            name = collection_name(base, generation)
            if name in existing:
                await db.drop_collection(name)
                dropped.append(name)
        groups = 0
        for partition in range(keys.partitions):
            # No feed on a partition yet: no group there either.
            with contextlib.suppress(ResponseError):
                groups += int(await redis.xgroup_destroy(keys.feed(partition), consumer_group))
        return DroppedGeneration(generation, dropped, groups)
    finally:
        await redis.eval(_RELEASE, 1, lock, owner)
