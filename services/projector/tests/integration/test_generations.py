"""`drop-generation`: a replaced generation's collections and consumer groups go; nothing that is
live, being built or still applied is touched."""

from __future__ import annotations

from typing import Any

import pytest
from cardstream_runtime.redis_urls import AnyRedis
from contracts.streams import StreamKeys
from projector import cli
from projector.ops.generations import GenerationInUseError, drop_generation
from projector.store.mongo import GENERATIONS, POINTER_ID, MongoReadStore
from projector.store.port import collection_name
from projector.streams import lease_key, rebuild_lock_key
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

Doc = dict[str, Any]
BASES = ("boards", "cards", "memberships", "checkpoints")

# Run on one server and on the test cluster.
pytestmark = pytest.mark.redis_kinds("server", "cluster")


@pytest.fixture
def db(mongo: AsyncMongoClient[Doc], mongo_db_name: str) -> AsyncDatabase[Doc]:
    return mongo[mongo_db_name]


async def _generation(db: AsyncDatabase[Doc], generation: int) -> None:
    for base in BASES:
        await db[collection_name(base, generation)].insert_one({"_id": f"{base}-{generation}"})


async def _groups(redis: AnyRedis, keys: StreamKeys, group: str) -> int:
    found = 0
    for partition in range(keys.partitions):
        groups = await redis.xinfo_groups(keys.feed(partition))
        found += sum(1 for g in groups if g["name"].decode() == group)
    return found


async def _collections(db: AsyncDatabase[Doc], generation: int) -> list[str]:
    existing = set(await db.list_collection_names())
    return [n for n in (collection_name(b, generation) for b in BASES) if n in existing]


@pytest.fixture
async def switched(db: AsyncDatabase[Doc], redis: AnyRedis, stream_keys: StreamKeys) -> None:
    """Generation 1 is live after a rebuild; 0 is its predecessor, 2 a rebuild under way."""
    for generation in (0, 1, 2):
        await _generation(db, generation)
    for partition in range(stream_keys.partitions):
        feed = stream_keys.feed(partition)
        for group in ("projector", "projector-g1", "projector-g2"):
            await redis.xgroup_create(feed, group, id="0-0", mkstream=True)
    await db[GENERATIONS].insert_one({"_id": POINTER_ID, "live": 1, "building": 2, "previous": 0})


async def _drop(redis: AnyRedis, db: AsyncDatabase[Doc], keys: StreamKeys, generation: int) -> Any:
    return await drop_generation(
        redis, MongoReadStore(db), keys, generation=generation, group="projector", owner="test"
    )


@pytest.mark.usefixtures("switched")
async def test_the_previous_generation_loses_its_collections_and_groups_only(
    redis: AnyRedis, db: AsyncDatabase[Doc], stream_keys: StreamKeys
) -> None:
    dropped = await _drop(redis, db, stream_keys, 0)

    assert dropped.collections == list(BASES)
    assert dropped.consumer_groups == stream_keys.partitions
    assert await _collections(db, 0) == []
    assert await _groups(redis, stream_keys, "projector") == 0
    for generation, group in ((1, "projector-g1"), (2, "projector-g2")):
        assert len(await _collections(db, generation)) == len(BASES)
        assert await _groups(redis, stream_keys, group) == stream_keys.partitions
    assert await redis.exists(rebuild_lock_key(stream_keys)) == 0


@pytest.mark.usefixtures("switched")
@pytest.mark.parametrize(("generation", "reason"), [(1, "live"), (2, "being built")])
async def test_the_live_and_the_building_generation_are_refused(
    redis: AnyRedis, db: AsyncDatabase[Doc], stream_keys: StreamKeys, generation: int, reason: str
) -> None:
    with pytest.raises(GenerationInUseError, match=reason):
        await _drop(redis, db, stream_keys, generation)
    assert len(await _collections(db, generation)) == len(BASES)
    assert await redis.exists(rebuild_lock_key(stream_keys)) == 0


@pytest.mark.usefixtures("switched")
async def test_a_generation_still_applied_somewhere_is_refused(
    redis: AnyRedis, db: AsyncDatabase[Doc], stream_keys: StreamKeys
) -> None:
    # A projector that has not followed the switch yet still holds a lease of the old group.
    await redis.set(lease_key(stream_keys, 3, "projector"), "slow-projector", px=60_000)

    with pytest.raises(GenerationInUseError, match="still applies"):
        await _drop(redis, db, stream_keys, 0)
    assert len(await _collections(db, 0)) == len(BASES)
    assert await _groups(redis, stream_keys, "projector") == stream_keys.partitions


@pytest.mark.usefixtures("switched")
async def test_nothing_is_dropped_while_a_rebuild_holds_the_lock(
    redis: AnyRedis, db: AsyncDatabase[Doc], stream_keys: StreamKeys
) -> None:
    await redis.set(rebuild_lock_key(stream_keys), "rebuild-1", px=60_000)

    with pytest.raises(GenerationInUseError, match="rebuild is running"):
        await _drop(redis, db, stream_keys, 0)
    assert len(await _collections(db, 0)) == len(BASES)
    assert await redis.get(rebuild_lock_key(stream_keys)) == b"rebuild-1"


@pytest.mark.parametrize("argument", ["-1", "one", ""])
def test_a_generation_that_is_not_a_whole_number_is_a_usage_error(argument: str) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["drop-generation", argument])
    assert exited.value.code == cli.USAGE
