"""Which processes apply the feeds now, so that they can share the partitions evenly.

Every applying process beats on one sorted set per consumer group: its score is the time its
membership lapses, read from the Redis clock (TIME inside the script), so that processes on hosts
whose clocks disagree still agree on who is alive. A process that stops leaves at once; one that
dies lapses after `ttl_ms`, as its leases do.

Membership only steers how many partitions each process asks for (`share`); it never decides who
may apply a partition. That stays with the partition's lease (`projector.apply.leases`), so two
processes that disagree about the members for a moment may hold an uneven share, never the same
partition.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Sequence

from cardstream_runtime.redis_urls import AnyRedis

# KEYS[1] the set; ARGV[1] the member, ARGV[2] its time to live in ms. Returns the live members.
# One key, so one slot: on a cluster the script runs on the node that holds the set.
_BEAT = """
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local ttl = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now_ms)
redis.call('ZADD', KEYS[1], now_ms + ttl, ARGV[1])
redis.call('PEXPIRE', KEYS[1], ttl * 2)
return redis.call('ZRANGE', KEYS[1], 0, -1)
"""


class Members:
    def __init__(self, redis: AnyRedis, key: str, me: str, ttl_ms: int) -> None:
        self.key = key
        self.me = me
        self.ttl_ms = ttl_ms
        self._beat = redis.register_script(_BEAT)
        self._redis = redis

    async def beat(self) -> list[str]:
        """Renews this process's membership; the live members, this one among them."""
        names = await self._beat(keys=[self.key], args=[self.me, self.ttl_ms])
        return sorted(n.decode() if isinstance(n, bytes) else str(n) for n in names)

    async def leave(self) -> None:
        await self._redis.zrem(self.key, self.me)


def share(partitions: int, members: int) -> int:
    """The most partitions one of `members` processes asks for: every partition has a taker."""
    return math.ceil(partitions / max(members, 1))


def preference(me: str, partitions: Iterable[int]) -> list[int]:
    """The partitions in the order this process prefers them (rendezvous hashing): a process
    that restarts under the same name asks for the same ones first, and processes prefer
    different ones, so a handover moves few partitions."""

    def weight(partition: int) -> bytes:
        return hashlib.blake2b(f"{me}/{partition}".encode(), digest_size=8).digest()

    return sorted(partitions, key=weight, reverse=True)


def to_release(held: Sequence[int], me: str, limit: int) -> list[int]:
    """The held partitions beyond `limit`, least preferred first."""
    excess = len(held) - limit
    if excess <= 0:
        return []
    return preference(me, held)[::-1][:excess]
