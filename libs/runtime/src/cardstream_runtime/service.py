"""The one way a service starts and stops.

    def main() -> None:
        settings = BoardsSettings()
        configure_logging(settings.log_level)
        run(serve_boards(settings))

    async def serve_boards(settings: BoardsSettings) -> int:
        app = create_app(settings)
        await serve(app, host=settings.host, port=settings.port,
                    header_timeout_s=settings.header_timeout_s)
        return EXIT_OK

`serve` listens until SIGINT or SIGTERM (or `stop`, for a service that decides to stop itself),
then shuts the app down: open requests finish, `on_shutdown` runs, and every `cleanup_ctx`
closes what it opened. `run` gives the process its exit status. A connection must deliver each
request head within `header_timeout_s` (`cardstream_runtime.header_deadline`).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Coroutine
from typing import Any, NoReturn

import uvloop
from aiohttp import web

from cardstream_runtime.header_deadline import HEADER_TIMEOUT_S, HeaderDeadlineSite

log = logging.getLogger("cardstream.service")

EXIT_OK = 0
EXIT_FAILED = 1
# Bad arguments or settings: starting again unchanged would fail the same way.
EXIT_USAGE = 2

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)

# An idle kept-alive connection is closed after this. Longer than nginx's upstream keepalive
# timeout (60 s), so that nginx, not the service, closes an idle upstream connection: a request
# nginx sent on a connection the service was closing would fail, and a POST is not retried.
# aiohttp's own default (3630 s) let an idle client hold a connection and its task for an hour.
KEEPALIVE_TIMEOUT_S = 75.0


async def serve(
    app: web.Application,
    *,
    host: str,
    port: int,
    stop: asyncio.Event | None = None,
    header_timeout_s: float = HEADER_TIMEOUT_S,
) -> None:
    """Serves until SIGINT/SIGTERM or `stop` is set, then shuts the app down (cleanup_ctx)."""
    stop = asyncio.Event() if stop is None else stop
    loop = asyncio.get_running_loop()
    # Before set-up, so a signal during start-up still ends in an orderly shutdown.
    for sig in _STOP_SIGNALS:
        loop.add_signal_handler(sig, stop.set)
    runner = web.AppRunner(app, access_log=None, keepalive_timeout=KEEPALIVE_TIMEOUT_S)
    try:
        try:
            await runner.setup()
            site = HeaderDeadlineSite(runner, host, port, header_timeout_s=header_timeout_s)
            await site.start()
            log.info("listening", extra={"fields": {"host": host, "port": port}})
            await stop.wait()
            log.info("stopping")
        finally:
            # Also after a failed start-up: the contexts that did open are closed again.
            await runner.cleanup()
    finally:
        for sig in _STOP_SIGNALS:
            loop.remove_signal_handler(sig)


def run(main: Coroutine[Any, Any, int]) -> NoReturn:
    """Runs `main` on uvloop and exits the process with the status it returns."""
    sys.exit(uvloop.run(main))
