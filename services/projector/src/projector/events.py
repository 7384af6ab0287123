"""A board's events in version order from the archive (the read store) and the Redis log together.

The two overlap and trail each other both ways: the archive lags the log by what the projector has
not applied yet, and (once compaction trims the logs) the log no longer starts at version 1. Each
page is asked of the source that served the previous one, then of the other; a version is read
from whichever has it, so the reader sees one gapless sequence whatever the split, and whatever
the projector and compaction do while it reads.

A version that neither source holds while a later one exists is a hole in the log: it is raised
(`LogGapError`), never skipped.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable
from uuid import UUID

from contracts.envelope import AnyEvent

from projector.store.port import ReadStore
from projector.streams import BoardLog, EventLogError, UnreadableEventError

PAGE_SIZE = 500

# Versions `first`..`last` (inclusive; None: no bound) a source holds, in order, at most `count`.
EventSource = Callable[[UUID, int, "int | None", int], Awaitable[list[AnyEvent]]]


class LogGapError(EventLogError):
    pass


__all__ = ["BoardEvents", "EventLogError", "EventSource", "LogGapError", "UnreadableEventError"]


def _run_from(page: list[AnyEvent], version: int) -> list[AnyEvent]:
    """The leading events of `page` that continue the sequence at `version` without a hole."""
    run: list[AnyEvent] = []
    for event in page:
        if event.version != version + len(run):
            break
        run.append(event)
    return run


class BoardEvents:
    """Reads a board's events from the archive and the Redis log as one gapless sequence."""

    def __init__(
        self, archive: EventSource, tail: EventSource, *, page_size: int = PAGE_SIZE
    ) -> None:
        self._archive = archive
        self._tail = tail
        self._page_size = page_size

    @classmethod
    def of(cls, store: ReadStore, board_log: BoardLog) -> BoardEvents:
        return cls(store.archived_events, board_log.events)

    async def pages(
        self, board_id: UUID, *, after_version: int = 0, to_version: int | None = None
    ) -> AsyncGenerator[list[AnyEvent], None]:
        """Versions `after_version + 1` up to `to_version` (or to the end), a page at a time."""
        version = after_version + 1
        # The archive first: it holds the older versions, which compaction takes from the log.
        order = (self._archive, self._tail)
        while to_version is None or version <= to_version:
            served_by, run = await self._next_run(board_id, version, to_version, order)
            if not run:
                return
            yield run
            version += len(run)
            if served_by is not order[0]:
                order = (order[1], order[0])

    async def read(
        self, board_id: UUID, *, after_version: int = 0, to_version: int | None = None
    ) -> AsyncGenerator[AnyEvent, None]:
        async for page in self.pages(board_id, after_version=after_version, to_version=to_version):
            for event in page:
                yield event

    async def _next_run(
        self,
        board_id: UUID,
        version: int,
        to_version: int | None,
        order: tuple[EventSource, EventSource],
    ) -> tuple[EventSource | None, list[AnyEvent]]:
        # After the log misses, the archive is asked (again): compaction trims the log only below
        # what is archived, so whatever the log lost before it was asked is in the archive by now.
        asked = order if order[0] is self._tail else (*order, self._archive)
        later = False
        for source in asked:
            page = await source(board_id, version, to_version, self._page_size)
            run = _run_from(page, version)
            if run:
                return source, run
            later = later or bool(page)
        if later:
            raise LogGapError(
                f"board {board_id}: version {version} is in neither the archive nor the log"
            )
        return None, []  # the end of the log
