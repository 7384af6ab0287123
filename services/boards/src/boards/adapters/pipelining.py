"""Automatic pipelining: commands issued while a round trip is in flight go together in the next.

At one request at a time this costs nothing (a command is sent at once). Under load, one write
and one read carry many commands instead of a system call pair each, which is where an event
loop spends its time. Each command still succeeds or fails on its own. Board groups (ADR 008)
of different boards issued meanwhile share a round trip the same way.

A round trip packs its commands with hiredis (C) and reads the replies straight from a pooled
connection: redis-py's own pipeline packed each argument in Python and did bookkeeping per
command that this use has no need of, about a fifth of the command path's time in its profile
(bench/profiles/). No retry here: after a broken connection a command may or may not have run,
and the caller, not this layer, decides whether to send it again (ADR 003).

With a `ReplicaWait`, each round trip ends in `WAIT replicas timeout` on the same connection,
which Redis answers once that many replicas have every write of that connection so far, the
round trip's among them: no command's answer is released before it (docs/adr/011-replica-acks.md).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Any, Protocol

import hiredis
from cardstream_runtime.redis_urls import AnyRedis
from redis.asyncio import Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.exceptions import (
    AskError,
    ClusterError,
    MovedError,
    RedisClusterException,
    RedisError,
    ResponseError,
    TryAgainError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from boards.adapters.event_store import ReplicationTimeoutError

Batch = list[tuple[tuple[Any, ...], asyncio.Future[Any]]]
# Commands whose first key is not their first argument: FCALL name numkeys key ...
_KEY_AT = {"FCALL": 3, "FCALL_RO": 3}
# As redis-py's own cluster client: a command redirected this many times is given up (503).
REDIRECTIONS = 16
# A TRYAGAIN (a slot moving, the command's keys split between the two nodes) is sent again
# after this: the migration of a key takes about a round trip.
TRY_AGAIN_PAUSE_S = 0.05


@dataclass(frozen=True, slots=True)
class ReplicaWait:
    """How many replicas must confirm a round trip's writes (`WAIT`), and how long to wait."""

    replicas: int
    timeout_ms: int

    def __post_init__(self) -> None:
        # WAIT with a timeout of 0 blocks forever: a lost replica would freeze the store.
        if self.replicas < 1 or self.timeout_ms < 1:
            raise ValueError("a replica wait needs at least one replica and a timeout")


class Pipeline(Protocol):
    async def execute(self, *args: Any) -> Any: ...


def auto_pipeline(redis: AnyRedis, *, wait: ReplicaWait | None = None) -> Pipeline:
    """The pipeline for this client: one round trip for all, or one per primary of a cluster."""
    if isinstance(redis, RedisCluster):
        return ClusterAutoPipeline(redis, wait=wait)
    return AutoPipeline(redis, wait=wait)


class AutoPipeline:
    def __init__(
        self, redis: Redis, *, max_batch: int = 256, wait: ReplicaWait | None = None
    ) -> None:
        self._redis = redis
        self._max_batch = max_batch
        self._wait = wait
        self._queue: Batch = []
        self._flusher: asyncio.Task[None] | None = None

    async def execute(self, *args: Any) -> Any:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.append((args, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        while self._queue:
            batch = self._queue[: self._max_batch]
            del self._queue[: self._max_batch]
            try:
                results = await self._round_trip(batch)
            except BaseException as exc:  # the connection broke: each caller hears it
                _fail(batch, exc if isinstance(exc, Exception) else ConnectionError())
                if not isinstance(exc, Exception):
                    raise
                continue
            _deliver(batch, results)

    async def _round_trip(self, batch: Batch) -> list[Any]:
        pool = self._redis.connection_pool
        connection = await pool.get_connection()  # type: ignore[no-untyped-call]
        try:
            return await _exchange(connection, [args for args, _ in batch], self._wait)
        except BaseException:
            # Replies may be left unread on it: never hand this connection to anyone again.
            await connection.disconnect(nowait=True)
            raise
        finally:
            await pool.release(connection)


class ClusterAutoPipeline:
    """AutoPipeline on a Redis Cluster: each command goes to the primary serving its first key's
    hash slot, and the commands queued for one primary share its round trip, every primary's in
    flight at once. The store's calls name keys of one partition only, whose hash tag puts them
    all in one slot (contracts.streams), so the first key's slot is the slot of them all.

    A command answered MOVED or ASK, or TRYAGAIN, was not run (its slot moved in a failover or a
    resharding, or is moving): it is sent again through redis-py's own path, which follows the
    redirection and mends the slot map for the commands after it. A round trip that breaks fails
    its commands, as AutoPipeline's does (each may or may not have run), and the slot map is read
    again from the nodes, so that the next commands go to whichever primary serves the slot now.
    """

    def __init__(
        self, cluster: RedisCluster, *, max_batch: int = 256, wait: ReplicaWait | None = None
    ) -> None:
        self._cluster = cluster
        self._max_batch = max_batch
        self._wait = wait
        self._queues: dict[str, Batch] = {}
        self._flushers: dict[str, asyncio.Task[None]] = {}
        self._map_reader: asyncio.Task[None] | None = None

    async def execute(self, *args: Any) -> Any:
        await self._cluster.initialize()  # a no-op but the first time and after aclose()
        node = self._primary_for(args)
        # Redirections are followed here, not by redis-py: its path would run the command on a
        # connection of its own, where our WAIT could not follow it.
        for _ in range(REDIRECTIONS):
            try:
                return await self._queued(node, args)
            except MovedError as moved:
                await self._read_map()
                node = self._cluster.get_node(moved.host, moved.port) or self._primary_for(args)
            except AskError as ask:
                return await self._asking(ask, args)
            except TryAgainError:
                await asyncio.sleep(TRY_AGAIN_PAUSE_S)
                node = self._primary_for(args)
        raise ClusterError(f"{args[0]} redirected {REDIRECTIONS} times")

    async def _queued(self, node: ClusterNode, args: tuple[Any, ...]) -> Any:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._enqueue(node, (args, future))
        return await future

    async def _asking(self, ask: AskError, args: tuple[Any, ...]) -> Any:
        # The slot is moving and the keys are at its new node already: ASKING there, on the
        # connection and right before the command (and the WAIT after it), alone.
        node = self._cluster.get_node(ask.host, ask.port)
        if node is None:
            raise ClusterError(f"asked to go to {ask.host}:{ask.port}, a node not in the map")
        connection = node.acquire_connection()
        try:
            _, result = await _exchange(connection, [("ASKING",), args], self._wait)
        except BaseException:
            await connection.disconnect(nowait=True)
            raise
        finally:
            node.release(connection)
        if isinstance(result, Exception):
            raise result
        return result

    async def _read_map(self, failed: str | None = None) -> None:
        # Callers redirected at once (a failover moved many slots) share one reading of it.
        reader = self._map_reader
        if reader is None or reader.done():
            manager = self._cluster.nodes_manager
            reader = self._map_reader = asyncio.create_task(
                manager.initialize(last_failed_node_name=failed)
            )
        with contextlib.suppress(RedisError, RedisClusterException):
            await asyncio.shield(reader)

    def _enqueue(
        self, node: ClusterNode, item: tuple[tuple[Any, ...], asyncio.Future[Any]]
    ) -> None:
        self._queues.setdefault(node.name, []).append(item)
        flusher = self._flushers.get(node.name)
        if flusher is None or flusher.done():
            self._flushers[node.name] = asyncio.create_task(self._flush(node))

    def _primary_for(self, args: tuple[Any, ...]) -> ClusterNode:
        key = args[_KEY_AT.get(str(args[0]).upper(), 1)]
        node = self._cluster.get_node_from_key(key)
        assert node is not None  # a primary, or SlotNotCoveredError
        return node

    async def _flush(self, node: ClusterNode) -> None:
        queue = self._queues[node.name]
        while queue:
            batch = queue[: self._max_batch]
            del queue[: self._max_batch]
            try:
                results = await _node_round_trip(node, batch, self._wait)
            except BaseException as exc:
                if isinstance(exc, RedisConnectionError | RedisTimeoutError | OSError):
                    # Before the callers hear it, so that what they send next goes by the new map.
                    await self._relearn(node)
                _fail(batch, exc if isinstance(exc, Exception) else ConnectionError())
                if not isinstance(exc, Exception):
                    raise
                continue
            _deliver(batch, results)

    async def _relearn(self, failed: ClusterNode) -> None:
        # Until a failover completes the nodes still name the lost primary, and commands for its
        # slots fail fast (connection refused); once a replica is promoted, they name it.
        await self._read_map(failed.name)
        # What was queued for the failed node meanwhile, unsent, goes where the map says now.
        queue = self._queues[failed.name]
        waiting = queue[:]
        queue.clear()
        for args, future in waiting:
            try:
                node = self._primary_for(args)
            except RedisClusterException as exc:  # no node serves its slot now
                if not future.done():
                    future.set_exception(exc)
                continue
            if node.name == failed.name:
                queue.append((args, future))
            else:
                self._enqueue(node, (args, future))


async def _node_round_trip(node: ClusterNode, batch: Batch, wait: ReplicaWait | None) -> list[Any]:
    connection = node.acquire_connection()
    try:
        return await _exchange(connection, [args for args, _ in batch], wait)
    except BaseException:
        await connection.disconnect(nowait=True)
        raise
    finally:
        node.release(connection)


async def _exchange(
    connection: Any, commands: list[tuple[Any, ...]], wait: ReplicaWait | None
) -> list[Any]:
    """One round trip on one connection: the commands, then the WAIT if any. Each command's own
    error (OOM, a script error, a redirection) is its result; a broken connection raises."""
    sent = [*commands, ("WAIT", wait.replicas, wait.timeout_ms)] if wait else commands
    await connection.send_packed_command(
        b"".join([hiredis.pack_command(args) for args in sent]), check_health=False
    )
    results: list[Any] = []
    for _ in commands:
        try:
            results.append(await connection.read_response())
        except ResponseError as exc:
            results.append(exc)
    if wait is None:
        return results
    try:
        acked = int(await connection.read_response())
    except ResponseError:  # a node no longer a primary ("WAIT cannot be used with replica ...")
        acked = 0
    if acked >= wait.replicas:
        return results
    # What ran is on the primary but not on enough replicas: not to be acknowledged. A command
    # that failed (ran nothing) keeps its own error.
    return [
        result if isinstance(result, Exception) else ReplicationTimeoutError(acked, wait.replicas)
        for result in results
    ]


def _deliver(batch: Batch, results: list[Any]) -> None:
    for (_, future), result in zip(batch, results, strict=True):
        if future.done():
            continue  # its caller gave up (cancelled); the command still ran
        if isinstance(result, Exception):
            future.set_exception(result)
        else:
            future.set_result(result)


def _fail(batch: Batch, error: Exception) -> None:
    for _, future in batch:
        if not future.done():
            future.set_exception(error)
