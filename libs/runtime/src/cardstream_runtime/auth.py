"""The one way a service turns an HTTP request's bearer token into verified claims."""

from __future__ import annotations

from aiohttp import web

from cardstream_runtime.errors import ApiError
from cardstream_runtime.jwt import Claims, InvalidTokenError, TokenVerifier, bearer_token


async def authenticate(request: web.Request, verifier: TokenVerifier) -> Claims:
    """Verified claims of the request's bearer token, or a 401 in the JSON error shape."""
    try:
        return await verifier.verify(bearer_token(request.headers.get("Authorization")))
    except InvalidTokenError as exc:
        raise ApiError(401, "unauthorized", str(exc)) from None
