"""`RedisSessionEvents`: tells the other services that a session ended, so that they refuse its
access tokens from then on (HTTP and new WebSockets) and close what it holds open.

The session id goes on the deny list every verifier reads (`cardstream_runtime.ended_sessions`)
and is published, in one transaction: a process that was not listening reads the list when it
comes back, so an ended session is never forgotten before its access tokens expire."""

from __future__ import annotations

import time
from collections.abc import Callable

from cardstream_runtime.ended_sessions import end_session
from cardstream_runtime.redis_urls import AnyRedis


class RedisSessionEvents:
    def __init__(
        self, redis: AnyRedis, *, key_prefix: str, clock: Callable[[], float] = time.time
    ) -> None:
        self._redis = redis
        self._key_prefix = key_prefix
        self._clock = clock

    async def session_ended(self, sid: str) -> None:
        await end_session(self._redis, self._key_prefix, sid, now=self._clock())
