"""Is this Redis fit to hold auth's short-lived state (login states, used ID tokens)?

Every `GET /auth/login` stores a login state for up to `AUTH_STATE_TTL_S`, so a flood of them
fills whatever Redis holds the states up to its memory cap. That must never be the event log's
Redis, where a full memory refuses appends (issue 12, hole 3). The state's own Redis must have a
cap (`maxmemory`) and must refuse writes beyond it rather than evict (`noeviction`): an evicted
used ID token could be traded again, and an evicted login state fails someone half-way through
signing in, while a refused write is a 503 `store_full` to a new sign-in only (docs/adr/009).
"""

from __future__ import annotations

import asyncio
from typing import Any

from cardstream_runtime.deadlines import PROBE_TIMEOUT_S
from cardstream_runtime.redis_urls import AnyRedis, config_value
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import RedisError

SHARED = (
    "AUTH_STATE_REDIS_URL is unset: login states and used ID tokens go to the event log's "
    "Redis, where a login flood fills the log's memory"
)
REQUIRED_POLICY = "noeviction"


async def check_state_redis(state: AnyRedis, event_log: AnyRedis) -> list[str]:
    """What makes `state` unfit to hold auth's state beside `event_log`; empty when nothing."""
    if state is event_log:
        return [SHARED]
    # Bounded like a readiness probe: a frozen Redis must not hold start-up forever.
    try:
        async with asyncio.timeout(PROBE_TIMEOUT_S):
            return await _problems(state, event_log)
    except TimeoutError:
        return [f"the state Redis or the event log's gave no answer within {PROBE_TIMEOUT_S:g} s"]


async def _problems(state: AnyRedis, event_log: AnyRedis) -> list[str]:
    problems = []
    try:
        if await _run_ids(state) & await _run_ids(event_log):
            problems.append("AUTH_STATE_REDIS_URL names the event log's Redis server")
    except RedisError as exc:
        problems.append(f"cannot tell the state Redis from the event log's: {exc}")
    try:
        maxmemory = await _config(state, "maxmemory")
        policy = await _config(state, "maxmemory-policy")
    except RedisError as exc:
        return [*problems, f"cannot read the state Redis's memory settings: {exc}"]
    if maxmemory in ("", "0"):
        problems.append("the state Redis has no maxmemory: a login flood takes all it can get")
    if policy != REQUIRED_POLICY:
        problems.append(
            f"the state Redis's maxmemory-policy is {policy!r}, must be {REQUIRED_POLICY!r}: "
            "an evicted used ID token could be traded again"
        )
    return problems


async def _run_ids(redis: AnyRedis) -> set[str]:
    # Different for every running server, whatever address each client knows it by; a cluster's
    # are those of all its nodes (the state Redis must be none of them).
    if isinstance(redis, RedisCluster):
        infos: dict[str, Any] = await redis.info("server", target_nodes=RedisCluster.ALL_NODES)
        return {str(info["run_id"]) for info in infos.values()}
    return {str((await redis.info("server"))["run_id"])}


async def _config(redis: AnyRedis, name: str) -> str:
    return config_value(await redis.config_get(name), name)
