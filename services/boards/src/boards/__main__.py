"""`python -m boards`: serve the command API with settings from `BOARDS_*`."""

from __future__ import annotations

import uvloop
from aiohttp import web
from cardstream_runtime.logs import configure_logging

from boards.app import create_app
from boards.settings import BoardsSettings


def main() -> None:
    settings = BoardsSettings()
    configure_logging(settings.log_level)
    web.run_app(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        access_log=None,
        print=None,
        loop=uvloop.new_event_loop(),
    )


if __name__ == "__main__":
    main()
