"""The provider's endpoints, shaped like Google's: discovery, JWKS, authorize (page or
`login_hint`), token."""

from __future__ import annotations

import logging
import secrets
from typing import Any

from aiohttp import web
from yarl import URL

from auth.devprovider.accounts import Account, account_for, normalize_email
from auth.devprovider.authorize import (
    FORWARDED_PARAMS,
    SCOPES,
    AuthorizeError,
    AuthorizeRequest,
    ClientRejectedError,
    parse_authorize,
)
from auth.devprovider.keys import clock_key, codes_key, settings_key, signer_key
from auth.devprovider.pages import error_page, login_page, page_headers
from auth.devprovider.params import ParameterError, Params
from auth.devprovider.signing import ALGORITHM, id_token_claims
from auth.devprovider.token import TokenError, authenticate_client, redeem_code

log = logging.getLogger("auth.devprovider")
routes = web.RouteTableDef()

_PUBLIC = {"Cache-Control": "public, max-age=300"}
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
ACCESS_TOKEN_TTL_S = 3600
CLAIMS = (
    "aud", "azp", "at_hash", "email", "email_verified", "exp", "family_name", "given_name", "hd",
    "iat", "iss", "name", "nonce", "picture", "sub",
)  # fmt: skip


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


@routes.get("/.well-known/openid-configuration")
async def discovery(request: web.Request) -> web.Response:
    issuer = request.app[settings_key].issuer
    document = {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/authorize",
        "token_endpoint": f"{issuer}/token",
        "jwks_uri": f"{issuer}/jwks",
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [ALGORITHM],
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": list(SCOPES),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        "claims_supported": list(CLAIMS),
    }
    return web.json_response(document, headers=_PUBLIC)


@routes.get("/jwks")
async def jwks(request: web.Request) -> web.Response:
    return web.json_response(request.app[signer_key].jwks(), headers=_PUBLIC)


@routes.get("/authorize")
async def authorize(request: web.Request) -> web.Response:
    params = Params(request.query.items())
    authz = _checked(params, request)
    if authz.login_hint is None:
        return _login_page(authz, params)
    raise _approve(request, authz, account_for(authz.login_hint))


@routes.post("/authorize")
async def authorize_form(request: web.Request) -> web.Response:
    params = Params((await request.post()).items())
    # The form's hidden fields are as untrusted as a query string: everything is checked again.
    authz = _checked(params, request)
    try:
        if params.one("decision") == "deny":
            raise _error_redirect(authz.redirect_uri, authz.state, "access_denied", "cancelled")
        account = _chosen_account(params)
    except ParameterError:
        account = None
    if account is None:
        return _login_page(authz, params, problem="Enter a valid email address.", status=400)
    raise _approve(request, authz, account)


@routes.post("/token")
async def token(request: web.Request) -> web.Response:
    try:
        body = await _exchange(request)
    except TokenError as exc:
        headers = dict(_NO_STORE)
        if exc.status == 401:
            headers["WWW-Authenticate"] = 'Basic realm="devprovider"'
        error = {"error": exc.error, "error_description": exc.description}
        return web.json_response(error, status=exc.status, headers=headers)
    return web.json_response(body, headers=_NO_STORE)


def _checked(params: Params, request: web.Request) -> AuthorizeRequest:
    try:
        return parse_authorize(params, request.app[settings_key])
    except ClientRejectedError as exc:
        raise web.HTTPBadRequest(
            text=error_page(str(exc)), content_type="text/html", headers=page_headers()
        ) from None
    except AuthorizeError as exc:
        raise _error_redirect(exc.redirect_uri, exc.state, exc.error, exc.description) from None


def _chosen_account(params: Params) -> Account | None:
    email = normalize_email(params.one("account") or params.one("email"))
    return None if email is None else account_for(email, params.one("name"))


def _login_page(
    authz: AuthorizeRequest, params: Params, problem: str | None = None, status: int = 200
) -> web.Response:
    return web.Response(
        text=login_page(authz, params.subset(FORWARDED_PARAMS), problem),
        status=status,
        content_type="text/html",
        headers=page_headers(authz.redirect_uri),
    )


def _approve(request: web.Request, authz: AuthorizeRequest, account: Account) -> web.HTTPFound:
    code = request.app[codes_key].issue(authz, account)
    log.info("approved %s for %s", account.email, authz.client.client_id)
    location = URL(authz.redirect_uri).update_query(code=code, state=authz.state)
    return web.HTTPFound(location, headers=_NO_STORE)


def _error_redirect(
    redirect_uri: str, state: str | None, error: str, description: str
) -> web.HTTPFound:
    query = {"error": error, "error_description": description}
    if state is not None:
        query["state"] = state
    return web.HTTPFound(URL(redirect_uri).update_query(query), headers=_NO_STORE)


async def _exchange(request: web.Request) -> dict[str, Any]:
    if request.content_type != "application/x-www-form-urlencoded":
        raise TokenError(400, "invalid_request", "the body must be form-urlencoded")
    form = Params((await request.post()).items())
    settings = request.app[settings_key]
    try:
        client = authenticate_client(request.headers.get("Authorization"), form, settings)
    except ParameterError as exc:
        raise TokenError(400, exc.error, exc.description) from None
    grant = redeem_code(form, client, request.app[codes_key])
    access_token = secrets.token_urlsafe(32)
    claims = id_token_claims(
        grant,
        issuer=settings.issuer,
        issued_at=int(request.app[clock_key]()),
        ttl_s=settings.id_token_ttl_s,
        access_token=access_token,
    )
    return {
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": ACCESS_TOKEN_TTL_S,
        "id_token": request.app[signer_key].sign(claims),
        "scope": " ".join(grant.request.scopes),
    }
