"""The versions the read store holds, as the appliers say after each write: a read that waits for
`min_version` is woken by them instead of asking the store again every few milliseconds.

An applier calls `AppliedVersions.written` in its own process and publishes the same on a Redis
channel for every other serving process (`announce`); a serving process listens (`listen`) and
wakes its waiters. A waiter still asks the store itself before it answers, and again at least every
`RECHECK_S`: a lost message costs latency, never a wrong answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping

import orjson
from cardstream_runtime.redis_urls import AnyRedis

from projector import channels

# The longest a waiter goes without asking the store itself.
RECHECK_S = 0.5


class AppliedVersions:
    def __init__(self) -> None:
        self._waiting: dict[str, list[tuple[int, asyncio.Future[None]]]] = {}

    def expect(self, board_id: str, version: int) -> asyncio.Future[None]:
        """A future done once a write of the board at `version` or later is heard of. Ask for it
        before reading the store, so a write between the read and the wait is not missed."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(board_id, []).append((version, future))
        return future

    def forget(self, board_id: str, future: asyncio.Future[None]) -> None:
        waiting = self._waiting.get(board_id)
        if waiting is None:
            return
        waiting[:] = [(v, f) for v, f in waiting if f is not future]
        if not waiting:
            del self._waiting[board_id]

    def written(self, versions: Mapping[str, int]) -> None:
        for board_id, version in versions.items():
            waiting = self._waiting.get(board_id)
            if not waiting:
                continue
            still = []
            for wanted, future in waiting:
                if wanted <= version:
                    if not future.done():
                        future.set_result(None)
                else:
                    still.append((wanted, future))
            if still:
                self._waiting[board_id] = still
            else:
                del self._waiting[board_id]

    def wake_all(self) -> None:
        """Every waiter asks the store again (after a lost channel, messages may be missing)."""
        for waiting in self._waiting.values():
            for _, future in waiting:
                if not future.done():
                    future.set_result(None)
        self._waiting.clear()


def encode(generation: int, versions: Mapping[str, int]) -> bytes:
    return orjson.dumps({"g": generation, "v": versions})


def decode(data: bytes) -> tuple[int, dict[str, int]] | None:
    try:
        message = orjson.loads(data)
        return int(message["g"]), {str(b): int(v) for b, v in message["v"].items()}
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
        return None


async def announce(
    redis: AnyRedis, channel: str, generation: int, versions: Mapping[str, int]
) -> None:
    await redis.publish(channel, encode(generation, versions))


async def listen(
    redis: AnyRedis, channel: str, applied: AppliedVersions, generation: Callable[[], int]
) -> None:
    """Wakes `applied`'s waiters on what the appliers announce about the generation this process
    reads (`generation()`, asked at each message: a rebuild may switch it)."""

    def heard(data: bytes) -> None:
        message = decode(data)
        if message is not None and message[0] == generation():
            applied.written(message[1])

    await channels.listen(redis, channel, heard, lost=applied.wake_all)
