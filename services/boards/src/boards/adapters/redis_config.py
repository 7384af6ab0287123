"""Is this Redis safe to hold the log? Acknowledged events must survive a crash of Redis itself.

We require an append-only file fsynced on every write (`appendfsync always`): an append is
acknowledged only after it is on disk, so the loss window is zero (see docs/adr/002). Eviction
would silently delete events, so `maxmemory-policy` must be `noeviction`.

On a Redis Cluster every node is asked, replicas too: a replica promoted in a failover holds the
log from then on, and must keep it as safely as the primary it replaces. A node that does not
answer is named apart (`unreachable`), not as unsafe: the cluster serves without it (its replica
takes over), and every process saying "not ready" at once because one node is down would turn a
failover the cluster rides out into an outage.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from cardstream_runtime.redis_urls import AnyRedis, config_value
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

REQUIRED = {"appendonly": "yes", "appendfsync": "always", "maxmemory-policy": "noeviction"}


@dataclass(frozen=True, slots=True)
class RedisSafety:
    problems: list[str] = field(default_factory=list)
    # Nodes of a cluster that did not answer (host:port).
    unreachable: list[str] = field(default_factory=list)

    @property
    def safe(self) -> bool:
        return not self.problems


async def check_redis_safety(redis: AnyRedis) -> RedisSafety:
    if not isinstance(redis, RedisCluster):
        return RedisSafety(await _problems(redis.config_get))
    await redis.initialize()
    # Every node CLUSTER NODES lists, not the client's slot map: that is CLUSTER SLOTS, which
    # leaves a replica out until it has reported a replication offset (a fresh cluster's do not).
    listed: dict[str, Any] = await redis.cluster_nodes()
    safety = RedisSafety()
    for address, info in sorted(listed.items()):
        if {"noaddr", "handshake"} & set(info["flags"].split(",")):
            continue  # a node not yet (or no longer) part of the cluster
        known = redis.get_node(node_name=address)
        host, _, port = address.rpartition(":")
        node = known or ClusterNode(host, int(port), **redis.connection_kwargs)
        try:
            await node.execute_command("PING")
            found = await _problems(partial(node.execute_command, "CONFIG GET"))
            safety.problems.extend(f"{address}: {problem}" for problem in found)
        except (RedisConnectionError, RedisTimeoutError):
            safety.unreachable.append(address)
        finally:
            if known is None:
                await node.disconnect()
    return safety


async def _problems(config_get: Callable[[str], Awaitable[Any]]) -> list[str]:
    problems = []
    for name, wanted in REQUIRED.items():
        try:
            reply = await config_get(name)
        except RedisError as exc:
            problems.append(f"cannot read {name}: {exc}")
            continue
        value = config_value(reply, name)
        if value != wanted:
            problems.append(f"{name} is {value!r}, must be {wanted!r}")
    return problems
