"""One authenticated socket: its subscriptions, and its messages on their way to the client.

A message goes to the socket at once while the transport takes it, and otherwise waits in a
bounded queue of encoded messages, most of them shared with every other subscriber of the board,
so a connection's memory is bounded by the queue's length, not by how far behind it is.
"""

from __future__ import annotations

import asyncio
import logging
import struct
import time
from collections import deque
from collections.abc import Callable
from uuid import UUID

from aiohttp import web
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
        "_task",
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
        self._task: asyncio.Task[None] | None = None

    @property
    def task(self) -> asyncio.Task[None] | None:
        """What this subscription is doing now (a catch-up), while it runs."""
        return self._task

    @task.setter
    def task(self, task: asyncio.Task[None] | None) -> None:
        self._task = task
        if task is not None:
            # A finished task, its coroutine and its result would otherwise stay for as long
            # as the subscription does: on every one of thousands of sockets.
            task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        if self._task is task:
            self._task = None

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

_HEADER_7 = struct.Struct("!BB").pack
_HEADER_16 = struct.Struct("!BBH").pack
_HEADER_64 = struct.Struct("!BBQ").pack
_FIN_TEXT = 0x81
# Past this, header and payload go to the transport as two buffers rather than one copy.
_COPY_LIMIT = 16 * 1024


def text_frame_header(length: int) -> bytes:
    """The header of a final, unmasked text frame (RFC 6455 section 5.2): what a server sends."""
    if length < 126:
        return _HEADER_7(_FIN_TEXT, length)
    if length < 1 << 16:
        return _HEADER_16(_FIN_TEXT, 126, length)
    return _HEADER_64(_FIN_TEXT, 127, length)


class Connection:
    """Messages are written to the socket as they are offered, in the caller's own step, while
    the transport takes them; only when it pushes back (the client does not read fast enough) do
    they wait in a bounded queue, which a task writes out as the transport drains. A task and a
    queue per socket, woken for every event, would cost each of thousands of subscribers a task
    switch per event and keep the garbage collector busy with their short-lived objects."""

    __slots__ = (
        "_closer",
        "_expiry",
        "_flusher",
        "_on_close",
        "_pending",
        "_protocol",
        "_queue_size",
        "_request",
        "_room",
        "_transport",
        "closing",
        "expires_at",
        "name",
        "resynced_at",
        "sid",
        "subs",
        "user_id",
        "ws",
    )

    def __init__(
        self,
        ws: web.WebSocketResponse,
        request: web.BaseRequest,
        claims: Claims,
        *,
        queue_size: int,
        on_close: Callable[[Connection], None],
    ) -> None:
        if ws.compress:
            # The frames written here carry no RSV1 bit: a deflate-compressed socket would read
            # them wrong.
            raise ValueError("a connection's socket must not negotiate compression")
        self.ws = ws
        self._request = request
        self._transport = request.transport
        self._protocol = request.protocol
        self.user_id = claims.sub
        self.name = viewer_name(claims.name)
        self.sid = claims.sid
        self.expires_at = claims.exp
        self.subs: dict[str, Subscription] = {}
        self._queue_size = queue_size
        # Both made the first time the client pushes back, and kept small: most sockets never do.
        self._pending: deque[Queued] | None = None
        self._room: asyncio.Event | None = None
        self.resynced_at = -float("inf")
        self.closing = False
        self._on_close = on_close
        self._flusher: asyncio.Task[None] | None = None
        self._closer: asyncio.Task[None] | None = None
        self._expiry: asyncio.TimerHandle | None = None

    def start(self) -> None:
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
        """Writes or queues without waiting; False when the queue is full (the client fell
        behind)."""
        if self.closing:
            return True
        pending = self._pending
        if not pending and not self._protocol.writing_paused:
            self._write(data)
            return True
        if pending is None:
            pending = self._pending = deque()
        if len(pending) >= self._queue_size:
            return False
        pending.append((sub, data))
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush())
        return True

    async def put(self, sub: Subscription | None, data: bytes, wait_s: float) -> bool:
        """Writes or queues, waiting up to `wait_s` for room (a catch-up may send more than
        fits)."""
        if self.offer(sub, data):
            return True
        if self._room is None:
            self._room = asyncio.Event()
        room = self._room
        try:
            async with asyncio.timeout(wait_s):
                while not self.offer(sub, data):
                    room.clear()
                    await room.wait()
        except TimeoutError:
            return False
        return True

    def queued(self) -> int:
        """Messages waiting for the transport to take them."""
        return len(self._pending) if self._pending is not None else 0

    def buffered_bytes(self) -> int:
        """What the transport holds that the kernel has not taken yet."""
        transport = self._transport
        return transport.get_write_buffer_size() if transport is not None else 0

    def drop_queued(self) -> None:
        if self._pending:
            self._pending.clear()
        if self._room is not None:
            self._room.set()

    def _gone(self) -> bool:
        # A socket aiohttp has closed (or is closing) gets nothing after its close frame; the
        # connection's own receive loop learns of the close and ends it.
        transport = self._transport
        return transport is None or transport.is_closing() or self.ws.closed

    def _write(self, data: bytes) -> None:
        if self._gone():
            return
        transport = self._transport
        assert transport is not None
        header = text_frame_header(len(data))
        if len(data) > _COPY_LIMIT:
            transport.writelines((header, data))
        else:
            transport.write(header + data)

    def _write_while_room(self, pending: deque[Queued]) -> None:
        while pending and not self._protocol.writing_paused:
            sub, data = pending.popleft()
            if sub is None or not sub.ended:
                self._write(data)
        if self._room is not None:
            self._room.set()

    async def _flush(self) -> None:
        pending = self._pending
        assert pending is not None
        try:
            while pending and not self.closing and not self._gone():
                # The drain aiohttp's own frames wait on: it returns once the transport has room
                # again, and raises once the socket is gone.
                await self._request.writer.drain()
                self._write_while_room(pending)
        except (ConnectionError, RuntimeError):
            self.close(CLOSE_ABNORMAL, b"")
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise
            # aiohttp failed the drain waiter we shared with its heartbeat: the socket is gone.
            self.close(CLOSE_ABNORMAL, b"")
        finally:
            self._flusher = None
            if pending and (self.closing or self._gone()):
                pending.clear()

    # -- closing -------------------------------------------------------------------------------

    def close(self, code: int, message: bytes) -> None:
        if self.closing:
            return
        self.closing = True
        if self._expiry is not None:
            self._expiry.cancel()
        # The flusher is not cancelled: aiohttp's writes share one drain waiter, and cancelling a
        # flusher blocked on it would fail the close frame's write too. With nothing queued, it
        # ends as the transport drains or the socket goes.
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
        tasks = [t for t in (self._flusher, self._closer) if t is not None]
        if tasks:
            await asyncio.wait(tasks)
