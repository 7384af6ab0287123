"""One error shape for every service: `{"error": {"code", "message", "details"}}`.

Handlers raise `ApiError`; the middleware also turns aiohttp's own HTTP errors (404, 405, 413)
and anything unexpected into that shape, so no client ever sees a traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web
from aiohttp.typedefs import Middleware
from pydantic import ValidationError

log = logging.getLogger("cardstream.http")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details


def error_response(status: int, code: str, message: str, details: Any = None) -> web.Response:
    body = orjson.dumps({"error": {"code": code, "message": message, "details": details}})
    return web.Response(status=status, body=body, content_type="application/json")


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


Translate = Callable[[Exception], "ApiError | None"]


def error_middleware(*translators: Translate) -> Middleware:
    @web.middleware
    async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except ApiError as exc:
            return error_response(exc.status, exc.code, exc.message, exc.details)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            code = _HTTP_CODES.get(exc.status, "http_error")
            return error_response(exc.status, code, exc.reason)
        except Exception as exc:
            for translate in translators:
                error = translate(exc)
                if error is not None:
                    return error_response(error.status, error.code, error.message, error.details)
            log.exception("unhandled error")
            return error_response(500, "internal", "something went wrong on our side")

    return errors


def validation_details(exc: ValidationError) -> list[dict[str, Any]]:
    # Never echo the input back: it may be large or hold what the caller should not see again.
    return [
        {"loc": [str(part) for part in e["loc"]], "message": e["msg"], "type": e["type"]}
        for e in exc.errors(include_url=False, include_input=False)
    ]
