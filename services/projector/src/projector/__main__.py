"""`python -m projector`: apply the feeds, serve reads and WebSockets, with `PROJECTOR_*` settings.

Exits with status 3 when the log diverged from the read models (see consumer.LogDivergedError):
an operator must rebuild rather than have the projector silently carry on.

`python -m projector verify --board ID | --all` checks hash chains (docs/event-chain.md) and
exits 0 when every chain is intact, 1 when one is broken.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Sequence
from typing import Any

import uvloop
from aiohttp import web
from cardstream_runtime.logs import configure_logging
from contracts.streams import StreamKeys
from pymongo import AsyncMongoClient
from redis.asyncio import Redis

from projector import cli
from projector.app import create_app
from projector.consumer import LogDivergedError
from projector.settings import ProjectorSettings
from projector.verify import ChainVerifier

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


async def verify(settings: ProjectorSettings, boards: Sequence[str] | None) -> int:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        settings.mongo_url, serverSelectionTimeoutMS=settings.mongo_timeout_ms
    )
    redis = Redis.from_url(settings.redis_url, decode_responses=False)
    keys = StreamKeys(prefix=settings.key_prefix, partitions=settings.partitions)
    try:
        verifier = ChainVerifier(client[settings.mongo_db]["events"], redis, keys)
        broken = False
        for board_id in boards if boards is not None else await verifier.boards():
            for finding in await verifier.verify(board_id):
                print(finding, flush=True)
                broken = broken or not finding.intact
        return 1 if broken else 0
    finally:
        await redis.aclose()
        await client.close()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m projector")
    commands = parser.add_subparsers(dest="command")
    check = commands.add_parser("verify", help="check boards' hash chains (archive and Redis)")
    which = check.add_mutually_exclusive_group(required=True)
    which.add_argument("--board", action="append", metavar="ID", help="a board id (repeatable)")
    which.add_argument("--all", action="store_true", help="every board in the archive or Redis")
    return parser


OPERATIONS = ("replay", "rebuild", "compact")  # projector.cli, docs/operations.md


def main(argv: Sequence[str] | None = None) -> None:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments and arguments[0] in OPERATIONS:
        sys.exit(cli.main(arguments))
    args = _parser().parse_args(arguments)
    settings = ProjectorSettings()
    configure_logging(settings.log_level)
    if args.command == "verify":
        sys.exit(uvloop.run(verify(settings, None if args.all else args.board)))
    sys.exit(uvloop.run(serve(settings)))


if __name__ == "__main__":
    main()
