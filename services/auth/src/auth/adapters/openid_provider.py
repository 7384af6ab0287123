"""`HttpOpenIdProvider`: the OpenID provider (Google, or the local one) spoken to over HTTP.

Discovery and the provider's keys are fetched once and cached (see `CachedJson`); the
authorization URL and the token request are built with authlib's RFC 6749 helpers.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp
import orjson
from authlib.oauth2.rfc6749.parameters import (  # type: ignore[import-untyped]
    prepare_grant_uri,
    prepare_token_request,
)
from cardstream_runtime.http_json import MAX_DOCUMENT_BYTES, CachedJson, ProviderUnavailableError
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from auth.domain.id_token import accepted_issuers
from auth.domain.login import LoginState, code_challenge

log = logging.getLogger("auth.provider")

SCOPES = ("openid", "email", "profile")
# Discovery changes rarely; Google sends max-age of about an hour for it.
DISCOVERY_DEFAULT_MAX_AGE_S = 3600


class CodeRejectedError(Exception):
    """The provider refused the code exchange (bad or used code, wrong PKCE verifier)."""

    def __init__(self, error: str, description: str | None) -> None:
        super().__init__(f"{error}: {description}" if description else error)
        self.error = error
        self.description = description


@dataclass(frozen=True, slots=True)
class ProviderMetadata:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    token_auth_methods: tuple[str, ...]


def parse_metadata(issuer: str) -> Callable[[Any], ProviderMetadata]:
    def parse(document: Any) -> ProviderMetadata:
        if not isinstance(document, dict):
            raise ValueError("not a JSON object")
        # OpenID Connect Discovery 1.0 §4.3: the document must name the issuer we asked.
        if document.get("issuer") not in accepted_issuers(issuer):
            raise ValueError(f"issuer {document.get('issuer')!r} is not {issuer!r}")
        endpoints = {}
        for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            value = document.get(name)
            if not isinstance(value, str) or not value.startswith(("https://", "http://")):
                raise ValueError(f"no {name}")
            endpoints[name] = value
        methods = document.get("token_endpoint_auth_methods_supported")
        return ProviderMetadata(
            issuer=issuer,
            token_auth_methods=tuple(m for m in methods if isinstance(m, str))
            if isinstance(methods, list)
            else ("client_secret_basic",),  # the default RFC 8414 names
            **endpoints,
        )

    return parse


def parse_key_set(document: Any) -> KeySet:
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError("not a JWKS")
    # Only signing keys of a type we verify with; one odd key must not spoil the set.
    keys = [
        k
        for k in document["keys"]
        if isinstance(k, dict) and k.get("kty") == "RSA" and k.get("use", "sig") == "sig"
    ]
    try:
        return KeySet.import_key_set({"keys": keys})
    except (JoseError, ValueError, TypeError) as exc:
        raise ValueError(f"unusable JWKS: {exc}") from None


class HttpOpenIdProvider:
    def __init__(
        self,
        *,
        issuer: str,
        client_id: str,
        client_secret: str,
        redirect_uri: str,
        session: aiohttp.ClientSession,
        jwks_default_max_age_s: float,
        jwks_min_refetch_s: float,
        extra_authorize_params: Sequence[tuple[str, str]] = (),
    ) -> None:
        self.issuer = issuer
        self.client_id = client_id
        self._client_secret = client_secret
        self.redirect_uri = redirect_uri
        self._session = session
        self._extra = tuple(extra_authorize_params)
        self._jwks_default_max_age = jwks_default_max_age_s
        self._jwks_min_refetch = jwks_min_refetch_s
        self._discovery = CachedJson(
            f"{issuer.rstrip('/')}/.well-known/openid-configuration",
            session,
            parse_metadata(issuer),
            default_max_age_s=DISCOVERY_DEFAULT_MAX_AGE_S,
            min_refetch_s=jwks_min_refetch_s,
        )
        self._jwks: CachedJson[KeySet] | None = None

    async def metadata(self) -> ProviderMetadata:
        return await self._discovery.get()

    async def authorization_url(self, login: LoginState, *, login_hint: str | None) -> str:
        metadata = await self.metadata()
        url: str = prepare_grant_uri(
            metadata.authorization_endpoint,
            client_id=self.client_id,
            response_type="code",
            redirect_uri=self.redirect_uri,
            scope=list(SCOPES),
            state=login.state,
            nonce=login.nonce,
            code_challenge=code_challenge(login.code_verifier),
            code_challenge_method="S256",
            login_hint=login_hint,
            **dict(self._extra),
        )
        return url

    async def key_set(self, kid: str) -> KeySet:
        """The provider's keys, refetched (rate limited) when `kid` is not among them."""
        jwks = await self._jwks_cache()
        keys = await jwks.get()
        if any(key.kid == kid for key in keys):
            return keys
        return await jwks.get(refetch=True)

    async def _jwks_cache(self) -> CachedJson[KeySet]:
        if self._jwks is None:
            metadata = await self.metadata()
            self._jwks = CachedJson(
                metadata.jwks_uri,
                self._session,
                parse_key_set,
                default_max_age_s=self._jwks_default_max_age,
                min_refetch_s=self._jwks_min_refetch,
            )
        return self._jwks

    async def exchange_code(self, code: str, code_verifier: str) -> str:
        """The ID token the provider issues for `code`. Its other tokens are dropped: we never
        call the provider on the user's behalf."""
        metadata = await self.metadata()
        headers = {"Accept": "application/json"}
        fields: dict[str, str] = {"code": code, "code_verifier": code_verifier}
        if "client_secret_basic" in metadata.token_auth_methods:
            headers["Authorization"] = self._basic_credentials()
        else:
            fields |= {"client_id": self.client_id, "client_secret": self._client_secret}
        body: str = prepare_token_request(
            "authorization_code", redirect_uri=self.redirect_uri, **fields
        )
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        status, document = await self._post(metadata.token_endpoint, body, headers)
        if status in (400, 401):
            error = document.get("error") if isinstance(document, dict) else None
            if status == 401 or error == "invalid_client":
                # Our own credentials are wrong: an operator's problem, not the user's.
                log.error("the provider refused our client credentials (invalid_client)")
                raise ProviderUnavailableError("the provider refused our client credentials")
            description = document.get("error_description") if isinstance(document, dict) else None
            raise CodeRejectedError(
                error if isinstance(error, str) else "invalid_grant",
                description if isinstance(description, str) else None,
            )
        if status != 200 or not isinstance(document, dict):
            raise ProviderUnavailableError(f"token endpoint answered {status}")
        id_token = document.get("id_token")
        if not isinstance(id_token, str):
            raise ProviderUnavailableError("token endpoint sent no id_token")
        return id_token

    def _basic_credentials(self) -> str:
        # RFC 6749 §2.3.1: form-encode each part before joining them.
        pair = f"{quote(self.client_id, safe='')}:{quote(self._client_secret, safe='')}"
        return "Basic " + base64.b64encode(pair.encode()).decode()

    async def _post(self, url: str, body: str, headers: dict[str, str]) -> tuple[int, Any]:
        try:
            async with self._session.post(url, data=body, headers=headers) as response:
                raw = await response.content.read(MAX_DOCUMENT_BYTES + 1)
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ProviderUnavailableError(f"token endpoint unreachable: {exc!r}") from None
        if len(raw) > MAX_DOCUMENT_BYTES:
            raise ProviderUnavailableError("token endpoint sent too much")
        try:
            return status, orjson.loads(raw)
        except orjson.JSONDecodeError:
            return status, None
