"""Private servers for the benchmarks that need the whole backend: Redis (AOF, fsync always, as
production runs it; one server, or a cluster of 3 primaries with a replica each) and FerretDB, in
one temporary directory that goes when the benchmark ends, however it ends."""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from cardstream_runtime.devtoken import DevSigner
from cardstream_testing import FerretDBServer, RedisCluster, RedisServer, log_tail
from pymongo import AsyncMongoClient
from redis.asyncio import Redis

from bench.runtime import log as bench_log

ISSUER, AUDIENCE, USER = "cardstream-bench", "cardstream", "bench"
TOKEN_TTL = 24 * 60 * 60
PARTITIONS = 16
# The benchmarks drive thousands of commands a second and open thousands of sockets as one
# user: they measure throughput, not the per-user limits, which would refuse most of them.
UNLIMITED_COMMANDS = {
    "BOARDS_COMMANDS_PER_USER_PER_S": "100000",
    "BOARDS_COMMANDS_BURST": "1000000",
}
UNLIMITED = {"BOARDS": UNLIMITED_COMMANDS, "PROJECTOR": {"PROJECTOR_WS_PER_USER": "10000"}}

# On a cluster production refuses to acknowledge an append before a replica has it
# (docs/adr/011-replica-acks.md): the cluster rows pay that wait, as production would.
CLUSTER = {"BOARDS": {"BOARDS_REPLICA_ACKS": "1"}}

Doc = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Servers:
    root: Path
    redis: RedisServer | RedisCluster
    mongo: FerretDBServer
    signer: DevSigner
    key_file: Path
    # The services' output, all of them in one file (each start is marked).
    log: IO[bytes]
    log_path: Path

    def token(self) -> str:
        return self.signer.token(USER, ttl=TOKEN_TTL)

    def env(self, prefix: str, key_prefix: str, **settings: str) -> dict[str, str]:
        """A service's settings in production mode over these servers."""
        return {
            f"{prefix}_REDIS_URL": self.redis.url,
            f"{prefix}_KEY_PREFIX": key_prefix,
            f"{prefix}_PARTITIONS": str(PARTITIONS),
            f"{prefix}_JWT_ISSUER": ISSUER,
            f"{prefix}_JWT_AUDIENCE": AUDIENCE,
            f"{prefix}_JWT_PUBLIC_KEY_FILE": str(self.key_file),
            # The boards service refuses to start in production on a Redis that could lose events.
            f"{prefix}_MODE": "production",
            f"{prefix}_LOG_LEVEL": "WARNING",
            **UNLIMITED.get(prefix, {}),
            **(CLUSTER.get(prefix, {}) if self.on_cluster else {}),
            **{f"{prefix}_{name.upper()}": value for name, value in settings.items()},
        }

    @property
    def on_cluster(self) -> bool:
        return isinstance(self.redis, RedisCluster)


@contextmanager
def servers(name: str, *, cluster: bool = False) -> Iterator[Servers]:
    with tempfile.TemporaryDirectory(prefix=f"cardstream-bench-{name}-") as tmp:
        root = Path(tmp)
        signer = DevSigner.generate(issuer=ISSUER, audience=AUDIENCE)
        key_file = root / "jwt-public.pem"
        key_file.write_bytes(signer.public_pem())
        log_path = root / "services.log"
        with (
            RedisCluster(root / "redis-cluster")
            if cluster
            else RedisServer(root / "redis") as redis,
            # As `make run` runs it: on idle CPU time, behind the live path.
            FerretDBServer(root / "ferretdb", background=True) as mongo,
            log_path.open("ab") as log,
        ):
            try:
                yield Servers(root, redis, mongo, signer, key_file, log, log_path)
            except Exception:
                # The temporary directory goes with the servers: say what their logs said first.
                for path in (log_path, mongo.log_path):
                    bench_log.error("last lines of %s:\n%s", path.name, log_tail(path, 30))
                raise


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


async def redis_facts(redis: Redis) -> dict[str, Any]:
    server: dict[str, Any] = await redis.info("server")
    persistence: dict[str, Any] = await redis.info("persistence")
    config: dict[Any, Any] = await redis.config_get("append*")
    settings = {_text(k): _text(v) for k, v in config.items()}
    return {
        "version": server["redis_version"],
        "pid": int(server["process_id"]),
        "appendonly": settings.get("appendonly"),
        "appendfsync": settings.get("appendfsync"),
        "aof_rewrites": persistence.get("aof_rewrites"),
    }


async def cluster_facts(cluster: RedisCluster) -> dict[str, Any]:
    """`redis_facts` of every node (pids by node), and how many are primaries."""
    nodes: dict[str, Any] = {}
    for node in cluster.nodes:
        client = Redis(host="127.0.0.1", port=node.port)
        try:
            facts, replication = await asyncio.gather(
                redis_facts(client), client.info("replication")
            )
        finally:
            with contextlib.suppress(OSError):
                await client.aclose()
        nodes[node.address] = {**facts, "role": _text(replication["role"])}
    first = next(iter(nodes.values()))
    return {
        "version": first["version"],
        "pids": {address: facts["pid"] for address, facts in nodes.items()},
        "primaries": sum(facts["role"] == "master" for facts in nodes.values()),
        "nodes": len(nodes),
        "appendonly": sorted({facts["appendonly"] for facts in nodes.values()}),
        "appendfsync": sorted({facts["appendfsync"] for facts in nodes.values()}),
    }


async def mongo_facts(client: AsyncMongoClient[Doc]) -> dict[str, Any]:
    status = await client.admin.command("serverStatus")
    info = await client.admin.command("buildInfo")
    return {
        "pid": int(status["pid"]),
        "ferretdb": info.get("ferretdbVersion"),
        "backend": "sqlite",
        "mongodb_compatible": info.get("version"),
    }


def mongo_client(url: str) -> AsyncMongoClient[Doc]:
    return AsyncMongoClient(url, tz_aware=True)
