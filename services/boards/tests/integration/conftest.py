from __future__ import annotations

import uuid
from datetime import UTC, datetime
from uuid import UUID

import pytest
from boards.adapters.event_store import EventStore, NewEvents
from boards.adapters.memory_store import InMemoryEventStore
from boards.adapters.redis_store import RedisEventStore
from contracts.chain import ZERO_HASH, link
from contracts.envelope import event_adapter, event_envelope
from contracts.events import BoardCreated, BoardRenamed, Event
from contracts.streams import StreamKeys
from redis.asyncio import Redis


@pytest.fixture
async def redis_store(redis: Redis, stream_keys: StreamKeys) -> RedisEventStore:
    store = RedisEventStore(redis, stream_keys)
    await store.install()
    return store


@pytest.fixture(params=["memory", "redis"])
async def store(
    request: pytest.FixtureRequest, redis: Redis, stream_keys: StreamKeys
) -> EventStore:
    """The same contract suite runs against the fake and the real adapter."""
    if request.param == "memory":
        return InMemoryEventStore()
    store = RedisEventStore(redis, stream_keys)
    await store.install()
    return store


class Fences:
    """Holds a board as the projector does when its log lost versions (`StreamKeys.fenced` in
    Redis; the fake's own dict), and lifts it as an operator does."""

    def __init__(self, store: EventStore, redis: Redis, keys: StreamKeys) -> None:
        self.store = store
        self.redis = redis
        self.keys = keys

    async def fence(self, board_id: UUID, reason: str = "the log lost versions") -> None:
        if isinstance(self.store, InMemoryEventStore):
            self.store.fence(board_id, reason)
            return
        await self.redis.hset(self._key(board_id), str(board_id), reason)  # type: ignore[misc]

    async def lift(self, board_id: UUID) -> None:
        if isinstance(self.store, InMemoryEventStore):
            self.store.unfence(board_id)
            return
        await self.redis.hdel(self._key(board_id), str(board_id))  # type: ignore[misc]

    def _key(self, board_id: UUID) -> str:
        return self.keys.fenced(self.keys.partition_of(board_id))


@pytest.fixture
def fences(store: EventStore, redis: Redis, stream_keys: StreamKeys) -> Fences:
    return Fences(store, redis, stream_keys)


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
