"""`RedisSessionEvents`: tells other services (the projector's WebSocket hub) that a session
ended, so they close what that session holds open."""

from __future__ import annotations

from redis.asyncio import Redis


class RedisSessionEvents:
    def __init__(self, redis: Redis, *, channel: str) -> None:
        self._redis = redis
        self.channel = channel

    async def session_ended(self, sid: str) -> None:
        # Pub/sub is fire and forget: a hub that is down has no sockets to close, and access
        # tokens of the ended session expire within access_ttl_s anyway.
        await self._redis.publish(self.channel, sid)
