"""Fences: boards the command side must not append to until an operator has recovered them.

When Redis is restored from an older copy, a board's log may end below versions that were
acknowledged and that the archive and the read models hold. The next command would be appended
at a version the archive already holds for another event, mixing two histories. Only the
projector sees both sides, so it names such a board in its partition's fence hash
(`StreamKeys.fenced`: board id -> this module's JSON, in the event log's Redis under the
partition's hash tag); the boards service's append reads it in the same atomic call and refuses
the board's commands (409 `board_diverged`). An operator lifts the fence once the board is
recovered (`python -m projector unfence`; docs/operations.md#a-board-whose-log-diverged).

A fence is set with HSETNX: the first finding stays, as the earliest evidence of what happened;
finding the same board again changes nothing. The fence lives in Redis, so a later restore of an
older copy loses it too, and the projector's next start or `rebuild --verify-only` sets it again.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import orjson
from cardstream_runtime.redis_urls import AnyRedis
from contracts.streams import StreamKeys

from projector.store.port import ReadStore
from projector.streams import BoardLog, id_text

log = logging.getLogger("projector.fences")

LOST_VERSIONS = "the log lost versions the archive holds"


@dataclass(frozen=True, slots=True)
class Fence:
    board_id: str
    reason: str
    # The newest version the archive and the read models hold, and the log's head when the fence
    # was set (None in a fence written by hand).
    archive_version: int | None
    log_end: int | None
    # Who found it ("projector <instance>", "rebuild", "rebuild --verify-only") and when.
    by: str
    at: str

    @classmethod
    def found(
        cls, board_id: str, reason: str, *, archive_version: int, log_end: int, by: str
    ) -> Fence:
        return cls(board_id, reason, archive_version, log_end, by, datetime.now(UTC).isoformat())

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def encoded(self) -> bytes:
        fields = self.as_dict()
        del fields["board_id"]  # the hash's field
        return orjson.dumps(fields)

    @classmethod
    def decoded(cls, board_id: str, raw: bytes | str) -> Fence:
        """Tolerant: an operator may have fenced a board by hand, with any text as the reason."""
        try:
            fields = orjson.loads(raw)
        except orjson.JSONDecodeError:
            fields = None
        if not isinstance(fields, dict):
            text = raw.decode(errors="replace") if isinstance(raw, bytes) else raw
            return cls(board_id, text, None, None, "", "")
        return cls(
            board_id,
            str(fields.get("reason", "")),
            _int_or_none(fields.get("archive_version")),
            _int_or_none(fields.get("log_end")),
            str(fields.get("by", "")),
            str(fields.get("at", "")),
        )


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) else None


class BoardFences:
    def __init__(self, redis: AnyRedis, keys: StreamKeys) -> None:
        self._redis = redis
        self._keys = keys

    def _key(self, board_id: str) -> str:
        return self._keys.fenced(self._keys.partition_of(UUID(board_id)))

    async def fence(self, fence: Fence) -> bool:
        """Holds the board; False when it was held already (the first fence stays)."""
        key = self._key(fence.board_id)
        added: Any = await self._redis.hsetnx(key, fence.board_id, fence.encoded())
        if added:
            log.error(
                "board %s held for recovery: the command side refuses its commands until an "
                "operator lifts the fence (python -m projector unfence): %s",
                fence.board_id,
                fence.reason,
                extra={"fields": {"board_id": fence.board_id, "fence": fence.as_dict()}},
            )
        return bool(added)

    async def get(self, board_id: str) -> Fence | None:
        raw: Any = await self._redis.hget(self._key(board_id), board_id)
        return Fence.decoded(board_id, raw) if raw is not None else None

    async def lift(self, board_id: str) -> Fence | None:
        """Lifts the board's fence; the fence it was, or None if it had none."""
        key = self._key(board_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hget(key, board_id)
            pipe.hdel(key, board_id)
            raw, _ = await pipe.execute()
        return Fence.decoded(board_id, raw) if raw is not None else None

    async def all(self) -> list[Fence]:
        """Every fenced board, by id (one HGETALL per partition: for operators)."""
        fences: list[Fence] = []
        for partition in range(self._keys.partitions):
            held: dict[Any, Any] = await self._redis.hgetall(self._keys.fenced(partition))
            fences += (Fence.decoded(id_text(board), raw) for board, raw in held.items())
        return sorted(fences, key=lambda f: f.board_id)


async def fence_boards_beyond_their_logs(
    fences: BoardFences,
    store: ReadStore,
    board_log: BoardLog,
    keys: StreamKeys,
    partitions: Iterable[int],
    *,
    why: str,
    by: str,
) -> list[Fence]:
    """Fences every board of `partitions` whose read models in `store` are at a version its log
    no longer reaches: one read of the store, one MGET per partition's boards. Returns them."""
    wanted = set(partitions)
    versions = {
        board: version
        for board, version in (await store.board_versions()).items()
        if keys.partition_of(UUID(board)) in wanted
    }
    heads = await board_log.heads([UUID(board) for board in versions])
    found = [
        Fence.found(
            board,
            f"{why}: the read models are at version {version}, its log ends at {heads[board]}; "
            f"{LOST_VERSIONS}",
            archive_version=version,
            log_end=heads[board],
            by=by,
        )
        for board, version in sorted(versions.items())
        if version > heads[board]
    ]
    for fence in found:
        await fences.fence(fence)
    return found
