"""Slow clients at the gateway: nginx on the shipped template, with its client timeouts cut to
1 s in a copy (the values shipped are checked apart), closes a connection whose request head or
body stops coming (a kept-alive one's next head timed from its first byte), and one that does
not read its answer. It sends nothing first: no 408 page,
HTML or JSON, ever reaches the client (its access log says 408)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from cardstream_testing import free_port
from cardstream_testing.gateway import TEMPLATE, Gateway, Upstreams
from cardstream_testing.raw_http import get_status_line

SHIPPED = {"client_header_timeout": "10s", "client_body_timeout": "10s", "send_timeout": "30s"}
TIMEOUT_S = 1.0
# Only so that a failing test cannot hang; nothing is asserted about it.
BOUND_S = 15.0
# More than the kernel holds in flight on a loopback connection (a few MiB each way).
BIG_FILE_BYTES = 32 * 1024 * 1024

Stream = tuple[asyncio.StreamReader, asyncio.StreamWriter]


@pytest.fixture
def web_root(tmp_path: Path) -> Path:
    root = tmp_path / "web"
    root.mkdir()
    return root


@pytest.fixture
def gateway(tmp_path: Path, web_root: Path) -> Iterator[Gateway]:
    text = TEMPLATE.read_text()
    for directive, value in SHIPPED.items():
        text = text.replace(f"{directive} {value};", f"{directive} {TIMEOUT_S:g}s;")
    template = tmp_path / "cardstream.conf.template"
    template.write_text(text)
    # Nothing listens upstream: what these tests send never gets that far.
    nobody = f"127.0.0.1:{free_port()}"
    with Gateway(
        Upstreams(boards=nobody, projector=nobody),
        web_root=web_root,
        prefix=tmp_path / "nginx",
        template=template,
    ) as started:
        yield started


@pytest.fixture
async def stream(gateway: Gateway) -> AsyncIterator[Stream]:
    reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
    yield reader, writer
    writer.close()
    with contextlib.suppress(ConnectionError):
        await writer.wait_closed()


async def _until_closed(reader: asyncio.StreamReader) -> bytes:
    return await asyncio.wait_for(reader.read(), BOUND_S)


def test_the_template_ships_each_timeout() -> None:
    text = TEMPLATE.read_text()
    assert {d: v for d, v in SHIPPED.items() if f"    {d} {v};\n" in text} == SHIPPED


async def test_a_head_that_stops_is_closed_unanswered(gateway: Gateway, stream: Stream) -> None:
    reader, writer = stream
    writer.write(b"GET /api/boards HTTP/1.1\r\nHost: x\r\n")  # and no more

    assert await _until_closed(reader) == b""
    assert '"GET /api/boards HTTP/1.1" 408 0 ' in gateway.access_log_path.read_text()


async def test_a_kept_alive_connections_next_head_is_timed_from_its_first_byte(
    stream: Stream,
) -> None:
    reader, writer = stream
    first = await get_status_line(reader, writer, "/", bound_s=BOUND_S)
    await asyncio.sleep(TIMEOUT_S * 2)  # idle: keepalive_timeout's business, not this one's
    second = await get_status_line(reader, writer, "/", bound_s=BOUND_S)
    writer.write(b"GET / HTTP/1.1\r\n")  # and no more

    assert first == second == b"HTTP/1.1 200 OK"
    assert await _until_closed(reader) == b""


async def test_a_body_that_stops_is_closed_unanswered(gateway: Gateway, stream: Stream) -> None:
    reader, writer = stream
    writer.write(b"POST /api/boards HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")

    assert await _until_closed(reader) == b""
    assert '"POST /api/boards HTTP/1.1" 408 0 ' in gateway.access_log_path.read_text()


async def test_a_client_that_does_not_read_its_answer_is_dropped(
    web_root: Path, stream: Stream
) -> None:
    (web_root / "big.bin").write_bytes(bytes(BIG_FILE_BYTES))
    reader, writer = stream
    writer.write(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
    await asyncio.sleep(TIMEOUT_S * 3)  # reads nothing: nginx's writes stall past send_timeout

    received = await _until_closed(reader)

    assert received.startswith(b"HTTP/1.1 200 OK\r\n")
    assert len(received) < BIG_FILE_BYTES
