"""An append acknowledged only once a replica has it (issue 13, docs/adr/011-replica-acks.md), on
the session's cluster (`redis_cluster`: 3 primaries, a replica each). A replica that stops
answering is frozen (SIGSTOP: still connected, its acknowledgements stop) for well under the
cluster's node timeout, so the cluster never takes it for failed.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from boards.adapters.event_store import Appended, Recorded, ReplicationTimeoutError
from boards.adapters.pipelining import ReplicaWait
from boards.adapters.redis_store import RedisEventStore
from boards.app import UnsafeRedisError, create_app
from boards.settings import BoardsSettings
from cardstream_runtime.devtoken import DevSigner
from cardstream_testing import RedisCluster, RedisClusterNode
from cardstream_testing.fixtures import AUDIENCE, ISSUER
from contracts.streams import DEFAULT_PARTITIONS, StreamKeys
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.crc import key_slot

# Short, so that a frozen replica costs the test little; far below the node timeout (3 s).
WAIT = ReplicaWait(replicas=1, timeout_ms=300)


def _replica_for(cluster: RedisCluster, keys: StreamKeys, board: uuid.UUID) -> RedisClusterNode:
    primary = cluster.primary_for(key_slot(keys.board_log(board).encode()))
    return cluster.replica_of(primary)


def _replica_log_length(replica: RedisClusterNode, key: str) -> int:
    with replica.client() as client:
        client.execute_command("READONLY")  # a cluster replica answers reads only after it
        return int(client.xlen(key))


@pytest.fixture
async def store(cluster_client: AsyncRedisCluster, stream_keys: StreamKeys) -> RedisEventStore:
    store = RedisEventStore(cluster_client, stream_keys, replica_wait=WAIT)
    await store.install()
    return store


class TestTheStore:
    async def test_an_append_is_answered_once_the_replica_has_it(
        self, redis_cluster: RedisCluster, store: RedisEventStore, stream_keys: StreamKeys, batches
    ) -> None:
        board = uuid.uuid4()
        epoch = await store.epoch(board)

        outcome = await store.append(
            batches.batch(board, batches.created(), expected_version=0, epoch=epoch)
        )

        assert outcome == Appended(1)
        # No polling: WAIT answered only after the replica confirmed it.
        replica = _replica_for(redis_cluster, stream_keys, board)
        assert _replica_log_length(replica, stream_keys.board_log(board)) == 1

    async def test_a_replica_that_does_not_confirm_fails_it_and_the_retry_waits_again(
        self, redis_cluster: RedisCluster, store: RedisEventStore, stream_keys: StreamKeys, batches
    ) -> None:
        board = uuid.uuid4()
        epoch = await store.epoch(board)
        sent = batches.batch(board, batches.created(), expected_version=0, epoch=epoch)
        replica = _replica_for(redis_cluster, stream_keys, board)

        with replica.frozen():
            with pytest.raises(ReplicationTimeoutError) as late:
                await store.append(sent)
            # Found as a duplicate, nothing written again; but not answered either, as the
            # replica has still not got the first append (the record's touch makes WAIT see it).
            with pytest.raises(ReplicationTimeoutError):
                await store.append(sent)
            with pytest.raises(ReplicationTimeoutError):
                await store.recorded(board, sent.command_id)

        assert (late.value.acked, late.value.required) == (0, 1)
        assert await store.append(sent) == Recorded(sent.request_hash, sent.result)
        assert await store.recorded(board, sent.command_id) is not None
        assert [e.version for e in await store.read(board)] == [1]
        assert _replica_log_length(replica, stream_keys.board_log(board)) == 1


Client = TestClient[web.Request, web.Application]


def _settings(
    tmp_path: Path, signer: DevSigner, url: str, prefix: str, **more: object
) -> BoardsSettings:
    public = tmp_path / "public.pem"
    public.write_bytes(signer.public_pem())
    return BoardsSettings(
        redis_url=url,
        key_prefix=prefix,
        jwt_issuer=ISSUER,
        jwt_audience=AUDIENCE,
        jwt_public_key_file=public,
        **more,  # type: ignore[arg-type]
    )


class TestTheService:
    @pytest.fixture
    async def client(
        self,
        aiohttp_client: Callable[[web.Application], Awaitable[Client]],
        tmp_path: Path,
        signer: DevSigner,
        redis_cluster: RedisCluster,
        key_prefix: str,
    ) -> Client:
        settings = _settings(
            tmp_path, signer, redis_cluster.url, key_prefix, replica_acks=1, replica_wait_ms=300
        )
        return await aiohttp_client(create_app(settings))

    async def test_answers_503_replication_timeout_then_the_retry_with_the_recorded_answer(
        self, client: Client, signer: DevSigner, redis_cluster: RedisCluster, key_prefix: str
    ) -> None:
        headers = {"Authorization": f"Bearer {signer.token('alice')}"}
        create = {"command_id": str(uuid.uuid4()), "type": "CreateBoard", "payload": {"title": "B"}}
        created = await client.post("/api/boards", json=create, headers=headers)
        assert created.status == 201, await created.text()
        board = uuid.UUID((await created.json())["board_id"])
        keys = StreamKeys(prefix=key_prefix, partitions=DEFAULT_PARTITIONS)
        rename = {"command_id": str(uuid.uuid4()), "type": "RenameBoard", "payload": {"title": "C"}}
        url = f"/api/boards/{board}/commands"

        with _replica_for(redis_cluster, keys, board).frozen():
            late = await client.post(url, json=rename, headers=headers)
            assert late.status == 503, await late.text()
            error = (await late.json())["error"]

        assert error["code"] == "replication_timeout"
        assert error["details"] == {"replicas_acked": 0, "replicas_required": 1}
        assert late.headers["Retry-After"] == "1"
        retried = await client.post(url, json=rename, headers=headers)
        assert retried.status == 200, await retried.text()
        assert (await retried.json())["version"] == 2
        again = await client.post(url, json=rename, headers=headers)
        assert await again.json() == await retried.json()

    async def test_in_production_refuses_to_start_on_a_cluster_without_replica_acks(
        self, tmp_path: Path, signer: DevSigner, redis_cluster: RedisCluster, key_prefix: str
    ) -> None:
        settings = _settings(tmp_path, signer, redis_cluster.url, key_prefix, mode="production")
        runner = web.AppRunner(create_app(settings))

        with pytest.raises(UnsafeRedisError, match="BOARDS_REPLICA_ACKS=0"):
            await runner.setup()
        await runner.cleanup()


class TestTheSettings:
    def test_a_wait_must_end_before_the_redis_timeout(
        self, tmp_path: Path, signer: DevSigner
    ) -> None:
        with pytest.raises(ValueError, match="replica_wait_ms must be below redis_timeout_s"):
            _settings(
                tmp_path, signer, "redis://127.0.0.1:1/0", "", replica_acks=1, replica_wait_ms=5000
            )
