"""`create_app`: the boards service, wired. Tests pass the parts they replace; production builds
real adapters from settings."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable

from aiohttp import web
from cardstream_runtime.deadlines import deadline_middleware
from cardstream_runtime.ended_sessions import EndedSessions
from cardstream_runtime.errors import error_middleware
from cardstream_runtime.jwt import KeySource, SharedSecretVerifier, verifier_from_settings
from cardstream_runtime.limits import RateLimiter
from cardstream_runtime.logs import request_context_middleware
from cardstream_runtime.redis_urls import AnyRedis, redis_from_url
from contracts.streams import StreamKeys
from redis.asyncio.cluster import RedisCluster

from boards.adapters.pipelining import ReplicaWait
from boards.adapters.redis_config import RedisSafety, check_redis_safety
from boards.adapters.redis_store import RedisEventStore
from boards.entrypoints.http import command_errors, routes
from boards.keys import (
    command_limit_key,
    commands_key,
    ended_sessions_key,
    nextauth_verifier_key,
    redis_key,
    redis_safety_key,
    settings_key,
    store_key,
    verifier_key,
)
from boards.service import BoardCommands
from boards.settings import BoardsSettings

log = logging.getLogger("boards")


class UnsafeRedisError(RuntimeError):
    pass


def create_app(
    settings: BoardsSettings,
    *,
    redis: AnyRedis | None = None,
    keys: KeySource | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> web.Application:
    app = web.Application(
        client_max_size=settings.max_body_bytes,
        middlewares=[
            request_context_middleware,
            error_middleware(command_errors),
            deadline_middleware(settings.request_timeout_s),
        ],
        # Room above the verifier's 8 KiB token cap, so an oversized token gets our 401.
        handler_args={"max_field_size": 16 * 1024},
    )
    app[settings_key] = settings
    app[command_limit_key] = RateLimiter(
        rate_per_s=settings.commands_per_user_per_s, burst=settings.commands_burst, clock=clock
    )
    app.add_routes(routes)
    app.cleanup_ctx.append(_redis_ctx(redis))
    app.cleanup_ctx.append(_verifier_ctx(keys))
    return app


def _redis_ctx(given: AnyRedis | None):  # type: ignore[no-untyped-def]
    async def redis_ctx(app: web.Application) -> AsyncIterator[None]:
        settings = app[settings_key]
        redis = given or redis_from_url(
            settings.redis_url,
            decode_responses=False,
            socket_timeout=settings.redis_timeout_s,
            socket_connect_timeout=settings.redis_timeout_s,
        )
        try:
            safety = await check_redis_safety(redis)
            _judge(safety, settings)
            _judge_replica_acks(redis, settings)
            store = RedisEventStore(
                redis,
                StreamKeys(prefix=settings.key_prefix, partitions=settings.partitions),
                idempotency_ttl=settings.idempotency_ttl_seconds,
                replica_wait=_replica_wait(settings),
            )
            await store.install()
            app[redis_key] = redis
            app[redis_safety_key] = safety
            app[store_key] = store
            app[commands_key] = commands = BoardCommands(store)
            # Tokens of sessions the auth service ended are refused from then on.
            ended = EndedSessions(redis, key_prefix=settings.key_prefix)
            async with ended.running():
                app[ended_sessions_key] = ended
                yield
                await commands.drain()
        finally:
            if given is None:
                await redis.aclose()

    return redis_ctx


def _judge(safety: RedisSafety, settings: BoardsSettings) -> None:
    if safety.unreachable:
        log.warning(
            "Redis Cluster nodes not answering (their configuration is unchecked)",
            extra={"fields": {"nodes": safety.unreachable}},
        )
    if safety.safe:
        return
    if settings.production:
        raise UnsafeRedisError(
            "refusing to start, Redis may lose events: " + "; ".join(safety.problems)
        )
    log.warning(
        "Redis is not configured safely (allowed in development)",
        extra={"fields": {"problems": safety.problems}},
    )


def _replica_wait(settings: BoardsSettings) -> ReplicaWait | None:
    if not settings.replica_acks:
        return None
    return ReplicaWait(settings.replica_acks, settings.replica_wait_ms)


def _judge_replica_acks(redis: AnyRedis, settings: BoardsSettings) -> None:
    # A cluster fails over to a replica by itself; without a wait for one, the appends its
    # primary acknowledged last are lost when it does (docs/adr/011-replica-acks.md).
    if not isinstance(redis, RedisCluster) or settings.replica_acks:
        return
    if settings.production:
        raise UnsafeRedisError(
            "refusing to start on a Redis Cluster with BOARDS_REPLICA_ACKS=0: a failover "
            "would lose acknowledged events"
        )
    log.warning("on a Redis Cluster without BOARDS_REPLICA_ACKS (allowed in development)")


def _verifier_ctx(given: KeySource | None):  # type: ignore[no-untyped-def]
    async def verifier_ctx(app: web.Application) -> AsyncIterator[None]:
        settings = app[settings_key]
        ended = app[ended_sessions_key].ended
        async with verifier_from_settings(settings, given, ended=ended) as verifier:
            app[verifier_key] = verifier
            app[nextauth_verifier_key] = _nextauth_verifier(settings)
            yield

    return verifier_ctx


def _nextauth_verifier(settings: BoardsSettings) -> SharedSecretVerifier | None:
    secret = settings.nextauth_secret
    if not settings.accept_nextauth_tokens or secret is None:
        return None
    return SharedSecretVerifier(
        secret.get_secret_value().encode(),
        issuers=settings.nextauth_issuers,
        audience=settings.nextauth_audience,
        max_lifetime_s=settings.nextauth_max_lifetime_s,
    )
