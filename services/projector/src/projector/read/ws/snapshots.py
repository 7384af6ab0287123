"""Snapshots for subscribers: the read model's board, encoded once for everyone who asks at the
same time. A board the read model has not seen yet (created a moment ago) is folded from its log."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from uuid import UUID

from contracts.read_models import BoardDetail
from contracts.upcasting import parse_event
from pydantic import ValidationError

from projector.projection import BoardProjection, ProjectionError, apply_event
from projector.read.cache import BoardCache
from projector.read.ws.messages import encode_snapshot, snapshot_of_encoded
from projector.streams import BoardLog, LogItem
from projector.views import detail_of

# A board longer than this without a read model is not folded per subscriber: the projector is
# behind, and the subscriber is told to retry.
FOLD_LIMIT = 10_000


@dataclass(frozen=True, slots=True)
class Snapshot:
    version: int
    members: frozenset[str]
    message: bytes


class Snapshots:
    def __init__(self, cache: BoardCache, board_log: BoardLog) -> None:
        self._cache = cache
        self._log = board_log
        self._loading: dict[UUID, asyncio.Task[Snapshot | None]] = {}

    async def get(self, board_id: UUID) -> Snapshot | None:
        """The board as the read model has it (or as its log folds), None if there is none.

        Concurrent callers share one read: any snapshot is good for a caller who registered for
        live events before asking, because it catches up from the log after the snapshot.
        """
        task = self._loading.get(board_id)
        if task is None:
            task = asyncio.create_task(self._load(board_id))
            self._loading[board_id] = task
            task.add_done_callback(lambda done: self._loaded(board_id, done))
        # Shielded: one caller giving up must not cancel the read for the others.
        return await asyncio.shield(task)

    def _loaded(self, board_id: UUID, task: asyncio.Task[Snapshot | None]) -> None:
        if self._loading.get(board_id) is task:
            del self._loading[board_id]
        if not task.cancelled():
            task.exception()  # retrieved here too: every caller may have gone

    async def close(self) -> None:
        tasks = list(self._loading.values())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)

    async def _load(self, board_id: UUID) -> Snapshot | None:
        held = await self._cache.board(board_id)
        if held is not None:
            message = snapshot_of_encoded(held.detail, held.version)
            return Snapshot(held.version, held.members, message)
        detail = fold_detail(str(board_id), await self._log.after(board_id, 0, limit=FOLD_LIMIT))
        if detail is None:
            return None
        return Snapshot(
            version=detail.board.version,
            members=frozenset(m.user_id for m in detail.board.members),
            message=encode_snapshot(detail),
        )


def fold_detail(board_id: str, items: list[LogItem]) -> BoardDetail | None:
    """The board detail the read model will hold once it has applied these events (the whole
    log); None for no board or an unreadable log."""
    projection = BoardProjection(board_id=board_id)
    try:
        for _, raw in items:
            apply_event(projection, parse_event(raw))
    except (ProjectionError, ValidationError):
        return None
    return detail_of(projection)
