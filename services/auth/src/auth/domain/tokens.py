"""Our tokens' contents: access token claims and refresh token secrets."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

ACCESS_TOKEN_TYPE = "at+jwt"


@dataclass(frozen=True, slots=True)
class User:
    user_id: str
    email: str
    name: str | None
    # Shown by clients, never put in our tokens: it may be 16 KiB (auth.domain.picture).
    picture: str | None = None


def access_token_claims(
    user: User,
    *,
    sid: str,
    issuer: str,
    audience: str,
    now: int,
    ttl_s: int,
) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "iss": issuer,
        "sub": user.user_id,
        # One audience, never a list: a token any one service accepts is refused by the others.
        "aud": audience,
        "iat": now,
        "exp": now + ttl_s,
        "jti": uuid.uuid4().hex,
        "sid": sid,
        "email": user.email,
    }
    if user.name:
        claims["name"] = user.name
    return claims


def new_refresh_token() -> str:
    """256 random bits; only their hash is stored."""
    return secrets.token_urlsafe(32)


def refresh_token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_session_id() -> str:
    return uuid.uuid4().hex


def new_user_id() -> str:
    return str(uuid.uuid4())
