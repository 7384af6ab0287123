"""`python -m auth`: serve sign-in and tokens with settings from `AUTH_*`.

    python -m auth               serve
    python -m auth rotate-keys   previous <- current <- next, and a new next; prints the kids
    python -m auth rewrap-keys   seals every stored ring under the first key-encryption key
        [--seal-plain]           ... and seals rings stored in plain PEM (before issue 12)
    python -m auth new-kek ID    prints a new key-encryption key entry, ID:<32 random bytes>

Rotating the key-encryption key: put a new entry first in AUTH_KEY_ENCRYPTION_KEYS (keep the old
one after it), restart or redeploy, run rewrap-keys, then drop the old entry.

Rotation of the signing keys logs no one out: the old current key stays published as
`previous` until the next rotation, so rotate no more often than the access token TTL
(AUTH_ACCESS_TTL_S).
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import Any

import orjson
from cardstream_runtime.logs import configure_logging
from cardstream_runtime.mongo import mongo_client
from cardstream_runtime.service import EXIT_FAILED, EXIT_OK, EXIT_USAGE, run, serve
from pymongo import AsyncMongoClient

from auth.adapters.mongo_signing_keys import ConcurrentRotationError, UnsealedKeysError
from auth.app import MissingClientError, create_app, signing_keys
from auth.domain.kek import new_key, parse_keys
from auth.ports import KeyDecryptionError
from auth.settings import AuthSettings


async def serve_auth(settings: AuthSettings) -> int:
    try:
        app = create_app(settings)
    except MissingClientError as exc:
        print(f"auth: {exc}", file=sys.stderr, flush=True)
        return EXIT_USAGE
    await serve(
        app, host=settings.host, port=settings.port, header_timeout_s=settings.header_timeout_s
    )
    return EXIT_OK


def _client(settings: AuthSettings) -> AsyncMongoClient[dict[str, Any]]:
    return mongo_client(settings.mongo_url, timeout_ms=settings.mongo_timeout_ms)


async def rewrap_keys(settings: AuthSettings, *, seal_plain: bool) -> int:
    client = _client(settings)
    try:
        store = signing_keys(settings, client[settings.mongo_db])
        try:
            counts = await store.rewrap(seal_plain=seal_plain)
        except (UnsealedKeysError, KeyDecryptionError) as exc:
            print(f"auth: not rewrapped: {exc}", file=sys.stderr, flush=True)
            return EXIT_FAILED
    finally:
        await client.close()
    print(orjson.dumps(counts).decode(), flush=True)
    return EXIT_OK


async def rotate_keys(settings: AuthSettings) -> int:
    client = _client(settings)
    try:
        store = signing_keys(settings, client[settings.mongo_db])
        try:
            ring = await store.rotate(now=datetime.now(UTC))
        except ConcurrentRotationError as exc:
            print(f"auth: not rotated, another rotation won: {exc}", file=sys.stderr, flush=True)
            return EXIT_FAILED
        except (UnsealedKeysError, KeyDecryptionError) as exc:
            print(f"auth: not rotated: {exc}", file=sys.stderr, flush=True)
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
    parser.add_argument(
        "command",
        nargs="?",
        default="serve",
        choices=["serve", "rotate-keys", "rewrap-keys", "new-kek"],
    )
    parser.add_argument("kek_id", nargs="?", help="new-kek: the new key's id")
    parser.add_argument("--seal-plain", action="store_true", help="rewrap-keys: seal plain PEM")
    args = parser.parse_args(argv)
    if args.command == "new-kek":
        if not args.kek_id:
            parser.error("new-kek needs the new key's id, e.g. python -m auth new-kek 2026-12")
        # Checked as settings would check it, so what is printed is accepted as printed.
        entry = f"{args.kek_id}:{new_key()}"
        try:
            parse_keys(entry)
        except ValueError as exc:
            parser.error(str(exc))
        print(entry, flush=True)
        return
    settings = AuthSettings()
    configure_logging(settings.log_level)
    if args.command == "rotate-keys":
        run(rotate_keys(settings))
    elif args.command == "rewrap-keys":
        run(rewrap_keys(settings, seal_plain=args.seal_plain))
    else:
        run(serve_auth(settings))


if __name__ == "__main__":
    main()
