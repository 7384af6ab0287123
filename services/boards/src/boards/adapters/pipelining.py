"""Automatic pipelining: commands issued while a round trip is in flight go together in the next.

At one request at a time this costs nothing (a command is sent at once). Under load, one write
and one read carry many commands instead of a system call pair each, which is where an event
loop spends its time. Each command still succeeds or fails on its own.
"""

from __future__ import annotations

import asyncio
from typing import Any

from redis.asyncio import Redis


class AutoPipeline:
    def __init__(self, redis: Redis, *, max_batch: int = 256) -> None:
        self._redis = redis
        self._max_batch = max_batch
        self._queue: list[tuple[tuple[Any, ...], asyncio.Future[Any]]] = []
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
                async with self._redis.pipeline(transaction=False) as pipe:
                    for args, _ in batch:
                        pipe.execute_command(*args)
                    results = await pipe.execute(raise_on_error=False)
            except BaseException as exc:  # the connection broke: each caller hears it
                for _, future in batch:
                    if not future.done():
                        future.set_exception(
                            exc if isinstance(exc, Exception) else ConnectionError()
                        )
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


def _fail(batch: list[tuple[tuple[Any, ...], asyncio.Future[Any]]], error: Exception) -> None:
    for _, future in batch:
        if not future.done():
            future.set_exception(error)
