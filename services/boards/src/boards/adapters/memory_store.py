"""`InMemoryEventStore`: the same contract as `RedisEventStore`, in a dict, for fast unit tests.

The shared contract suite (tests/integration/test_event_store_contract.py) runs against both.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from uuid import UUID

import orjson
from contracts.chain import ZERO_HASH, event_hash
from contracts.envelope import AnyEvent
from contracts.upcasting import parse_event

from boards.adapters.event_store import (
    Appended,
    BoardFencedError,
    ChainBrokenError,
    CorruptLogError,
    Duplicates,
    NewEvents,
    Recorded,
    Tip,
    VersionConflictError,
    check_group,
    one_of_one,
)


class InMemoryEventStore:
    def __init__(self) -> None:
        self._logs: defaultdict[UUID, list[bytes]] = defaultdict(list)
        self._records: dict[tuple[UUID, UUID], Recorded] = {}
        self._epoch = uuid.uuid4().hex
        self._snapshots: dict[UUID, tuple[int, bytes]] = {}
        # What the partition feeds would hold, in append order: (board id, version, event).
        self.feed: list[tuple[UUID, int, bytes]] = []
        # What the projector writes to `StreamKeys.fenced` in Redis: board id -> why.
        self._fenced: dict[UUID, str] = {}

    def fence(self, board_id: UUID, reason: str) -> None:
        self._fenced[board_id] = reason

    def unfence(self, board_id: UUID) -> None:
        self._fenced.pop(board_id, None)

    async def epoch(self, board_id: UUID) -> str:
        return self._epoch

    async def append(self, batch: NewEvents) -> Appended | Recorded:
        return one_of_one(batch, await self.append_group([batch]))

    async def append_group(self, group: Sequence[NewEvents]) -> Appended | Duplicates:
        check_group(group)
        board_id = group[0].board_id
        # As append.lua: every check before the first write, records before versions.
        earlier = {
            i: recorded
            for i, batch in enumerate(group)
            if (recorded := self._records.get((board_id, batch.command_id))) is not None
        }
        if earlier:
            return Duplicates(earlier)
        if (reason := self._fenced.get(board_id)) is not None:
            raise BoardFencedError(board_id, reason)
        log = self._logs[board_id]
        if len(log) != group[0].expected_version:
            raise VersionConflictError(len(log))
        self._check_chain(log, [event for batch in group for event in batch.events])
        for batch in group:
            for event in batch.events:
                log.append(event)
                self.feed.append((board_id, len(log), event))
            self._records[(board_id, batch.command_id)] = Recorded(batch.request_hash, batch.result)
        return Appended(len(log))

    @staticmethod
    def _check_chain(log: list[bytes], events: Sequence[bytes]) -> None:
        head_hash = event_hash(orjson.loads(log[-1])) if log else ZERO_HASH
        previous = head_hash
        for raw in events:
            document = orjson.loads(raw)
            if not isinstance(document.get("prev_hash"), str) or not isinstance(
                document.get("hash"), str
            ):
                raise CorruptLogError("an event has no prev_hash and hash")
            if document["prev_hash"] != previous:
                raise ChainBrokenError(head_hash)
            previous = document["hash"]

    async def read(
        self, board_id: UUID, *, after_version: int = 0, to_version: int | None = None
    ) -> list[AnyEvent]:
        log = self._logs.get(board_id, [])
        return [parse_event(raw) for raw in log[after_version:to_version]]

    async def recorded(self, board_id: UUID, command_id: UUID) -> Recorded | None:
        return self._records.get((board_id, command_id))

    async def head(self, board_id: UUID) -> int:
        return len(self._logs.get(board_id, []))

    async def tip(self, board_id: UUID) -> Tip:
        log = self._logs.get(board_id, [])
        return Tip(len(log), event_hash(orjson.loads(log[-1])) if log else ZERO_HASH)

    async def snapshot(self, board_id: UUID) -> tuple[int, bytes] | None:
        return self._snapshots.get(board_id)

    async def save_snapshot(self, board_id: UUID, version: int, data: bytes) -> bool:
        stored = self._snapshots.get(board_id)
        if stored is not None and stored[0] >= version:
            return False
        self._snapshots[board_id] = (version, data)
        return True
