"""deadline_middleware: a request that outlives its deadline is a 503 deadline_exceeded in the
one error shape; a handler's own timeout is its own error; WebSocket upgrades are exempt.
probe: "ok", the dependency's error, or that it did not answer."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from cardstream_runtime import deadlines
from cardstream_runtime.deadlines import deadline_middleware, probe
from cardstream_runtime.errors import error_middleware

Client = TestClient[web.Request, web.Application]
MakeClient = Callable[[web.Application], Awaitable[Client]]
DEADLINE_S = 0.05


async def _never(request: web.Request) -> web.Response:
    await asyncio.Event().wait()  # a store that never answers
    raise AssertionError("unreachable")


async def _own_timeout(request: web.Request) -> web.Response:
    raise TimeoutError("the handler's own")


async def _quick(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


async def _socket(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    # Outlives the deadline: a socket is not a request to bound.
    await ws.receive()
    await ws.send_str("still here")
    await ws.close()
    return ws


@pytest.fixture
async def client(aiohttp_client: MakeClient) -> Client:
    app = web.Application(
        middlewares=[error_middleware(), deadline_middleware(DEADLINE_S)],
    )
    app.router.add_get("/never", _never)
    app.router.add_get("/own", _own_timeout)
    app.router.add_get("/quick", _quick)
    app.router.add_get("/ws", _socket)
    return await aiohttp_client(app)


async def test_a_request_past_its_deadline_is_a_503_in_the_error_shape(client: Client) -> None:
    response = await client.get("/never")

    assert response.status == 503
    error = (await response.json())["error"]
    assert error["code"] == "deadline_exceeded"
    assert "0.05 s" in error["message"]


async def test_a_handlers_own_timeout_is_not_taken_for_the_deadline(client: Client) -> None:
    response = await client.get("/own")

    assert response.status == 500
    assert (await response.json())["error"]["code"] == "internal"


async def test_a_quick_request_is_untouched(client: Client) -> None:
    response = await client.get("/quick")

    assert response.status == 200
    assert await response.json() == {"ok": True}


async def test_a_websocket_outlives_the_deadline(client: Client) -> None:
    ws = await client.ws_connect("/ws")
    # A request started after the socket opened has run past its deadline: so has the socket.
    assert (await client.get("/never")).status == 503
    await ws.send_str("hello")
    assert (await ws.receive_str(timeout=5)) == "still here"
    await ws.close()


async def test_probe_names_what_did_not_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(deadlines, "PROBE_TIMEOUT_S", 0.05)

    async def fails() -> None:
        raise ConnectionError("refused")

    assert await probe(asyncio.sleep(0)) == "ok"
    assert await probe(fails(), ConnectionError) == "ConnectionError: refused"
    assert await probe(asyncio.Event().wait()) == "no answer within 0.05 s"
