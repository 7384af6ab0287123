"""`python -m projector fences` and `unfence`: the boards held for recovery, and lifting a hold
(`projector.fences`; docs/operations.md#a-board-whose-log-diverged).

A fence is lifted only once the board's two histories agree again, as far as versions and event
ids can tell: nothing archived above the log's end, the live read models not beyond it, and the
event the read models were last built from is the log's event at that version (the hash chain
then vouches for the versions before it). `--force` lifts it without looking.
"""

from __future__ import annotations

import uuid

from cardstream_runtime.redis_urls import AnyRedis
from contracts.streams import StreamKeys

from projector.fences import BoardFences, Fence
from projector.store.port import ReadStore
from projector.streams import BoardLog

RECOVERY = "docs/operations.md#a-board-whose-log-diverged"


class FenceError(Exception):
    """The fence was not lifted: the board has none, or is not recovered yet."""


async def fences(redis: AnyRedis, keys: StreamKeys) -> list[Fence]:
    return await BoardFences(redis, keys).all()


async def unfence(
    redis: AnyRedis, store: ReadStore, keys: StreamKeys, board_id: uuid.UUID, *, force: bool
) -> Fence:
    """Lifts the board's fence and answers it; `FenceError` when it has none or, unless `force`,
    when its archive or read models are still beyond its log."""
    held = BoardFences(redis, keys)
    fence = await held.get(str(board_id))
    if fence is None:
        raise FenceError(f"board {board_id} is not fenced")
    if not force:
        why = await still_diverged(store, BoardLog(redis, keys), board_id)
        if why is not None:
            raise FenceError(
                f"board {board_id}: {why}; recover it first ({RECOVERY}), or lift the fence "
                "anyway with --force"
            )
    return await held.lift(str(board_id)) or fence


async def still_diverged(store: ReadStore, board_log: BoardLog, board_id: uuid.UUID) -> str | None:
    """How the board's archive or live read models still depart from its log; None when they
    do not, as far as can be told."""
    head = await board_log.head(board_id)
    above = await store.archived_events(board_id, head + 1, None, 1)
    if above:
        return f"the archive holds version {above[0].version}, its log ends at {head}"
    live = store.at((await store.generation_pointer()).live)
    version = await live.board_version(board_id)
    if version is None or version == 0:
        return None
    if version > head:
        return f"the read models are at version {version}, its log ends at {head}"
    archived = await store.archived_events(board_id, version, version, 1)
    logged = await board_log.events(board_id, version, version, 1)
    if archived and logged and archived[0].event_id != logged[0].event_id:
        return (
            f"version {version} is event {archived[0].event_id} in the archive and the read "
            f"models, but event {logged[0].event_id} in the log"
        )
    return None
