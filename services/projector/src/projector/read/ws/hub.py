"""`WebSocketHub`: the WebSocket protocol of live boards (docs/websocket.md).

The hub owns connections: it accepts a socket, waits for its `auth` message, routes the client's
messages, re-authenticates, and closes sockets (a logout, shutdown, an expired token). What each
subscription sends, and when, is `projector.read.ws.sync.Subscriptions`'s; live events come from
one tail over every partition feed (`FeedTail`), whichever process applies them.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from uuid import UUID

from aiohttp import WSMsgType, hdrs, web
from cardstream_runtime.ended_sessions import EndedSessions
from cardstream_runtime.errors import error_response
from cardstream_runtime.jwt import Claims, InvalidTokenError, TokenVerifier
from cardstream_runtime.redis_urls import REDIS_ERRORS, AnyRedis
from contracts.streams import StreamKeys
from contracts.wire import (
    AuthMessage,
    NotificationsSubscribeMessage,
    PingMessage,
    SubscribeMessage,
    UnsubscribeMessage,
    client_message_adapter,
)
from pydantic import ValidationError

from projector.read.cache import BoardCache
from projector.read.ws.connection import CLOSE_TIMEOUT_S, Connection
from projector.read.ws.feed import FeedTail
from projector.read.ws.messages import (
    CLOSE_GOING_AWAY,
    CLOSE_NORMAL,
    CLOSE_TOO_MANY_SOCKETS,
    CLOSE_UNAUTHORIZED,
    PONG,
    encode_error,
)
from projector.read.ws.notices import Notices
from projector.read.ws.presence import Presence, Viewers
from projector.read.ws.sync import Subscriptions, SyncStats
from projector.settings import ProjectorSettings
from projector.store.port import ReadStore
from projector.streams import BoardLog

log = logging.getLogger("projector.ws")

HEARTBEAT_S = 30.0


class WebSocketHub:
    def __init__(
        self,
        redis: AnyRedis,
        keys: StreamKeys,
        store: ReadStore,
        cache: BoardCache,
        verifier: TokenVerifier,
        settings: ProjectorSettings,
        ended_sessions: EndedSessions,
    ) -> None:
        self._verifier = verifier
        self._settings = settings
        self._redis = redis
        self._ended_sessions = ended_sessions
        process_id = f"{settings.instance_id}-{secrets.token_hex(4)}"
        self._presence = Presence(redis, keys, process_id, self._send_presence)
        self._subs = Subscriptions(
            store, cache, BoardLog(redis, keys), self._presence, keys, follow=self._follow
        )
        self._tail = FeedTail(
            redis,
            keys,
            wanted=self._subs.wanted,
            wanted_partitions=self._subs.partitions,
            dispatch=self._subs.dispatch,
            count=settings.batch_size,
            block_ms=settings.block_ms,
        )
        self._notices = Notices(redis, keys, self._reply)
        self.connections: set[Connection] = set()
        self._by_sid: dict[str, set[Connection]] = {}
        self._by_user: dict[str, set[Connection]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._closed = False

    @property
    def stats(self) -> SyncStats:
        return self._subs.stats

    @property
    def followed_partitions(self) -> set[int]:
        """The partition feeds this process reads now."""
        return self._tail.partitions

    def _send_presence(self, board_id: str, viewers: Viewers) -> None:
        self._subs.send_presence(board_id, viewers)

    async def _follow(self, board_id: UUID) -> None:
        await self._tail.follow(board_id)

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._tail.run(), name="ws-feed-tail"),
            asyncio.create_task(self._presence.run(), name="ws-presence"),
            asyncio.create_task(self._presence.listen(), name="ws-presence-channel"),
            asyncio.create_task(self._notices.listen(), name="ws-notifications-channel"),
        ]
        self._ended_sessions.on_ended(self._session_ended)

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
        await _cancel(list(self._subs.tasks))
        await self._subs.snapshots.close()
        try:
            await self._presence.clear()
        except REDIS_ERRORS:
            log.warning("cannot clear presence; it lapses on its own", exc_info=True)

    def _session_ended(self, sid: str) -> None:
        # The auth service ended the session (a logout, reuse): its sockets close at once.
        if self._closed or sid not in self._by_sid:
            return
        task = asyncio.create_task(self._end_session(sid))
        self._subs.tasks.add(task)
        task.add_done_callback(self._subs.tasks.discard)

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
        limit = self._settings.ws_per_user
        if len(self._by_user.get(claims.sub, ())) >= limit:
            reason = f"too many WebSockets for this user (at most {limit})".encode()
            await _refuse(ws, reason, code=CLOSE_TOO_MANY_SOCKETS)
            return ws
        conn = Connection(
            ws, request, claims, queue_size=self._settings.ws_send_queue, on_close=self._forget
        )
        self.connections.add(conn)
        self._by_user.setdefault(conn.user_id, set()).add(conn)
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
            self._subs.subscribe(conn, message)
        elif isinstance(message, UnsubscribeMessage):
            sub = conn.subs.get(str(message.board_id))
            if sub is not None:
                self._subs.end(sub)
        elif isinstance(message, PingMessage):
            self._reply(conn, PONG)
        elif isinstance(message, NotificationsSubscribeMessage):
            self._notices.subscribe(conn, message)
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
        self._subs.reply(conn, data)

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
            self._subs.end(sub)
        self.connections.discard(conn)
        self._notices.forget(conn)
        self._unindex(conn)
        mine = self._by_user.get(conn.user_id)
        if mine is not None:
            mine.discard(conn)
            if not mine:
                del self._by_user[conn.user_id]


async def _refuse(
    ws: web.WebSocketResponse, reason: bytes, *, code: int = CLOSE_UNAUTHORIZED
) -> None:
    try:
        await asyncio.wait_for(ws.close(code=code, message=reason), CLOSE_TIMEOUT_S)
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
