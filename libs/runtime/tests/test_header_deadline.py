"""The header-read deadline over real sockets: a connection that sends no complete request head
within the deadline (nothing at all, a head that stops, a head trickled a byte at a time) is
closed unanswered; heads completed in time are answered, on fresh and kept-alive connections;
bodies and WebSockets are not timed by it. The deadline is short here (0.4 s), so the tests
about time wait a little past it; every read is bounded so that none can hang."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable, Mapping
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.typedefs import Middleware
from cardstream_runtime.deadlines import deadline_middleware
from cardstream_runtime.errors import error_middleware
from cardstream_runtime.header_deadline import HeaderDeadlineSite
from cardstream_runtime.settings import ServiceSettings
from pydantic import ValidationError

DEADLINE_S = 0.4
# Past the deadline, for the tests that show something survives it.
PAST_DEADLINE_S = DEADLINE_S * 2
# Each byte of the slowloris comes this soon after the one before: well within the deadline.
TRICKLE_S = DEADLINE_S / 8
# Only so that a test that fails cannot hang; nothing is asserted about it.
BOUND_S = 10.0

Stream = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def _hello(request: web.Request) -> web.Response:
    return web.Response(text="hello")


async def _slow(request: web.Request) -> web.Response:
    await asyncio.sleep(PAST_DEADLINE_S)  # a handler that outlives the deadline
    return web.Response(text="slow")


async def _echo_length(request: web.Request) -> web.Response:
    return web.Response(text=str(len(await request.read())))


async def _echo_socket(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    async for message in ws:
        await ws.send_str(f"echo:{message.data}")
    return ws


def _app(
    middlewares: Iterable[Middleware] = (), handler_args: Mapping[str, Any] | None = None
) -> web.Application:
    app = web.Application(middlewares=middlewares, handler_args=handler_args)
    app.router.add_get("/", _hello)
    app.router.add_get("/slow", _slow)
    app.router.add_post("/echo", _echo_length)
    app.router.add_get("/ws", _echo_socket)
    return app


async def _serve(app: web.Application) -> AsyncIterator[int]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await HeaderDeadlineSite(runner, "127.0.0.1", 0, header_timeout_s=DEADLINE_S).start()
        yield runner.addresses[0][1]
    finally:
        await runner.cleanup()


@pytest.fixture
async def port() -> AsyncIterator[int]:
    async for bound in _serve(_app()):
        yield bound


@pytest.fixture
async def stream(port: int) -> AsyncIterator[Stream]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    yield reader, writer
    writer.close()
    # The server closed first, as most of these tests want.
    with contextlib.suppress(ConnectionError):
        await writer.wait_closed()


def _get(path: str = "/") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode()


async def _answer(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """One answer's status and body (every answer here has a Content-Length)."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), BOUND_S)
    lines = head.decode().split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:] if line)
    body = await asyncio.wait_for(reader.readexactly(int(headers["Content-Length"])), BOUND_S)
    return int(lines[0].split(" ")[1]), body


async def _unanswered_end(reader: asyncio.StreamReader) -> bytes:
    """What the server sent before closing: b"" when it closed without a word."""
    try:
        return await asyncio.wait_for(reader.read(), BOUND_S)
    except ConnectionResetError:
        return b""  # closed while the client was still writing: no answer either


class TestAFreshConnection:
    async def test_one_that_sends_nothing_is_closed_unanswered(self, stream: Stream) -> None:
        reader, _ = stream

        assert await _unanswered_end(reader) == b""

    async def test_a_head_that_stops_is_closed_unanswered(self, stream: Stream) -> None:
        reader, writer = stream
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n")

        assert await _unanswered_end(reader) == b""

    async def test_a_slowloris_is_closed_though_each_byte_comes_well_within_the_deadline(
        self, stream: Stream
    ) -> None:
        reader, writer = stream
        sent = 0

        async def trickle() -> None:
            nonlocal sent
            head = b"GET / HTTP/1.1\r\nHost: x\r\nX-Pad: "
            try:
                while True:  # a header that never ends
                    writer.write(head[sent : sent + 1] if sent < len(head) else b"a")
                    await writer.drain()
                    sent += 1
                    await asyncio.sleep(TRICKLE_S)
            except ConnectionError:
                return

        trickling = asyncio.create_task(trickle())
        try:
            assert await _unanswered_end(reader) == b""
        finally:
            trickling.cancel()
        assert sent > 1  # bytes kept coming, each before any per-byte timer would have fired

    async def test_a_head_completed_within_the_deadline_is_answered(self, stream: Stream) -> None:
        reader, writer = stream
        writer.write(b"GET / HTTP/1.1\r\n")
        await asyncio.sleep(DEADLINE_S / 4)
        writer.write(b"Host: x\r\n\r\n")

        assert await _answer(reader) == (200, b"hello")

    async def test_two_pipelined_requests_are_both_answered(self, stream: Stream) -> None:
        reader, writer = stream
        writer.write(_get() + _get())

        assert [await _answer(reader), await _answer(reader)] == [(200, b"hello")] * 2


class TestAKeptAliveConnection:
    async def test_its_next_head_is_timed_from_its_first_byte_not_from_the_last_answer(
        self, stream: Stream
    ) -> None:
        reader, writer = stream
        writer.write(_get())
        assert await _answer(reader) == (200, b"hello")

        await asyncio.sleep(PAST_DEADLINE_S)  # idle: keep-alive's business, not this deadline's
        writer.write(_get())
        assert await _answer(reader) == (200, b"hello")

        writer.write(b"GET / HTTP/1.1\r\n")
        assert await _unanswered_end(reader) == b""


class TestBodies:
    async def test_a_body_slower_than_the_deadline_is_still_read(self, stream: Stream) -> None:
        reader, writer = stream
        writer.write(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 8\r\n\r\nab")
        # Body bytes, each batch past the deadline: none of them starts a head's deadline.
        for part in (b"cd", b"efgh"):
            await asyncio.sleep(PAST_DEADLINE_S)
            writer.write(part)

        assert await _answer(reader) == (200, b"8")

    async def test_a_body_that_stops_is_answered_by_the_requests_own_deadline(self) -> None:
        # The services' deadline_middleware, which covers a body that never comes.
        app = _app(middlewares=[error_middleware(), deadline_middleware(DEADLINE_S)])
        async for port in _serve(app):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 8\r\n\r\nabcd")

            status, body = await _answer(reader)
            # aiohttp reads what is left of a body after the answer, for up to its lingering
            # time (10 s); sent, and a request after it answered, the server stops at once.
            writer.write(b"efgh" + _get())
            after = await _answer(reader)

            writer.close()
            assert status == 503
            assert b'"deadline_exceeded"' in body
            assert after == (200, b"hello")


class TestWebSockets:
    async def test_a_websocket_outlives_the_deadline(self, port: int) -> None:
        async with (
            aiohttp.ClientSession() as http,
            http.ws_connect(f"http://127.0.0.1:{port}/ws") as ws,
        ):
            await ws.send_str("one")
            assert await ws.receive_str(timeout=BOUND_S) == "echo:one"
            await asyncio.sleep(PAST_DEADLINE_S)
            await ws.send_str("two")
            assert await ws.receive_str(timeout=BOUND_S) == "echo:two"


class TestTheSetting:
    def test_every_service_has_it_with_ten_seconds_by_default(self) -> None:
        assert ServiceSettings(jwt_public_key_file=Path("k.pem")).header_timeout_s == 10

    @pytest.mark.parametrize("seconds", [0, 0.09, 60.5])
    def test_it_is_refused_out_of_range(self, seconds: float) -> None:
        with pytest.raises(ValidationError, match="header_timeout_s"):
            ServiceSettings(jwt_public_key_file=Path("k.pem"), header_timeout_s=seconds)


class TestAiohttpInternals:
    """What HeaderDeadlineSite and HeaderDeadlineHandler read of aiohttp's private state: each
    test fails when aiohttp changes it (cardstream_runtime.header_deadline says why)."""

    async def test_a_parsed_head_is_seen_so_a_slow_handler_is_not_cut(self, stream: Stream) -> None:
        # RequestHandler._messages: were the parsed head not seen, the deadline would close
        # the connection while the handler still works.
        reader, writer = stream
        writer.write(_get("/slow"))

        assert await _answer(reader) == (200, b"slow")

    async def test_an_apps_handler_args_still_reach_the_handler(self) -> None:
        # web.Server._kwargs: the services raise max_field_size to 16 KiB this way; aiohttp's
        # own limit (8190) would refuse this header with a 400.
        async for port in _serve(_app(handler_args={"max_field_size": 16 * 1024})):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(f"GET / HTTP/1.1\r\nHost: x\r\nX-Big: {'a' * 12_000}\r\n\r\n".encode())

            answer = await _answer(reader)

            writer.close()
            assert answer == (200, b"hello")
