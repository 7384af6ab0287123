"""`python -m projector`: apply the feeds, serve reads and WebSockets, with `PROJECTOR_*` settings.

Exits with status 3 when the log diverged from the read models (see consumer.LogDivergedError):
an operator must rebuild rather than have the projector silently carry on.
"""

from __future__ import annotations

import asyncio
import signal
import sys

import uvloop
from aiohttp import web
from cardstream_runtime.logs import configure_logging

from projector.app import create_app
from projector.consumer import LogDivergedError
from projector.settings import ProjectorSettings

DIVERGED_EXIT = 3


async def serve(settings: ProjectorSettings) -> int:
    stop = asyncio.Event()
    diverged: list[LogDivergedError] = []

    def on_diverged(error: LogDivergedError) -> None:
        diverged.append(error)
        stop.set()

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    runner = web.AppRunner(create_app(settings, on_diverged=on_diverged), access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, settings.host, settings.port).start()
        await stop.wait()
    finally:
        await runner.cleanup()
    if diverged:
        print(f"projector stopped: {diverged[0]}", file=sys.stderr, flush=True)
        return DIVERGED_EXIT
    return 0


def main() -> None:
    settings = ProjectorSettings()
    configure_logging(settings.log_level)
    sys.exit(uvloop.run(serve(settings)))


if __name__ == "__main__":
    main()
