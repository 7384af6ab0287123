"""Live notifications over the board WebSocket: each user's own, and no one else's.

Appliers publish every notification they write on one pub/sub channel (`notifications_channel`,
the same on every node of a cluster); each serving process listens and hands a notification to
the sockets of its user that asked for them (`subscribe_notifications`). A socket names no user but
its own: the user comes from its token, so asking for another's is refused. A lost channel loses
messages, never correctness: the client reads `GET /api/notifications` when it (re)subscribes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import orjson
from cardstream_runtime.redis_urls import REDIS_ERRORS, AnyRedis
from contracts.conversation import NotificationView
from contracts.envelope import AnyEvent
from contracts.streams import StreamKeys
from contracts.wire import NotificationMessage, NotificationsSubscribeMessage
from pydantic import TypeAdapter, ValidationError

from projector import channels
from projector.notifications import notifications_of
from projector.read.ws.connection import Connection
from projector.read.ws.messages import encode_error
from projector.streams import notifications_channel

log = logging.getLogger("projector.ws")

Doc = dict[str, Any]
_message = TypeAdapter(NotificationMessage)


def view_of(doc: Doc) -> NotificationView:
    return NotificationView.model_validate(
        {k: v for k, v in doc.items() if k not in ("_id", "user_id")}
    )


def encode_notice(user_id: str, doc: Doc) -> bytes:
    """What an applier publishes: the user, and the notification as the API shows it."""
    view = view_of(doc)
    return orjson.dumps({"user_id": user_id, "notification": view.model_dump(mode="json")})


async def publish(redis: AnyRedis, keys: StreamKeys, docs: Iterable[Doc]) -> None:
    channel = notifications_channel(keys)
    for doc in docs:
        await redis.publish(channel, encode_notice(str(doc["user_id"]), doc))


class Notices:
    def __init__(
        self, redis: AnyRedis, keys: StreamKeys, send: Callable[[Connection, bytes], None]
    ) -> None:
        self._redis = redis
        self._channel = notifications_channel(keys)
        self._send = send
        self._by_user: dict[str, set[Connection]] = {}

    def subscribe(self, conn: Connection, message: NotificationsSubscribeMessage) -> None:
        if message.user_id is not None and message.user_id != conn.user_id:
            self._send(conn, encode_error("forbidden", "only your own notifications"))
            return
        self._by_user.setdefault(conn.user_id, set()).add(conn)

    def forget(self, conn: Connection) -> None:
        mine = self._by_user.get(conn.user_id)
        if mine is not None:
            mine.discard(conn)
            if not mine:
                del self._by_user[conn.user_id]

    def heard(self, data: bytes) -> None:
        try:
            raw = orjson.loads(data)
            user, view = str(raw["user_id"]), NotificationView.model_validate(raw["notification"])
        except (orjson.JSONDecodeError, KeyError, TypeError, ValidationError):
            log.warning("an unreadable notification on %s", self._channel)
            return
        connections = self._by_user.get(user)
        if not connections:
            return
        frame = _message.dump_json(NotificationMessage(notification=view))
        for conn in list(connections):
            self._send(conn, frame)

    async def listen(self) -> None:
        await channels.listen(self._redis, self._channel, self.heard)


class NoticeTeller:
    """Publishes the notifications an applier has just written (the consumer's `on_applied`,
    called after the write), passing the events on to `then`. Publishing is not awaited by the
    applier: a notification late or lost on the channel is still in the store."""

    def __init__(
        self,
        redis: AnyRedis,
        keys: StreamKeys,
        then: Callable[[Sequence[AnyEvent]], None] | None = None,
    ) -> None:
        self._redis = redis
        self._keys = keys
        self._then = then
        self._tasks: set[asyncio.Task[None]] = set()

    def applied(self, events: Sequence[AnyEvent]) -> None:
        if self._then is not None:
            self._then(events)
        by_board: dict[str, list[AnyEvent]] = {}
        for event in events:
            by_board.setdefault(str(event.board_id), []).append(event)
        docs = [
            doc
            for board_id, applied in by_board.items()
            for doc in notifications_of(board_id, applied, lambda _: None)
        ]
        if not docs:
            return
        task = asyncio.create_task(self._publish(docs))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _publish(self, docs: list[Doc]) -> None:
        try:
            await publish(self._redis, self._keys, docs)
        except REDIS_ERRORS:
            log.warning("cannot publish notifications; they wait in the store", exc_info=True)

    async def close(self) -> None:
        if self._tasks:
            await asyncio.wait(list(self._tasks))
