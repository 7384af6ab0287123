"""Starting a service: one way for every service (placeholder until the runtime branch lands)."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Coroutine
from typing import Any, NoReturn

import uvloop
from aiohttp import web


async def serve(
    app: web.Application, *, host: str, port: int, stop: asyncio.Event | None = None
) -> None:
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
        await stop.wait()
    finally:
        await runner.cleanup()


def run(main: Coroutine[Any, Any, int]) -> NoReturn:
    sys.exit(uvloop.run(main))
