"""The provider's RS256 key and the ID tokens it signs, claim for claim as Google's."""

from __future__ import annotations

import base64
import hashlib
from typing import Any, Self

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from joserfc import jwt
from joserfc.jwk import RSAKey

from auth.devprovider.codes import Grant

ALGORITHM = "RS256"
_MIN_KEY_BITS = 2048


class KeyFileError(ValueError):
    pass


class IdTokenSigner:
    def __init__(self, key: RSAKey) -> None:
        if not key.is_private:
            raise KeyFileError("the signing key must be an RSA private key")
        self._key = key
        # The RFC 7638 thumbprint: the same key file gives the same `kid` across restarts.
        self.kid = key.thumbprint()

    @classmethod
    def generate(cls) -> Self:
        return cls(RSAKey.generate_key(_MIN_KEY_BITS, parameters={"use": "sig", "alg": ALGORITHM}))

    @classmethod
    def from_pem(cls, pem: bytes) -> Self:
        try:
            private = load_pem_private_key(pem, password=None)
        except (ValueError, TypeError) as exc:
            raise KeyFileError(f"not an unencrypted PEM private key: {exc}") from None
        if not isinstance(private, RSAPrivateKey) or private.key_size < _MIN_KEY_BITS:
            raise KeyFileError(f"the key must be RSA with at least {_MIN_KEY_BITS} bits")
        return cls(RSAKey.import_key(private, parameters={"use": "sig", "alg": ALGORITHM}))

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self._key.as_dict(private=False, kid=self.kid)]}

    def sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode({"alg": ALGORITHM, "kid": self.kid, "typ": "JWT"}, claims, self._key)


def access_token_hash(access_token: str) -> str:
    # OIDC Core 3.1.3.6: the left half of the SHA-256 of the token, base64url without padding.
    digest = hashlib.sha256(access_token.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode()


def id_token_claims(
    grant: Grant, *, issuer: str, issued_at: int, ttl_s: int, access_token: str
) -> dict[str, Any]:
    request, account, knobs = grant.request, grant.account, grant.request.knobs
    audience = knobs.audience or request.client.client_id
    claims: dict[str, Any] = {
        "iss": issuer,
        "azp": audience,
        "aud": audience,
        "sub": account.subject,
        "at_hash": access_token_hash(access_token),
        "nonce": knobs.nonce or request.nonce,
        "iat": issued_at,
        "exp": issued_at + ttl_s,
    }
    hosted_domain = knobs.hd or account.hosted_domain
    if hosted_domain is not None:
        claims["hd"] = hosted_domain
    if "email" in request.scopes:
        claims |= {"email": account.email, "email_verified": knobs.email_verified}
    if "profile" in request.scopes:
        claims |= _profile_claims(grant)
    return claims


def _profile_claims(grant: Grant) -> dict[str, Any]:
    account = grant.account
    claims: dict[str, Any] = {
        "name": account.name,
        "picture": grant.request.knobs.picture or account.picture,
        "given_name": account.given_name,
    }
    if account.family_name is not None:
        claims["family_name"] = account.family_name
    return claims
