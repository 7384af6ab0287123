"""`python -m boards`: serve the command API with settings from `BOARDS_*`; SIGTERM or Ctrl-C
stops it cleanly with status 0."""

from __future__ import annotations

from cardstream_runtime.logs import configure_logging
from cardstream_runtime.service import EXIT_OK, run, serve

from boards.app import create_app
from boards.settings import BoardsSettings


async def serve_boards(settings: BoardsSettings) -> int:
    await serve(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        header_timeout_s=settings.header_timeout_s,
    )
    return EXIT_OK


def main() -> None:
    settings = BoardsSettings()
    configure_logging(settings.log_level)
    run(serve_boards(settings))


if __name__ == "__main__":
    main()
