"""The local Redis Cluster the tests of the event store on a cluster run against: three primaries
with a replica each, durable as the single server, and a node that can be killed and restarted."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import redis
import redis.cluster
from cardstream_devstack import RedisCluster, RedisClusterNode
from cardstream_devstack.cluster import HASH_SLOTS

DURABLE = {
    "appendonly": "yes",
    "appendfsync": "always",
    "maxmemory-policy": "noeviction",
    "cluster-enabled": "yes",
}


def _client(cluster: RedisCluster) -> redis.cluster.RedisCluster:
    host, port = cluster.addresses[0]
    return redis.cluster.RedisCluster(host=host, port=port, decode_responses=True)


def _primary_port(replica: RedisClusterNode) -> int:
    with replica.client() as client:
        return int(client.info("replication")["master_port"])


def _slot_ranges(cluster: RedisCluster) -> dict[str, list[tuple[int, int]]]:
    """Slot ranges by the address of the primary serving them, as the first node sees it."""
    with cluster.nodes[0].client() as client:
        slots = client.execute_command("CLUSTER SLOTS")
    ranges: dict[str, list[tuple[int, int]]] = {}
    for first, last, primary, *_ in slots:
        ranges.setdefault(f"{primary[0].decode()}:{primary[1]}", []).append((first, last))
    return ranges


class TestTheSharedCluster:
    def test_has_three_primaries_with_a_replica_each(self, redis_cluster: RedisCluster) -> None:
        primaries, replicas = redis_cluster.primaries(), redis_cluster.replicas()

        assert (len(primaries), len(replicas)) == (3, 3)
        assert redis_cluster.problems() == []
        assert {_primary_port(replica) for replica in replicas} == {p.port for p in primaries}

    def test_the_primaries_split_every_slot_between_them(self, redis_cluster: RedisCluster) -> None:
        ranges = _slot_ranges(redis_cluster)

        assert set(ranges) == {node.address for node in redis_cluster.primaries()}
        covered = sorted(r for node_ranges in ranges.values() for r in node_ranges)
        assert covered[0][0] == 0
        assert covered[-1][1] == HASH_SLOTS - 1
        assert all(a[1] + 1 == b[0] for a, b in itertools.pairwise(covered))

    def test_every_node_is_as_durable_as_the_single_server(
        self, redis_cluster: RedisCluster
    ) -> None:
        for node in redis_cluster.nodes:
            with node.client() as client:
                config = {name: client.config_get(name)[name] for name in DURABLE}
            assert config == DURABLE, node.address

    def test_a_replica_takes_over_on_request_and_its_primary_follows_it(
        self, redis_cluster: RedisCluster
    ) -> None:
        primary = redis_cluster.primaries()[0]
        replica = redis_cluster.replica_of(primary)

        redis_cluster.fail_over(replica)

        assert (replica.role(), primary.role()) == ("master", "slave")
        assert _primary_port(primary) == replica.port
        assert redis_cluster.problems() == []

    def test_its_url_names_every_node_for_the_services(self, redis_cluster: RedisCluster) -> None:
        url = redis_cluster.url

        assert url.startswith("redis+cluster://")
        assert url.removeprefix("redis+cluster://").split(",") == [
            node.address for node in redis_cluster.nodes
        ]


def test_a_killed_primary_fails_over_to_its_replica_and_rejoins_as_a_replica(
    tmp_path: Path,
) -> None:
    with RedisCluster(tmp_path / "cluster", node_timeout_ms=1000) as cluster:
        client = _client(cluster)
        client.set("k", "before")
        slot = client.keyslot("k")
        primary = cluster.primary_for(slot)
        with primary.client() as direct:
            assert direct.execute_command("WAIT", 1, 5000) == 1  # its replica has it
        [replica] = [node for node in cluster.replicas() if _primary_port(node) == primary.port]
        client.close()

        started = time.monotonic()
        cluster.kill(primary)
        cluster.wait_until_ok(every_node_up=False)
        failover_s = time.monotonic() - started

        assert cluster.primary_for(slot) is replica
        assert len(cluster.primaries()) == 3
        client = _client(cluster)
        assert client.get("k") == "before"
        client.set("k", "after")

        cluster.restart(primary)

        assert primary.role() == "slave"
        assert _primary_port(primary) == replica.port
        assert cluster.problems() == []
        assert client.get("k") == "after"
        client.close()
        print(f"failover took {failover_s:.1f} s with a node timeout of 1 s")
