"""`EndedSessions`: the sessions the auth service has ended (a logout, a refresh token used
twice, an operator), as a deny list that every token verifier checks in memory.

Ending a session, the auth service adds its id to the sorted set `<prefix>cs:sessions:denied`,
scored with the moment (Unix seconds) after which no access token of it can still be valid, and
publishes the id on `<prefix>cs:sessions:ended`. A process subscribes to the channel first and
then reads the set, so a session ended between the two is not missed, and does both again after
every lost connection. `ended(sid)` is then a dictionary lookup: no round trip on a request.

One sorted set rather than a key per session: reading it is one command whatever else the
keyspace holds (a SCAN of the event log's Redis would visit every board's keys), and the auth
service trims what has expired each time it adds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import cast

from redis.asyncio.client import PubSub

from cardstream_runtime.redis_urls import REDIS_ERRORS, AnyRedis, pubsub_for

log = logging.getLogger("cardstream.ended_sessions")

# How long an ended session stays denied: the longest access token lifetime the auth service
# allows (AUTH_ACCESS_TTL_S is at most 3,600 s) and the verifiers' clock leeway, with room.
DENY_FOR_S = 3600 + 120
RETRY_PAUSE_S = 0.5
LISTEN_TIMEOUT_S = 1.0
# How long a service waits at start for the first read of the set before it serves anyway.
FIRST_LOAD_TIMEOUT_S = 5.0


def denied_key(key_prefix: str) -> str:
    return f"{key_prefix}cs:sessions:denied"


def ended_channel(key_prefix: str) -> str:
    return f"{key_prefix}cs:sessions:ended"


async def end_session(redis: AnyRedis, key_prefix: str, sid: str, *, now: float) -> None:
    """What the auth service does when a session ends: denied and trimmed in one transaction,
    then announced. The set is what counts, the message only a wake-up, so it goes after the
    set has the session: a subscriber that hears it and reads the set finds the session there.
    (A PUBLISH inside the transaction would make a cluster refuse it: redis-py sends no PUBLISH
    in a cluster pipeline. A PUBLISH lost after the write is made up for by every process
    reading the set again whenever its subscription was lost.)"""
    key = denied_key(key_prefix)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.zadd(key, {sid: now + DENY_FOR_S})
        pipe.zremrangebyscore(key, "-inf", now)
        await pipe.execute()
    await redis.publish(ended_channel(key_prefix), sid)


class EndedSessions:
    def __init__(
        self,
        redis: AnyRedis,
        *,
        key_prefix: str = "",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._redis = redis
        self._key = denied_key(key_prefix)
        self.channel = ended_channel(key_prefix)
        self._clock = clock
        self._until: dict[str, float] = {}
        self._listeners: list[Callable[[str], None]] = []
        self.loaded = asyncio.Event()

    def ended(self, sid: str) -> bool:
        until = self._until.get(sid)
        if until is None:
            return False
        if until <= self._clock():
            del self._until[sid]
            return False
        return True

    def on_ended(self, listener: Callable[[str], None]) -> None:
        """`listener(sid)` for each session ended from now on (the WebSocket hub closes its
        sockets), and for each one read from the set after a reconnect."""
        self._listeners.append(listener)

    def _deny(self, sid: str, until: float) -> None:
        known = self._until.get(sid)
        self._until[sid] = max(until, known or until)
        if known is None:
            for listener in self._listeners:
                listener(sid)

    def _forget_expired(self) -> None:
        now = self._clock()
        for sid in [sid for sid, until in self._until.items() if until <= now]:
            del self._until[sid]

    async def run(self) -> None:
        """Keeps the list current until cancelled, across lost connections."""
        attempt = 0
        while True:
            pubsub: PubSub | None = None
            try:
                pubsub = await pubsub_for(self._redis, attempt)
                await pubsub.subscribe(self.channel)
                await self._load()
                while True:
                    _raise_if_cancelling()
                    message = await pubsub.get_message(timeout=LISTEN_TIMEOUT_S)
                    if message is not None and isinstance(message.get("data"), bytes):
                        sid = message["data"].decode(errors="replace")
                        self._deny(sid, self._clock() + DENY_FOR_S)
            except REDIS_ERRORS:
                log.warning("lost the ended sessions channel; reading them again", exc_info=True)
                attempt += 1
                await asyncio.sleep(RETRY_PAUSE_S)
            finally:
                if pubsub is not None:
                    with contextlib.suppress(*REDIS_ERRORS):
                        await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def _load(self) -> None:
        now = self._clock()
        denied = await self._redis.zrangebyscore(self._key, now, "+inf", withscores=True)
        for member, until in cast(list[tuple[bytes, float]], denied):
            self._deny(member.decode(errors="replace"), float(until))
        self._forget_expired()
        self.loaded.set()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[EndedSessions]:
        """Runs the list for the life of the block, having waited (a little) for its first
        read, so that a service does not start by accepting tokens of ended sessions."""
        task = asyncio.create_task(self.run(), name="ended-sessions")
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.loaded.wait(), FIRST_LOAD_TIMEOUT_S)
            if not self.loaded.is_set():
                log.warning("ended sessions not read within %.0f s; going on", FIRST_LOAD_TIMEOUT_S)
            yield self
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def _raise_if_cancelling() -> None:
    # redis-py can swallow a cancellation that lands while it connects (projector.channels).
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
