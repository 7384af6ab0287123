"""`python -m bench.trivial`: the least an aiohttp service can do per command request, as a
baseline for the boards service in the same run (`append`'s `trivial_c64` row).

It serves the command API's route on uvloop with no middleware: it reads the body and answers a
fixed small JSON document. Whatever the boards service spends beyond this is the command path's
own work; both are driven by the same client on the same machine.
"""

from __future__ import annotations

import asyncio
import os
import signal

import uvloop
from aiohttp import web

ANSWER = b'{"board_id":"00000000-0000-0000-0000-000000000000","version":1,"events":[{}]}'


async def command(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(body=ANSWER, content_type="application/json")


async def healthz(request: web.Request) -> web.Response:
    return web.Response(body=b'{"status":"ok"}', content_type="application/json")


async def serve(host: str, port: int) -> None:
    app = web.Application()
    app.router.add_post("/api/boards/{board_id}/commands", command)
    app.router.add_get("/healthz", healthz)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main() -> None:
    host = os.environ.get("TRIVIAL_HOST", "127.0.0.1")
    port = int(os.environ.get("TRIVIAL_PORT", "8090"))
    uvloop.run(serve(host, port))


if __name__ == "__main__":
    main()
