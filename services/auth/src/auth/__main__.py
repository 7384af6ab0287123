"""`python -m auth`: serve sign-in and tokens with settings from `AUTH_*`.

    python -m auth               serve
    python -m auth rotate-keys   previous <- current <- next, and a new next; prints the kids

Rotation logs no one out: the old current key stays published as `previous` until the next
rotation, so rotate no more often than the access token TTL (AUTH_ACCESS_TTL_S).
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import Any

import orjson
from cardstream_runtime.logs import configure_logging
from cardstream_runtime.service import EXIT_FAILED, EXIT_OK, EXIT_USAGE, run, serve
from pymongo import AsyncMongoClient

from auth.adapters.mongo_signing_keys import ConcurrentRotationError, MongoSigningKeys
from auth.app import MissingClientError, create_app
from auth.settings import AuthSettings


async def serve_auth(settings: AuthSettings) -> int:
    try:
        app = create_app(settings)
    except MissingClientError as exc:
        print(f"auth: {exc}", file=sys.stderr, flush=True)
        return EXIT_USAGE
    await serve(app, host=settings.host, port=settings.port)
    return EXIT_OK


async def rotate_keys(settings: AuthSettings) -> int:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        settings.mongo_url, tz_aware=True, serverSelectionTimeoutMS=settings.mongo_timeout_ms
    )
    try:
        store = MongoSigningKeys(client[settings.mongo_db])
        try:
            ring = await store.rotate(now=datetime.now(UTC))
        except ConcurrentRotationError as exc:
            print(f"auth: not rotated, another rotation won: {exc}", file=sys.stderr, flush=True)
            return EXIT_FAILED
    finally:
        await client.close()
    kids = {
        "version": ring.version,
        "previous": ring.previous.kid if ring.previous else None,
        "current": ring.current.kid,
        "next": ring.next.kid,
    }
    print(orjson.dumps(kids).decode(), flush=True)
    return EXIT_OK


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m auth", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("command", nargs="?", default="serve", choices=["serve", "rotate-keys"])
    args = parser.parse_args(argv)
    settings = AuthSettings()
    configure_logging(settings.log_level)
    run(rotate_keys(settings) if args.command == "rotate-keys" else serve_auth(settings))


if __name__ == "__main__":
    main()
