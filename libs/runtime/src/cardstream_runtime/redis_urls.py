"""One way to connect to Redis from a setting: a single server or a Redis Cluster, told apart by
the URL's scheme.

- `redis://host:port/db`, `rediss://...`: one server, as redis-py reads the URL.
- `redis+cluster://[user:password@]host:port[,host:port...]`, `rediss+cluster://...` (TLS): a
  Redis Cluster. The nodes listed are where the client starts; it learns the rest of the
  cluster, and every change of it, from them, so a few are enough and one will do. A cluster has
  only database 0, so the path may be empty, `/` or `/0`; the query takes no options (a client
  setting goes where the service sets its others, never in a URL an operator copies).

The client of a cluster is redis-py's `redis.asyncio.cluster.RedisCluster`: it sends each command
to the primary serving its key's hash slot and follows MOVED and ASK redirections.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, TypeAlias
from urllib.parse import unquote

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.exceptions import RedisClusterException, RedisError

AnyRedis: TypeAlias = Redis | RedisCluster

# What a call to either client can raise when Redis fails it: redis-py's cluster client raises
# RedisClusterException, which is not a RedisError, when it cannot reach any node it knows.
REDIS_ERRORS: tuple[type[Exception], ...] = (RedisError, RedisClusterException)

CLUSTER_SCHEMES = {"redis+cluster": False, "rediss+cluster": True}


@dataclass(frozen=True, slots=True)
class ClusterAddress:
    nodes: tuple[tuple[str, int], ...]
    username: str | None = None
    password: str | None = None
    tls: bool = False


def is_cluster_url(url: str) -> bool:
    return url.partition("://")[0].lower() in CLUSTER_SCHEMES


def parse_cluster_url(url: str) -> ClusterAddress:
    """The nodes and credentials of a cluster URL; ValueError saying what is wrong with it (and
    never repeating the URL, which may hold a password)."""
    scheme, separator, rest = url.partition("://")
    if not separator or scheme.lower() not in CLUSTER_SCHEMES:
        raise ValueError(f"a cluster URL starts with {' or '.join(CLUSTER_SCHEMES)}://")
    rest, _, query = rest.partition("?")
    if query:
        raise ValueError("a cluster URL takes no options after '?'")
    location, _, path = rest.partition("/")
    if path not in ("", "0"):
        raise ValueError("a Redis Cluster has only database 0")
    userinfo, at, hosts = location.rpartition("@")
    username = password = None
    if at:
        user, colon, secret = userinfo.partition(":")
        username = unquote(user) or None
        password = unquote(secret) if colon else None
    nodes = tuple(_node(part) for part in hosts.split(","))
    return ClusterAddress(nodes, username, password, CLUSTER_SCHEMES[scheme.lower()])


def _node(text: str) -> tuple[str, int]:
    host, colon, port = text.strip().rpartition(":")
    if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError("each node of a cluster URL is host:port, separated by commas")
    return host.removeprefix("[").removesuffix("]"), int(port)


def check_redis_url(url: str) -> str:
    """For settings validators: a cluster URL must parse (a single server's is redis-py's to
    judge, at connection)."""
    if is_cluster_url(url):
        parse_cluster_url(url)
    return url


def redis_from_url(url: str, **options: Any) -> AnyRedis:
    """A client of the server or cluster the URL names; `options` go to the client (timeouts,
    `decode_responses`). Nothing is connected until the first command."""
    if not is_cluster_url(url):
        client: Redis = Redis.from_url(url, **options)
        return client
    address = parse_cluster_url(url)
    return RedisCluster(
        startup_nodes=[ClusterNode(host, port) for host, port in address.nodes],
        username=address.username,
        password=address.password,
        ssl=address.tls,
        **options,
    )


async def pubsub_for(redis: AnyRedis, attempt: int = 0) -> PubSub:
    """A pub/sub connection for a subscriber's `attempt`-th try (0, then 1, 2... after each loss).

    On a cluster a classic PUBLISH reaches every node over the cluster bus, so a subscriber may
    listen on any node, replicas too. redis-py would take the primary of the channel's slot from
    its slot map, which names a dead primary until a failover completes: instead each try takes
    the next node the client knows (after reading the map again), so a subscriber whose node
    died listens on another at its next try, whether or not its replica was promoted yet."""
    if not isinstance(redis, RedisCluster):
        return redis.pubsub(ignore_subscribe_messages=True)
    if attempt:
        # Nothing else may have told the client of the change (a process that only listens).
        with contextlib.suppress(RedisError, RedisClusterException):
            await redis.nodes_manager.initialize()
    else:
        await redis.initialize()  # a no-op once the client knows the cluster
    nodes = sorted(redis.get_nodes(), key=lambda node: node.name)
    return redis.pubsub(node=nodes[attempt % len(nodes)], ignore_subscribe_messages=True)


def config_value(reply: Any, name: str) -> str:
    """One setting out of a `CONFIG GET name` reply, as text: its keys and values are bytes or
    str depending on the client's `decode_responses`, and a setting the server lacks is absent."""
    value = reply.get(name.encode(), reply.get(name))
    return value.decode() if isinstance(value, bytes) else str(value or "")
