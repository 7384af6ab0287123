"""HTTP routes of the auth service. Handlers translate between HTTP (query, cookies, JSON) and
the use cases in `AuthService`; cookies are set and cleared only here."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import orjson
from aiohttp import web
from cardstream_runtime import logs
from cardstream_runtime.auth import authenticate
from cardstream_runtime.deadlines import probe
from cardstream_runtime.errors import ApiError, error_response
from cardstream_runtime.http_json import ProviderUnavailableError
from cardstream_runtime.jwt import InvalidTokenError, bearer_token
from contracts.openapi import served
from pymongo.errors import ConnectionFailure, PyMongoError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import OutOfMemoryError, ReadOnlyError, RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from auth.domain.errors import (
    AuthError,
    IdTokenRejectedError,
    LoginFailedError,
    LoginStateError,
    NotAllowedError,
    RefreshConflictError,
    RefreshRejectedError,
)
from auth.domain.login import login_hint, safe_next_path
from auth.domain.tokens import User
from auth.keys import (
    limits_key,
    mongo_key,
    redis_key,
    service_key,
    settings_key,
    signing_keys_key,
    state_redis_key,
    verifier_key,
)
from auth.service import Issued

log = logging.getLogger("auth.http")
routes = web.RouteTableDef()

LOGIN_COOKIE = "cs_login"
REFRESH_COOKIE = "cs_refresh"
COOKIE_PATH = "/auth"
# A header no cross-site form or image can send; fetch() from another site would need a CORS
# preflight we never grant. Required whenever the refresh cookie is the credential.
CSRF_HEADER = "X-Requested-With"
CSRF_VALUE = "cardstream"
NO_STORE = {"Cache-Control": "no-store"}


def auth_errors(exc: Exception) -> ApiError | None:
    """What the use cases' and adapters' errors mean to the client (a translator for
    `error_middleware`)."""
    match exc:
        case AuthError():
            # One line per refusal, for whoever watches for login attacks; never a token in it.
            fields = {"path": logs.request_path.get(), "code": exc.code, "details": exc.details}
            log.info("refused", extra={"fields": fields})
            return ApiError(_status(exc), exc.code, exc.message, exc.details)
        case ProviderUnavailableError():
            log.warning("provider unavailable", extra={"fields": {"error": str(exc)}})
            return ApiError(
                502, "provider_unavailable", "the sign-in provider cannot be reached; try again"
            )
        case RedisConnectionError() | RedisTimeoutError() | ReadOnlyError() | ConnectionFailure():
            # ReadOnlyError: a replica answered (a failover under way); the next try finds the
            # primary.
            log.warning("store unavailable", exc_info=exc)
            return ApiError(503, "store_unavailable", "try again in a moment")
        case OutOfMemoryError():
            # Mostly the state Redis at its cap under a login flood (noeviction: it refuses the
            # write and keeps every state it has, so sign-ins in flight finish).
            log.warning("Redis refused a write: it is at its memory cap")
            return ApiError(
                503, "store_full", "the store is full; nothing was written, try again in minutes"
            )
        case _:
            return None


def _status(exc: AuthError) -> int:
    match exc:
        case LoginStateError() | LoginFailedError():
            return 400
        case IdTokenRejectedError() | RefreshRejectedError():
            return 401
        case NotAllowedError():
            return 403
        case RefreshConflictError():
            return 409
        case _:
            return 400


# -- logging in ------------------------------------------------------------------------------


@routes.get("/auth/login")
async def login(request: web.Request) -> web.Response:
    limits = request.app[limits_key]
    limits.check(limits.login, request)
    next_path = safe_next_path(request.query.get("next"))
    hint = login_hint(request.query.get("login_hint"))
    started = await request.app[service_key].start_login(
        browser=request.cookies.get(LOGIN_COOKIE), login_hint=hint, next_path=next_path
    )
    settings = request.app[settings_key]
    response = web.Response(status=302, headers={"Location": started.url, **NO_STORE})
    # Lax, not Strict: the callback arrives as a top-level navigation from the provider's site.
    response.set_cookie(
        LOGIN_COOKIE,
        started.browser,
        max_age=settings.state_ttl_s,
        path=COOKIE_PATH,
        secure=settings.cookie_secure,
        httponly=True,
        samesite="Lax",
    )
    return response


@routes.get("/auth/callback")
async def callback(request: web.Request) -> web.Response:
    query = request.query
    issued = await request.app[service_key].finish_login(
        state=query.get("state"),
        code=query.get("code"),
        browser=request.cookies.get(LOGIN_COOKIE),
        provider_error=query.get("error"),
    )
    if _wants_json(request):
        return _tokens_response(issued, refresh_in_body=True)
    settings = request.app[settings_key]
    location = issued.next_path or settings.post_login_redirect
    response = web.Response(status=302, headers={"Location": location, **NO_STORE})
    _set_refresh_cookie(request, response, issued)
    return response


@routes.post("/auth/token/google")
async def token_from_id_token(request: web.Request) -> web.Response:
    limits = request.app[limits_key]
    limits.check(limits.token_exchange, request)
    body = await _json_object(request)
    if body is None:
        raise ApiError(400, "invalid_request", 'send {"id_token": ...} as JSON')
    id_token = _string_field(body, "id_token", required=True)
    nonce = _string_field(body, "nonce", required=False)
    assert id_token is not None
    issued = await request.app[service_key].sign_in_with_id_token(id_token, nonce=nonce)
    return _tokens_response(issued, refresh_in_body=True)


# -- refreshing and logging out --------------------------------------------------------------


@routes.post("/auth/refresh")
async def refresh(request: web.Request) -> web.Response:
    limits = request.app[limits_key]
    limits.check(limits.refresh, request)
    body = await _json_object(request)
    if body is not None:
        token = _string_field(body, "refresh_token", required=True)
        assert token is not None
        issued = await request.app[service_key].refresh(token)
        return _tokens_response(issued, refresh_in_body=True)
    _require_csrf_header(request)
    cookie = request.cookies.get(REFRESH_COOKIE)
    if not cookie:
        raise ApiError(401, "no_refresh_token", "not signed in")
    try:
        issued = await request.app[service_key].refresh(cookie)
    except RefreshRejectedError as exc:
        response = error_response(401, exc.code, exc.message)
        response.del_cookie(REFRESH_COOKIE, path=COOKIE_PATH)
        return response
    response = _tokens_response(issued, refresh_in_body=False)
    _set_refresh_cookie(request, response, issued)
    return response


@routes.post("/auth/logout")
async def logout(request: web.Request) -> web.Response:
    body = await _json_object(request)
    token = _string_field(body, "refresh_token", required=False) if body is not None else None
    if token is None and (cookie := request.cookies.get(REFRESH_COOKIE)):
        _require_csrf_header(request)
        token = cookie
    sid = await _bearer_session(request)
    if token is None and sid is None:
        raise ApiError(401, "unauthorized", "send the refresh token or an access token")
    await request.app[service_key].logout(refresh_token=token, sid=sid)
    response = web.Response(status=204, headers=NO_STORE)
    response.del_cookie(REFRESH_COOKIE, path=COOKIE_PATH)
    return response


async def _bearer_session(request: web.Request) -> str | None:
    if "Authorization" not in request.headers:
        return None
    try:
        claims = await request.app[verifier_key].verify(
            bearer_token(request.headers.get("Authorization"))
        )
    except InvalidTokenError as exc:
        raise ApiError(401, "unauthorized", str(exc)) from None
    return claims.sid


@routes.get("/auth/me")
async def me(request: web.Request) -> web.Response:
    claims = await authenticate(request, request.app[verifier_key])
    user = await request.app[service_key].whoami(claims)
    body = {"user": _user_body(user), "sid": claims.sid}
    return web.json_response(body, headers=NO_STORE)


# Long enough for any real address (RFC 5321 allows 254 in a path); more is not an address.
_MAX_EMAIL = 320


@routes.get("/auth/users")
async def find_user(request: web.Request) -> web.Response:
    """Who an email address belongs to, so that a board owner can invite them by it."""
    # Before the token is checked: a flood of bad tokens is refused as cheaply as good ones.
    limits = request.app[limits_key]
    limits.check(limits.user_lookup, request)
    claims = await authenticate(request, request.app[verifier_key])
    email = request.query.get("email", "").strip()
    if not email or len(email) > _MAX_EMAIL or "@" not in email:
        raise ApiError(400, "invalid_request", "send ?email=<address>")
    user = await request.app[service_key].find_user(claims, email)
    if user is None:
        raise ApiError(
            404,
            "user_not_found",
            "nobody has signed in with this address; ask them to sign in once",
        )
    body = {
        "user_id": user.user_id,
        "name": user.name,
        "email": user.email,
        "picture": user.picture,
    }
    return web.json_response(body, headers=NO_STORE)


# -- keys and health ------------------------------------------------------------------------


@routes.get("/.well-known/jwks.json")
async def jwks(request: web.Request) -> web.Response:
    document = await request.app[signing_keys_key].jwks()
    # Short: a verifier that honours it sees a rotation's new "next" key within minutes; ours
    # (cardstream_runtime.jwt.JwksKeys) refetches on an unknown kid anyway.
    headers = {"Cache-Control": "public, max-age=300"}
    return web.json_response(document, headers=headers)


@routes.get("/openapi.json")
async def openapi_document(request: web.Request) -> web.Response:
    return web.Response(body=served("auth"), content_type="application/json")


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    redis, state_redis, mongo = await asyncio.gather(
        probe(request.app[redis_key].ping(), RedisError),
        probe(request.app[state_redis_key].ping(), RedisError),
        probe(request.app[mongo_key].admin.command("ping"), PyMongoError),
    )
    answers = {"redis": redis, "state_redis": state_redis, "mongo": mongo}
    problems = {name: answer for name, answer in answers.items() if answer != "ok"}
    if problems:
        return web.json_response({"status": "unavailable", **problems}, status=503)
    return web.json_response({"status": "ready"})


# -- helpers -------------------------------------------------------------------------------


def _wants_json(request: web.Request) -> bool:
    accept = request.headers.get("Accept", "")
    return "application/json" in accept and "text/html" not in accept


def _tokens_response(issued: Issued, *, refresh_in_body: bool) -> web.Response:
    body: dict[str, Any] = {
        "access_token": issued.access_token,
        "read_token": issued.read_token,
        "token_type": "Bearer",
        "expires_in": issued.expires_in,
    }
    if refresh_in_body:
        body["refresh_token"] = issued.refresh_token
        body["user"] = _user_body(issued.user)
    return web.json_response(body, headers=NO_STORE)


def _user_body(user: User) -> dict[str, Any]:
    # `picture` is an https or data: URL (auth.domain.picture) for an <img> and nowhere else:
    # an SVG opened as a document, rather than shown as an image, could run script.
    return {"id": user.user_id, "email": user.email, "name": user.name, "picture": user.picture}


def _set_refresh_cookie(request: web.Request, response: web.Response, issued: Issued) -> None:
    settings = request.app[settings_key]
    response.set_cookie(
        REFRESH_COOKIE,
        issued.refresh_token,
        max_age=issued.refresh_expires_in,
        path=COOKIE_PATH,
        secure=settings.cookie_secure,
        httponly=True,
        samesite="Strict",
    )


def _require_csrf_header(request: web.Request) -> None:
    if request.headers.get(CSRF_HEADER, "").lower() != CSRF_VALUE:
        raise ApiError(
            403, "csrf_header_missing", f"send {CSRF_HEADER}: {CSRF_VALUE} with the cookie"
        )


async def _json_object(request: web.Request) -> dict[str, Any] | None:
    """The JSON object in the body, or None when there is no body."""
    raw = await request.read()
    if not raw.strip():
        return None
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise ApiError(400, "invalid_json", "the body is not valid JSON") from None
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_request", "the body must be a JSON object")
    return data


def _string_field(body: dict[str, Any], name: str, *, required: bool) -> str | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise ApiError(400, "invalid_request", f"{name} must be a non-empty string")
    return value
