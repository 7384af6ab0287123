"""Who is viewing a board, across every projector process.

Each process keeps one field per board it has subscribers of, in a Redis hash per board: the
distinct users it serves there and when it last said so. It rewrites its fields every
`REFRESH_S`; a field older than `TTL_S` belongs to a process that died and is pruned by whoever
reads it. A process whose viewers of a board change publishes the board's id on one channel, and
every process with subscribers of that board reads the hash again and tells them if the set of
viewers changed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import orjson
from cardstream_runtime.redis_urls import REDIS_ERRORS, AnyRedis
from contracts.streams import StreamKeys
from redis.asyncio.cluster import RedisCluster

from projector import channels
from projector.channels import raise_if_cancelling
from projector.read.ws.messages import ViewerKey
from projector.streams import presence_channel, presence_key

log = logging.getLogger("projector.ws.presence")

TTL_S = 30.0
REFRESH_S = 10.0
RETRY_PAUSE_S = 0.5

Viewers = tuple[ViewerKey, ...]


def merge_viewers(
    fields: Mapping[bytes, bytes], now_ms: int, ttl_ms: int
) -> tuple[Viewers, list[bytes]]:
    """The distinct viewers of a board's live fields, sorted by user id, and the stale fields."""
    names: dict[str, str | None] = {}
    stale: list[bytes] = []
    for name, value in fields.items():
        try:
            entry = orjson.loads(value)
            fresh = now_ms - int(entry["at"]) <= ttl_ms
            viewers = [(str(user), None if n is None else str(n)) for user, n in entry["viewers"]]
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            fresh, viewers = False, []
        if not fresh:
            stale.append(name)
            continue
        for user, display in viewers:
            if names.get(user) is None:
                names[user] = display
    return tuple(sorted(names.items())), stale


@dataclass
class _Local:
    # user id -> [subscriptions here, name]
    users: dict[str, list[Any]] = field(default_factory=dict)

    def viewers(self) -> list[list[str | None]]:
        return [[user, entry[1]] for user, entry in sorted(self.users.items())]


class Presence:
    def __init__(
        self,
        redis: AnyRedis,
        keys: StreamKeys,
        process_id: str,
        on_viewers: Callable[[str, Viewers], None],
    ) -> None:
        self._redis = redis
        self._keys = keys
        self._process = process_id.encode()
        self._on_viewers = on_viewers
        self.channel = presence_channel(keys)
        self._local: dict[str, _Local] = {}
        # Boards whose viewers here changed (write and publish), to rewrite (refresh), and to
        # read again (a change here or elsewhere).
        self._changed: set[str] = set()
        self._refresh: set[str] = set()
        self._reread: set[str] = set()
        self._written: set[str] = set()
        self._wake = asyncio.Event()

    def key(self, board_id: str) -> str:
        return presence_key(self._keys, UUID(board_id))

    def join(self, board_id: str, user_id: str, name: str | None) -> None:
        users = self._local.setdefault(board_id, _Local()).users
        entry = users.setdefault(user_id, [0, name])
        entry[0] += 1
        if entry[0] == 1:
            self._changed.add(board_id)
        self.reread(board_id)

    def leave(self, board_id: str, user_id: str) -> None:
        local = self._local.get(board_id)
        entry = local.users.get(user_id) if local else None
        if local is None or entry is None:
            return
        entry[0] -= 1
        if entry[0] > 0:
            return
        del local.users[user_id]
        if not local.users:
            del self._local[board_id]
        self._changed.add(board_id)
        self._wake.set()

    def reread(self, board_id: str) -> None:
        self._reread.add(board_id)
        self._wake.set()

    async def run(self) -> None:
        next_refresh = time.monotonic() + REFRESH_S
        while True:
            raise_if_cancelling()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), max(0.0, next_refresh - time.monotonic()))
            self._wake.clear()
            if time.monotonic() >= next_refresh:
                next_refresh = time.monotonic() + REFRESH_S
                self._refresh |= set(self._local)
                self._reread |= set(self._local)
            try:
                await self._write()
                await self._read()
            except REDIS_ERRORS:
                log.warning("cannot update presence; retrying", exc_info=True)
                await asyncio.sleep(RETRY_PAUSE_S)
                self._wake.set()

    async def listen(self) -> None:
        await channels.listen(self._redis, self.channel, self._heard, lost=self._lost)

    def _lost(self) -> None:
        # Anything missed meanwhile: read every board again.
        self._reread |= set(self._local)

    def _heard(self, data: Any) -> None:
        if not isinstance(data, bytes):
            return
        process, _, board = data.partition(b" ")
        board_id = board.decode(errors="replace")
        if process != self._process and board_id in self._local:
            self.reread(board_id)

    async def _write(self) -> None:
        changed, self._changed = self._changed, set()
        refresh, self._refresh = self._refresh - changed, set()
        boards = [b for b in changed | refresh]
        if not boards:
            return
        now_ms = int(time.time() * 1000)
        async with self._redis.pipeline(transaction=False) as pipe:
            for board in boards:
                local = self._local.get(board)
                if local is None:
                    pipe.hdel(self.key(board), self._process)
                else:
                    value = orjson.dumps({"at": now_ms, "viewers": local.viewers()})
                    pipe.hset(self.key(board), self._process, value)
                pipe.pexpire(self.key(board), int(TTL_S * 3000))
            replies: list[Any] = await pipe.execute()
        publish = set(changed)
        for board, created in zip(boards, replies[::2], strict=True):
            if board in self._local:
                self._written.add(board)
                if created == 1:
                    publish.add(board)  # our field had been pruned as stale: say we are back
            else:
                self._written.discard(board)
        await self._publish(publish)
        self._reread |= changed

    async def _publish(self, boards: set[str]) -> None:
        if not boards:
            return
        messages = [self._process + b" " + board.encode() for board in boards]
        if isinstance(self._redis, RedisCluster):
            # redis-py sends no PUBLISH in a cluster pipeline; any node broadcasts it.
            await asyncio.gather(*(self._redis.publish(self.channel, m) for m in messages))
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for message in messages:
                pipe.publish(self.channel, message)
            await pipe.execute()

    async def _read(self) -> None:
        boards = [b for b in self._reread if b in self._local]
        self._reread = set()
        if not boards:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for board in boards:
                pipe.hgetall(self.key(board))
            replies: list[dict[bytes, bytes]] = await pipe.execute()
        now_ms, pruned = int(time.time() * 1000), set()
        for board, fields in zip(boards, replies, strict=True):
            viewers, stale = merge_viewers(fields, now_ms, int(TTL_S * 1000))
            if stale:
                await self._redis.hdel(self.key(board), *stale)
                pruned.add(board)
            self._on_viewers(board, viewers)
        await self._publish(pruned)

    async def clear(self) -> None:
        """Removes this process's fields: called once its subscribers are gone."""
        boards, self._written = self._written, set()
        self._local.clear()
        if not boards:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for board in boards:
                pipe.hdel(self.key(board), self._process)
            await pipe.execute()
        await self._publish(boards)
