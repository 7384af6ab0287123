"""The operator commands behind `python -m projector` (docs/operations.md): each connects to the
servers the settings name, does one thing, writes what it found, and answers an exit status."""

from __future__ import annotations

import contextlib
import json
import sys
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from cardstream_runtime.mongo import mongo_client
from cardstream_runtime.redis_urls import AnyRedis, redis_from_url
from cardstream_runtime.service import EXIT_FAILED, EXIT_OK
from contracts.streams import StreamKeys

from projector.events import BoardEvents
from projector.ops import compaction, fencing, generations
from projector.ops import rebuild as rebuilding
from projector.ops.progress import Progress
from projector.ops.verify import ChainVerifier
from projector.settings import ProjectorSettings
from projector.store.mongo import MongoReadStore
from projector.streams import BoardLog, stream_keys

Doc = dict[str, Any]
DONE = EXIT_OK
FAILED = EXIT_FAILED


@dataclass(frozen=True, slots=True)
class Servers:
    redis: AnyRedis
    store: MongoReadStore
    keys: StreamKeys

    @property
    def board_log(self) -> BoardLog:
        return BoardLog(self.redis, self.keys)


@contextlib.asynccontextmanager
async def connected(settings: ProjectorSettings) -> AsyncIterator[Servers]:
    redis = redis_from_url(settings.redis_url, decode_responses=False)
    client = mongo_client(settings.mongo_url, timeout_ms=settings.mongo_timeout_ms)
    try:
        yield Servers(redis, MongoReadStore(client[settings.mongo_db]), stream_keys(settings))
    finally:
        await client.close()
        await redis.aclose()


def _lines(out: TextIO, documents: Sequence[Doc]) -> None:
    for document in documents:
        out.write(json.dumps(document) + "\n")
    out.flush()


async def verify(settings: ProjectorSettings, boards: Sequence[str] | None, out: TextIO) -> int:
    """Each board's chain in the archive and in Redis; 1 when any is broken."""
    async with connected(settings) as servers:
        verifier = ChainVerifier(servers.store, servers.board_log)
        broken = False
        for board_id in boards if boards is not None else await verifier.boards():
            for finding in await verifier.verify(board_id):
                print(finding, file=out, flush=True)
                broken = broken or not finding.intact
    return FAILED if broken else DONE


async def replay(
    settings: ProjectorSettings, board: uuid.UUID, to_version: int | None, out: TextIO
) -> int:
    progress = Progress(sys.stderr, "replay")
    async with connected(settings) as servers:
        events = BoardEvents.of(servers.store, servers.board_log)
        head = to_version or await servers.board_log.head(board)
        async with contextlib.aclosing(events.pages(board, to_version=to_version)) as pages:
            async for page in pages:
                out.write("".join(event.model_dump_json() + "\n" for event in page))
                progress.events += len(page)
                progress.advance(page[-1].version, head, "versions")
        out.flush()
    progress.close()
    return DONE


async def rebuild(settings: ProjectorSettings, *, verify_only: bool) -> int:
    progress = Progress(sys.stderr, "rebuild")
    async with connected(settings) as servers:
        if verify_only:
            result = await rebuilding.verify_live(
                servers.redis, servers.store, servers.keys, progress
            )
        else:
            options = rebuilding.RebuildOptions(
                group=settings.consumer_group,
                consumer=f"rebuild-{settings.instance_id}",
                batch_size=settings.batch_size,
                lease_ms=settings.lease_ms,
                max_attempts=settings.max_attempts,
            )
            result = await rebuilding.rebuild(
                servers.redis, servers.store, servers.keys, options, progress
            )
    progress.close()
    for problem in result.problems:
        print(f"rebuild: {problem}", file=sys.stderr)
    for fence in result.fenced:
        print(
            f"rebuild: board {fence.board_id} is held for recovery: its commands are refused "
            f"until it is recovered and `unfence --board {fence.board_id}` lifts the hold",
            file=sys.stderr,
        )
    return DONE if result.ok else FAILED


async def compact(settings: ProjectorSettings, board: uuid.UUID | None, *, dry_run: bool) -> int:
    progress = Progress(sys.stderr, "compact")
    async with connected(settings) as servers:
        report = await compaction.compact(
            servers.redis,
            servers.store,
            servers.keys,
            progress,
            board_ids=None if board is None else [str(board)],
            dry_run=dry_run,
        )
    progress.close()
    lines = [t.as_dict() for t in report.boards] + [t.as_dict() for t in report.feeds]
    _lines(sys.stdout, [*lines, {"kind": "total", "dry_run": dry_run, "trimmed": report.trimmed}])
    return DONE


async def drop_generation(settings: ProjectorSettings, generation: int, out: TextIO) -> int:
    async with connected(settings) as servers:
        dropped = await generations.drop_generation(
            servers.redis,
            servers.store,
            servers.keys,
            generation=generation,
            group=settings.consumer_group,
            owner=f"drop-{settings.instance_id}",
        )
    _lines(out, [dropped.as_dict()])
    return DONE


async def fences(settings: ProjectorSettings, out: TextIO) -> int:
    """One JSON line per board held for recovery."""
    async with connected(settings) as servers:
        held = await fencing.fences(servers.redis, servers.keys)
    _lines(out, [fence.as_dict() for fence in held])
    return DONE


async def unfence(
    settings: ProjectorSettings, board: uuid.UUID, *, force: bool, out: TextIO
) -> int:
    async with connected(settings) as servers:
        lifted = await fencing.unfence(
            servers.redis, servers.store, servers.keys, board, force=force
        )
    _lines(out, [{"unfenced": True, **lifted.as_dict()}])
    return DONE
