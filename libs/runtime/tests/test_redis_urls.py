"""Which Redis a URL names: one server (redis-py's URL) or a cluster (`redis+cluster://`)."""

from __future__ import annotations

import pytest
from cardstream_runtime.redis_urls import (
    ClusterAddress,
    check_redis_url,
    is_cluster_url,
    parse_cluster_url,
    redis_from_url,
)
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster


class TestParseClusterUrl:
    def test_lists_every_node(self) -> None:
        assert parse_cluster_url("redis+cluster://10.0.0.1:7000,10.0.0.2:7001") == ClusterAddress(
            (("10.0.0.1", 7000), ("10.0.0.2", 7001))
        )

    def test_one_node_is_enough(self) -> None:
        assert parse_cluster_url("redis+cluster://redis-0.redis:6379/0").nodes == (
            ("redis-0.redis", 6379),
        )

    def test_takes_credentials_percent_encoded_and_tls(self) -> None:
        address = parse_cluster_url("rediss+cluster://app:p%40ss%2Fword@[::1]:7000,h:7001/")

        assert address == ClusterAddress((("::1", 7000), ("h", 7001)), "app", "p@ss/word", True)

    def test_a_password_alone_has_no_username(self) -> None:
        address = parse_cluster_url("redis+cluster://:secret@h:7000")

        assert (address.username, address.password) == (None, "secret")

    @pytest.mark.parametrize(
        ("url", "complaint"),
        [
            ("redis://h:7000", "starts with redis\\+cluster or rediss\\+cluster"),
            ("redis+cluster://h:7000/1", "only database 0"),
            ("redis+cluster://h:7000?socket_timeout=1", "no options"),
            ("redis+cluster://h", "host:port"),
            ("redis+cluster://h:7000,", "host:port"),
            ("redis+cluster://h:0", "host:port"),
            ("redis+cluster://h:70000", "host:port"),
            ("redis+cluster://:7000", "host:port"),
        ],
    )
    def test_refuses_what_is_not_a_cluster_url(self, url: str, complaint: str) -> None:
        with pytest.raises(ValueError, match=complaint):
            parse_cluster_url(url)

    def test_a_refusal_never_repeats_the_password(self) -> None:
        with pytest.raises(ValueError, match="database 0") as refused:
            parse_cluster_url("redis+cluster://app:hunter2@h:7000/3")

        assert "hunter2" not in str(refused.value)


class TestRedisFromUrl:
    async def test_a_cluster_url_makes_a_cluster_client_of_its_nodes(self) -> None:
        client = redis_from_url("redis+cluster://127.0.0.1:7000,127.0.0.1:7001", socket_timeout=2)

        assert isinstance(client, RedisCluster)
        assert [(n.host, n.port) for n in client.startup_nodes] == [
            ("127.0.0.1", 7000),
            ("127.0.0.1", 7001),
        ]
        assert client.connection_kwargs["socket_timeout"] == 2
        await client.aclose()

    async def test_any_other_url_is_one_server(self) -> None:
        client = redis_from_url("redis://127.0.0.1:6379/2")

        assert isinstance(client, Redis)
        assert client.connection_pool.connection_kwargs["db"] == 2
        await client.aclose()

    @pytest.mark.parametrize(
        ("url", "cluster"),
        [("redis+cluster://h:1", True), ("REDISS+CLUSTER://h:1", True), ("redis://h:1", False)],
    )
    def test_the_scheme_says_which(self, url: str, cluster: bool) -> None:
        assert is_cluster_url(url) is cluster

    def test_a_settings_validator_refuses_a_broken_cluster_url_only(self) -> None:
        assert check_redis_url("redis://anything") == "redis://anything"
        with pytest.raises(ValueError, match="host:port"):
            check_redis_url("redis+cluster://nohost")
