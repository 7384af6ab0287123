"""The token endpoint's checks: client authentication (RFC 6749 section 2.3.1), the code, its
redirect URI and its PKCE verifier (RFC 7636 section 4.6)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from urllib.parse import unquote_plus

from auth.devprovider.authorize import PKCE_VALUE
from auth.devprovider.codes import CodeStore, Grant
from auth.devprovider.params import ParameterError, Params
from auth.devprovider.settings import DevClient, DevProviderSettings


class TokenError(Exception):
    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description


def authenticate_client(
    authorization: str | None, form: Params, settings: DevProviderSettings
) -> DevClient:
    client_id: str | None
    secret: str | None
    if authorization is not None:
        if form.one("client_secret") is not None:
            raise TokenError(400, "invalid_request", "use one client authentication method")
        client_id, secret = _basic_credentials(authorization)
        if form.one("client_id") not in (None, client_id):
            raise TokenError(400, "invalid_request", "client_id differs from the Basic one")
    else:
        client_id, secret = form.one("client_id"), form.one("client_secret")
    client = settings.client(client_id)
    # Compared in constant time even here: the relying party's code is the production code.
    if client is None or secret is None or not _same(secret, client.client_secret):
        raise TokenError(401, "invalid_client", "client authentication failed")
    return client


def _basic_credentials(authorization: str) -> tuple[str, str]:
    scheme, _, encoded = authorization.partition(" ")
    try:
        if scheme.lower() != "basic":
            raise ValueError(scheme)
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (ValueError, binascii.Error):
        raise TokenError(401, "invalid_client", "malformed Basic credentials") from None
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise TokenError(401, "invalid_client", "malformed Basic credentials")
    # RFC 6749 section 2.3.1: both halves are form-urlencoded before joining.
    return unquote_plus(client_id), unquote_plus(secret)


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def redeem_code(form: Params, client: DevClient, codes: CodeStore) -> Grant:
    try:
        if form.required("grant_type") != "authorization_code":
            raise TokenError(400, "unsupported_grant_type", "only authorization_code is supported")
        code, redirect_uri = form.required("code"), form.one("redirect_uri")
        verifier = form.one("code_verifier")
    except ParameterError as exc:
        raise TokenError(400, exc.error, exc.description) from None
    grant = codes.redeem(code)
    if grant is None or grant.request.client.client_id != client.client_id:
        raise TokenError(400, "invalid_grant", "the code is unknown, spent or expired")
    if redirect_uri != grant.request.redirect_uri:
        raise TokenError(400, "invalid_grant", "redirect_uri differs from the authorize request")
    if not verifier_matches(verifier, grant.request.code_challenge):
        raise TokenError(400, "invalid_grant", "code_verifier is missing or wrong")
    return grant


def verifier_matches(verifier: str | None, challenge: str) -> bool:
    if verifier is None or not PKCE_VALUE.match(verifier):
        return False
    # Computed here rather than with authlib's helper, so the relying party (which uses authlib)
    # and this provider cannot share one mistake; the tests derive challenges with authlib.
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    expected = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    return _same(expected, challenge)
