"""One authenticated socket: its subscriptions, its bounded send queue and the task that drains it.

The queue holds encoded messages, most of them shared with every other subscriber of the board,
so a connection's memory is bounded by the queue's length, not by how far behind it is.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from uuid import UUID

from aiohttp import WSMsgType, web
from cardstream_runtime.jwt import Claims

from projector.read.ws.messages import CLOSE_ABNORMAL, CLOSE_UNAUTHORIZED, ViewerKey, viewer_name
from projector.streams import LogItem

log = logging.getLogger("projector.ws")

CLOSE_TIMEOUT_S = 3.0
# A subscription buffers at most this many live events while it catches up; past it, it forgets
# them and reads the board's log again instead.
BUFFER_LIMIT = 1_000


class Subscription:
    """One board on one connection. `last` is the last version queued for the client; while
    `syncing`, live events wait in `buffer` for the catch-up to finish."""

    __slots__ = (
        "board",
        "board_id",
        "buffer",
        "conn",
        "ended",
        "last",
        "overflowed",
        "presence",
        "ready",
        "syncing",
        "task",
    )

    def __init__(self, conn: Connection, board: UUID) -> None:
        self.conn = conn
        self.board = board
        self.board_id = str(board)
        self.last = 0
        self.syncing = True
        # Authorized and sent the board once: a viewer, and told about presence.
        self.ready = False
        self.ended = False
        self.buffer: list[LogItem] = []
        self.overflowed = False
        self.presence: tuple[ViewerKey, ...] | None = None
        self.task: asyncio.Task[None] | None = None

    @property
    def user_id(self) -> str:
        return self.conn.user_id

    def hold(self, items: list[LogItem]) -> None:
        if self.overflowed:
            return
        if len(self.buffer) + len(items) > BUFFER_LIMIT:
            self.buffer.clear()
            self.overflowed = True
            return
        self.buffer.extend(items)

    def take(self) -> tuple[list[LogItem], bool]:
        items, overflowed = self.buffer, self.overflowed
        self.buffer, self.overflowed = [], False
        return items, overflowed

    def restart(self) -> None:
        self.syncing = True
        self.buffer = []
        self.overflowed = False
        self.presence = None

    def stop_task(self) -> None:
        task = self.task
        self.task = None
        if task is not None and task is not asyncio.current_task():
            task.cancel()


Queued = tuple[Subscription | None, bytes]


class Connection:
    def __init__(
        self,
        ws: web.WebSocketResponse,
        request: web.BaseRequest,
        claims: Claims,
        *,
        queue_size: int,
        on_close: Callable[[Connection], None],
    ) -> None:
        self.ws = ws
        self._transport = request.transport
        self.user_id = claims.sub
        self.name = viewer_name(claims.name)
        self.sid = claims.sid
        self.expires_at = claims.exp
        self.subs: dict[str, Subscription] = {}
        self.queue: asyncio.Queue[Queued] = asyncio.Queue(maxsize=queue_size)
        self.resynced_at = -float("inf")
        self.closing = False
        self._on_close = on_close
        self._writer: asyncio.Task[None] | None = None
        self._sending = False
        self._closer: asyncio.Task[None] | None = None
        self._expiry: asyncio.TimerHandle | None = None

    def start(self) -> None:
        self._writer = asyncio.create_task(self._write())
        self.expire_at(self.expires_at)

    def expire_at(self, exp: int) -> None:
        self.expires_at = exp
        if self._expiry is not None:
            self._expiry.cancel()
        delay = max(0.0, exp - time.time())
        self._expiry = asyncio.get_running_loop().call_later(delay, self._expired)

    def _expired(self) -> None:
        self._expiry = None
        self.close(CLOSE_UNAUTHORIZED, b"token expired")

    # -- sending -------------------------------------------------------------------------------

    def offer(self, sub: Subscription | None, data: bytes) -> bool:
        """Queues without waiting; False when the queue is full (the client fell behind)."""
        if self.closing:
            return True
        try:
            self.queue.put_nowait((sub, data))
        except asyncio.QueueFull:
            return False
        return True

    async def put(self, sub: Subscription | None, data: bytes, wait_s: float) -> bool:
        """Queues, waiting up to `wait_s` for room (a catch-up may send more than fits)."""
        if self.offer(sub, data):
            return True
        try:
            async with asyncio.timeout(wait_s):
                await self.queue.put((sub, data))
        except TimeoutError:
            return False
        return True

    def buffered_bytes(self) -> int:
        """What the transport holds that the kernel has not taken yet."""
        transport = self._transport
        return transport.get_write_buffer_size() if transport is not None else 0

    def drop_queued(self) -> None:
        while not self.queue.empty():
            self.queue.get_nowait()

    async def _write(self) -> None:
        try:
            while not self.closing:
                sub, data = await self.queue.get()
                if sub is not None and sub.ended:
                    continue  # unsubscribed or removed since: not one more message of it
                self._sending = True
                try:
                    await self.ws.send_frame(data, WSMsgType.TEXT)
                finally:
                    self._sending = False
        except (ConnectionError, RuntimeError):
            self.close(CLOSE_ABNORMAL, b"")
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise
            # aiohttp failed the drain waiter we shared with its heartbeat: the socket is gone.
            self.close(CLOSE_ABNORMAL, b"")

    # -- closing -------------------------------------------------------------------------------

    def close(self, code: int, message: bytes) -> None:
        if self.closing:
            return
        self.closing = True
        if self._expiry is not None:
            self._expiry.cancel()
        # aiohttp's writes share one drain waiter: cancelling a writer blocked on it would fail the
        # close frame's write too. One that is sending ends with the socket instead.
        writer = self._writer
        if writer is not None and not self._sending and writer is not asyncio.current_task():
            writer.cancel()
        self.drop_queued()
        self._closer = asyncio.create_task(self._close(code, message))
        self._on_close(self)

    async def _close(self, code: int, message: bytes) -> None:
        try:
            await asyncio.wait_for(self.ws.close(code=code, message=message), CLOSE_TIMEOUT_S)
        except TimeoutError:
            # A client that does not read cannot take the close frame either: drop the socket,
            # and what its buffers hold with it.
            self._abort()
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                self._abort()
                raise
            # Another write's cancellation failed the drain waiter aiohttp shares among writes.
        except Exception:
            log.debug("closing a socket failed", exc_info=True)
        # However aiohttp ended it, a transport still flushing to a client that stopped reading
        # could linger on zero-window probes: drop it after a grace period (a no-op once closed).
        asyncio.get_running_loop().call_later(CLOSE_TIMEOUT_S, self._abort)

    def _abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    async def wait_closed(self) -> None:
        tasks = [t for t in (self._writer, self._closer) if t is not None]
        if tasks:
            await asyncio.wait(tasks)
