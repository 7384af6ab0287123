"""Is this Redis safe to hold the log? Acknowledged events must survive a crash of Redis itself.

We require an append-only file fsynced on every write (`appendfsync always`): an append is
acknowledged only after it is on disk, so the loss window is zero (see docs/adr/002). Eviction
would silently delete events, so `maxmemory-policy` must be `noeviction`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from redis.asyncio import Redis
from redis.exceptions import RedisError

REQUIRED = {"appendonly": "yes", "appendfsync": "always", "maxmemory-policy": "noeviction"}


@dataclass(frozen=True, slots=True)
class RedisSafety:
    problems: list[str] = field(default_factory=list)

    @property
    def safe(self) -> bool:
        return not self.problems


async def check_redis_safety(redis: Redis) -> RedisSafety:
    problems = []
    for name, wanted in REQUIRED.items():
        try:
            reply = await redis.config_get(name)
        except RedisError as exc:
            problems.append(f"cannot read {name}: {exc}")
            continue
        value = reply.get(name.encode(), reply.get(name))  # type: ignore[call-overload]
        if isinstance(value, bytes):
            value = value.decode()
        if value != wanted:
            problems.append(f"{name} is {value!r}, must be {wanted!r}")
    return RedisSafety(problems)
