"""Every Redis stream the projector reads, in one place: key names, entry ids, board logs, feeds.

Key names come from `contracts.streams.StreamKeys`, which the writer shares; `stream_keys` builds
it once from the settings. The keys only the projector uses (leases, dead letters, the rebuild
lock, presence, the appliers' membership) are named here too, each of a partition under that
partition's hash tag, so everything a partition touches stays in one Redis Cluster slot; the few
global ones are each named alone by every command (tests/contract/test_hash_slots.py).

A board's log has its versions as entry ids (`<version>-0`), so any range of versions is one
XRANGE; a partition feed has Redis-generated ids and names board and version in its fields.
Consumer-group mechanics (XREADGROUP, XACK, XAUTOCLAIM) belong to `projector.apply.consumer`.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from cardstream_runtime.redis_urls import AnyRedis
from contracts.envelope import AnyEvent
from contracts.streams import BOARD_FIELD, EVENT_FIELD, VERSION_FIELD, StreamKeys, board_entry_id
from contracts.upcasting import parse_event
from redis.exceptions import ResponseError

from projector.settings import ProjectorSettings

EntryId = tuple[int, int]
# (version, the event's JSON as stored) of one board.
LogItem = tuple[int, bytes]

PAGE = 1_000
FEED_PAGE = 5_000
ZERO_ID = "0-0"

_LOG_KEY = re.compile(r":board:([0-9a-f-]{36}):log$")
_BOARD = BOARD_FIELD.encode()
_VERSION = VERSION_FIELD.encode()
_EVENT = EVENT_FIELD.encode()


def stream_keys(settings: ProjectorSettings) -> StreamKeys:
    return StreamKeys(prefix=settings.key_prefix, partitions=settings.partitions)


# -- entry ids ---------------------------------------------------------------------------------


def id_text(entry_id: bytes | str) -> str:
    return entry_id.decode() if isinstance(entry_id, bytes) else entry_id


def parse_id(entry_id: bytes | str) -> EntryId:
    """An entry id as a tuple that orders as Redis orders ids (`ms-seq`, seq optional)."""
    ms, _, seq = id_text(entry_id).partition("-")
    return int(ms), int(seq or 0)


def log_version(entry_id: bytes | str) -> int:
    """The version a board log's entry id stands for."""
    return parse_id(entry_id)[0]


# -- keys only the projector uses --------------------------------------------------------------


def lease_key(keys: StreamKeys, partition: int, group: str) -> str:
    # Per consumer group: a rebuild into new collections runs as another group beside the live one.
    return f"{keys.tag(partition)}:lease:{group}"


def dead_letter_key(keys: StreamKeys, partition: int, group: str = "projector") -> str:
    return f"{keys.tag(partition)}:deadletter:{group}"


def members_key(keys: StreamKeys, group: str) -> str:
    """The processes applying the feeds for `group` (`projector.apply.members`)."""
    return f"{keys.prefix}cs:projector:members:{group}"


def rebuild_lock_key(keys: StreamKeys) -> str:
    return f"{keys.prefix}cs:rebuild:lock"


def presence_key(keys: StreamKeys, board_id: UUID) -> str:
    # Under the board's partition tag, beside its log.
    return f"{keys.tag(keys.partition_of(board_id))}:board:{board_id}:presence"


def presence_channel(keys: StreamKeys) -> str:
    return f"{keys.prefix}cs:presence"


def notifications_channel(keys: StreamKeys) -> str:
    """Pub/sub: appliers publish each notification they write (`projector.read.ws.notices`)."""
    return f"{keys.prefix}cs:notifications"


def applied_channel(keys: StreamKeys) -> str:
    """Pub/sub: appliers say which board versions they have just written (`projector.applied`)."""
    return f"{keys.prefix}cs:applied"


# -- feed entries ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FeedEntry:
    """One partition feed entry as stored: board and version are the fields', unchecked."""

    entry_id: str
    board_id: str | None
    version: int | None
    raw: bytes

    @classmethod
    def of(cls, entry_id: bytes | str, fields: dict[bytes, bytes]) -> FeedEntry:
        board = fields.get(_BOARD)
        version = fields.get(_VERSION)
        try:
            parsed_version = int(version) if version is not None else None
        except ValueError:
            parsed_version = None
        return cls(
            id_text(entry_id),
            board.decode(errors="replace") if board is not None else None,
            parsed_version,
            fields.get(_EVENT, b""),
        )


def feed_item(fields: dict[bytes, bytes]) -> tuple[str, LogItem] | None:
    """(board id, (version, event)) of a feed entry; None for an entry that does not say them."""
    board = fields.get(_BOARD)
    try:
        version = int(fields[_VERSION])
    except (KeyError, ValueError):
        return None
    if board is None:
        return None
    return board.decode(errors="replace"), (version, fields.get(_EVENT, b""))


# -- board logs --------------------------------------------------------------------------------


class EventLogError(Exception):
    """A board's log cannot be read as a gapless sequence of its events."""


class UnreadableEventError(EventLogError):
    """A stored event cannot be read as the event of its board and version."""


class LogTooLongError(Exception):
    """More of a board's log than one read may hold in memory."""


def checked(event: AnyEvent, board_id: UUID, version: int) -> AnyEvent:
    if event.board_id != board_id or event.version != version:
        raise UnreadableEventError(
            f"the entry for version {version} of board {board_id} holds version "
            f"{event.version} of board {event.board_id}"
        )
    return event


class BoardLog:
    """Boards' own logs in Redis: the one reader of them in the projector."""

    def __init__(self, redis: AnyRedis, keys: StreamKeys) -> None:
        self._redis = redis
        self._keys = keys

    async def head(self, board_id: UUID) -> int:
        """The board's newest version (0: none), from the counter the writer moves with the log."""
        value: bytes | None = await self._redis.get(self._keys.board_head(board_id))  # type: ignore[assignment]
        return int(value) if value is not None else 0

    async def heads(self, board_ids: Sequence[UUID]) -> dict[str, int]:
        """`head` of each board, by id: one MGET per partition and page of boards (the keys of
        one command must share a hash tag on Redis Cluster)."""
        by_partition: dict[int, list[UUID]] = {}
        for board_id in board_ids:
            by_partition.setdefault(self._keys.partition_of(board_id), []).append(board_id)
        heads: dict[str, int] = {}
        for boards in by_partition.values():
            for start in range(0, len(boards), PAGE):
                page = boards[start : start + PAGE]
                values: list[Any] = await self._redis.mget([self._keys.board_head(b) for b in page])
                heads.update(
                    (str(b), int(v) if v is not None else 0)
                    for b, v in zip(page, values, strict=True)
                )
        return heads

    async def boards(self) -> AsyncIterator[str]:
        """The ids of the boards that have a log in Redis (a SCAN: for operators, not hot paths)."""
        pattern = f"{self._keys.prefix}cs:{{p*}}:board:*:log"
        async for key in self._redis.scan_iter(match=pattern, count=1000):
            match = _LOG_KEY.search(id_text(key))
            if match is not None:
                yield match.group(1)

    async def snapshot_version(self, board_id: UUID) -> int:
        """The version of the board's newest snapshot (0: none), which the command side loads
        from: it never reads the log below it."""
        version: Any = await self._redis.hget(self._keys.board_snapshot(board_id), "version")
        return int(version) if version is not None else 0

    async def first_version(self, board_id: UUID) -> int | None:
        """The oldest version still in Redis (above 1 once compacted); None: no log."""
        entries: Any = await self._redis.xrange(self._keys.board_log(board_id), count=1)
        return log_version(entries[0][0]) if entries else None

    async def items(
        self, board_id: UUID, first: int, last: int | None = None, *, count: int = PAGE
    ) -> list[LogItem]:
        """Versions `first`..`last` (inclusive; None: no bound) the log holds, at most `count`."""
        end = "+" if last is None else board_entry_id(last)
        entries: Any = await self._redis.xrange(
            self._keys.board_log(board_id), board_entry_id(first), end, count=count
        )
        return [(log_version(entry_id), fields.get(_EVENT, b"")) for entry_id, fields in entries]

    async def pages(
        self, board_id: UUID, first: int = 1, last: int | None = None
    ) -> AsyncIterator[list[LogItem]]:
        while last is None or first <= last:
            page = await self.items(board_id, first, last)
            if page:
                yield page
            if len(page) < PAGE:
                return
            first = page[-1][0] + 1

    async def after(
        self, board_id: UUID, version: int, *, limit: int | None = None
    ) -> list[LogItem]:
        """Every event after `version`; `LogTooLongError` past `limit` events."""
        items: list[LogItem] = []
        async for page in self.pages(board_id, version + 1):
            items.extend(page)
            if limit is not None and len(items) > limit:
                raise LogTooLongError(f"board {board_id} has more than {limit} events to read")
        return items

    async def events(
        self, board_id: UUID, first: int, last: int | None, count: int
    ) -> list[AnyEvent]:
        """As `items`, parsed (and upcast) and checked against the board and version."""
        return [
            _parsed(version, raw, board_id)
            for version, raw in await self.items(board_id, first, last, count=count)
        ]

    async def trim_below(self, board_id: UUID, version: int) -> int:
        """Drops the versions below `version` (exact `MINID`, never `MAXLEN`)."""
        log = self._keys.board_log(board_id)
        return int(await self._redis.xtrim(log, minid=board_entry_id(version), approximate=False))


def _parsed(version: int, raw: bytes, board_id: UUID) -> AnyEvent:
    try:
        event = parse_event(raw)
    except ValueError as exc:
        raise UnreadableEventError(
            f"log entry {board_entry_id(version)} of board {board_id} is unreadable"
        ) from exc
    return checked(event, board_id, version)


# -- partition feeds ---------------------------------------------------------------------------


class Feeds:
    """The partition feeds, read whole or by range (not through a consumer group)."""

    def __init__(self, redis: AnyRedis, keys: StreamKeys) -> None:
        self._redis = redis
        self._keys = keys

    async def epoch(self, partition: int) -> str | None:
        value: bytes | None = await self._redis.get(self._keys.epoch(partition))  # type: ignore[assignment]
        return value.decode() if value is not None else None

    async def last_id(self, partition: int) -> str:
        """The last id the feed ever gave an entry (`0-0`: no feed): unlike `head`, it does not
        go back when entries are deleted, only when the stream itself was lost."""
        try:
            info: dict[Any, Any] = await self._redis.xinfo_stream(self._keys.feed(partition))
        except ResponseError:
            return ZERO_ID  # no feed at all
        return id_text(info.get("last-generated-id") or info.get(b"last-generated-id") or ZERO_ID)

    async def head(self, partition: int) -> str:
        """The id of the feed's newest entry (`0-0`: empty or none)."""
        entries: Any = await self._redis.xrevrange(self._keys.feed(partition), count=1)
        return id_text(entries[0][0]) if entries else ZERO_ID

    async def boards(self, partition: int, up_to: str) -> set[str]:
        """The boards named on a feed up to an entry id."""
        boards: set[str] = set()
        start = "-"
        while True:
            page: Any = await self._redis.xrange(
                self._keys.feed(partition), start, up_to, count=FEED_PAGE
            )
            for _, fields in page:
                board = fields.get(_BOARD)
                if board is not None:
                    boards.add(board.decode())
            if len(page) < FEED_PAGE:
                return boards
            start = "(" + id_text(page[-1][0])

    async def count(self, partition: int, low: str, high: str, *, cap: int | None = None) -> int:
        """Entries between `low` and `high` (XRANGE bounds, `(` for exclusive), paged so that no
        reply grows with the backlog; stops counting at `cap`."""
        feed = self._keys.feed(partition)
        total = 0
        while cap is None or total < cap:
            want = FEED_PAGE if cap is None else min(FEED_PAGE, cap - total)
            page: Any = await self._redis.xrange(feed, low, high, count=want)
            total += len(page)
            if len(page) < want:
                break
            low = "(" + id_text(page[-1][0])
        return total

    async def trim_below(self, partition: int, min_id: str) -> int:
        feed = self._keys.feed(partition)
        return int(await self._redis.xtrim(feed, minid=min_id, approximate=False))
