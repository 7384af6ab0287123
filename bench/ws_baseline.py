"""The `fanout` benchmark's baseline: about the least a WebSocket server on aiohttp and uvloop can
do to send one message to every subscriber of a board. No authentication, no queue, no heartbeat.

`python -m bench.ws_baseline` listens on `WSBASELINE_HOST`:`WSBASELINE_PORT`:

- `GET /ws`: a socket; a `subscribe` message adds it to its board's sockets and is answered with
  the empty `events` message the projector answers a subscription at the head with.
- `POST /broadcast`: the body is one or more `events` messages, one per line; each goes, as the
  same bytes, to every socket of its board in turn.
- `GET /healthz`: 200.
"""

from __future__ import annotations

import asyncio
import os

import orjson
import uvloop
from aiohttp import WSMsgType, web

from bench.runtime import raise_fd_limit

boards_key = web.AppKey("boards", dict[str, list[web.WebSocketResponse]])


async def websocket(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    async for msg in ws:
        if msg.type is WSMsgType.TEXT:
            message = orjson.loads(msg.data)
            if message.get("type") == "subscribe":
                board = str(message["board_id"])
                request.app[boards_key].setdefault(board, []).append(ws)
                empty = b'{"type":"events","board_id":"%s","events":[]}' % board.encode()
                await ws.send_frame(empty, WSMsgType.TEXT)
    return ws


async def broadcast(request: web.Request) -> web.Response:
    for line in (await request.read()).splitlines():
        board = str(orjson.loads(line)["board_id"])
        for ws in request.app[boards_key].get(board, ()):
            if not ws.closed:
                await ws.send_frame(line, WSMsgType.TEXT)
    return web.Response()


async def healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok")


async def main() -> None:
    raise_fd_limit()
    app = web.Application()
    app[boards_key] = {}
    app.router.add_get("/ws", websocket)
    app.router.add_post("/broadcast", broadcast)
    app.router.add_get("/healthz", healthz)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    host, port = os.environ["WSBASELINE_HOST"], int(os.environ["WSBASELINE_PORT"])
    await web.TCPSite(runner, host, port).start()
    await asyncio.Event().wait()  # until SIGTERM, which ends the process


if __name__ == "__main__":
    uvloop.run(main())
