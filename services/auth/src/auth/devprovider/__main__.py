"""`python -m auth.devprovider`: serve the local OpenID provider with settings from `DEVIDP_*`."""

from __future__ import annotations

import logging
import sys

import uvloop
from aiohttp import web
from cardstream_runtime.logs import configure_logging

from auth.devprovider.app import ProductionModeError, create_app
from auth.devprovider.settings import DevProviderSettings

log = logging.getLogger("auth.devprovider")


def main() -> None:
    settings = DevProviderSettings()
    configure_logging()
    try:
        app = create_app(settings)
    except ProductionModeError as exc:
        sys.exit(f"auth.devprovider refuses to start: {exc}")
    log.warning("local OpenID provider for development only, issuer %s", settings.issuer)
    web.run_app(
        app,
        host=settings.host,
        port=settings.port,
        access_log=None,
        print=None,
        loop=uvloop.new_event_loop(),
    )


if __name__ == "__main__":
    main()
