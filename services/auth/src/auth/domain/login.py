"""A login in flight: the state, nonce and PKCE verifier we keep between /auth/login and the
callback, and the rules the callback applies to them."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from authlib.oauth2.rfc7636 import create_s256_code_challenge  # type: ignore[import-untyped]

from auth.domain.errors import LoginStateError

_MAX_NEXT = 2048
_MAX_HINT = 320


@dataclass(frozen=True, slots=True)
class LoginState:
    state: str
    nonce: str
    code_verifier: str
    # The provider's issuer: a state started for one provider is not accepted from another.
    provider: str
    # SHA-256 of the random value in the browser's login cookie; the raw value never leaves it.
    browser_hash: str
    next_path: str | None
    expires_at: float


def hash_secret(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def new_browser_binding() -> str:
    return secrets.token_urlsafe(32)


def begin_login(
    *, provider: str, browser: str, next_path: str | None, now: float, ttl_s: float
) -> LoginState:
    return LoginState(
        state=secrets.token_urlsafe(32),
        nonce=secrets.token_urlsafe(32),
        # 43 characters of base64url: 256 bits, the shortest verifier RFC 7636 allows.
        code_verifier=secrets.token_urlsafe(32),
        provider=provider,
        browser_hash=hash_secret(browser),
        next_path=next_path,
        expires_at=now + ttl_s,
    )


def code_challenge(code_verifier: str) -> str:
    challenge: str = create_s256_code_challenge(code_verifier)
    return challenge


def accept_callback(
    stored: LoginState | None, *, browser: str | None, provider: str, now: float
) -> LoginState:
    """The state the callback may go on with. `stored` was already taken out of the store, so
    whatever is refused here cannot be tried again."""
    if stored is None:
        raise LoginStateError("invalid_state", "unknown, expired or already used login state")
    if now >= stored.expires_at:
        raise LoginStateError("state_expired", "the login took too long; start again")
    if browser is None or not hmac.compare_digest(hash_secret(browser), stored.browser_hash):
        raise LoginStateError("state_mismatch", "the login was started in another browser")
    if stored.provider != provider:
        raise LoginStateError("state_mismatch", "the login was started with another provider")
    return stored


def safe_next_path(value: str | None) -> str | None:
    """A path on this site to return to after login, or None. Never a URL: `//host`, `/\\host`
    and anything with a scheme would send the user elsewhere."""
    if not value:
        return None
    if (
        len(value) > _MAX_NEXT
        or not value.startswith("/")
        or value.startswith(("//", "/\\"))
        or not value.isascii()
        or not value.isprintable()
        or "\\" in value
    ):
        raise LoginStateError("invalid_next", "next must be a path on this site, like /boards/1")
    return value


def login_hint(value: str | None) -> str | None:
    if not value:
        return None
    if len(value) > _MAX_HINT or not value.isprintable():
        raise LoginStateError("invalid_login_hint", "login_hint is too long or not printable")
    return value
