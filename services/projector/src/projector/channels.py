"""Listening on a Redis pub/sub channel for as long as the hub runs, across lost connections."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from redis.asyncio import Redis
from redis.exceptions import RedisError

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
    redis: Redis,
    channel: str,
    heard: Callable[[bytes], None],
    *,
    lost: Callable[[], None] | None = None,
) -> None:
    """Calls `heard` with each message's data; `lost` after a reconnect (messages may be missed)."""
    while True:
        pubsub = redis.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(channel)
            while True:
                raise_if_cancelling()
                # Bounded, so a stop that redis-py swallowed is seen on the next turn.
                message = await pubsub.get_message(timeout=LISTEN_TIMEOUT_S)
                if message is not None and isinstance(message.get("data"), bytes):
                    heard(message["data"])
        except RedisError:
            log.warning("lost the channel %s; resubscribing", channel, exc_info=True)
            if lost is not None:
                lost()
            await asyncio.sleep(RETRY_PAUSE_S)
        finally:
            with contextlib.suppress(RedisError):
                await pubsub.aclose()  # type: ignore[no-untyped-call]
