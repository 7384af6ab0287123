"""The event store on a Redis Cluster (issue 13), beyond the contract suite (which the `store`
fixture runs on the cluster too): where the functions are, where each board's keys live, how
appends reach the primaries, and the service as a whole with BOARDS_REDIS_URL naming a cluster.

All against the session's cluster (`redis_cluster`: 3 primaries, a replica each). The failover
test swaps the roles of one pair and leaves the cluster whole, as the fixture allows.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from boards.adapters import pipelining
from boards.adapters.event_store import Appended
from boards.adapters.redis_config import check_redis_safety
from boards.adapters.redis_store import RedisEventStore
from boards.app import create_app
from boards.settings import BoardsSettings
from cardstream_runtime.devtoken import DevSigner
from cardstream_runtime.ended_sessions import DENY_FOR_S, denied_key, ended_channel
from cardstream_runtime.redis_urls import redis_from_url
from cardstream_testing import RedisCluster, RedisClusterNode
from cardstream_testing.fixtures import AUDIENCE, ISSUER
from contracts.streams import DEFAULT_PARTITIONS, StreamKeys
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.crc import key_slot
from redis.exceptions import ConnectionError as RedisConnectionError

LIBRARY = "cardstream"
DEADLINE_S = 10.0


def _has_library(node: RedisClusterNode) -> bool:
    with node.client() as client:
        return bool(client.function_list(library=LIBRARY))


def _board_on(keys: StreamKeys, partition: int) -> uuid.UUID:
    while True:
        board = uuid.uuid4()
        if keys.partition_of(board) == partition:
            return board


async def _create(store: RedisEventStore, board: uuid.UUID, batches) -> Appended:  # type: ignore[no-untyped-def]
    epoch = await store.epoch(board)
    outcome = await store.append(
        batches.batch(board, batches.created(), expected_version=0, epoch=epoch)
    )
    assert isinstance(outcome, Appended)
    return outcome


class TestFunctions:
    async def test_install_loads_them_on_every_primary_and_each_replica_gets_them(
        self, redis_cluster: RedisCluster, cluster_store: RedisEventStore
    ) -> None:
        await cluster_store.install()

        assert all(_has_library(primary) for primary in redis_cluster.primaries())
        for replica in redis_cluster.replicas():  # replication is asynchronous: polled
            redis_cluster.wait_for(lambda r=replica: _has_library(r), timeout=DEADLINE_S)

    async def test_a_primary_without_them_gets_them_at_its_first_append(
        self,
        redis_cluster: RedisCluster,
        cluster_store: RedisEventStore,
        stream_keys: StreamKeys,
        batches,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        # As a primary that joined the cluster after the start would be: no library at all.
        board = uuid.uuid4()
        primary = redis_cluster.primary_for(key_slot(stream_keys.board_log(board).encode()))
        with primary.client() as client:
            client.function_delete(LIBRARY)

        with caplog.at_level(logging.WARNING, logger="boards.store"):
            assert await _create(cluster_store, board, batches) == Appended(1)

        assert _has_library(primary)
        assert "had no cardstream functions" in caplog.text
        assert [e.version for e in await cluster_store.read(board)] == [1]

    async def test_a_replica_promoted_in_a_failover_has_them_and_takes_the_appends(
        self,
        redis_cluster: RedisCluster,
        cluster_store: RedisEventStore,
        stream_keys: StreamKeys,
        batches,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        board = uuid.uuid4()
        primary = redis_cluster.primary_for(key_slot(stream_keys.board_log(board).encode()))
        replica = redis_cluster.replica_of(primary)
        await _create(cluster_store, board, batches)
        redis_cluster.wait_for(lambda: _has_library(replica), timeout=DEADLINE_S)

        redis_cluster.fail_over(replica)

        assert redis_cluster.primaries() == sorted(
            {*redis_cluster.primaries()} - {primary} | {replica}, key=redis_cluster.nodes.index
        )
        assert _has_library(replica)  # replicated, never loaded there by us
        epoch = await cluster_store.epoch(board)
        with caplog.at_level(logging.WARNING, logger="boards.store"):
            # The store's slot map still names the old primary: it follows the MOVED.
            outcome = await cluster_store.append(
                batches.batch(board, batches.renames(1), expected_version=1, epoch=epoch)
            )
        assert outcome == Appended(2)
        assert "had no cardstream functions" not in caplog.text
        assert [e.version for e in await cluster_store.read(board)] == [1, 2]


class TestAKilledPrimary:
    async def test_once_its_replica_is_promoted_the_appends_go_there(
        self, tmp_path: Path, key_prefix: str, batches, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # Its own cluster: a node is killed. Routing only, so the store waits for no replica
        # (the promoted one has none to wait for; test_replica_acks.py covers the wait): the
        # test waits for the replica itself, so that the history is whole when it takes over.
        with RedisCluster(tmp_path / "cluster", node_timeout_ms=1000) as cluster:
            client = redis_from_url(cluster.url, decode_responses=False, socket_timeout=1)
            assert isinstance(client, AsyncRedisCluster)
            keys = StreamKeys(prefix=key_prefix, partitions=4)
            store = RedisEventStore(client, keys)
            await store.install()
            board = uuid.uuid4()
            await _create(store, board, batches)
            primary = cluster.primary_for(key_slot(keys.board_log(board).encode()))
            with primary.client() as direct:
                assert direct.execute_command("WAIT", 1, 5000) == 1

            cluster.kill(primary)
            cluster.wait_until_ok(every_node_up=False)  # its replica took over
            epoch = await store.epoch(board)
            sent = batches.batch(board, batches.renames(1), expected_version=1, epoch=epoch)

            # Another board's first append is issued while the round trip to the dead primary is
            # under way: it waits in that primary's queue, unsent.
            other = _board_on(keys, keys.partition_of(board))
            other_epoch = await store.epoch(other)
            meanwhile: list[asyncio.Task[object]] = []
            round_trip = pipelining._node_round_trip

            async def with_one_more(node, batch, wait):  # type: ignore[no-untyped-def]
                if not meanwhile:
                    created = batches.batch(
                        other, batches.created(), expected_version=0, epoch=other_epoch
                    )
                    meanwhile.append(asyncio.create_task(store.append(created)))
                return await round_trip(node, batch, wait)

            monkeypatch.setattr(pipelining, "_node_round_trip", with_one_more)

            # The store's slot map still names the dead primary: the first try fails there (as
            # any command would: the client tries again with the same command id) and makes it
            # read the map again; the next goes to the promoted replica, and so does what was
            # waiting in the dead one's queue.
            with pytest.raises(RedisConnectionError):
                await store.append(sent)
            assert await store.append(sent) == Appended(2)
            assert await meanwhile[0] == Appended(1)
            assert [e.version for e in await store.read(board)] == [1, 2]
            await client.aclose()


class TestRouting:
    async def test_each_partition_lives_on_the_primary_serving_its_tag(
        self,
        redis_cluster: RedisCluster,
        cluster_client: AsyncRedisCluster,
        key_prefix: str,
        batches,
    ) -> None:
        keys = StreamKeys(prefix=key_prefix, partitions=DEFAULT_PARTITIONS)
        store = RedisEventStore(cluster_client, keys)
        await store.install()
        boards = {p: _board_on(keys, p) for p in range(keys.partitions)}

        for board in boards.values():
            await _create(store, board, batches)

        spread: Counter[str] = Counter()
        for partition, board in boards.items():
            home = redis_cluster.primary_for(key_slot(keys.tag(partition).encode()))
            spread[home.address] += 1
            slot = key_slot(keys.tag(partition).encode())
            for primary in redis_cluster.primaries():
                with primary.client() as client:
                    if primary is home:
                        assert client.exists(keys.board_log(board), keys.feed(partition)) == 2
                    else:  # another primary would answer MOVED: it holds nothing of the slot
                        assert client.cluster("COUNTKEYSINSLOT", slot) == 0
        print(f"{keys.partitions} partitions over the primaries: {dict(spread)}")
        assert len(spread) == 3

    async def test_appends_issued_together_share_one_round_trip_per_primary(
        self,
        redis_cluster: RedisCluster,
        cluster_store: RedisEventStore,
        stream_keys: StreamKeys,
        batches,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        trips: list[tuple[str, int]] = []
        round_trip = pipelining._node_round_trip

        async def counted(node, batch, wait):  # type: ignore[no-untyped-def]
            trips.append((node.name, len(batch)))
            return await round_trip(node, batch, wait)

        monkeypatch.setattr(pipelining, "_node_round_trip", counted)
        boards = [uuid.uuid4() for _ in range(24)]
        groups = []
        for board in boards:
            epoch = await cluster_store.epoch(board)
            groups.append(
                [
                    batches.batch(board, batches.created(), expected_version=0, epoch=epoch),
                    batches.batch(board, batches.renames(2), expected_version=1, epoch=epoch),
                ]
            )

        outcomes = await asyncio.gather(*(cluster_store.append_group(g) for g in groups))

        assert outcomes == [Appended(3)] * len(boards)
        homes = Counter(
            redis_cluster.primary_for(
                key_slot(stream_keys.feed(stream_keys.partition_of(b)).encode())
            ).address
            for b in boards
        )
        assert sorted(trips) == sorted(homes.items())


class TestSafety:
    async def test_every_node_is_asked_and_an_unsafe_replica_is_named(
        self, redis_cluster: RedisCluster, cluster_client: AsyncRedisCluster
    ) -> None:
        assert (await check_redis_safety(cluster_client)).problems == []
        replica = redis_cluster.replicas()[0]
        with replica.client() as client:
            client.config_set("appendfsync", "everysec")
        try:
            safety = await check_redis_safety(cluster_client)
        finally:
            with replica.client() as client:
                client.config_set("appendfsync", "always")

        assert safety.problems == [
            f"{replica.address}: appendfsync is 'everysec', must be 'always'"
        ]

    async def test_a_node_that_does_not_answer_is_unreachable_not_unsafe(
        self, redis_cluster: RedisCluster
    ) -> None:
        client = redis_from_url(redis_cluster.url, decode_responses=False, socket_timeout=0.5)
        assert isinstance(client, AsyncRedisCluster)
        await client.initialize()
        replica = redis_cluster.replicas()[0]
        try:
            with replica.frozen():
                safety = await check_redis_safety(client)
        finally:
            await client.aclose()

        assert safety.safe
        assert safety.unreachable == [replica.address]


Client = TestClient[web.Request, web.Application]


class TestTheServiceOnACluster:
    @pytest.fixture
    async def client(
        self,
        aiohttp_client: Callable[[web.Application], Awaitable[Client]],
        tmp_path: Path,
        signer: DevSigner,
        redis_cluster: RedisCluster,
        key_prefix: str,
    ) -> Client:
        public = tmp_path / "public.pem"
        public.write_bytes(signer.public_pem())
        settings = BoardsSettings(
            redis_url=redis_cluster.url,
            key_prefix=key_prefix,
            jwt_issuer=ISSUER,
            jwt_audience=AUDIENCE,
            jwt_public_key_file=public,
        )
        return await aiohttp_client(create_app(settings))

    async def test_takes_commands_and_is_ready_with_every_node_safe(
        self, client: Client, signer: DevSigner
    ) -> None:
        headers = {"Authorization": f"Bearer {signer.token('alice')}"}
        created = await client.post(
            "/api/boards",
            json={
                "command_id": str(uuid.uuid4()),
                "type": "CreateBoard",
                "payload": {"title": "B"},
            },
            headers=headers,
        )
        assert created.status == 201, await created.text()
        board = (await created.json())["board_id"]
        renamed = await client.post(
            f"/api/boards/{board}/commands",
            json={
                "command_id": str(uuid.uuid4()),
                "type": "RenameBoard",
                "payload": {"title": "C"},
            },
            headers=headers,
        )
        assert renamed.status == 200, await renamed.text()
        assert (await renamed.json())["version"] == 2

        ready = await client.get("/readyz")
        assert (ready.status, await ready.json()) == (200, {"status": "ready"})

    async def test_refuses_a_token_of_a_session_ended_on_the_cluster(
        self, client: Client, signer: DevSigner, redis_cluster: RedisCluster, key_prefix: str
    ) -> None:
        # What the auth service does when a session ends: denied, then announced.
        redis = redis_from_url(redis_cluster.url, decode_responses=False)
        await redis.zadd(denied_key(key_prefix), {"s-ended": time.time() + DENY_FOR_S})
        await redis.publish(ended_channel(key_prefix), "s-ended")
        await redis.aclose()
        body = {"command_id": str(uuid.uuid4()), "type": "CreateBoard", "payload": {"title": "B"}}

        async def refused() -> bool:
            token = signer.token("alice", sid="s-ended")
            answer = await client.post(
                "/api/boards", json=body, headers={"Authorization": f"Bearer {token}"}
            )
            return answer.status == 401

        deadline = time.monotonic() + DEADLINE_S
        while not await refused():  # until the service has heard it (a request each time)
            assert time.monotonic() < deadline, "the ended session was never refused"
