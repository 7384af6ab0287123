"""`create_app`: the auth service, wired. Tests pass the parts they replace (a Redis or MongoDB
client, an HTTP client for the provider, a clock); production builds real ones from settings.

Two Redis: the event log's (`redis`), for the ended sessions every service reads, and one for
auth's short-lived state (`state_redis`: login states, used ID tokens) with its own memory cap,
so that a login flood fills that one only."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
from aiohttp import web
from cardstream_runtime.deadlines import deadline_middleware
from cardstream_runtime.errors import error_middleware
from cardstream_runtime.jwt import TokenVerifier
from cardstream_runtime.logs import request_context_middleware
from cardstream_runtime.mongo import mongo_client
from cardstream_runtime.redis_urls import AnyRedis, redis_from_url
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from auth.adapters.aesgcm_key_encryption import AesGcmKeyEncryption
from auth.adapters.mongo_accounts import MongoAccounts
from auth.adapters.mongo_sessions import MongoSessions
from auth.adapters.mongo_signing_keys import MongoSigningKeys
from auth.adapters.openid_provider import HttpOpenIdProvider
from auth.adapters.redis_login_states import RedisLoginStates
from auth.adapters.redis_seen_tokens import RedisSeenTokens
from auth.adapters.redis_session_events import RedisSessionEvents
from auth.adapters.redis_state_config import check_state_redis
from auth.domain.id_token import GOOGLE_ISSUERS
from auth.entrypoints.http import auth_errors, routes
from auth.keys import (
    http_client_key,
    limits_key,
    mongo_key,
    redis_key,
    service_key,
    settings_key,
    signing_keys_key,
    state_redis_key,
    verifier_key,
)
from auth.limits import AuthLimits
from auth.service import AuthService
from auth.settings import AuthSettings
from auth.signing import SigningKeyCache

AppContext = Callable[[web.Application], AsyncIterator[None]]
Doc = dict[str, Any]
log = logging.getLogger(__name__)


class MissingClientError(ValueError):
    pass


class UnsafeStateRedisError(RuntimeError):
    pass


def create_app(
    settings: AuthSettings,
    *,
    redis: AnyRedis | None = None,
    state_redis: AnyRedis | None = None,
    mongo: AsyncMongoClient[Doc] | None = None,
    http_client: aiohttp.ClientSession | None = None,
    clock: Callable[[], float] = time.time,
) -> web.Application:
    if not settings.oidc_client_id:
        raise MissingClientError(
            "set AUTH_OIDC_CLIENT_ID (and AUTH_OIDC_CLIENT_SECRET) to the provider's client"
        )
    app = web.Application(
        client_max_size=settings.max_body_bytes,
        middlewares=[
            request_context_middleware,
            error_middleware(auth_errors),
            deadline_middleware(settings.request_timeout_s),
        ],
        # Room above the verifier's 8 KiB token cap, so an oversized token gets our 401.
        handler_args={"max_field_size": 16 * 1024},
    )
    app[settings_key] = settings
    app[limits_key] = AuthLimits.from_settings(settings, clock)
    app.add_routes(routes)
    app.cleanup_ctx.append(_redis_ctx(redis))
    app.cleanup_ctx.append(_state_redis_ctx(state_redis))
    app.cleanup_ctx.append(_mongo_ctx(mongo))
    app.cleanup_ctx.append(_http_client_ctx(http_client))
    app.cleanup_ctx.append(_service_ctx(clock))
    return app


def _redis_ctx(given: AnyRedis | None) -> AppContext:
    async def redis_ctx(app: web.Application) -> AsyncIterator[None]:
        redis = given or redis_from_url(app[settings_key].redis_url, decode_responses=False)
        app[redis_key] = redis
        try:
            yield
        finally:
            if given is None:
                await redis.aclose()

    return redis_ctx


def _state_redis_ctx(given: AnyRedis | None) -> AppContext:
    async def state_redis_ctx(app: web.Application) -> AsyncIterator[None]:
        settings = app[settings_key]
        url = settings.state_redis_url
        owned = given is None and bool(url)
        if given is not None:
            state = given
        elif url:
            state = redis_from_url(url, decode_responses=False)
        else:
            state = app[redis_key]  # development only: settings refuse it in production
        app[state_redis_key] = state
        try:
            _judge_state_redis(await check_state_redis(state, app[redis_key]), settings)
            yield
        finally:
            if owned:
                await state.aclose()

    return state_redis_ctx


def _judge_state_redis(problems: list[str], settings: AuthSettings) -> None:
    if not problems:
        return
    if settings.production:
        raise UnsafeStateRedisError(
            "refusing to start, a login flood could fill the event log's Redis or replay an "
            "ID token: " + "; ".join(problems)
        )
    log.warning(
        "auth's state Redis is not set up as production needs (allowed in development)",
        extra={"fields": {"problems": problems}},
    )


def _mongo_ctx(given: AsyncMongoClient[Doc] | None) -> AppContext:
    async def mongo_ctx(app: web.Application) -> AsyncIterator[None]:
        settings = app[settings_key]
        client = given or mongo_client(settings.mongo_url, timeout_ms=settings.mongo_timeout_ms)
        app[mongo_key] = client
        try:
            yield
        finally:
            if given is None:
                await client.close()

    return mongo_ctx


def _http_client_ctx(given: aiohttp.ClientSession | None) -> AppContext:
    async def http_client_ctx(app: web.Application) -> AsyncIterator[None]:
        settings = app[settings_key]
        session = given or aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=settings.provider_timeout_s),
            headers={"User-Agent": "cardstream-auth"},
        )
        app[http_client_key] = session
        try:
            yield
        finally:
            if given is None:
                await session.close()

    return http_client_ctx


def _service_ctx(clock: Callable[[], float]) -> AppContext:
    async def service_ctx(app: web.Application) -> AsyncIterator[None]:
        settings = app[settings_key]
        db = app[mongo_key][settings.mongo_db]
        accounts = MongoAccounts(db)
        sessions = MongoSessions(db)
        await accounts.ensure_indexes()
        await sessions.ensure_indexes()
        store = signing_keys(settings, db)
        keys = SigningKeyCache(store, refresh_s=settings.signing_keys_refresh_s)
        await keys.ring()  # creates the ring on first start; fails start-up without MongoDB
        app[signing_keys_key] = keys
        app[verifier_key] = TokenVerifier(
            keys, issuer=settings.issuer, audience=settings.boards_audience
        )
        state = app[state_redis_key]
        app[service_key] = AuthService(
            settings,
            provider=build_provider(settings, app[http_client_key]),
            login_states=RedisLoginStates(state, key_prefix=settings.key_prefix),
            accounts=accounts,
            sessions=sessions,
            keys=keys,
            # The event log's Redis: boards and the projector read the ended sessions there.
            events=RedisSessionEvents(app[redis_key], key_prefix=settings.key_prefix),
            seen_tokens=RedisSeenTokens(state, key_prefix=settings.key_prefix),
            clock=clock,
        )
        yield

    return service_ctx


def signing_keys(settings: AuthSettings, db: AsyncDatabase[Doc]) -> MongoSigningKeys:
    """The key ring's store, sealing private keys under the settings' key-encryption keys."""
    if settings.development_kek:
        log.warning(
            "signing keys are sealed with the public development key-encryption key; set "
            "AUTH_KEY_ENCRYPTION_KEYS or AUTH_KEY_ENCRYPTION_KEYS_FILE (auth/README.md)"
        )
    return MongoSigningKeys(
        db,
        AesGcmKeyEncryption(settings.kek_keys()),
        discard_unsealed=not settings.production,
    )


def build_provider(settings: AuthSettings, session: aiohttp.ClientSession) -> HttpOpenIdProvider:
    extra: list[tuple[str, str]] = []
    if settings.oidc_issuer in GOOGLE_ISSUERS and len(settings.allowed_domains) == 1:
        # Google's account chooser then offers that Workspace's accounts only; the `hd` claim
        # is still checked, since anyone can edit this parameter.
        extra.append(("hd", settings.allowed_domains[0]))
    return HttpOpenIdProvider(
        issuer=settings.oidc_issuer,
        client_id=settings.oidc_client_id,
        client_secret=settings.oidc_client_secret.get_secret_value(),
        redirect_uri=settings.redirect_uri,
        session=session,
        jwks_default_max_age_s=settings.provider_jwks_default_max_age_s,
        jwks_min_refetch_s=settings.provider_jwks_min_refetch_s,
        extra_authorize_params=extra,
    )
