"""`RedisLoginStates`: logins in flight, one key per state, taken out exactly once (GETDEL)."""

from __future__ import annotations

import math

import orjson
from cardstream_runtime.redis_urls import AnyRedis

from auth.domain.login import LoginState


class RedisLoginStates:
    def __init__(self, redis: AnyRedis, *, key_prefix: str) -> None:
        self._redis = redis
        self._prefix = f"{key_prefix}auth:login:"

    def _key(self, state: str) -> str:
        return self._prefix + state

    async def put(self, login: LoginState, *, ttl_s: float) -> None:
        value = orjson.dumps(
            {
                "nonce": login.nonce,
                "code_verifier": login.code_verifier,
                "provider": login.provider,
                "browser_hash": login.browser_hash,
                "next_path": login.next_path,
                "expires_at": login.expires_at,
            }
        )
        # Redis forgets it by itself; the stored expires_at is what the callback checks.
        await self._redis.set(self._key(login.state), value, ex=max(1, math.ceil(ttl_s)), nx=True)

    async def take(self, state: str) -> LoginState | None:
        """The state, removed so that no second callback can use it; None if there is none."""
        raw = await self._redis.getdel(self._key(state))
        if raw is None:
            return None
        data = orjson.loads(raw)
        return LoginState(
            state=state,
            nonce=data["nonce"],
            code_verifier=data["code_verifier"],
            provider=data["provider"],
            browser_hash=data["browser_hash"],
            next_path=data["next_path"],
            expires_at=float(data["expires_at"]),
        )

    async def ttl(self, state: str) -> int:
        return int(await self._redis.ttl(self._key(state)))
