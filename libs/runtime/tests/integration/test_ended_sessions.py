"""EndedSessions against a real Redis: the deny list every verifier checks in memory."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from cardstream_devstack.cluster import RedisCluster as RedisClusterHarness
from cardstream_devstack.cluster import RedisClusterNode
from cardstream_runtime.ended_sessions import (
    DENY_FOR_S,
    EndedSessions,
    denied_key,
    end_session,
)
from cardstream_runtime.jwt import Claims, InvalidTokenError, StaticKeys, TokenVerifier
from cardstream_runtime.redis_urls import REDIS_ERRORS, AnyRedis, redis_from_url
from contracts.streams import StreamKeys
from redis.asyncio import Redis

# Every test here that uses Redis runs on one server and on the test cluster.
pytestmark = pytest.mark.redis_kinds("server", "cluster")


async def _kill_other_connections(redis: AnyRedis) -> None:
    """Closes every connection but the test's own, on each node of a cluster."""
    if isinstance(redis, Redis):
        targets: list[tuple[Redis, dict[str, object]]] = [(redis, {})]
    else:
        targets = [(redis, {"target_nodes": node}) for node in redis.get_nodes()]  # type: ignore[misc]
    for client, target in targets:
        own = int(await client.execute_command("CLIENT ID", **target))
        for each in await client.execute_command("CLIENT LIST", **target):
            if int(each["id"]) != own:
                await client.execute_command("CLIENT KILL ID", each["id"], **target)


def _heard(ended: EndedSessions, sid: str) -> asyncio.Event:
    """Set when the list hears that `sid` ended."""
    event = asyncio.Event()
    ended.on_ended(lambda each: event.set() if each == sid else None)
    return event


async def test_sessions_ended_before_start_are_read_at_start(redis: AnyRedis, key_prefix: str):
    await end_session(redis, key_prefix, "before", now=time.time())

    async with EndedSessions(redis, key_prefix=key_prefix).running() as ended:
        assert ended.loaded.is_set()
        assert ended.ended("before")
        assert not ended.ended("other")


async def test_a_session_ended_while_running_is_denied_and_listeners_hear_it(
    redis: AnyRedis, key_prefix: str
):
    heard: list[str] = []
    async with EndedSessions(redis, key_prefix=key_prefix).running() as ended:
        ended.on_ended(heard.append)
        s1 = _heard(ended, "s1")
        await end_session(redis, key_prefix, "s1", now=time.time())
        await asyncio.wait_for(s1.wait(), 5)
        assert ended.ended("s1")

    assert heard == ["s1"]


async def test_expired_entries_are_forgotten_and_trimmed(redis: AnyRedis, key_prefix: str):
    long_ago = time.time() - DENY_FOR_S - 10
    await end_session(redis, key_prefix, "old", now=long_ago)
    await end_session(redis, key_prefix, "new", now=time.time())

    async with EndedSessions(redis, key_prefix=key_prefix).running() as ended:
        assert not ended.ended("old")
        assert ended.ended("new")
    # Ending "new" trimmed what had expired: the set does not grow with every logout ever.
    assert await redis.zrange(denied_key(key_prefix), 0, -1) == [b"new"]


async def test_the_list_is_read_again_after_a_lost_connection(redis: AnyRedis, key_prefix: str):
    async with EndedSessions(redis, key_prefix=key_prefix).running() as ended:
        away = _heard(ended, "while-away")
        # Kill the list's own connections (its pub/sub among them): a session ended meanwhile
        # is in the set only, not in any message the list could have heard.
        await _kill_other_connections(redis)
        await redis.zadd(denied_key(key_prefix), {"while-away": time.time() + 60})
        await asyncio.wait_for(away.wait(), 10)
        assert ended.ended("while-away")


def test_the_channel_is_the_one_the_projector_names() -> None:
    keys = StreamKeys(prefix="t1:", partitions=4)
    assert EndedSessions(Redis(), key_prefix="t1:").channel == keys.sessions_ended()


async def test_the_verifier_refuses_a_remembered_token_once_its_session_ends() -> None:
    ended: set[str] = set()
    verifier = TokenVerifier(StaticKeys({}), issuer="i", audience="a", ended=ended.__contains__)
    claims = Claims(sub="u1", exp=int(time.time()) + 600, sid="s1")
    verifier._remembered["token"] = claims  # as if verified a moment ago

    assert await verifier.verify("token") == claims
    ended.add("s1")
    with pytest.raises(InvalidTokenError, match="session has ended"):
        await verifier.verify("token")


def _listening_node(cluster: RedisClusterHarness) -> RedisClusterNode:
    """The node on which a client holds a subscription (`sub=1` in its CLIENT LIST)."""
    for node in cluster.nodes:
        with node.client() as client:
            if any(int(each["sub"]) for each in client.client_list()):
                return node
    raise AssertionError("nobody subscribed on any node")


async def test_on_a_cluster_the_list_listens_on_another_node_once_its_node_dies(
    tmp_path: Path, key_prefix: str
) -> None:
    # A cluster of the test's own: one of its nodes is killed. A node timeout of 1 s gets the
    # killed node's replica promoted soon if it was a primary.
    with RedisClusterHarness(tmp_path / "cluster", node_timeout_ms=1000) as cluster:
        redis = redis_from_url(cluster.url, decode_responses=False)
        try:
            async with EndedSessions(redis, key_prefix=key_prefix).running() as ended:
                await asyncio.to_thread(cluster.kill, _listening_node(cluster))
                first = _heard(ended, "after-the-loss")
                await _end_when_writable(redis, key_prefix, "after-the-loss")
                await asyncio.wait_for(first.wait(), 15)
                # Heard through the set, read again on reconnecting, or through a message; the
                # next one can only come through a message on the new node's subscription.
                second = _heard(ended, "by-message")
                await end_session(redis, key_prefix, "by-message", now=time.time())
                await asyncio.wait_for(second.wait(), 10)
                assert ended.ended("after-the-loss")
                assert ended.ended("by-message")
        finally:
            await redis.aclose()


async def _end_when_writable(redis: AnyRedis, key_prefix: str, sid: str) -> None:
    """Ends the session once the cluster takes the write: if the killed node was the primary
    of the deny list's slot, not until its replica is promoted."""
    deadline = time.monotonic() + 15
    while True:
        try:
            await end_session(redis, key_prefix, sid, now=time.time())
            return
        except REDIS_ERRORS:
            assert time.monotonic() < deadline, "the cluster never took the write"
