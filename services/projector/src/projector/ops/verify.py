"""`python -m projector verify`: checks boards' hash chains in the MongoDB archive and in Redis.

Works on the stored JSON alone (docs/event-chain.md): nothing is parsed into models, so an event
that no longer validates is still checked, and upcasting never hides a changed byte.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import orjson
from contracts.chain import ChainBreak, Checked, Document, first_break

from projector.store.port import ReadStore
from projector.streams import BoardLog

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
    def __init__(self, store: ReadStore, board_log: BoardLog):
        self._store = store
        self._log = board_log

    async def verify(self, board_id: str) -> list[Finding]:
        board = uuid.UUID(board_id)
        archive = await self._store.archived_documents(board)
        redis = [
            (version, _decoded(raw))
            async for page in self._log.pages(board)
            for version, raw in page
        ]
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
        archived = set(await self._store.archived_boards())
        return sorted(archived | {board async for board in self._log.boards()})


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
