"""Operator commands of the projector (docs/operations.md), with the `PROJECTOR_*` settings:

    replay --board ID [--to-version N]     the board's events as NDJSON, archive plus Redis log
    rebuild [--verify-only]                every read model into a new generation, verified,
                                           then switched over; or only verify the live one
    compact [--board ID | --all] [--dry-run]
                                           trim Redis streams below what nothing needs there
    drop-generation N                      drop a generation of read models a rebuild replaced

Exit status: 0 done, 1 failed (verification, a gap in the log), 2 usage.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import uuid
from collections.abc import AsyncIterator
from typing import Any, TextIO

from contracts.streams import StreamKeys
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError
from redis.asyncio import Redis
from redis.exceptions import RedisError

from projector.audit.log import BoardEvents, EventLogError, MongoEventArchive, RedisEventLog
from projector.compaction import compact
from projector.generations import GenerationInUseError, drop_generation
from projector.rebuild import RebuildError, RebuildOptions, rebuild, verify_live
from projector.settings import ProjectorSettings

Doc = dict[str, Any]
FAILED = 1
USAGE = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m projector")
    commands = parser.add_subparsers(dest="command", required=True)
    replay_cmd = commands.add_parser("replay", help="print a board's events as NDJSON")
    replay_cmd.add_argument("--board", required=True, type=uuid.UUID)
    replay_cmd.add_argument("--to-version", type=int, default=None)
    rebuild_cmd = commands.add_parser("rebuild", help="rebuild the read models, then switch")
    rebuild_cmd.add_argument("--verify-only", action="store_true")
    compact_cmd = commands.add_parser("compact", help="trim the Redis streams")
    which = compact_cmd.add_mutually_exclusive_group()
    which.add_argument("--board", type=uuid.UUID)
    which.add_argument("--all", action="store_true")
    compact_cmd.add_argument("--dry-run", action="store_true")
    drop_cmd = commands.add_parser(
        "drop-generation", help="drop a generation of read models that is neither live nor building"
    )
    drop_cmd.add_argument("generation", type=_generation)
    return parser


def _generation(text: str) -> int:
    value = int(text)
    if value < 0:
        raise ValueError(text)
    return value


@contextlib.asynccontextmanager
async def _connected(
    settings: ProjectorSettings,
) -> AsyncIterator[tuple[Redis, AsyncDatabase[Doc]]]:
    redis = Redis.from_url(settings.redis_url, decode_responses=False)
    client: AsyncMongoClient[Doc] = AsyncMongoClient(
        settings.mongo_url, tz_aware=True, serverSelectionTimeoutMS=settings.mongo_timeout_ms
    )
    try:
        yield redis, client[settings.mongo_db]
    finally:
        await client.close()
        await redis.aclose()


def _keys(settings: ProjectorSettings) -> StreamKeys:
    return StreamKeys(prefix=settings.key_prefix, partitions=settings.partitions)


async def replay(
    settings: ProjectorSettings, board: uuid.UUID, to_version: int | None, out: TextIO
) -> int:
    async with _connected(settings) as (redis, db):
        events = BoardEvents(MongoEventArchive(db["events"]), RedisEventLog(redis, _keys(settings)))
        async with contextlib.aclosing(events.pages(board, to_version=to_version)) as pages:
            async for page in pages:
                out.write("".join(event.model_dump_json() + "\n" for event in page))
        out.flush()
    return 0


async def run_rebuild(settings: ProjectorSettings, *, verify_only: bool, err: TextIO) -> int:
    async with _connected(settings) as (redis, db):
        if verify_only:
            result = await verify_live(redis, db, _keys(settings), err)
        else:
            options = RebuildOptions(
                group=settings.consumer_group,
                consumer=f"rebuild-{settings.instance_id}",
                batch_size=settings.batch_size,
                lease_ms=settings.lease_ms,
                max_attempts=settings.max_attempts,
            )
            result = await rebuild(redis, db, _keys(settings), options, err)
    for problem in result.problems:
        print(f"rebuild: {problem}", file=err)
    return 0 if result.ok else FAILED


async def run_compact(
    settings: ProjectorSettings, board: uuid.UUID | None, *, dry_run: bool, out: TextIO
) -> int:
    async with _connected(settings) as (redis, db):
        report = await compact(
            redis,
            db,
            _keys(settings),
            board_ids=None if board is None else [str(board)],
            dry_run=dry_run,
        )
    lines = [t.as_dict() for t in report.boards] + [t.as_dict() for t in report.feeds]
    for line in lines:
        out.write(json.dumps(line) + "\n")
    out.write(json.dumps({"kind": "total", "dry_run": dry_run, "trimmed": report.trimmed}) + "\n")
    out.flush()
    return 0


async def run_drop_generation(settings: ProjectorSettings, generation: int, out: TextIO) -> int:
    async with _connected(settings) as (redis, db):
        dropped = await drop_generation(
            redis,
            db,
            _keys(settings),
            generation=generation,
            group=settings.consumer_group,
            owner=f"drop-{settings.instance_id}",
        )
    out.write(json.dumps(dropped.as_dict()) + "\n")
    out.flush()
    return 0


async def _run(args: argparse.Namespace, settings: ProjectorSettings) -> int:
    if args.command == "replay":
        return await replay(settings, args.board, args.to_version, sys.stdout)
    if args.command == "rebuild":
        return await run_rebuild(settings, verify_only=args.verify_only, err=sys.stderr)
    if args.command == "drop-generation":
        return await run_drop_generation(settings, args.generation, sys.stdout)
    return await run_compact(settings, args.board, dry_run=args.dry_run, out=sys.stdout)


def main(argv: list[str]) -> int:
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0) and USAGE
    settings = ProjectorSettings()
    try:
        return asyncio.run(_run(args, settings))
    except (RebuildError, EventLogError, GenerationInUseError) as exc:
        print(f"{args.command}: {exc}", file=sys.stderr)
        return FAILED
    except (RedisError, PyMongoError, OSError) as exc:
        print(f"{args.command}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return FAILED
