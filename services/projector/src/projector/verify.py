"""`python -m projector verify`: checks boards' hash chains in the MongoDB archive and in Redis.

Works on the stored JSON alone (docs/event-chain.md): nothing is parsed into models, so an event
that no longer validates is still checked, and upcasting never hides a changed byte.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import orjson
from contracts.chain import ChainBreak, Checked, Document, first_break
from contracts.streams import EVENT_FIELD, StreamKeys, board_entry_id
from pymongo.asynchronous.collection import AsyncCollection
from redis.asyncio import Redis

READ_PAGE = 1000
Where = Literal["archive", "redis"]


@dataclass(frozen=True, slots=True)
class Finding:
    board_id: str
    where: Where
    result: ChainBreak | Checked

    @property
    def intact(self) -> bool:
        return isinstance(self.result, Checked)

    def __str__(self) -> str:
        r = self.result
        if isinstance(r, Checked):
            return (
                f"board {self.board_id} {self.where}: intact, "
                f"{r.count} events to version {r.version}"
            )
        found = r.found if r.found is not None else "nothing"
        return (
            f"board {self.board_id} {self.where}: BROKEN at version {r.version}: "
            f"{r.problem} expected {r.expected}, found {found}"
        )


class ChainVerifier:
    def __init__(self, events: AsyncCollection[dict[str, Any]], redis: Redis, keys: StreamKeys):
        self._events = events
        self._redis = redis
        self._keys = keys

    async def verify(self, board_id: str) -> list[Finding]:
        archive = await self._archive(board_id)
        redis = await self._redis_log(board_id)
        return [
            Finding(board_id, "archive", first_break(archive)),
            # A compacted log starts above version 1; the event before its first is unknown.
            Finding(
                board_id,
                "redis",
                first_break(redis, previous_hash=None if _trimmed(redis) else "0" * 64),
            ),
        ]

    async def boards(self) -> list[str]:
        archived = {str(b) for b in await self._events.distinct("board_id")}
        pattern = f"{self._keys.prefix}cs:{{p*}}:board:*:log"
        logged = {
            match.group(1)
            async for key in self._redis.scan_iter(match=pattern, count=1000)
            if (match := _LOG_KEY.search(key.decode() if isinstance(key, bytes) else key))
        }
        return sorted(archived | logged)

    async def _archive(self, board_id: str) -> list[tuple[int, Document | None]]:
        cursor = self._events.find({"board_id": board_id}).sort("version", 1)
        return [(int(doc["version"]), _document(doc.get("event"))) async for doc in cursor]

    async def _redis_log(self, board_id: str) -> list[tuple[int, Document | None]]:
        return [item async for item in self._log_entries(board_id)]

    async def _log_entries(self, board_id: str) -> AsyncIterator[tuple[int, Document | None]]:
        log = self._keys.board_log(uuid.UUID(board_id))
        start = board_entry_id(1)
        while True:
            page: list[Any] = await self._redis.xrange(log, start, "+", count=READ_PAGE)  # type: ignore[assignment]
            for entry_id, fields in page:
                yield int(entry_id.split(b"-")[0]), _decoded(fields.get(EVENT_FIELD.encode()))
            if len(page) < READ_PAGE:
                return
            start = "(" + page[-1][0].decode()


_LOG_KEY = re.compile(r":board:([0-9a-f-]{36}):log$")


def _trimmed(entries: Sequence[tuple[int, Document | None]]) -> bool:
    return bool(entries) and entries[0][0] != 1


def _document(value: Any) -> Document | None:
    return value if isinstance(value, dict) else None


def _decoded(raw: bytes | None) -> Document | None:
    if raw is None:
        return None
    try:
        return _document(orjson.loads(raw))
    except orjson.JSONDecodeError:
        return None
