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
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, Protocol

import hiredis
from cardstream_runtime.redis_urls import AnyRedis
from redis.asyncio import Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.exceptions import (
    AskError,
    RedisClusterException,
    RedisError,
    ResponseError,
    TryAgainError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

Batch = list[tuple[tuple[Any, ...], asyncio.Future[Any]]]
# Commands whose first key is not their first argument: FCALL name numkeys key ...
_KEY_AT = {"FCALL": 3, "FCALL_RO": 3}


class Pipeline(Protocol):
    async def execute(self, *args: Any) -> Any: ...


def auto_pipeline(redis: AnyRedis) -> Pipeline:
    """The pipeline for this client: one round trip for all, or one per primary of a cluster."""
    if isinstance(redis, RedisCluster):
        return ClusterAutoPipeline(redis)
    return AutoPipeline(redis)


class AutoPipeline:
    def __init__(self, redis: Redis, *, max_batch: int = 256) -> None:
        self._redis = redis
        self._max_batch = max_batch
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
            await connection.send_packed_command(
                b"".join([hiredis.pack_command(args) for args, _ in batch]), check_health=False
            )
            results: list[Any] = []
            for _ in batch:
                try:
                    results.append(await connection.read_response())
                except ResponseError as exc:  # this command's own error (OOM, a script error)
                    results.append(exc)
            return results
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

    def __init__(self, cluster: RedisCluster, *, max_batch: int = 256) -> None:
        self._cluster = cluster
        self._max_batch = max_batch
        self._queues: dict[str, Batch] = {}
        self._flushers: dict[str, asyncio.Task[None]] = {}

    async def execute(self, *args: Any) -> Any:
        await self._cluster.initialize()  # a no-op but the first time and after aclose()
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._enqueue(self._primary_for(args), (args, future))
        try:
            return await future
        except (AskError, TryAgainError):  # MovedError is an AskError
            return await self._cluster.execute_command(*args)

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
                results = await _node_round_trip(node, batch)
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
        with contextlib.suppress(RedisError, RedisClusterException):
            await self._cluster.nodes_manager.initialize(last_failed_node_name=failed.name)
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


async def _node_round_trip(node: ClusterNode, batch: Batch) -> list[Any]:
    connection = node.acquire_connection()
    try:
        await connection.send_packed_command(
            b"".join([hiredis.pack_command(args) for args, _ in batch]), check_health=False
        )
        results: list[Any] = []
        for _ in batch:
            try:
                results.append(await connection.read_response())
            except ResponseError as exc:  # this command's own error, a redirection among them
                results.append(exc)
        return results
    except BaseException:
        await connection.disconnect(nowait=True)
        raise
    finally:
        node.release(connection)


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
