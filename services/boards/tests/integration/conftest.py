from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from boards.adapters.event_store import EventStore, NewEvents
from boards.adapters.memory_store import InMemoryEventStore
from boards.adapters.pipelining import ReplicaWait
from boards.adapters.redis_store import RedisEventStore
from boards.settings import BoardsSettings
from cardstream_runtime.devtoken import DevSigner
from cardstream_runtime.redis_urls import AnyRedis, redis_from_url
from cardstream_testing import RedisCluster
from cardstream_testing.fixtures import AUDIENCE, ISSUER
from contracts.chain import ZERO_HASH, link
from contracts.envelope import event_adapter, event_envelope
from contracts.events import BoardCreated, BoardRenamed, Event
from contracts.streams import StreamKeys
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster


@pytest.fixture
def boards_settings(
    tmp_path: Path, signer: DevSigner, redis_url: str, key_prefix: str
) -> Callable[..., BoardsSettings]:
    """Settings of a boards app on the test's Redis that trusts `signer`'s tokens; keyword
    arguments override any of them."""
    public = tmp_path / "public.pem"
    public.write_bytes(signer.public_pem())

    def make(**overrides: Any) -> BoardsSettings:
        given: dict[str, Any] = {
            "redis_url": redis_url,
            "key_prefix": key_prefix,
            "jwt_issuer": ISSUER,
            "jwt_audience": AUDIENCE,
            "jwt_public_key_file": public,
            "partitions": 4,
        }
        return BoardsSettings(**{**given, **overrides})

    return make


@pytest.fixture
async def redis_store(redis: Redis, stream_keys: StreamKeys) -> RedisEventStore:
    store = RedisEventStore(redis, stream_keys)
    await store.install()
    return store


@pytest.fixture
async def cluster_client(redis_cluster: RedisCluster) -> AsyncIterator[AsyncRedisCluster]:
    """A client of the shared cluster, as the service builds one from BOARDS_REDIS_URL."""
    client = redis_from_url(redis_cluster.url, decode_responses=False)
    assert isinstance(client, AsyncRedisCluster)
    yield client
    await client.aclose()


@pytest.fixture
async def cluster_store(
    cluster_client: AsyncRedisCluster, stream_keys: StreamKeys
) -> RedisEventStore:
    store = RedisEventStore(cluster_client, stream_keys, replica_wait=REPLICA_WAIT)
    await store.install()
    return store


REPLICA_WAIT = ReplicaWait(replicas=1, timeout_ms=2000)
# The client the `store` fixture's store writes with, for fixtures that write beside it.
STORE_CLIENT = pytest.StashKey[AnyRedis]()


@pytest.fixture(params=["memory", "redis", "cluster"])
async def store(
    request: pytest.FixtureRequest, stream_keys: StreamKeys
) -> AsyncIterator[EventStore]:
    """The same contract suite runs against the fake and the real adapter, on one server and on
    a Redis Cluster (each server is started only for the tests that ask for it)."""
    if request.param == "memory":
        yield InMemoryEventStore()
        return
    server = request.getfixturevalue(
        "redis_cluster" if request.param == "cluster" else "redis_server"
    )
    client = redis_from_url(server.url, decode_responses=False)
    request.node.stash[STORE_CLIENT] = client
    # On the cluster as production runs it: every append waits for its primary's replica.
    wait = REPLICA_WAIT if request.param == "cluster" else None
    store = RedisEventStore(client, stream_keys, replica_wait=wait)
    await store.install()
    yield store
    await client.aclose()


class Fences:
    """Holds a board as the projector does when its log lost versions (`StreamKeys.fenced` in
    Redis; the fake's own dict), and lifts it as an operator does."""

    def __init__(self, store: EventStore, redis: AnyRedis | None, keys: StreamKeys) -> None:
        self.store = store
        self.redis = redis
        self.keys = keys

    async def fence(self, board_id: UUID, reason: str = "the log lost versions") -> None:
        if isinstance(self.store, InMemoryEventStore):
            self.store.fence(board_id, reason)
            return
        assert self.redis is not None
        await self.redis.hset(self._key(board_id), str(board_id), reason)  # type: ignore[misc]

    async def lift(self, board_id: UUID) -> None:
        if isinstance(self.store, InMemoryEventStore):
            self.store.unfence(board_id)
            return
        assert self.redis is not None
        await self.redis.hdel(self._key(board_id), str(board_id))  # type: ignore[misc]

    def _key(self, board_id: UUID) -> str:
        return self.keys.fenced(self.keys.partition_of(board_id))


@pytest.fixture
def fences(request: pytest.FixtureRequest, store: EventStore, stream_keys: StreamKeys) -> Fences:
    """On the store's own Redis: the single server's or the cluster's."""
    return Fences(store, request.node.stash.get(STORE_CLIENT, None), stream_keys)


def renames(count: int, *, start: int = 0) -> list[Event]:
    return [
        BoardRenamed(title=f"title {start + i + 1}", previous_title=f"title {start + i}")
        for i in range(count)
    ]


# The hash of each (board, version) a batch was built with, first one wins: a test that builds a
# refused batch at a version already taken does not disturb the chain of later batches.
_HASHES: dict[tuple[UUID, int], str] = {}


def batch(
    board_id: UUID,
    payloads: list[Event],
    *,
    expected_version: int,
    epoch: str,
    command_id: UUID | None = None,
    request_hash: str = "h",
    prev_hash: str | None = None,
) -> NewEvents:
    """One command's worth of encoded events, as BoardCommands would hand them to a store,
    chained on from `prev_hash` (by default: from the batch built before at that version)."""
    command_id = command_id or uuid.uuid4()
    if prev_hash is None:
        prev_hash = (
            ZERO_HASH
            if expected_version == 0
            else _HASHES.get((board_id, expected_version), "f" * 64)
        )
    envelopes = link(
        [
            event_envelope(
                payload,
                event_id=uuid.uuid4(),
                board_id=board_id,
                version=expected_version + i,
                occurred_at=datetime.now(UTC),
                actor="alice",
                command_id=command_id,
                correlation_id="test",
                causation_id=str(command_id),
                epoch=epoch,
            )
            for i, payload in enumerate(payloads, start=1)
        ],
        prev_hash,
    )
    for envelope in envelopes:
        assert envelope.hash is not None
        _HASHES.setdefault((board_id, envelope.version), envelope.hash)
    encoded = [event_adapter.dump_json(e) for e in envelopes]
    return NewEvents(
        board_id=board_id,
        expected_version=expected_version,
        epoch=epoch,
        events=encoded,
        command_id=command_id,
        request_hash=request_hash,
        result=b'{"version": %d}' % (expected_version + len(payloads)),
    )


class Batches:
    """Fixture-friendly access to the helpers above (test modules cannot import conftest)."""

    renames = staticmethod(renames)
    batch = staticmethod(batch)

    @staticmethod
    def created(owner: str = "alice") -> list[Event]:
        return [BoardCreated(title="title 0", owner_id=owner)]


@pytest.fixture
def batches() -> type[Batches]:
    return Batches
