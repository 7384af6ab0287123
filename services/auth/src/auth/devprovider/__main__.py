"""`python -m auth.devprovider`: serve the local OpenID provider with settings from `DEVIDP_*`;
SIGTERM or Ctrl-C stops it cleanly with status 0."""

from __future__ import annotations

import logging
import sys

from cardstream_runtime.logs import configure_logging
from cardstream_runtime.service import EXIT_OK, EXIT_USAGE, run, serve

from auth.devprovider.app import ProductionModeError, create_app
from auth.devprovider.settings import DevProviderSettings

log = logging.getLogger("auth.devprovider")


async def serve_provider(settings: DevProviderSettings) -> int:
    try:
        app = create_app(settings)
    except ProductionModeError as exc:
        print(f"auth.devprovider refuses to start: {exc}", file=sys.stderr, flush=True)
        return EXIT_USAGE
    log.warning("local OpenID provider for development only, issuer %s", settings.issuer)
    await serve(app, host=settings.host, port=settings.port)
    return EXIT_OK


def main() -> None:
    settings = DevProviderSettings()
    configure_logging()
    run(serve_provider(settings))


if __name__ == "__main__":
    main()
