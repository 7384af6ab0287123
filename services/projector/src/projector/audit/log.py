"""A board's events in version order from the archive (MongoDB `events`) and the Redis log together.

The two overlap and trail each other both ways: the archive lags the log by what the projector has
not applied yet, and (once compaction trims the logs) the log no longer starts at version 1. Each
page is asked of the source that served the previous one, then of the other; a version is read
from whichever has it, so the reader sees one gapless sequence whatever the split, and whatever
the projector and compaction do while it reads.

A version that neither source holds while a later one exists is a hole in the log: it is raised
(`LogGapError`), never skipped.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any, Protocol
from uuid import UUID

from contracts.envelope import AnyEvent
from contracts.streams import EVENT_FIELD, StreamKeys, board_entry_id
from contracts.upcasting import parse_event
from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from redis.asyncio import Redis

PAGE_SIZE = 500
_EVENT = EVENT_FIELD.encode()


class EventLogError(Exception):
    """The log cannot be read as a gapless sequence of this board's events."""


class LogGapError(EventLogError):
    pass


class UnreadableEventError(EventLogError):
    pass


class EventSource(Protocol):
    """Somewhere a board's events are kept, readable by version range."""

    async def page(
        self, board_id: UUID, first: int, last: int | None, count: int
    ) -> list[AnyEvent]:
        """The events of versions `first`..`last` (inclusive; None: no bound) this source holds,
        in version order, at most `count`."""
        ...


def _checked(event: AnyEvent, board_id: UUID, version: int) -> AnyEvent:
    if event.board_id != board_id or event.version != version:
        raise UnreadableEventError(
            f"the entry for version {version} of board {board_id} holds version "
            f"{event.version} of board {event.board_id}"
        )
    return event


class MongoEventArchive:
    """The `events` collection the projector writes (`_id` `<board>:<version>`, the envelope in
    `event`)."""

    def __init__(self, events: AsyncCollection[dict[str, Any]]) -> None:
        self._events = events

    async def page(
        self, board_id: UUID, first: int, last: int | None, count: int
    ) -> list[AnyEvent]:
        versions: dict[str, int] = {"$gte": first}
        if last is not None:
            versions["$lte"] = last
        cursor = (
            self._events.find({"board_id": str(board_id), "version": versions})
            .sort("version", ASCENDING)
            .limit(count)
        )
        return [self._parse(doc, board_id) async for doc in cursor]

    @staticmethod
    def _parse(doc: dict[str, Any], board_id: UUID) -> AnyEvent:
        try:
            event = parse_event(doc["event"])
        except (KeyError, ValueError) as exc:
            raise UnreadableEventError(f"archived event {doc.get('_id')} is unreadable") from exc
        return _checked(event, board_id, int(doc["version"]))


class RedisEventLog:
    """A board's own log stream in Redis, whose entry ids are the versions."""

    def __init__(self, redis: Redis, keys: StreamKeys) -> None:
        self._redis = redis
        self._keys = keys

    async def page(
        self, board_id: UUID, first: int, last: int | None, count: int
    ) -> list[AnyEvent]:
        end = "+" if last is None else board_entry_id(last)
        entries: Any = await self._redis.xrange(
            self._keys.board_log(board_id), board_entry_id(first), end, count=count
        )
        return [self._parse(entry_id, fields, board_id) for entry_id, fields in entries]

    @staticmethod
    def _parse(entry_id: bytes, fields: dict[bytes, bytes], board_id: UUID) -> AnyEvent:
        version = int(entry_id.split(b"-", 1)[0])
        try:
            event = parse_event(fields.get(_EVENT, b""))
        except ValueError as exc:
            raise UnreadableEventError(
                f"log entry {entry_id.decode()} of board {board_id} is unreadable"
            ) from exc
        return _checked(event, board_id, version)


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
            page = await source.page(board_id, version, to_version, self._page_size)
            run = _run_from(page, version)
            if run:
                return source, run
            later = later or bool(page)
        if later:
            raise LogGapError(
                f"board {board_id}: version {version} is in neither the archive nor the log"
            )
        return None, []  # the end of the log
