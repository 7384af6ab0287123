"""A board's history: which events a filter keeps, told in words (`sentences`), a page at a time.

A sentence names things as they were called then, so the walk folds the board from its start; it
starts from the nearest history checkpoint below the page when there is one (the board as the
sentences knew it, every `every` versions), and leaves checkpoints behind on its way.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from contracts.envelope import AnyEvent

from contracts import events as ev
from projector.events import BoardEvents
from projector.read.audit.board_then import BoardThen
from projector.read.audit.checkpoints import Checkpoints
from projector.read.audit.models import HistoryEntry, HistoryPage
from projector.read.audit.sentences import describe

MAX_LIMIT = 500
DEFAULT_LIMIT = 100


@dataclass(frozen=True, slots=True)
class HistoryFilter:
    """Which entries to keep; every given condition must hold. Versions and times are inclusive."""

    card_id: UUID | None = None
    column_id: UUID | None = None
    actor: str | None = None
    from_version: int | None = None
    to_version: int | None = None
    since: datetime | None = None
    until: datetime | None = None


# -- which events a filter keeps ---------------------------------------------------------------


def _card_of(event: AnyEvent) -> str | None:
    # Rebalances are about a column's order, not about any one of its cards.
    card_id = getattr(event.payload, "card_id", None)
    return str(card_id) if card_id is not None else None


def _columns_of(board: BoardThen, event: AnyEvent) -> set[str]:
    """The columns an event is about: its own, or the ones its card was or ends up in."""
    payload = event.payload
    columns: set[str] = set()
    if isinstance(payload, ev.CardMoved):
        columns |= {str(payload.from_column_id), str(payload.to_column_id)}
    elif not isinstance(payload, ev.ColumnsRebalanced):
        column_id = getattr(payload, "column_id", None)
        if column_id is not None:
            columns.add(str(column_id))
    card_id = getattr(payload, "card_id", None)
    if card_id is not None:
        columns |= board.card_columns(card_id)
    return columns


def _in_ranges(f: HistoryFilter, event: AnyEvent) -> bool:
    return (
        (f.from_version is None or event.version >= f.from_version)
        and (f.to_version is None or event.version <= f.to_version)
        and (f.since is None or event.occurred_at >= f.since)
        and (f.until is None or event.occurred_at <= f.until)
    )


def keeps(f: HistoryFilter, board: BoardThen, event: AnyEvent) -> bool:
    """Whether the filter keeps `event`, judged against `board` just before it."""
    if not _in_ranges(f, event):
        return False
    if f.actor is not None and event.actor != f.actor:
        return False
    if f.card_id is not None and _card_of(event) != str(f.card_id):
        return False
    return f.column_id is None or str(f.column_id) in _columns_of(board, event)


# -- walking the log ---------------------------------------------------------------------------


class HistoryCheckpoints(Checkpoints[BoardThen]):
    """The board as the sentences knew it, every `every` versions (the projector's
    `PROJECTOR_POINT_IN_TIME_EVERY`), bounded as the point-in-time ones are: a standing comment
    (its text is kept) counts as a card document does."""

    def __init__(self, *, every: int, max_cards: int) -> None:
        super().__init__(
            every=every,
            max_cards=max_cards,
            copy=BoardThen.copy,
            size=lambda then: len(then.projection.cards) + len(then.comments) + 1,
        )


class HistoryWalk:
    """Folds a board's events in order and tells the ones a filter keeps; from `start` (a
    checkpoint's copy) when given, else from the board's first event."""

    def __init__(
        self, board_id: UUID, history_filter: HistoryFilter, start: BoardThen | None = None
    ) -> None:
        self.board = start or BoardThen(str(board_id))
        self.filter = history_filter

    def step(self, event: AnyEvent, *, after_version: int = 0) -> HistoryEntry | None:
        self.board.learn(event)
        entry = None
        if event.version > after_version and keeps(self.filter, self.board, event):
            entry = describe(self.board, event)
        self.board.apply(event)
        return entry


def entries_of(
    board_id: UUID, events: Iterable[AnyEvent], history_filter: HistoryFilter | None = None
) -> list[HistoryEntry]:
    """Every entry the filter keeps, for events already in hand (tests, tools)."""
    walk = HistoryWalk(board_id, history_filter or HistoryFilter())
    return [entry for event in events if (entry := walk.step(event)) is not None]


async def history_page(
    events: BoardEvents,
    board_id: UUID,
    history_filter: HistoryFilter,
    *,
    after_version: int = 0,
    limit: int = DEFAULT_LIMIT,
    checkpoints: HistoryCheckpoints | None = None,
) -> HistoryPage:
    """Up to `limit` entries after `after_version`, in version order. The walk starts from the
    nearest checkpoint before the first version the page can hold (or at version 1: names need
    the board as it was) and stops one kept entry past the page, so `next_after_version` is None
    exactly when nothing is left."""
    first = max(after_version, (history_filter.from_version or 1) - 1)
    start = checkpoints.nearest(board_id, first) if checkpoints else None
    walk = HistoryWalk(board_id, history_filter, start)
    entries: list[HistoryEntry] = []
    async with contextlib.aclosing(
        events.read(
            board_id, after_version=walk.board.version, to_version=history_filter.to_version
        )
    ) as stream:
        async for event in stream:
            entry = walk.step(event, after_version=after_version)
            if checkpoints is not None:
                checkpoints.keep(board_id, walk.board)
            if entry is None:
                continue
            if len(entries) == limit:
                return HistoryPage(entries=entries, next_after_version=entries[-1].version)
            entries.append(entry)
    return HistoryPage(entries=entries, next_after_version=None)
