"""The authorization request, checked in the order RFC 6749 section 4.1.2.1 asks: the client and
its redirect URI first (a mistake there is never redirected), then everything else (a mistake
there goes back to the client as `error=` with the `state`)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from auth.devprovider.accounts import normalize_email
from auth.devprovider.params import ParameterError, Params
from auth.devprovider.settings import DevClient, DevProviderSettings

SCOPES = ("openid", "email", "profile")
# RFC 7636 section 4.2: the challenge is 43 to 128 unreserved characters (S256 gives 43).
PKCE_VALUE = re.compile(r"^[A-Za-z0-9._~-]{43,128}$")

# What the sign-in page hands back to POST /authorize; `login_hint` is absent by definition.
FORWARDED_PARAMS = (
    "client_id",
    "redirect_uri",
    "response_type",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "hd",
    "dev_email_verified",
    "dev_aud",
    "dev_nonce",
    "dev_hd",
    "dev_picture",
)


class ClientRejectedError(Exception):
    """Unknown client or unregistered redirect URI: answered with a page, never a redirect."""


class AuthorizeError(Exception):
    def __init__(self, redirect_uri: str, state: str | None, error: str, description: str) -> None:
        super().__init__(description)
        self.redirect_uri = redirect_uri
        self.state = state
        self.error = error
        self.description = description


@dataclass(frozen=True)
class DevKnobs:
    """Dev-only deviations for negative tests of the relying party; Google has none of these."""

    email_verified: bool = True
    audience: str | None = None
    nonce: str | None = None
    hd: str | None = None
    # Any string, safe or not: what a relying party does with a picture it must not show.
    picture: str | None = None


@dataclass(frozen=True)
class AuthorizeRequest:
    client: DevClient
    redirect_uri: str
    state: str
    nonce: str
    scopes: tuple[str, ...]
    code_challenge: str
    login_hint: str | None = None
    hd: str | None = None
    knobs: DevKnobs = field(default_factory=DevKnobs)


def parse_authorize(params: Params, settings: DevProviderSettings) -> AuthorizeRequest:
    client, redirect_uri = _registered_client(params, settings)
    state: str | None = None
    try:
        state = params.required("state")
        return _parse_rest(params, client, redirect_uri, state)
    except ParameterError as exc:
        raise AuthorizeError(redirect_uri, state, exc.error, exc.description) from None


def _registered_client(params: Params, settings: DevProviderSettings) -> tuple[DevClient, str]:
    try:
        client_id, redirect_uri = params.one("client_id"), params.one("redirect_uri")
    except ParameterError as exc:
        raise ClientRejectedError(exc.description) from None
    client = settings.client(client_id)
    if client is None:
        raise ClientRejectedError(f"unknown client_id {client_id!r}")
    # Exact string match, as OAuth 2.1 and Google require: no prefixes, no normalising.
    if redirect_uri is None or redirect_uri not in client.redirect_uris:
        raise ClientRejectedError(
            f"redirect_uri {redirect_uri!r} is not registered for {client_id}"
        )
    return client, redirect_uri


def _parse_rest(
    params: Params, client: DevClient, redirect_uri: str, state: str
) -> AuthorizeRequest:
    if params.required("response_type") != "code":
        raise ParameterError("unsupported_response_type", "only response_type=code is supported")
    return AuthorizeRequest(
        client=client,
        redirect_uri=redirect_uri,
        state=state,
        nonce=params.required("nonce"),
        scopes=_scopes(params.required("scope")),
        code_challenge=_code_challenge(params),
        login_hint=_login_hint(params),
        hd=params.one("hd"),
        knobs=_knobs(params),
    )


def _scopes(scope: str) -> tuple[str, ...]:
    requested = set(scope.split())
    if "openid" not in requested:
        raise ParameterError("invalid_scope", "scope must contain openid")
    unknown = requested.difference(SCOPES)
    if unknown:
        raise ParameterError("invalid_scope", f"unsupported scope {' '.join(sorted(unknown))}")
    return tuple(s for s in SCOPES if s in requested)


def _code_challenge(params: Params) -> str:
    challenge = params.one("code_challenge")
    if challenge is None or params.one("code_challenge_method") != "S256":
        raise ParameterError("invalid_request", "PKCE is required: code_challenge with S256")
    if not PKCE_VALUE.match(challenge):
        raise ParameterError("invalid_request", "code_challenge is malformed")
    return challenge


def _login_hint(params: Params) -> str | None:
    hint = params.one("login_hint")
    if hint is None:
        return None
    email = normalize_email(hint)
    if email is None:
        raise ParameterError("invalid_request", "login_hint must be an email address")
    return email


def _knobs(params: Params) -> DevKnobs:
    verified = params.one("dev_email_verified")
    if verified not in (None, "true", "false"):
        raise ParameterError("invalid_request", "dev_email_verified must be true or false")
    return DevKnobs(
        email_verified=verified != "false",
        audience=params.one("dev_aud"),
        nonce=params.one("dev_nonce"),
        hd=params.one("dev_hd"),
        picture=params.one("dev_picture"),
    )
