"""`RedisEventStore`: board logs and partition feeds in Redis Streams, appended by one function."""

from __future__ import annotations

import logging
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.resources import files
from typing import Any
from uuid import UUID

import orjson
from cardstream_runtime.redis_urls import AnyRedis
from contracts.chain import ZERO_HASH, event_hash
from contracts.envelope import AnyEvent
from contracts.streams import EVENT_FIELD, StreamKeys, board_entry_id
from contracts.upcasting import parse_event
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import ResponseError

from boards.adapters.event_store import (
    IDEMPOTENCY_TTL_SECONDS,
    Appended,
    BoardFencedError,
    ChainBrokenError,
    CorruptLogError,
    Duplicates,
    EpochChangedError,
    NewEvents,
    Recorded,
    Tip,
    VersionConflictError,
    check_group,
    one_of_one,
)
from boards.adapters.pipelining import ReplicaWait, auto_pipeline

log = logging.getLogger("boards.store")

APPEND_FUNCTION = "cardstream_append"
SNAPSHOT_FUNCTION = "cardstream_save_snapshot"
RECORDED_FUNCTION = "cardstream_recorded"
# What Redis answers an FCALL of a function it has not loaded (redis-py drops the "ERR ").
FUNCTION_MISSING = "Function not found"
READ_PAGE = 1000
# Boards whose key names are kept ready (about 1 KiB each); past this the oldest are forgotten.
KEYED_BOARDS = 10_000


@dataclass(frozen=True, slots=True)
class BoardKeys:
    """What every append to one board names: built once per board, not once per append."""

    board: str
    partition: int
    log: str
    head: str
    feed: str
    epoch: str
    head_hash: str
    fenced: str
    command_prefix: str

    @classmethod
    def of(cls, keys: StreamKeys, board_id: UUID) -> BoardKeys:
        partition = keys.partition_of(board_id)
        return cls(
            board=str(board_id),
            partition=partition,
            log=keys.board_log(board_id),
            head=keys.board_head(board_id),
            feed=keys.feed(partition),
            epoch=keys.epoch(partition),
            head_hash=head_hash_key(keys, board_id),
            fenced=keys.fenced(partition),
            command_prefix=keys.command(board_id, ZERO_UUID).removesuffix(str(ZERO_UUID)),
        )


ZERO_UUID = UUID(int=0)


def head_hash_key(keys: StreamKeys, board_id: UUID) -> str:
    """Beside the head counter, under the same hash tag: the hash of the event at the head."""
    return f"{keys.board_head(board_id)}:hash"


def append_library() -> str:
    return files("boards.adapters").joinpath("append.lua").read_text(encoding="utf-8")


async def install_functions(redis: AnyRedis) -> None:
    """FUNCTION LOAD REPLACE of our library: on a cluster, on every primary. Each replicates it to
    its replicas, as it does writes, so a replica promoted later has it; a primary that joins
    later gets it when an FCALL there first finds it missing (`RedisEventStore._fcall`)."""
    library = append_library()
    if isinstance(redis, RedisCluster):
        await redis.initialize()
        await redis.execute_command(
            "FUNCTION LOAD", "REPLACE", library, target_nodes=RedisCluster.PRIMARIES
        )
    else:
        await redis.function_load(library, replace=True)


def append_call(keys: BoardKeys, group: Sequence[NewEvents], ttl: int) -> list[Any]:
    """The arguments of the FCALL that appends a group (after "FCALL"): the function, the number
    of keys, the keys (every one under the board's partition tag), then the arguments."""
    args: list[Any] = [group[0].expected_version, group[0].epoch, ttl, keys.board, len(group)]
    for batch in group:
        args += (batch.request_hash, batch.result, len(batch.events), *batch.events)
    return [
        APPEND_FUNCTION,
        6 + len(group),
        keys.log,
        keys.head,
        keys.feed,
        keys.epoch,
        keys.head_hash,
        keys.fenced,
        *(f"{keys.command_prefix}{batch.command_id}" for batch in group),
        *args,
    ]


class RedisEventStore:
    """The Redis client must be created with `decode_responses=False`: events stay bytes. It may
    be a single server's or a cluster's (`cardstream_runtime.redis_urls`): every call names keys
    of one partition only, so each goes to the one primary serving that partition's slot."""

    def __init__(
        self,
        redis: AnyRedis,
        keys: StreamKeys,
        *,
        idempotency_ttl: int = IDEMPOTENCY_TTL_SECONDS,
        replica_wait: ReplicaWait | None = None,
    ) -> None:
        self._redis = redis
        self._keys = keys
        self._ttl = idempotency_ttl
        self._epochs: dict[int, str] = {}
        self._replica_wait = replica_wait
        # With a replica wait, every call through it is answered only once enough replicas
        # have its writes (ReplicationTimeoutError if not in time).
        self._pipeline = auto_pipeline(redis, wait=replica_wait)
        self._board_keys: OrderedDict[UUID, BoardKeys] = OrderedDict()

    async def install(self) -> None:
        await install_functions(self._redis)

    async def _fcall(self, *args: Any) -> Any:
        # Through the pipeline: other boards' calls issued meanwhile share its round trip.
        try:
            return await self._pipeline.execute("FCALL", *args)
        except ResponseError as exc:
            if not str(exc).startswith(FUNCTION_MISSING):
                raise
        # Redis ran nothing: the primary has not got our library (it joined the cluster after
        # the start, or its functions were flushed). Loaded everywhere, the call goes again.
        log.warning("a Redis primary had no cardstream functions; loading them")
        await self.install()
        return await self._pipeline.execute("FCALL", *args)

    async def epoch(self, board_id: UUID) -> str:
        partition = self._keys.partition_of(board_id)
        cached = self._epochs.get(partition)
        if cached is not None:
            return cached
        key = self._keys.epoch(partition)
        # First writer of a partition starts its epoch; an empty Redis (lost data) starts a new one.
        await self._redis.set(key, uuid.uuid4().hex, nx=True)
        value: bytes | None = await self._redis.get(key)  # type: ignore[assignment]
        if value is None:
            raise EpochChangedError("the epoch vanished while it was being read")
        epoch = value.decode()
        self._epochs[partition] = epoch
        return epoch

    async def append(self, batch: NewEvents) -> Appended | Recorded:
        return one_of_one(batch, await self.append_group([batch]))

    async def append_group(self, group: Sequence[NewEvents]) -> Appended | Duplicates:
        check_group(group)
        keys = self._keys_of(group[0].board_id)
        reply: list[Any] = await self._fcall(*append_call(keys, group, self._ttl))
        return self._outcome(reply, group[0].board_id, keys.partition)

    def _keys_of(self, board_id: UUID) -> BoardKeys:
        keys = self._board_keys.get(board_id)
        if keys is None:
            keys = self._board_keys[board_id] = BoardKeys.of(self._keys, board_id)
            if len(self._board_keys) > KEYED_BOARDS:
                self._board_keys.popitem(last=False)
        return keys

    def _outcome(self, reply: list[Any], board_id: UUID, partition: int) -> Appended | Duplicates:
        status = reply[0].decode()
        if status == "OK":
            return Appended(int(reply[1]))
        if status == "DUPLICATE":
            return Duplicates(
                {
                    int(reply[i]) - 1: Recorded(reply[i + 1].decode(), bytes(reply[i + 2]))
                    for i in range(1, len(reply), 3)
                }
            )
        if status == "FENCED":
            raise BoardFencedError(board_id, reply[1].decode(errors="replace"))
        if status == "CONFLICT":
            raise VersionConflictError(int(reply[1]))
        if status == "CHAIN":
            raise ChainBrokenError(reply[1].decode() or None)
        if status in ("NO_EPOCH", "EPOCH"):
            self._epochs.pop(partition, None)
            raise EpochChangedError(f"the log's epoch changed ({status})")
        raise CorruptLogError(reply[1].decode() if len(reply) > 1 else status)

    async def read(
        self, board_id: UUID, *, after_version: int = 0, to_version: int | None = None
    ) -> list[AnyEvent]:
        log = self._keys.board_log(board_id)
        end = board_entry_id(to_version) if to_version is not None else "+"
        events: list[AnyEvent] = []
        start = board_entry_id(after_version + 1)
        while True:
            page: list[Any] = await self._redis.xrange(log, start, end, count=READ_PAGE)  # type: ignore[assignment]
            events.extend(parse_event(fields[EVENT_FIELD.encode()]) for _, fields in page)
            if len(page) < READ_PAGE:
                return events
            start = "(" + page[-1][0].decode()

    async def recorded(self, board_id: UUID, command_id: UUID) -> Recorded | None:
        key = self._keys.command(board_id, command_id)
        values = await self._record(key)
        if values[0] is None:
            return None
        return Recorded(values[0].decode(), bytes(values[1]))

    async def _record(self, key: str) -> list[Any]:
        if self._replica_wait is None:
            values: list[Any] = await self._redis.hmget(key, ["hash", "result"])
            return values
        # Its answer may be sent to the client: only once the record is on enough replicas.
        return list(await self._fcall(RECORDED_FUNCTION, 1, key, self._ttl)) or [None, None]

    async def head(self, board_id: UUID) -> int:
        value: bytes | None = await self._redis.get(self._keys.board_head(board_id))  # type: ignore[assignment]
        return int(value) if value is not None else 0

    async def tip(self, board_id: UUID) -> Tip:
        keys = [self._keys.board_head(board_id), head_hash_key(self._keys, board_id)]
        values: list[Any] = await self._redis.mget(keys)
        version = int(values[0]) if values[0] is not None else 0
        if version == 0:
            return Tip(0, ZERO_HASH)
        if values[1] is not None:
            return Tip(version, values[1].decode())
        return Tip(version, await self._unchained_head_hash(board_id, version))

    async def _unchained_head_hash(self, board_id: UUID, version: int) -> str | None:
        # A board written before the chain: its head's hash is computed from the stored event.
        log = self._keys.board_log(board_id)
        entry = board_entry_id(version)
        page: list[Any] = await self._redis.xrange(log, entry, entry)  # type: ignore[assignment]
        if not page:
            return None
        return event_hash(orjson.loads(page[0][1][EVENT_FIELD.encode()]))

    async def snapshot(self, board_id: UUID) -> tuple[int, bytes] | None:
        key = self._keys.board_snapshot(board_id)
        values: list[Any] = await self._redis.hmget(key, ["version", "data"])
        if values[0] is None or values[1] is None:
            return None
        return int(values[0]), bytes(values[1])

    async def save_snapshot(self, board_id: UUID, version: int, data: bytes) -> bool:
        key = self._keys.board_snapshot(board_id)
        stored = await self._fcall(SNAPSHOT_FUNCTION, 1, key, version, data)
        return bool(stored)
