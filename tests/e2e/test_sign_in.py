"""Issue 4's acceptance across services: sign in through the one URL against the local OpenID
provider, over HTTP only, and use the token on the command API, the reads and the WebSocket."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from cardstream_testing import FerretDBServer, RedisServer
from cardstream_testing.fullstack import FullStack, full_stack

WEB_ROOT = Path(__file__).resolve().parents[2] / "web"
DEV_TOKEN = Path(__file__).resolve().parents[2] / "scripts" / "dev-token.sh"


@pytest.fixture
def signed_in_stack(
    tmp_path: Path, mongo_server: FerretDBServer, mongo_db_name: str
) -> Iterator[FullStack]:
    with (
        RedisServer(tmp_path / "redis") as redis,
        full_stack(
            tmp_path,
            redis_url=redis.url,
            mongo_url=mongo_server.url,
            mongo_db=mongo_db_name,
            web_root=WEB_ROOT,
        ) as stack,
    ):
        yield stack


@pytest.fixture
async def browser() -> AsyncIterator[aiohttp.ClientSession]:
    """Not a browser: an HTTP client with a cookie jar that follows redirects, as a script would."""
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(
        cookie_jar=jar, timeout=aiohttp.ClientTimeout(total=30)
    ) as session:
        yield session


async def _sign_in(session: aiohttp.ClientSession, url: str, email: str) -> dict[str, Any]:
    async with session.get(
        f"{url}/auth/login", params={"login_hint": email}, headers={"Accept": "application/json"}
    ) as response:
        assert response.status == 200, await response.text()
        answer: dict[str, Any] = await response.json()
        return answer


async def _create_board(session: aiohttp.ClientSession, url: str, bearer: dict[str, str]) -> str:
    body = {"command_id": str(uuid.uuid4()), "type": "CreateBoard", "payload": {"title": "B"}}
    async with session.post(f"{url}/api/boards", json=body, headers=bearer) as response:
        assert response.status == 201, await response.text()
        board: str = (await response.json())["board_id"]
        return board


async def _read_status(
    session: aiohttp.ClientSession, url: str, board: str, bearer: dict[str, str]
) -> int:
    async with session.get(f"{url}/api/boards/{board}?min_version=1", headers=bearer) as response:
        return response.status


async def _command_status(
    session: aiohttp.ClientSession,
    url: str,
    board: str,
    bearer: dict[str, str],
    command: dict[str, Any],
) -> int:
    body = {"command_id": str(uuid.uuid4()), **command}
    async with session.post(
        f"{url}/api/boards/{board}/commands", json=body, headers=bearer
    ) as response:
        if response.status == 401:
            assert (await response.json())["error"]["code"] == "unauthorized"
        return response.status


class TestSignIn:
    async def test_the_code_flow_ends_with_a_token_for_each_service(
        self, signed_in_stack: FullStack, browser: aiohttp.ClientSession
    ) -> None:
        url = signed_in_stack.url
        tokens = await _sign_in(browser, url, "ada@example.com")
        bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
        reader = {"Authorization": f"Bearer {tokens['read_token']}"}
        body = {
            "command_id": str(uuid.uuid4()),
            "type": "CreateBoard",
            "payload": {"title": "Signed in"},
        }
        async with browser.post(f"{url}/api/boards", json=body, headers=bearer) as response:
            assert response.status == 201, await response.text()
            board = (await response.json())["board_id"]
        async with browser.get(
            f"{url}/api/boards/{board}?min_version=1", headers=reader
        ) as response:
            assert response.status == 200
            assert (await response.json())["board"]["owner_id"] == tokens["user"]["id"]
        async with browser.get(f"{url}/auth/me", headers=bearer) as response:
            assert (await response.json())["user"]["email"] == "ada@example.com"

    async def test_each_token_is_refused_by_the_other_service(
        self, signed_in_stack: FullStack, browser: aiohttp.ClientSession
    ) -> None:
        """Issue 12, hole 6: one audience per token, so a token one service was given (and
        may have logged or lost) is refused by the other, on HTTP and on the WebSocket."""
        url = signed_in_stack.url
        tokens = await _sign_in(browser, url, "ida@example.com")
        bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
        reader = {"Authorization": f"Bearer {tokens['read_token']}"}
        board = await _create_board(browser, url, bearer)
        assert await _read_status(browser, url, board, reader) == 200

        assert await _read_status(browser, url, board, bearer) == 401
        rename = {"type": "RenameBoard", "payload": {"title": "With the read token"}}
        assert await _command_status(browser, url, board, reader, rename) == 401
        async with browser.get(f"{url}/auth/me", headers=reader) as response:
            assert response.status == 401
        ws = await browser.ws_connect(f"{url}/ws", origin=url)
        await ws.send_json({"type": "auth", "token": tokens["access_token"]})
        message = await asyncio.wait_for(ws.receive(), 10)
        assert message.type is aiohttp.WSMsgType.CLOSE
        assert message.data == 4401
        assert await _command_status(browser, url, board, bearer, rename) == 200

    async def test_logout_closes_the_sessions_websocket(
        self, signed_in_stack: FullStack, browser: aiohttp.ClientSession
    ) -> None:
        url = signed_in_stack.url
        tokens = await _sign_in(browser, url, "bob@example.com")
        ws = await browser.ws_connect(f"{url}/ws", origin=url)
        await ws.send_json({"type": "auth", "token": tokens["read_token"]})
        await ws.send_json({"type": "ping"})
        assert (await ws.receive_json(timeout=10))["type"] == "pong"
        bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
        async with browser.post(f"{url}/auth/logout", headers=bearer) as response:
            assert response.status == 204
        message = await asyncio.wait_for(ws.receive(), 10)
        assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        assert (message.data if message.type is aiohttp.WSMsgType.CLOSE else ws.close_code) == 4401
        async with browser.post(
            f"{url}/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
        ) as response:
            assert response.status == 401

    async def test_a_logged_out_sessions_access_token_is_refused_everywhere_within_a_second(
        self, signed_in_stack: FullStack, browser: aiohttp.ClientSession
    ) -> None:
        url = signed_in_stack.url
        tokens = await _sign_in(browser, url, "eve@example.com")
        other = await _sign_in(browser, url, "eve@example.com")  # her second device
        bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
        reader = {"Authorization": f"Bearer {tokens['read_token']}"}
        board = await _create_board(browser, url, bearer)
        assert await _read_status(browser, url, board, reader) == 200

        open_socket = await browser.ws_connect(f"{url}/ws", origin=url)
        await open_socket.send_json({"type": "auth", "token": tokens["read_token"]})
        await open_socket.send_json({"type": "ping"})
        assert (await open_socket.receive_json(timeout=10))["type"] == "pong"

        async with browser.post(f"{url}/auth/logout", headers=bearer) as response:
            assert response.status == 204
        # Issue 12's acceptance: refused within a second on HTTP (the reads and the command
        # API) and on a new WebSocket, although the token has not expired. The projector
        # closing the session's open socket is the moment it knows; its reads refuse from then.
        started = asyncio.get_running_loop().time()
        closing = await asyncio.wait_for(open_socket.receive(), 10)
        assert closing.type is aiohttp.WSMsgType.CLOSE
        assert closing.data == 4401
        assert await _read_status(browser, url, board, reader) == 401
        # The boards process says nothing when it learns: ask until it refuses, for a second.
        rename = {"type": "RenameBoard", "payload": {"title": "After logout"}}
        while (status := await _command_status(browser, url, board, bearer, rename)) != 401:
            assert status == 200, status
            assert asyncio.get_running_loop().time() - started < 1.0, "boards accepts it"
        assert asyncio.get_running_loop().time() - started < 1.0
        ws = await browser.ws_connect(f"{url}/ws", origin=url)
        await ws.send_json({"type": "auth", "token": tokens["read_token"]})
        message = await asyncio.wait_for(ws.receive(), 10)
        assert message.type is aiohttp.WSMsgType.CLOSE
        assert message.data == 4401
        # The same user's other session is not touched.
        other_bearer = {"Authorization": f"Bearer {other['read_token']}"}
        assert await _read_status(browser, url, board, other_bearer) == 200

    async def test_dev_token_script_signs_in_on_the_port_cardstream_port_names(
        self, signed_in_stack: FullStack, browser: aiohttp.ClientSession
    ) -> None:
        url = signed_in_stack.url
        port = url.rsplit(":", 1)[1].rstrip("/")
        process = await asyncio.create_subprocess_exec(
            "bash",
            str(DEV_TOKEN),
            "ivy@example.com",
            env={**os.environ, "CARDSTREAM_PORT": port, "API": ""},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(), 30)
        assert process.returncode == 0, err.decode()
        bearer = {"Authorization": f"Bearer {out.decode().strip()}"}
        async with browser.get(f"{url}/auth/me", headers=bearer) as response:
            assert response.status == 200
            assert (await response.json())["user"]["email"] == "ivy@example.com"

    async def test_a_foreign_origin_cannot_open_the_websocket(
        self, signed_in_stack: FullStack, browser: aiohttp.ClientSession
    ) -> None:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await browser.ws_connect(f"{signed_in_stack.url}/ws", origin="https://evil.example")
        assert refused.value.status == 403
