"""A board as it was: its events folded by the live projection up to a version or a time.

Up to a time means the longest prefix of the log whose events occurred at or before it: a board's
states are its log's prefixes, and the writers' clocks only promise that within one command.
"""

from __future__ import annotations

import contextlib
from datetime import datetime
from uuid import UUID

from contracts.envelope import AnyEvent
from contracts.read_models import BoardDetail

from projector.events import BoardEvents
from projector.projection import BoardProjection, apply_event
from projector.read.audit.checkpoints import PointInTimeCheckpoints, fold_with_checkpoints
from projector.views import detail_of


class VersionAheadError(Exception):
    """The board has not reached the version asked for."""

    def __init__(self, version: int, head: int) -> None:
        super().__init__(f"the board is at version {head}, not yet at {version}")
        self.version = version
        self.head = head


def _apply(projection: BoardProjection, event: AnyEvent) -> None:
    apply_event(projection, event)
    projection.applied.clear()  # kept for a writer; a long fold should not hold every event


async def fold_to_version(
    events: BoardEvents,
    board_id: UUID,
    version: int,
    checkpoints: PointInTimeCheckpoints | None = None,
) -> BoardProjection:
    """`VersionAheadError` when the log ends before `version`. With `checkpoints`, the fold starts
    from the nearest one below `version` and leaves new ones behind."""
    if checkpoints is not None:
        projection = await fold_with_checkpoints(events, board_id, version, checkpoints)
    else:
        projection = BoardProjection(board_id=str(board_id))
        async with contextlib.aclosing(events.pages(board_id, to_version=version)) as pages:
            async for page in pages:
                for event in page:
                    _apply(projection, event)
    if projection.version < version:
        raise VersionAheadError(version, projection.version)
    return projection


async def fold_to_time(
    events: BoardEvents,
    board_id: UUID,
    at: datetime,
    checkpoints: PointInTimeCheckpoints | None = None,
) -> BoardProjection:
    """The longest prefix of the log whose events occurred at or before `at`. With
    `checkpoints`, from the latest one that prefix holds whole, leaving new ones behind."""
    start = checkpoints.nearest_at(board_id, at) if checkpoints is not None else None
    projection = start or BoardProjection(board_id=str(board_id))
    async with contextlib.aclosing(
        events.read(board_id, after_version=projection.version)
    ) as stream:
        async for event in stream:
            if event.occurred_at > at:
                break
            _apply(projection, event)
            if checkpoints is not None:
                checkpoints.keep(board_id, projection)
    return projection


async def board_at(
    events: BoardEvents,
    board_id: UUID,
    *,
    version: int | None = None,
    at: datetime | None = None,
    archived: bool = False,
    checkpoints: PointInTimeCheckpoints | None = None,
) -> BoardDetail | None:
    """The board at `version` or at time `at` (exactly one of them); None where it did not exist
    yet. `VersionAheadError` for a version the board has not reached."""
    if (version is None) == (at is None):
        raise ValueError("give exactly one of version and at")
    if version is not None:
        projection = await fold_to_version(events, board_id, version, checkpoints)
    else:
        assert at is not None
        projection = await fold_to_time(events, board_id, at, checkpoints)
    return detail_of(projection, archived=archived)
