"""Verifying our own access tokens (ES256 JWTs) in every service.

Algorithms are pinned, the header must say `typ: at+jwt`, and `iss`, `aud`, `exp`, `iat` and `sub`
are required. Keys come from a PEM file (local development and tests) or from the auth service's
JWKS, fetched asynchronously and cached (`cardstream_runtime.http_json.CachedJson`), refetched at
most every few seconds on an unknown `kid`.
A token that verified once is remembered until it expires, so the hot path skips the signature.
"""

from __future__ import annotations

import contextlib
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import aiohttp
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePublicKey

from cardstream_runtime.http_json import CachedJson, ProviderUnavailableError
from cardstream_runtime.kid import key_id
from cardstream_runtime.nextauth import nextauth_user_id
from cardstream_runtime.settings import ServiceSettings

MAX_TOKEN_BYTES = 8 * 1024
ALGORITHMS = ("ES256",)
TOKEN_TYPE = "at+jwt"
LEEWAY_SECONDS = 30
_REMEMBERED_TOKENS = 50_000


class InvalidTokenError(Exception):
    """The token is not one of ours or not valid now; the message says why, for logs and 401s."""


@dataclass(frozen=True, slots=True)
class Claims:
    sub: str
    exp: int
    name: str | None = None
    email: str | None = None
    sid: str | None = None
    jti: str | None = None


class KeySource(Protocol):
    async def key(self, kid: str) -> Any: ...


class StaticKeys:
    def __init__(self, keys: Mapping[str, Any]) -> None:
        self._keys = dict(keys)

    @classmethod
    def from_pem_file(cls, path: Path) -> StaticKeys:
        public_key = serialization.load_pem_public_key(path.read_bytes())
        if not isinstance(public_key, EllipticCurvePublicKey):
            raise ValueError(f"{path} does not hold an EC public key")
        return cls({key_id(public_key): public_key})

    async def key(self, kid: str) -> Any:
        try:
            return self._keys[kid]
        except KeyError:
            raise InvalidTokenError("signed by an unknown key") from None


class JwksKeys:
    """Keys from a JWKS URL, through `CachedJson`: refetched when an unknown `kid` shows up (rate
    limited) and when the set's `Cache-Control: max-age` has passed, so a key withdrawn by a
    rotation stops being trusted; the last good set is kept when a refetch fails."""

    def __init__(
        self,
        url: str,
        session: aiohttp.ClientSession,
        *,
        min_refetch_seconds: float = 5.0,
        default_max_age_seconds: float = 300.0,
    ) -> None:
        self._set = CachedJson(
            url,
            session,
            key_set,
            default_max_age_s=default_max_age_seconds,
            min_refetch_s=min_refetch_seconds,
        )

    async def key(self, kid: str) -> Any:
        try:
            keys = await self._set.get()
            if kid not in keys:
                keys = await self._set.get(refetch=True)
        except ProviderUnavailableError as exc:
            raise InvalidTokenError(f"the signing keys cannot be fetched: {exc}") from None
        try:
            return keys[kid]
        except KeyError:
            raise InvalidTokenError("signed by an unknown key") from None


def key_set(document: Any) -> dict[str, Any]:
    """A JWKS document as keys by kid; ValueError when it holds no usable key."""
    if not isinstance(document, dict):
        raise ValueError("a JWKS is a JSON object")
    try:
        keys = jwt.PyJWKSet.from_dict(document)
    except jwt.PyJWTError as exc:
        raise ValueError(str(exc)) from None
    return {k.key_id: k.key for k in keys.keys if k.key_id}


class TokenVerifier:
    def __init__(
        self,
        keys: KeySource,
        *,
        issuer: str,
        audience: str,
        ended: Callable[[str], bool] | None = None,
    ) -> None:
        """`ended(sid)` says whether a session has ended (`EndedSessions.ended`): its tokens
        are refused from then on, remembered or not, although their signature still holds."""
        self._keys = keys
        self._issuer = issuer
        self._audience = audience
        self._ended = ended
        self._remembered: OrderedDict[str, Claims] = OrderedDict()

    async def verify(self, token: str) -> Claims:
        remembered = self._remembered.get(token)
        if remembered is not None and remembered.exp + LEEWAY_SECONDS > time.time():
            claims = remembered
        else:
            claims = await self._verify(token)
            self._remembered[token] = claims
            if len(self._remembered) > _REMEMBERED_TOKENS:
                self._remembered.popitem(last=False)
        if claims.sid is not None and self._ended is not None and self._ended(claims.sid):
            raise InvalidTokenError("the session has ended")
        return claims

    async def _verify(self, token: str) -> Claims:
        if not token.isascii():
            raise InvalidTokenError("malformed token")  # a JWT is base64url and dots only
        if len(token) > MAX_TOKEN_BYTES:
            raise InvalidTokenError("token too large")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise InvalidTokenError(f"malformed token: {exc}") from None
        if header.get("alg") not in ALGORITHMS:
            raise InvalidTokenError("algorithm not allowed")
        if header.get("typ") != TOKEN_TYPE:
            raise InvalidTokenError("not an access token")
        kid = header.get("kid")
        if not isinstance(kid, str):
            raise InvalidTokenError("no key id")
        key = await self._keys.key(kid)
        try:
            payload = jwt.decode(
                token,
                key,
                algorithms=list(ALGORITHMS),
                audience=self._audience,
                issuer=self._issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except jwt.PyJWTError as exc:
            raise InvalidTokenError(str(exc)) from None
        return _claims(payload)


def _claims(payload: Mapping[str, Any]) -> Claims:
    sub = payload["sub"]
    if not isinstance(sub, str) or not 0 < len(sub) <= 128:
        raise InvalidTokenError("bad subject")
    optional = {
        name: payload[name]
        for name in ("name", "email", "sid", "jti")
        if isinstance(payload.get(name), str)
    }
    return Claims(sub=sub, exp=int(payload["exp"]), **optional)


def bearer_token(authorization: str | None) -> str:
    if not authorization:
        raise InvalidTokenError("no bearer token")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise InvalidTokenError("no bearer token")
    return token.strip()


@contextlib.asynccontextmanager
async def verifier_from_settings(
    settings: ServiceSettings,
    keys: KeySource | None = None,
    *,
    ended: Callable[[str], bool] | None = None,
) -> AsyncIterator[TokenVerifier]:
    """The verifier a service's settings describe; `keys` replaces the key source (tests);
    `ended` is the deny list of ended sessions."""
    session: aiohttp.ClientSession | None = None
    if keys is None and settings.jwks_url is not None:
        session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5))
        keys = JwksKeys(str(settings.jwks_url), session)
    elif keys is None and settings.jwt_public_key_file is not None:
        keys = StaticKeys.from_pem_file(settings.jwt_public_key_file)
    if keys is None:
        raise ValueError("no key source for tokens")
    try:
        yield TokenVerifier(
            keys, issuer=settings.jwt_issuer, audience=settings.jwt_audience, ended=ended
        )
    finally:
        if session is not None:
            await session.close()


# RFC 7518 3.2: an HMAC key at least as long as the hash output (512 bits for HS512).
MIN_SHARED_SECRET_BYTES = 64
SHARED_SECRET_ALGORITHM = "HS512"
# The longest `exp - iat` a shared-secret token may have unless a service says otherwise.
DEFAULT_SHARED_SECRET_LIFETIME_S = 900


class SharedSecretVerifier:
    """HS512 tokens minted by a NextAuth front end's `jwt()` callback with `APP_JWT_SECRET`.

    Off unless a service is configured for it, and kept apart from `TokenVerifier`: a token is
    routed to one verifier by its header, so a public key can never be tried as an HMAC secret.
    Never used on the WebSocket.

    The front end is trusted less than our auth service: `iss` must be one of `issuers`, `aud`
    exactly `audience`, `exp - iat` at most `max_lifetime_s` (so a leaked secret's tokens, or
    a careless callback's, cannot live for a year), and `sub` is the front end's user id, which
    becomes ours only through `nextauth_user_id(iss, sub)`: never one of the ids we mint.
    """

    def __init__(
        self,
        secret: bytes,
        *,
        issuers: Collection[str],
        audience: str,
        max_lifetime_s: int = DEFAULT_SHARED_SECRET_LIFETIME_S,
    ) -> None:
        if len(secret) < MIN_SHARED_SECRET_BYTES:
            raise ValueError(f"the shared secret must be at least {MIN_SHARED_SECRET_BYTES} bytes")
        if not issuers or not all(issuers):
            raise ValueError("name the issuer (or issuers) of the shared-secret tokens")
        if not audience:
            raise ValueError("name the audience the shared-secret tokens must carry")
        if max_lifetime_s <= 0:
            raise ValueError("the longest lifetime of a shared-secret token must be positive")
        self._secret = secret
        self._issuers = frozenset(issuers)
        self._audience = audience
        self._max_lifetime_s = max_lifetime_s

    async def verify(self, token: str) -> Claims:
        if not token.isascii() or len(token) > MAX_TOKEN_BYTES:
            raise InvalidTokenError("malformed or oversized token")
        try:
            payload = jwt.decode(
                token,
                self._secret,
                algorithms=[SHARED_SECRET_ALGORITHM],
                audience=self._audience,
                leeway=LEEWAY_SECONDS,
                # strict_aud: `aud` is our audience as a string, not a list that holds it.
                options={"require": ["exp", "iat", "iss", "aud", "sub"], "strict_aud": True},
            )
        except jwt.PyJWTError as exc:
            raise InvalidTokenError(str(exc)) from None
        issuer = payload["iss"]
        if not isinstance(issuer, str) or issuer not in self._issuers:
            raise InvalidTokenError("Invalid issuer")
        self._check_lifetime(payload)
        claims = _claims(payload)
        try:
            user_id = nextauth_user_id(issuer, claims.sub)
        except ValueError as exc:
            raise InvalidTokenError(f"bad subject: {exc}") from None
        # `sid` and `jti` name the front end's things, not our sessions: dropped.
        return Claims(sub=user_id, exp=claims.exp, name=claims.name, email=claims.email)

    def _check_lifetime(self, payload: Mapping[str, Any]) -> None:
        # jwt.decode has checked that both are integers, `exp` not past and `iat` not ahead.
        lifetime = int(payload["exp"]) - int(payload["iat"])
        if lifetime > self._max_lifetime_s:
            raise InvalidTokenError(
                f"lives {lifetime} s, longer than the {self._max_lifetime_s} s allowed"
            )


def token_algorithm(token: str) -> str | None:
    """The `alg` a token's header claims, unverified: only for choosing which verifier to use."""
    try:
        alg = jwt.get_unverified_header(token).get("alg")
    except (jwt.PyJWTError, UnicodeError, ValueError):
        return None
    return alg if isinstance(alg, str) else None
