"""Issue 13 on the read side: boards, the projector and auth as real processes behind nginx, all
on the test Redis Cluster (`redis+cluster://` in each one's REDIS_URL). A command appended
through boards reaches a WebSocket subscriber and the read model; a logout closes the socket."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from cardstream_testing import FerretDBServer, RedisCluster
from cardstream_testing.fullstack import FullStack, full_stack

WEB_ROOT = Path(__file__).resolve().parents[2] / "web"
WAIT_S = 10.0


@pytest.fixture
def cluster_stack(
    tmp_path: Path,
    redis_cluster: RedisCluster,
    mongo_server: FerretDBServer,
    mongo_db_name: str,
) -> Iterator[FullStack]:
    # The cluster is the session's: a prefix of this test's own keeps its keys apart.
    prefix = f"e{secrets.token_hex(4)}:"
    env = {f"{service}_KEY_PREFIX": prefix for service in ("AUTH", "BOARDS", "PROJECTOR")}
    with full_stack(
        tmp_path,
        redis_url=redis_cluster.url,
        mongo_url=mongo_server.url,
        mongo_db=mongo_db_name,
        web_root=WEB_ROOT,
        env=env,
    ) as stack:
        yield stack


@pytest.fixture
async def browser() -> AsyncIterator[aiohttp.ClientSession]:
    jar = aiohttp.CookieJar(unsafe=True)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(cookie_jar=jar, timeout=timeout) as session:
        yield session


async def _sign_in(session: aiohttp.ClientSession, url: str, email: str) -> dict[str, Any]:
    async with session.get(
        f"{url}/auth/login", params={"login_hint": email}, headers={"Accept": "application/json"}
    ) as response:
        assert response.status == 200, await response.text()
        answer: dict[str, Any] = await response.json()
        return answer


async def _command(
    session: aiohttp.ClientSession, url: str, path: str, bearer: dict[str, str], body: Any
) -> dict[str, Any]:
    async with session.post(
        f"{url}{path}", json={"command_id": str(uuid.uuid4()), **body}, headers=bearer
    ) as response:
        assert response.status in (200, 201), await response.text()
        answer: dict[str, Any] = await response.json()
        return answer


async def _next(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    """The next message that is not about who is viewing."""
    while True:
        message: dict[str, Any] = await ws.receive_json(timeout=WAIT_S)
        if message["type"] != "presence":
            return message


async def test_commands_reach_the_socket_and_the_read_model_and_a_logout_closes_it(
    cluster_stack: FullStack, browser: aiohttp.ClientSession
) -> None:
    url = cluster_stack.url
    tokens = await _sign_in(browser, url, "cleo@example.com")
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    reader = {"Authorization": f"Bearer {tokens['read_token']}"}
    created = await _command(
        browser, url, "/api/boards", bearer, {"type": "CreateBoard", "payload": {"title": "A"}}
    )
    board = created["board_id"]

    ws = await browser.ws_connect(f"{url}/ws", origin=url)
    await ws.send_json({"type": "auth", "token": tokens["read_token"]})
    await ws.send_json({"type": "subscribe", "board_id": board})
    snapshot = await _next(ws)
    assert snapshot["type"] == "snapshot", snapshot
    assert snapshot["version"] == 1

    rename = {"type": "RenameBoard", "payload": {"title": "On the cluster"}}
    await _command(browser, url, f"/api/boards/{board}/commands", bearer, rename)
    live = await _next(ws)
    assert (live["type"], live["board_id"]) == ("events", board), live
    assert [event["version"] for event in live["events"]] == [2]
    async with browser.get(f"{url}/api/boards/{board}?min_version=2", headers=reader) as response:
        assert response.status == 200, await response.text()
        assert (await response.json())["board"]["title"] == "On the cluster"

    async with browser.post(f"{url}/auth/logout", headers=bearer) as response:
        assert response.status == 204
    assert await _close_code(ws) == 4401


async def _close_code(ws: aiohttp.ClientWebSocketResponse) -> int | None:
    """The code the socket is closed with, past what was already on its way (presence)."""
    while True:
        message = await ws.receive(timeout=WAIT_S)
        if message.type is aiohttp.WSMsgType.CLOSE:
            code: int = message.data
            return code
        if message.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING):
            return ws.close_code
        assert message.type is aiohttp.WSMsgType.TEXT, message
