"""The one way a service turns an HTTP request's bearer token into verified claims."""

from __future__ import annotations

from aiohttp import web

from cardstream_runtime.errors import ApiError
from cardstream_runtime.jwt import (
    SHARED_SECRET_ALGORITHM,
    Claims,
    InvalidTokenError,
    SharedSecretVerifier,
    TokenVerifier,
    bearer_token,
    token_algorithm,
)


async def authenticate(
    request: web.Request,
    verifier: TokenVerifier,
    shared_secret: SharedSecretVerifier | None = None,
) -> Claims:
    """Verified claims of the request's bearer token, or a 401 in the JSON error shape.

    With `shared_secret` (the NextAuth compatibility option), an HS512 token goes to it and every
    other token to `verifier`; no token is ever tried against both.
    """
    try:
        token = bearer_token(request.headers.get("Authorization"))
        if shared_secret is not None and token_algorithm(token) == SHARED_SECRET_ALGORITHM:
            return await shared_secret.verify(token)
        return await verifier.verify(token)
    except InvalidTokenError as exc:
        raise ApiError(401, "unauthorized", str(exc)) from None
