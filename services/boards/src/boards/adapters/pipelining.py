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
from typing import Any

import hiredis
from redis.asyncio import Redis
from redis.exceptions import ResponseError

Batch = list[tuple[tuple[Any, ...], asyncio.Future[Any]]]


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
            for (_, future), result in zip(batch, results, strict=True):
                if future.done():
                    continue  # its caller gave up (cancelled); the command still ran
                if isinstance(result, Exception):
                    future.set_exception(result)
                else:
                    future.set_result(result)

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


def _fail(batch: Batch, error: Exception) -> None:
    for _, future in batch:
        if not future.done():
            future.set_exception(error)
