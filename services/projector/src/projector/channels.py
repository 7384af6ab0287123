"""Listening on a Redis pub/sub channel for as long as the hub runs, across lost connections."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from cardstream_runtime.redis_urls import REDIS_ERRORS, AnyRedis, pubsub_for
from redis.asyncio.client import PubSub

log = logging.getLogger("projector.channels")

RETRY_PAUSE_S = 0.5


def raise_if_cancelling() -> None:
    """redis-py can swallow a cancellation that lands while it connects (seen with 8.1 on Python
    3.11): a loop that would otherwise run on checks between its calls."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


LISTEN_TIMEOUT_S = 1.0


async def listen(
    redis: AnyRedis,
    channel: str,
    heard: Callable[[bytes], None],
    *,
    lost: Callable[[], None] | None = None,
) -> None:
    """Calls `heard` with each message's data; `lost` after a reconnect (messages may be missed).
    On a cluster each reconnect listens on another node (`pubsub_for`)."""
    attempt = 0
    while True:
        pubsub: PubSub | None = None
        try:
            pubsub = await pubsub_for(redis, attempt)
            await pubsub.subscribe(channel)
            while True:
                raise_if_cancelling()
                # Bounded, so a stop that redis-py swallowed is seen on the next turn.
                message = await pubsub.get_message(timeout=LISTEN_TIMEOUT_S)
                if message is not None and isinstance(message.get("data"), bytes):
                    heard(message["data"])
        except REDIS_ERRORS:
            log.warning("lost the channel %s; resubscribing", channel, exc_info=True)
            if lost is not None:
                lost()
            attempt += 1
            await asyncio.sleep(RETRY_PAUSE_S)
        finally:
            if pubsub is not None:
                with contextlib.suppress(*REDIS_ERRORS):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
