"""JSON logs, one object a line, carrying the ids of the request being served."""

from __future__ import annotations

import contextvars
import logging
import re
import sys
import time
import uuid
from typing import Any

import orjson
from aiohttp import web

from cardstream_runtime.errors import Handler

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
correlation_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "correlation_id", default=None
)
command_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("command_id", default=None)
# Not in every line: for the error translators, which see the exception but not the request.
request_path: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "request_path", default=None
)

CORRELATION_HEADER = "X-Correlation-Id"
_MAX_CORRELATION = 128


# Credentials have no place in a log, whoever logs them: aiohttp's own errors quote the start
# of a header line too long to read (a bearer token), an exception may quote a URL with the
# sign-in callback's one-time code. Redacted in every line this formatter writes.
_SECRETS = (
    (re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"), r"\1[redacted]"),
    (re.compile(r"eyJ[A-Za-z0-9_-]{6,}(?:\.[A-Za-z0-9_-]*){0,2}"), "[token redacted]"),
    (
        re.compile(
            r"(?i)([?&;\s](?:code|state|refresh_token|id_token|access_token|cs_refresh)=)[^&;\s'\"]+"
        ),
        r"\1[redacted]",
    ),
)


def redact(text: str) -> str:
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        for name, var in (
            ("request_id", request_id),
            ("correlation_id", correlation_id),
            ("command_id", command_id),
        ):
            value = var.get()
            if value is not None:
                entry[name] = value
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        return orjson.dumps(entry, default=str).decode()


def configure_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    formatter = JsonFormatter()
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


def incoming_correlation_id(request: web.Request) -> str:
    given = request.headers.get(CORRELATION_HEADER, "")
    if 0 < len(given) <= _MAX_CORRELATION and given.isprintable():
        return given
    return uuid.uuid4().hex


@web.middleware
async def request_context_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    request_id.set(uuid.uuid4().hex)
    request_path.set(request.path)
    correlation = incoming_correlation_id(request)
    correlation_id.set(correlation)
    command_id.set(None)
    response = await handler(request)
    response.headers[CORRELATION_HEADER] = correlation
    return response
