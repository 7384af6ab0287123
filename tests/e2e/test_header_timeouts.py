"""Each service, run as `make run` and production run it, reads its own `*_HEADER_TIMEOUT_S`: a
connection whose request head stops is closed unanswered, one whose head comes whole is
answered and then kept alive past the deadline (issue 12: header-read timeouts). The deadline
itself is tested in libs/runtime/tests/test_header_deadline.py; this is the wiring."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from cardstream_runtime.header_deadline import HEADER_TIMEOUT_S
from cardstream_testing import FerretDBServer, RedisServer
from cardstream_testing.fullstack import FullStack, full_stack
from cardstream_testing.processes import ServiceProcess
from cardstream_testing.raw_http import get_status_line
from pymongo import MongoClient

WEB_ROOT = Path(__file__).resolve().parents[2] / "web"
DEADLINE_S = 0.5
SERVICES = ["auth", "boards", "projector"]
# Only so that a failing test cannot hang; nothing is asserted about it.
BOUND_S = 15.0
# Ten times the deadline set, half the default: a close within this is the setting's doing.
SOONER_THAN_DEFAULT_S = HEADER_TIMEOUT_S / 2


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory, mongo_server: FerretDBServer
) -> Iterator[FullStack]:
    tmp = tmp_path_factory.mktemp("stack")
    db = f"t{secrets.token_hex(6)}"
    env = {f"{name.upper()}_HEADER_TIMEOUT_S": str(DEADLINE_S) for name in SERVICES}
    try:
        with (
            RedisServer(tmp / "redis") as redis,
            full_stack(
                tmp,
                redis_url=redis.url,
                mongo_url=mongo_server.url,
                mongo_db=db,
                web_root=WEB_ROOT,
                env=env,
            ) as started,
        ):
            yield started
    finally:
        client: MongoClient[dict[str, object]] = MongoClient(mongo_server.url)
        with client:
            for name in (db, f"{db}_auth"):
                client.drop_database(name)


def _service(stack: FullStack, name: str) -> ServiceProcess:
    (process,) = [p for p in stack.processes if p.module == name]
    return process


@contextlib.asynccontextmanager
async def _connection(
    port: int,
) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        yield reader, writer
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


@pytest.mark.parametrize("name", SERVICES)
async def test_a_service_closes_a_head_that_stops_and_keeps_one_that_came_whole(
    stack: FullStack, name: str
) -> None:
    port = _service(stack, name).port

    async with _connection(port) as (reader, writer):
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # and no more
        stopped = await asyncio.wait_for(reader.read(), SOONER_THAN_DEFAULT_S)

    async with _connection(port) as (reader, writer):
        first = await get_status_line(reader, writer, "/healthz", bound_s=BOUND_S)
        await asyncio.sleep(DEADLINE_S * 2)  # idle past the deadline: not the deadline's business
        second = await get_status_line(reader, writer, "/healthz", bound_s=BOUND_S)

    assert stopped == b""
    assert first == second == b"HTTP/1.1 200 OK"
