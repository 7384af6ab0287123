"""`WebSocketHub`: live boards over WebSocket (docs/websocket.md).

Per connection and board, versions are strictly increasing with no gap and no duplicate. A
subscription is registered for live events before anything is read, so whatever happens while the
snapshot and the catch-up are read is held and sent after them, minus the versions they covered.
Live events come from one tail over every partition feed, whichever process applies them; a gap
in the feed is filled from the board's own log.

A connection's queue is bounded. A client that lets it fill is sent a fresh snapshot of every board
it follows (its queued messages are dropped); one that fills it again within `RESYNC_WINDOW_S` is
closed with 1013.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

from aiohttp import WSMsgType, hdrs, web
from cardstream_runtime.errors import error_response
from cardstream_runtime.jwt import Claims, InvalidTokenError, TokenVerifier
from contracts.streams import StreamKeys
from contracts.wire import (
    AuthMessage,
    PingMessage,
    SubscribeMessage,
    UnsubscribeMessage,
    client_message_adapter,
)
from pydantic import ValidationError
from pymongo.errors import PyMongoError
from redis.asyncio import Redis
from redis.exceptions import RedisError

from projector.mongo import MongoReadStore
from projector.settings import ProjectorSettings
from projector.ws import channels
from projector.ws.batches import (
    BoardBatch,
    Item,
    contiguous,
    encode_events,
    fold_members,
    removals,
    runs_of,
)
from projector.ws.connection import CLOSE_TIMEOUT_S, Connection, Subscription
from projector.ws.feed import BoardLog, FeedTail, LogTooLongError
from projector.ws.messages import (
    CLOSE_GOING_AWAY,
    CLOSE_NORMAL,
    CLOSE_TOO_SLOW,
    CLOSE_UNAUTHORIZED,
    PONG,
    encode_error,
    encode_presence,
)
from projector.ws.presence import Presence, Viewers
from projector.ws.snapshots import Snapshots

log = logging.getLogger("projector.ws")

# A `since_version` further behind the head than this gets a snapshot instead of the events.
MAX_CATCH_UP = 1_000
MAX_SUBSCRIPTIONS = 100
# Events read from a log after a snapshot or a read-model version, for one subscriber.
TAIL_LIMIT = 50_000
RESYNC_WINDOW_S = 10.0
# How long a catch-up waits for room in a slow client's queue before it counts as falling behind.
CATCH_UP_WAIT_S = 10.0
HEARTBEAT_S = 30.0


class NotMemberError(Exception):
    pass


class RemovedError(Exception):
    pass


class FellBehindError(Exception):
    pass


class LogGapError(Exception):
    pass


@dataclass
class HubStats:
    resyncs: int = 0
    closed_too_slow: int = 0


class _Board:
    __slots__ = ("subs",)

    def __init__(self) -> None:
        self.subs: set[Subscription] = set()


class WebSocketHub:
    def __init__(
        self,
        redis: Redis,
        store: MongoReadStore,
        verifier: TokenVerifier,
        settings: ProjectorSettings,
    ) -> None:
        self._store = store
        self._verifier = verifier
        self._settings = settings
        keys = StreamKeys(prefix=settings.key_prefix, partitions=settings.partitions)
        self._redis = redis
        self._sessions_channel = keys.sessions_ended()
        self._log = BoardLog(redis, keys)
        self._snapshots = Snapshots(store, self._log)
        self._boards: dict[str, _Board] = {}
        self._tail = FeedTail(
            redis,
            keys,
            wanted=self._boards.__contains__,
            dispatch=self._dispatch,
            count=settings.batch_size,
            block_ms=settings.block_ms,
        )
        process_id = f"{settings.instance_id}-{secrets.token_hex(4)}"
        self._presence = Presence(redis, keys, process_id, self._send_presence)
        self.connections: set[Connection] = set()
        self._by_sid: dict[str, set[Connection]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._syncs: set[asyncio.Task[None]] = set()
        self._closed = False
        self.stats = HubStats()

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        await self._tail.start()
        self._tasks = [
            asyncio.create_task(self._tail.run(), name="ws-feed-tail"),
            asyncio.create_task(self._presence.run(), name="ws-presence"),
            asyncio.create_task(self._presence.listen(), name="ws-presence-channel"),
            asyncio.create_task(
                channels.listen(self._redis, self._sessions_channel, self._session_ended),
                name="ws-sessions-ended",
            ),
        ]

    async def close(self) -> None:
        """Closes every socket with 1001 and takes this process's viewers out of presence."""
        if self._closed:
            return
        self._closed = True
        await _cancel(self._tasks)
        connections = list(self.connections)
        for conn in connections:
            conn.close(CLOSE_GOING_AWAY, b"server shutting down")
        await asyncio.gather(*(conn.wait_closed() for conn in connections))
        await _cancel(list(self._syncs))
        await self._snapshots.close()
        try:
            await self._presence.clear()
        except RedisError:
            log.warning("cannot clear presence; it lapses on its own", exc_info=True)

    def _session_ended(self, data: bytes) -> None:
        # Published by the auth service on logout: that session's sockets close at once.
        task = asyncio.create_task(self._end_session(data.decode(errors="replace")))
        self._syncs.add(task)
        task.add_done_callback(self._syncs.discard)

    async def _end_session(self, sid: str) -> None:
        await self.close_session(sid)

    async def close_session(self, sid: str) -> int:
        """Closes the sockets of session `sid` (a logout) with 4401; returns how many."""
        connections = list(self._by_sid.get(sid, ()))
        for conn in connections:
            conn.close(CLOSE_UNAUTHORIZED, b"session ended")
        await asyncio.gather(*(conn.wait_closed() for conn in connections))
        return len(connections)

    # -- a connection --------------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        origin = request.headers.get(hdrs.ORIGIN)
        if origin is not None and origin not in self._settings.allowed_origins:
            return error_response(403, "forbidden", "this origin may not open a WebSocket")
        if self._closed:
            return error_response(503, "unavailable", "shutting down")
        ws = web.WebSocketResponse(
            max_msg_size=self._settings.ws_max_message_bytes,
            # Deflate would cost a compressor per socket and a compression per subscriber.
            compress=False,
            heartbeat=HEARTBEAT_S,
            timeout=CLOSE_TIMEOUT_S,
        )
        await ws.prepare(request)
        claims = await self._authenticate(ws)
        if claims is None:
            return ws
        if self._closed:
            await ws.close(code=CLOSE_GOING_AWAY, message=b"server shutting down")
            return ws
        conn = Connection(
            ws, request, claims, queue_size=self._settings.ws_send_queue, on_close=self._forget
        )
        self.connections.add(conn)
        self._index(conn)
        conn.start()
        try:
            await self._serve(conn)
        finally:
            # Cancelled by a server shutdown that did not close the hub first: going away too.
            conn.close(CLOSE_GOING_AWAY if self._closed else CLOSE_NORMAL, b"")
            await conn.wait_closed()
        return ws

    async def _authenticate(self, ws: web.WebSocketResponse) -> Claims | None:
        try:
            msg = await ws.receive(timeout=self._settings.ws_auth_timeout_s)
        except TimeoutError:
            await _refuse(ws, b"no auth message in time")
            return None
        if msg.type is not WSMsgType.TEXT:
            if msg.type is WSMsgType.BINARY:
                await _refuse(ws, b"the first message must be auth")
            return None  # the client went, or aiohttp closed it (1009)
        try:
            message = client_message_adapter.validate_json(msg.data)
        except ValidationError:
            message = None
        if not isinstance(message, AuthMessage):
            await _refuse(ws, b"the first message must be auth")
            return None
        try:
            return await self._verifier.verify(message.token)
        except InvalidTokenError:
            await _refuse(ws, b"invalid token")
            return None

    async def _serve(self, conn: Connection) -> None:
        while not conn.closing:
            msg = await conn.ws.receive()
            if msg.type is WSMsgType.TEXT:
                try:
                    await self._on_text(conn, msg.data)
                except Exception:
                    log.exception("handling a client message failed")
                    self._reply(conn, encode_error("internal", "something went wrong on our side"))
            elif msg.type is WSMsgType.BINARY:
                self._reply(conn, encode_error("bad_message", "messages are JSON text frames"))
            else:
                return

    async def _on_text(self, conn: Connection, data: str) -> None:
        try:
            message = client_message_adapter.validate_json(data)
        except ValidationError as exc:
            self._reply(conn, encode_error("bad_message", _describe(exc)))
            return
        if isinstance(message, SubscribeMessage):
            self._subscribe(conn, message)
        elif isinstance(message, UnsubscribeMessage):
            sub = conn.subs.get(str(message.board_id))
            if sub is not None:
                self._end(sub)
        elif isinstance(message, PingMessage):
            self._reply(conn, PONG)
        else:
            await self._reauthenticate(conn, message)

    async def _reauthenticate(self, conn: Connection, message: AuthMessage) -> None:
        try:
            claims = await self._verifier.verify(message.token)
        except InvalidTokenError:
            self._reply(conn, encode_error("unauthorized", "token refused; the current one stands"))
            return
        if claims.sub != conn.user_id:
            conn.close(CLOSE_UNAUTHORIZED, b"a token for another user")
            return
        if claims.sid != conn.sid:
            self._unindex(conn)
            conn.sid = claims.sid
            self._index(conn)
        if claims.exp > conn.expires_at:
            conn.expire_at(claims.exp)

    def _reply(self, conn: Connection, data: bytes) -> None:
        if not conn.offer(None, data):
            self._fall_behind(conn)
            conn.offer(None, data)

    def _index(self, conn: Connection) -> None:
        if conn.sid is not None:
            self._by_sid.setdefault(conn.sid, set()).add(conn)

    def _unindex(self, conn: Connection) -> None:
        if conn.sid is None:
            return
        same = self._by_sid.get(conn.sid)
        if same is not None:
            same.discard(conn)
            if not same:
                del self._by_sid[conn.sid]

    def _forget(self, conn: Connection) -> None:
        """Called as a connection starts closing, whoever closes it."""
        for sub in list(conn.subs.values()):
            self._end(sub)
        self.connections.discard(conn)
        self._unindex(conn)

    # -- subscriptions -------------------------------------------------------------------------

    def _subscribe(self, conn: Connection, message: SubscribeMessage) -> None:
        board_id = str(message.board_id)
        if board_id in conn.subs:
            self._reply(conn, encode_error("already_subscribed", "unsubscribe first", board_id))
            return
        if len(conn.subs) >= MAX_SUBSCRIPTIONS:
            self._reply(
                conn,
                encode_error(
                    "too_many_subscriptions",
                    f"at most {MAX_SUBSCRIPTIONS} boards per connection",
                    board_id,
                ),
            )
            return
        sub = Subscription(conn, message.board_id)
        conn.subs[board_id] = sub
        # From here on, live events of the board are held for it: nothing can fall between the
        # reads below and the live stream.
        self._boards.setdefault(board_id, _Board()).subs.add(sub)
        self._start(sub, self._sync(sub, message.since_version), refused="not_found")

    def _start(
        self, sub: Subscription, work: Coroutine[Any, Any, None], *, refused: str = "forbidden"
    ) -> None:
        task = asyncio.create_task(self._guarded(sub, work, refused))
        sub.task = task
        self._syncs.add(task)
        task.add_done_callback(self._syncs.discard)

    async def _guarded(
        self, sub: Subscription, work: Coroutine[Any, Any, None], refused: str
    ) -> None:
        try:
            await work
        except NotMemberError:
            # The same answer for a board that does not exist: membership reveals nothing.
            self._refuse(sub, refused, "no such board, or not yours")
        except RemovedError:
            self._refuse(sub, "forbidden", "you are no longer a member of this board")
        except FellBehindError:
            pass  # resynced or closed already
        except (LogGapError, LogTooLongError, RedisError, PyMongoError):
            log.warning("cannot send a board", exc_info=True, extra=_fields(sub))
            self._refuse(sub, "unavailable", "the board cannot be sent now; subscribe again")
        except Exception:
            log.exception("sending a board failed", extra=_fields(sub))
            self._refuse(sub, "internal", "something went wrong on our side")

    async def _sync(self, sub: Subscription, since: int | None) -> None:
        if since is None or not await self._catch_up(sub, since):
            await self._send_snapshot(sub)
        if not sub.ready:
            sub.ready = True
            self._presence.join(sub.board_id, sub.user_id, sub.conn.name)
        else:
            self._presence.reread(sub.board_id)
        await self._drain(sub)

    async def _catch_up(self, sub: Subscription, since: int) -> bool:
        """Sends the events after `since` when the log still holds them all and they are few
        enough; False when a snapshot must be sent instead."""
        head = await self._log.head(sub.board)
        if since > head or head - since > MAX_CATCH_UP:
            return False
        view = await self._store.board_view(sub.board)
        base = view.version if view is not None else 0
        members = [m.user_id for m in view.members] if view is not None else []
        tail = await self._log.after(sub.board, min(base, since), limit=TAIL_LIMIT)
        if sub.user_id not in fold_members(members, (item for item in tail if item[0] > base)):
            raise NotMemberError
        events = [item for item in tail if item[0] > since]
        if not contiguous(events, since + 1):
            return False  # the log no longer holds them all
        sub.last = since
        await self._send(sub, events, acknowledge=True)
        return True

    async def _send_snapshot(self, sub: Subscription) -> None:
        snapshot = await self._snapshots.get(sub.board)
        if snapshot is None:
            raise NotMemberError
        # The read model may lag the log: the tail says who is a member now, and catches up.
        tail = await self._log.after(sub.board, snapshot.version, limit=TAIL_LIMIT)
        if sub.user_id not in fold_members(snapshot.members, tail):
            raise NotMemberError
        if not contiguous(tail, snapshot.version + 1):
            raise LogGapError(f"the log of {sub.board_id} lacks versions after {snapshot.version}")
        await self._put(sub, snapshot.message)
        sub.last = snapshot.version
        await self._send(sub, tail)

    async def _drain(self, sub: Subscription) -> None:
        """Sends what was held while catching up, reading the log where it has a gap, until
        nothing is held; the subscription is then live."""
        while True:
            held, overflowed = sub.take()
            items = [item for item in held if item[0] > sub.last]
            if not items and not overflowed:
                sub.syncing = False  # no await since `take`: nothing can arrive in between
                return
            if overflowed or not contiguous(items, sub.last + 1):
                items = await self._log.after(sub.board, sub.last, limit=TAIL_LIMIT)
                if not contiguous(items, sub.last + 1):
                    await self._send_snapshot(sub)  # the log lost what the client lacks
                    continue
            await self._send(sub, items)

    async def _send(
        self, sub: Subscription, items: list[Item], *, acknowledge: bool = False
    ) -> None:
        """Sends contiguous events after `sub.last`, waiting for room in the queue."""
        items = [item for item in items if item[0] > sub.last]
        if sub.user_id in removals(items):
            raise RemovedError
        if not items and acknowledge:
            await self._put(sub, encode_events(sub.board_id, []))
        for run in runs_of(sub.board_id, items):
            await self._put(sub, run.message)
            sub.last = run.last

    async def _put(self, sub: Subscription, data: bytes) -> None:
        if not await sub.conn.put(sub, data, CATCH_UP_WAIT_S):
            self._fall_behind(sub.conn)
            raise FellBehindError

    def _refuse(self, sub: Subscription, code: str, message: str) -> None:
        self._end(sub)
        self._reply(sub.conn, encode_error(code, message, sub.board_id))

    def _end(self, sub: Subscription) -> None:
        if sub.ended:
            return
        sub.ended = True
        sub.stop_task()
        board = self._boards.get(sub.board_id)
        if board is not None:
            board.subs.discard(sub)
            if not board.subs:
                del self._boards[sub.board_id]
        if sub.conn.subs.get(sub.board_id) is sub:
            del sub.conn.subs[sub.board_id]
        if sub.ready:
            self._presence.leave(sub.board_id, sub.user_id)

    # -- live events ---------------------------------------------------------------------------

    def _dispatch(self, batches: list[BoardBatch]) -> None:
        for batch in batches:
            board = self._boards.get(batch.board_id)
            if board is None:
                continue
            for sub in list(board.subs):
                self._offer(sub, batch)

    def _offer(self, sub: Subscription, batch: BoardBatch) -> None:
        if sub.ended:
            return
        if sub.syncing:
            sub.hold(batch.items)
            return
        removed_at = batch.removed.get(sub.user_id)
        if removed_at is not None and removed_at > sub.last:
            self._refuse(sub, "forbidden", "you are no longer a member of this board")
            return
        for index, run in enumerate(batch.runs):
            if run.last <= sub.last:
                continue  # sent already, by the catch-up
            if run.first > sub.last + 1:
                # A gap (the feed lost an entry, or it was trimmed): fill it from the log.
                sub.syncing = True
                sub.hold(batch.items_from(index))
                self._start(sub, self._drain(sub))
                return
            piece = run if run.first == sub.last + 1 else run.after(sub.last)
            if not sub.conn.offer(sub, piece.message):
                self._fall_behind(sub.conn)
                return
            sub.last = piece.last

    def _fall_behind(self, conn: Connection) -> None:
        if conn.closing:
            return
        now = time.monotonic()
        if now - conn.resynced_at < RESYNC_WINDOW_S:
            self.stats.closed_too_slow += 1
            conn.close(CLOSE_TOO_SLOW, b"too slow to keep up")
            return
        conn.resynced_at = now
        self.stats.resyncs += 1
        conn.drop_queued()
        for sub in list(conn.subs.values()):
            sub.stop_task()
            sub.restart()
            refused = "forbidden" if sub.ready else "not_found"
            self._start(sub, self._sync(sub, None), refused=refused)

    # -- presence ------------------------------------------------------------------------------

    def _send_presence(self, board_id: str, viewers: Viewers) -> None:
        board = self._boards.get(board_id)
        if board is None:
            return
        message: bytes | None = None
        for sub in list(board.subs):
            if not sub.ready or sub.ended or sub.presence == viewers:
                continue
            message = message or encode_presence(board_id, viewers)
            if sub.conn.offer(sub, message):
                sub.presence = viewers
            else:
                self._fall_behind(sub.conn)


async def _refuse(ws: web.WebSocketResponse, reason: bytes) -> None:
    try:
        await asyncio.wait_for(ws.close(code=CLOSE_UNAUTHORIZED, message=reason), CLOSE_TIMEOUT_S)
    except Exception:
        log.debug("closing an unauthenticated socket failed", exc_info=True)


async def _cancel(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.wait(tasks)


def _describe(exc: ValidationError) -> str:
    error = exc.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(part) for part in error["loc"])
    return f"{where}: {error['msg']}"[:200] if where else str(error["msg"])[:200]


def _fields(sub: Subscription) -> dict[str, Any]:
    return {"fields": {"board": sub.board_id, "user": sub.user_id}}
