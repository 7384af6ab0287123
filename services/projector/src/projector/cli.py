"""`python -m projector`: the projector's one command line, with the `PROJECTOR_*` settings.

    serve                                  (the default) apply the feeds, serve reads and sockets
    verify --board ID | --all              check boards' hash chains, archive and Redis log
    replay --board ID [--to-version N]     the board's events as NDJSON, archive plus Redis log
    rebuild [--verify-only]                every read model into a new generation, verified,
                                           then switched over; or only verify the live one
    compact [--board ID | --all] [--dry-run]
                                           trim Redis streams below what nothing needs there
    drop-generation N                      drop a generation of read models a rebuild replaced
    fences                                 the boards held for recovery (their commands refused)
    unfence --board ID [--force]           lift a board's hold once it is recovered

Long operations draw a progress bar on stderr when it is a terminal, and write plain lines
otherwise (docs/operations.md).

Exit status: 0 done; 1 failed (a broken chain, a failed verification, a gap in the log); 2 usage;
3 the projector stopped because the log diverged from the read models (rebuild them).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import uuid
from collections.abc import Sequence
from typing import NoReturn

from cardstream_runtime.logs import configure_logging
from cardstream_runtime.service import EXIT_FAILED, EXIT_OK, EXIT_USAGE, run, serve
from pymongo.errors import PyMongoError
from redis.exceptions import RedisError

from projector.app import create_app
from projector.apply.consumer import LogDivergedError
from projector.ops import commands
from projector.ops.fencing import FenceError
from projector.ops.generations import GenerationInUseError
from projector.ops.rebuild import RebuildError
from projector.settings import ProjectorSettings
from projector.streams import EventLogError

DONE = EXIT_OK
FAILED = EXIT_FAILED
USAGE = EXIT_USAGE
# The projector stopped rather than apply a log that is not the read models' (rebuild them).
DIVERGED = 3


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m projector",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ops = parser.add_subparsers(dest="command", metavar="COMMAND")
    ops.add_parser("serve", help="apply the feeds, serve reads and WebSockets (the default)")
    check = ops.add_parser("verify", help="check boards' hash chains (archive and Redis)")
    which = check.add_mutually_exclusive_group(required=True)
    which.add_argument("--board", action="append", metavar="ID", type=uuid.UUID)
    which.add_argument("--all", action="store_true", help="every board in the archive or Redis")
    replay = ops.add_parser("replay", help="print a board's events as NDJSON")
    replay.add_argument("--board", required=True, type=uuid.UUID)
    replay.add_argument("--to-version", type=int, default=None)
    rebuild = ops.add_parser("rebuild", help="rebuild the read models, then switch")
    rebuild.add_argument("--verify-only", action="store_true")
    compact = ops.add_parser("compact", help="trim the Redis streams")
    boards = compact.add_mutually_exclusive_group()
    boards.add_argument("--board", type=uuid.UUID)
    boards.add_argument("--all", action="store_true")
    compact.add_argument("--dry-run", action="store_true")
    drop = ops.add_parser(
        "drop-generation", help="drop a generation of read models that is neither live nor building"
    )
    drop.add_argument("generation", type=_generation)
    ops.add_parser("fences", help="list the boards held for recovery (one JSON line each)")
    unfence = ops.add_parser("unfence", help="lift a recovered board's hold")
    unfence.add_argument("--board", required=True, type=uuid.UUID)
    unfence.add_argument(
        "--force", action="store_true", help="even if its archive is still beyond its log"
    )
    return parser


def _generation(text: str) -> int:
    value = int(text)
    if value < 0:
        raise ValueError(text)
    return value


async def serve_projector(settings: ProjectorSettings) -> int:
    stop = asyncio.Event()
    diverged: list[LogDivergedError] = []

    def on_diverged(error: LogDivergedError) -> None:
        diverged.append(error)
        stop.set()

    app = create_app(settings, on_diverged=on_diverged)
    await serve(
        app,
        host=settings.host,
        port=settings.port,
        stop=stop,
        header_timeout_s=settings.header_timeout_s,
    )
    if diverged:
        print(f"projector stopped: {diverged[0]}", file=sys.stderr, flush=True)
        return DIVERGED
    return DONE


async def _run(args: argparse.Namespace, settings: ProjectorSettings) -> int:
    try:
        return await _command(args, settings)
    except (RebuildError, EventLogError, GenerationInUseError, FenceError) as exc:
        print(f"{args.command}: {exc}", file=sys.stderr)
        return FAILED
    except (RedisError, PyMongoError, OSError) as exc:
        print(f"{args.command}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return FAILED


async def _command(args: argparse.Namespace, settings: ProjectorSettings) -> int:
    match args.command:
        case None | "serve":
            return await serve_projector(settings)
        case "verify":
            boards = None if args.all else [str(b) for b in args.board]
            return await commands.verify(settings, boards, sys.stdout)
        case "replay":
            return await commands.replay(settings, args.board, args.to_version, sys.stdout)
        case "rebuild":
            return await commands.rebuild(settings, verify_only=args.verify_only)
        case "compact":
            return await commands.compact(settings, args.board, dry_run=args.dry_run)
        case "drop-generation":
            return await commands.drop_generation(settings, args.generation, sys.stdout)
        case "fences":
            return await commands.fences(settings, sys.stdout)
        case "unfence":
            return await commands.unfence(settings, args.board, force=args.force, out=sys.stdout)
    raise AssertionError(f"unknown command {args.command}")


def main(argv: Sequence[str] | None = None) -> NoReturn:
    try:
        args = parser().parse_args(argv)
    except SystemExit as exc:  # --help is 0, a usage error 2
        sys.exit(int(exc.code or 0) and USAGE)
    settings = ProjectorSettings()
    configure_logging(settings.log_level)
    run(_run(args, settings))
