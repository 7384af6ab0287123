"""JSON logs carry no credentials: a bearer token, a JWT, or a sign-in code in a URL is redacted
from the message and the exception of every line, whoever logged it (issue 12, finding 10)."""

from __future__ import annotations

import asyncio
import io
import logging
import sys
from collections.abc import Iterator

import orjson
import pytest
from aiohttp import test_utils, web
from cardstream_runtime.logs import JsonFormatter, configure_logging, redact

TOKEN = "eyJhbGciOiJFUzI1NiIsInR5cCI6ImF0K2p3dCJ9.eyJzdWIiOiJ1MSJ9.c2lnbmF0dXJl"


@pytest.mark.parametrize(
    ("text", "left"),
    [
        (f"Authorization: Bearer {TOKEN}", "Authorization: Bearer [redacted]"),
        ("bearer abc.def", "bearer [redacted]"),
        (f"token {TOKEN} refused", "token [token redacted] refused"),
        (
            "GET /auth/callback?code=4/0AbCd&state=xyz HTTP/1.1",
            "GET /auth/callback?code=[redacted]&state=[redacted] HTTP/1.1",
        ),
        ("Cookie: cs_refresh=r3fr3sh; other=1", "Cookie: cs_refresh=[redacted]; other=1"),
        ("board 7 moved to version 12", "board 7 moved to version 12"),
    ],
)
def test_redact(text: str, left: str) -> None:
    assert redact(text) == left


def test_the_formatter_redacts_message_and_exception() -> None:
    try:
        raise ValueError(f"bad header: Bearer {TOKEN}")
    except ValueError:
        record = logging.LogRecord(
            "aiohttp.server", logging.ERROR, __file__, 1, "got %s", (TOKEN,), exc_info=True
        )
        record.exc_info = sys.exc_info()
    line = orjson.loads(JsonFormatter().format(record))

    assert TOKEN not in line["message"]
    assert TOKEN[:20] not in line["exception"]
    assert "[redacted]" in line["exception"]


@pytest.fixture
def service_log() -> Iterator[io.StringIO]:
    """The services' logging (configure_logging), its lines written here instead of stderr."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    configure_logging("INFO")
    stream = io.StringIO()
    handler = root.handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(stream)
    yield stream
    root.handlers[:] = handlers
    root.setLevel(level)


async def test_aiohttps_own_error_for_a_header_too_long_leaks_no_token(
    service_log: io.StringIO,
) -> None:
    app = web.Application()
    server = test_utils.TestServer(app)
    await server.start_server()
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + TOKEN.encode())
    writer.write(b"A" * 17_000 + b"\r\n\r\n")
    await writer.drain()
    assert (await reader.read(12)).startswith(b"HTTP/1.")
    writer.close()
    await writer.wait_closed()
    await server.close()

    logged = service_log.getvalue()
    assert "Bad" in logged or "Got more than" in logged, logged[:500]
    assert TOKEN[:16] not in logged
