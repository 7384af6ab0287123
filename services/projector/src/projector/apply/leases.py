"""Leases: who may apply a partition (or run a rebuild) right now, in Redis.

A lease is redis-py's `Lock` with the holder's name as its token: taken with `SET NX PX`,
renewed and released only by its holder (redis-py's compare-and-set scripts). A holder renews it
every third of its time to live from a task of its own, so a slow batch cannot let it lapse; one
that fails to renew in time stops before anyone else may take over.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from cardstream_runtime.redis_urls import REDIS_ERRORS, AnyRedis
from redis.asyncio.lock import Lock
from redis.exceptions import LockError

log = logging.getLogger("projector.leases")


class Lease:
    def __init__(self, redis: AnyRedis, key: str, owner: str, ttl_ms: int) -> None:
        self.key = key
        self.owner = owner
        self.ttl_ms = ttl_ms
        self._lock = Lock(
            redis,
            key,
            timeout=ttl_ms / 1000,
            blocking=False,
            thread_local=False,
            raise_on_release_error=False,
        )

    async def acquire(self) -> bool:
        return bool(await self._lock.acquire(token=self.owner))

    async def renew(self) -> bool:
        """Another full time to live, if the lease is still ours."""
        try:
            await self._lock.reacquire()
        except LockError:
            return False
        return True

    async def release(self) -> None:
        with contextlib.suppress(*REDIS_ERRORS):
            await self._lock.release()


@contextlib.asynccontextmanager
async def kept(lease: Lease, stop: asyncio.Event | None = None) -> AsyncIterator[asyncio.Event]:
    """Renews a lease taken by the caller until the block ends, then releases it. Yields an event
    that is set once the lease could not be renewed: the caller must stop acting on it."""
    lost = asyncio.Event()
    renewer = asyncio.create_task(_renew(lease, lost, stop or asyncio.Event()))
    try:
        yield lost
    finally:
        renewer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await renewer
        await lease.release()


async def _renew(lease: Lease, lost: asyncio.Event, stop: asyncio.Event) -> None:
    every = lease.ttl_ms / 3000
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)
        if stop.is_set():
            return
        try:
            renewed = await lease.renew()
        except REDIS_ERRORS:
            renewed = False
        if not renewed:
            log.warning("lost a lease", extra={"fields": {"key": lease.key}})
            lost.set()
            return
