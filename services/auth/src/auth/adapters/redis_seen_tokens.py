"""`RedisSeenTokens`: ID tokens already traded for a session, remembered until they expire,
so that one copied from a browser cannot be traded again."""

from __future__ import annotations

import math

from cardstream_runtime.redis_urls import AnyRedis


class RedisSeenTokens:
    def __init__(self, redis: AnyRedis, *, key_prefix: str) -> None:
        self._redis = redis
        self._prefix = f"{key_prefix}auth:seen-id-token:"

    async def first_use(self, token_hash: str, *, ttl_s: float) -> bool:
        """True the first time a token is seen, False on every later call."""
        stored = await self._redis.set(
            self._prefix + token_hash, b"1", ex=max(1, math.ceil(ttl_s)), nx=True
        )
        return bool(stored)
