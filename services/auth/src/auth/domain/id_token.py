"""Checking an OpenID provider's ID token: pure, given the provider's keys and the clock.

The signature is checked with joserfc (RS256 only), the registered claims with authlib's
`CodeIDToken` (iss, aud, exp, iat, nonce, azp); what authlib leaves lenient is checked again
explicitly here: `aud` must be exactly our client id (authlib accepts a list that merely contains
it), and a nonce we sent must come back (authlib skips the check when the token has none).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from authlib.oidc.core import CodeIDToken  # type: ignore[import-untyped]
from joserfc import jws
from joserfc import jwt as jose_jwt
from joserfc.errors import (
    ExpiredTokenError,
    InvalidClaimError,
    JoseError,
    MissingClaimError,
)
from joserfc.jwk import KeySet

from auth.domain.errors import IdTokenRejectedError, NotAllowedError
from auth.domain.picture import safe_picture

MAX_ID_TOKEN_BYTES = 16 * 1024
ID_TOKEN_ALGORITHMS = ("RS256",)
# Google's ID tokens say either; its discovery document says the first.
GOOGLE_ISSUERS = ("https://accounts.google.com", "accounts.google.com")
_MAX_NAME = 200
_MAX_EMAIL = 320


def accepted_issuers(issuer: str) -> tuple[str, ...]:
    return GOOGLE_ISSUERS if issuer in GOOGLE_ISSUERS else (issuer,)


@dataclass(frozen=True, slots=True)
class IdTokenPolicy:
    issuer: str
    client_id: str
    leeway_s: int = 60
    # Either, when not empty, admits its members only: Workspace domains by the `hd` claim,
    # single addresses by `email`. Both lowercase.
    allowed_domains: frozenset[str] = field(default_factory=frozenset)
    allowed_emails: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True, slots=True)
class Identity:
    """Who the provider vouches for. `issuer` is the configured spelling, so that (issuer,
    subject) names one account whichever of Google's spellings the token used."""

    issuer: str
    subject: str
    email: str
    name: str | None
    hosted_domain: str | None
    # The ID token's `exp`: a token remembered as used need not be remembered longer.
    expires_at: int = 0
    # Only a picture `safe_picture` keeps; any other is dropped, never refused.
    picture: str | None = None


def _rejected(reason: str, **details: Any) -> IdTokenRejectedError:
    return IdTokenRejectedError("id_token_rejected", f"ID token rejected: {reason}", details)


def key_id(token: str) -> str:
    """The `kid` of the token's header, read before the signature is checked (to pick keys)."""
    if not token.isascii() or len(token) > MAX_ID_TOKEN_BYTES:
        raise _rejected("malformed or too large")
    try:
        header = jws.extract_compact(token.encode()).headers()
    except (JoseError, ValueError, TypeError):
        raise _rejected("malformed") from None
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise _rejected("no key id")
    return kid


def verify_id_token(
    token: str, keys: KeySet, policy: IdTokenPolicy, *, nonce: str | None, now: int
) -> Identity:
    """`nonce` is the one we sent (None when the token came to us without a login we started,
    as with Google Identity Services, where a nonce is optional)."""
    key_id(token)
    try:
        decoded = jose_jwt.decode(token, keys, algorithms=list(ID_TOKEN_ALGORITHMS))
    except (JoseError, ValueError, TypeError, json.JSONDecodeError):
        raise _rejected("bad signature or unknown key") from None
    return check_claims(decoded.claims, decoded.header, policy, nonce=nonce, now=now)


def check_claims(
    claims: Mapping[str, Any],
    header: Mapping[str, Any],
    policy: IdTokenPolicy,
    *,
    nonce: str | None,
    now: int,
) -> Identity:
    _registered_claims(claims, header, policy, nonce=nonce, now=now)
    _exact_audience(claims, policy.client_id)
    if nonce is not None and claims.get("nonce") != nonce:
        raise _rejected("nonce mismatch", claim="nonce")
    subject = claims["sub"]
    if not isinstance(subject, str) or not 0 < len(subject) <= 255:
        raise _rejected("bad subject", claim="sub")
    email = _verified_email(claims)
    hosted_domain = claims.get("hd") if isinstance(claims.get("hd"), str) else None
    _admitted(email, hosted_domain, policy)
    name = claims.get("name")
    return Identity(
        issuer=policy.issuer,
        subject=subject,
        email=email,
        name=name[:_MAX_NAME] if isinstance(name, str) and name else None,
        hosted_domain=hosted_domain.lower() if hosted_domain else None,
        expires_at=int(claims["exp"]),
        picture=safe_picture(claims.get("picture")),
    )


def _registered_claims(
    claims: Mapping[str, Any],
    header: Mapping[str, Any],
    policy: IdTokenPolicy,
    *,
    nonce: str | None,
    now: int,
) -> None:
    options = {
        "iss": {"essential": True, "values": list(accepted_issuers(policy.issuer))},
        "sub": {"essential": True},
        "aud": {"essential": True, "value": policy.client_id},
    }
    params = {"client_id": policy.client_id, "nonce": nonce}
    token = CodeIDToken(dict(claims), dict(header), options=options, params=params)
    try:
        token.validate(now=now, leeway=policy.leeway_s)
    except ExpiredTokenError:
        raise _rejected("expired", claim="exp") from None
    except MissingClaimError as exc:
        raise _rejected(f"missing claim {exc.claim}", claim=exc.claim) from None
    except InvalidClaimError as exc:
        raise _rejected(f"invalid claim {exc.claim}", claim=exc.claim) from None
    except (JoseError, TypeError, ValueError) as exc:
        raise _rejected(str(exc)) from None


def _exact_audience(claims: Mapping[str, Any], client_id: str) -> None:
    # A token for several audiences could have been minted for another client and replayed
    # to us; we accept only tokens issued to us alone.
    aud = claims.get("aud")
    if aud != client_id and aud != [client_id]:
        raise _rejected("not issued to this client", claim="aud")
    azp = claims.get("azp")
    if azp is not None and azp != client_id:
        raise _rejected("authorized party is another client", claim="azp")


def _verified_email(claims: Mapping[str, Any]) -> str:
    email = claims.get("email")
    if not isinstance(email, str) or "@" not in email or len(email) > _MAX_EMAIL:
        raise NotAllowedError("email_not_verified", "the provider vouched for no email address")
    # Google sent the string "true" in older tokens. `is True`: 1 == True in Python.
    verified = claims.get("email_verified")
    if verified is not True and verified != "true":
        raise NotAllowedError("email_not_verified", "the email address is not verified")
    return email


def _admitted(email: str, hosted_domain: str | None, policy: IdTokenPolicy) -> None:
    if not policy.allowed_domains and not policy.allowed_emails:
        return
    if hosted_domain and hosted_domain.lower() in policy.allowed_domains:
        return
    if email.lower() in policy.allowed_emails:
        return
    raise NotAllowedError("not_allowed", "this account may not sign in here")
