"""Dropping a generation of read models that nothing reads any more (docs/operations.md).

A rebuild leaves the generation it replaced in place, for comparison and for a way back by hand.
Dropping it removes its four collections, its consumer groups on the partition feeds and their
leases. The live and the building generation are refused, and so is a generation whose leases are
still held: a projector that has not yet followed the switch still applies it. The rebuild lock is
held meanwhile, so no rebuild can start building the generation being dropped. Dead-letter
streams are kept: what was parked there is evidence, whichever generation parked it.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import asdict, dataclass, field
from typing import Any

from cardstream_runtime.redis_urls import AnyRedis
from contracts.streams import StreamKeys
from redis.exceptions import ResponseError

from projector.apply.leases import Lease
from projector.apply.supervisor import generation_group
from projector.store.port import ReadStore
from projector.streams import lease_key, rebuild_lock_key

Doc = dict[str, Any]
# Long enough for four drops and a few Redis calls; released as soon as the drop is done.
LOCK_MS = 60_000


class GenerationInUseError(Exception):
    """The generation may still be read or written: nothing was dropped."""


@dataclass(frozen=True, slots=True)
class DroppedGeneration:
    generation: int
    collections: list[str] = field(default_factory=list)
    consumer_groups: int = 0

    def as_dict(self) -> Doc:
        return {"kind": "dropped_generation", **asdict(self)}


async def drop_generation(
    redis: AnyRedis,
    store: ReadStore,
    keys: StreamKeys,
    *,
    generation: int,
    group: str,
    owner: str,
) -> DroppedGeneration:
    lock = Lease(redis, rebuild_lock_key(keys), owner, LOCK_MS)
    if not await lock.acquire():
        raise GenerationInUseError("a rebuild is running; drop the generation after it")
    try:
        pointer = await store.generation_pointer()
        if generation == pointer.live:
            raise GenerationInUseError(f"generation {generation} is the live one")
        if generation == pointer.building:
            raise GenerationInUseError(f"generation {generation} is being built")
        consumer_group = generation_group(group, generation)
        leases = [lease_key(keys, p, consumer_group) for p in range(keys.partitions)]
        # One EXISTS a lease: each partition's lease lies in that partition's slot, and a
        # cluster refuses a command naming several slots' keys (an operator's command: 16 calls
        # at once cost nothing).
        if any(await asyncio.gather(*(redis.exists(lease) for lease in leases))):
            raise GenerationInUseError(
                f"a projector still applies generation {generation} (its leases are held): "
                "wait until every projector has followed the switch"
            )
        dropped = await store.drop_generation(generation)
        groups = 0
        for partition in range(keys.partitions):
            # No feed on a partition yet: no group there either.
            with contextlib.suppress(ResponseError):
                groups += int(await redis.xgroup_destroy(keys.feed(partition), consumer_group))
        return DroppedGeneration(generation, dropped, groups)
    finally:
        await lock.release()
