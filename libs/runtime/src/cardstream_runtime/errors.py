"""One error shape for every service: `{"error": {"code", "message", "details"}}`.

Handlers raise `ApiError`. `error_middleware(*translators)` renders it, turns aiohttp's own HTTP
errors (404, 405, 413) into the same shape, asks each of the service's translators what any
other exception means, and answers anything left with a logged 500, so no client ever sees a
traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import orjson
from aiohttp import web
from aiohttp.typedefs import Middleware
from pydantic import ValidationError

log = logging.getLogger("cardstream.http")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: Any = None,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.headers = dict(headers or {})


# What an exception means to the client, or None when the translator does not know it. A
# translator logs what it wants logged; it returns, never raises.
Translate = Callable[[Exception], ApiError | None]


def error_response(status: int, code: str, message: str, details: Any = None) -> web.Response:
    body = orjson.dumps({"error": {"code": code, "message": message, "details": details}})
    return web.Response(status=status, body=body, content_type="application/json")


def validation_details(exc: ValidationError) -> list[dict[str, Any]]:
    """A pydantic error as `details`: where, what and which rule, one entry per problem."""
    # Never echo the input back: it may be large or hold what the caller should not see again.
    return [
        {"loc": [str(part) for part in e["loc"]], "message": e["msg"], "type": e["type"]}
        for e in exc.errors(include_url=False, include_input=False)
    ]


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


async def _answer(
    request: web.Request, handler: Handler, translators: tuple[Translate, ...]
) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        return _render(exc)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return error_response(exc.status, _HTTP_CODES.get(exc.status, "http_error"), exc.reason)
    except Exception as exc:
        return _render(_translate(exc, translators))


def _translate(exc: Exception, translators: tuple[Translate, ...]) -> ApiError:
    for translate in translators:
        if (translated := translate(exc)) is not None:
            return translated
    log.error("unhandled error", exc_info=exc)
    return ApiError(500, "internal", "something went wrong on our side")


def _render(exc: ApiError) -> web.Response:
    response = error_response(exc.status, exc.code, exc.message, exc.details)
    response.headers.update(exc.headers)
    return response


def error_middleware(*translators: Translate) -> Middleware:
    """The middleware that answers every error in the one shape, asking `translators` in turn
    about exceptions that are neither `ApiError` nor aiohttp's."""

    @web.middleware
    async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
        return await _answer(request, handler, translators)

    return errors
