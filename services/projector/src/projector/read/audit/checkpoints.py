"""Checkpoints for point-in-time and history reads: copies of a board's fold every `every`
versions, kept in memory, so stepping through a long history folds at most `every` events per
step instead of the whole log from version 0 (a 50,000-event board: 50,000 events per step
without them). `PointInTimeCheckpoints` hold projections; the history walk keeps its own, of the
board as its sentences know it (`projector.read.audit.history.HistoryCheckpoints`).

A checkpoint is a fold of the log's prefix, and the log's prefix never changes, so a checkpoint
is never stale. Memory is bounded by the card documents held across all checkpoints (`max_cards`;
a board's header counts as one): the least recently used board's checkpoints go first, and when
one board alone is over it, its checkpoints are thinned out evenly rather than cut at one end.
"""

from __future__ import annotations

import bisect
import contextlib
import copy
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime
from typing import Generic, Protocol, TypeVar
from uuid import UUID

from projector.events import BoardEvents
from projector.projection import BoardProjection, apply_event


class Versioned(Protocol):
    @property
    def version(self) -> int: ...


F = TypeVar("F", bound=Versioned)


def copy_projection(projection: BoardProjection) -> BoardProjection:
    # The projection changes card documents' fields in place but replaces their lists (labels,
    # assignees, checklist items are copied before a change), so a copy of each card dict is
    # enough; the board document (columns, counts) is small and copied whole.
    return BoardProjection(
        board_id=projection.board_id,
        board=copy.deepcopy(projection.board),
        cards={card_id: dict(card) for card_id, card in projection.cards.items()},
        latest_at=projection.latest_at,
    )


def projection_size(projection: BoardProjection) -> int:
    return len(projection.cards) + 1


def _closest_to_its_predecessor(held: dict[int, F]) -> int:
    """The checkpoint whose loss widens the gaps least: the one nearest to the one before it
    (version 0 counts as one), the newest of equals, so the newest checkpoint goes last."""
    versions = sorted(held)
    gaps = [(v - (versions[i - 1] if i else 0), -v) for i, v in enumerate(versions[:-1])]
    if not gaps:
        return versions[0]
    return -min(gaps)[1]


class Checkpoints(Generic[F]):
    """Folds of boards every `every` versions, bounded by the card documents they hold.
    `copy` makes a working copy (what is held is never handed out), `size` counts a fold's
    cards."""

    def __init__(
        self, *, every: int, max_cards: int, copy: Callable[[F], F], size: Callable[[F], int]
    ) -> None:
        self.every = every
        self.max_cards = max_cards
        self._copy = copy
        self._size = size
        self._boards: OrderedDict[UUID, dict[int, F]] = OrderedDict()
        self._held = 0

    @property
    def held_cards(self) -> int:
        return self._held

    def versions(self, board_id: UUID) -> list[int]:
        return sorted(self._boards.get(board_id, {}))

    def nearest(self, board_id: UUID, version: int) -> F | None:
        """A working copy of the latest checkpoint at or below `version`, if any."""
        held = self._boards.get(board_id)
        if not held:
            return None
        self._boards.move_to_end(board_id)
        versions = sorted(held)
        index = bisect.bisect_right(versions, version)
        return self._copy(held[versions[index - 1]]) if index else None

    def keep(self, board_id: UUID, fold: F) -> None:
        if self.every <= 0 or fold.version % self.every or self.max_cards <= 0:
            return
        size = self._size(fold)
        if size > self.max_cards:
            return
        held = self._boards.setdefault(board_id, {})
        if fold.version in held:
            return
        self._boards.move_to_end(board_id)
        held[fold.version] = self._copy(fold)
        self._held += size
        self._evict(keep=board_id)

    def _evict(self, *, keep: UUID) -> None:
        while self._held > self.max_cards:
            oldest = next(iter(self._boards))
            held = self._boards[oldest]
            if oldest == keep and len(self._boards) == 1:
                # Only this board is left: thin its checkpoints out rather than lose a stretch of
                # its history, so every version stays within a few `every` of one.
                version = _closest_to_its_predecessor(held)
                self._held -= self._size(held.pop(version))
                continue
            self._held -= sum(self._size(p) for p in held.values())
            del self._boards[oldest]


class PointInTimeCheckpoints(Checkpoints[BoardProjection]):
    def __init__(self, *, every: int, max_cards: int) -> None:
        super().__init__(
            every=every, max_cards=max_cards, copy=copy_projection, size=projection_size
        )

    def nearest_at(self, board_id: UUID, at: datetime) -> BoardProjection | None:
        """A working copy of the latest checkpoint whose every event occurred at or before `at`
        (a prefix of the log that a fold to `at` takes whole), if any."""
        held = self._boards.get(board_id)
        if not held:
            return None
        self._boards.move_to_end(board_id)
        within = [v for v, p in held.items() if p.latest_at is not None and p.latest_at <= at]
        return self._copy(held[max(within)]) if within else None


async def fold_with_checkpoints(
    events: BoardEvents, board_id: UUID, version: int, checkpoints: PointInTimeCheckpoints
) -> BoardProjection:
    """The board folded to `version` (or as far as its log goes), from the nearest checkpoint,
    leaving new checkpoints behind on the way."""
    projection = checkpoints.nearest(board_id, version) or BoardProjection(board_id=str(board_id))
    start = projection.version
    async with contextlib.aclosing(
        events.pages(board_id, after_version=start, to_version=version)
    ) as pages:
        async for page in pages:
            for event in page:
                apply_event(projection, event)
                projection.applied.clear()
                checkpoints.keep(board_id, projection)
    return projection
