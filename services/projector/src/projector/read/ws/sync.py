"""Subscriptions: each board a connection follows, kept in step with the log.

Per connection and board, versions are strictly increasing with no gap and no duplicate. A
subscription is registered for live events before anything is read, so whatever happens while the
snapshot and the catch-up are read is held and sent after them, minus the versions they covered.
A gap among live events (the feed lost an entry, or it was trimmed) is filled from the board's own
log.

A connection's queue is bounded. A client that lets it fill is sent a fresh snapshot of every board
it follows (its queued messages are dropped); one that fills it again within `RESYNC_WINDOW_S` is
closed with 1013.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from functools import partial
from typing import Any
from uuid import UUID

from contracts.streams import StreamKeys
from contracts.wire import SubscribeMessage
from pymongo.errors import PyMongoError
from redis.exceptions import RedisError

from projector.read.cache import BoardCache, StoreBusyError
from projector.read.ws.batches import (
    BoardBatch,
    contiguous,
    encode_events,
    fold_members,
    removals,
    runs_of,
)
from projector.read.ws.connection import Connection, Subscription
from projector.read.ws.messages import CLOSE_TOO_SLOW, encode_error, encode_presence
from projector.read.ws.presence import Presence, Viewers
from projector.read.ws.snapshots import Snapshots
from projector.store.port import ReadStore
from projector.streams import BoardLog, LogItem, LogTooLongError

log = logging.getLogger("projector.ws")

# A `since_version` further behind the head than this gets a snapshot instead of the events.
MAX_CATCH_UP = 1_000
MAX_SUBSCRIPTIONS = 100
# Events read from a log after a snapshot or a read-model version, for one subscriber.
TAIL_LIMIT = 50_000
RESYNC_WINDOW_S = 10.0
# How long a catch-up waits for room in a slow client's queue before it counts as falling behind.
CATCH_UP_WAIT_S = 10.0


class NotMemberError(Exception):
    pass


class RemovedError(Exception):
    pass


class FellBehindError(Exception):
    pass


class LogGapError(Exception):
    pass


@dataclass
class SyncStats:
    resyncs: int = 0
    closed_too_slow: int = 0


class Subscriptions:
    """Every subscription of this process, by board."""

    def __init__(
        self,
        store: ReadStore,
        cache: BoardCache,
        board_log: BoardLog,
        presence: Presence,
        keys: StreamKeys,
        follow: Callable[[UUID], Awaitable[None]],
    ) -> None:
        self._store = store
        self._log = board_log
        self._presence = presence
        self._keys = keys
        # Asks the feed tail to read the board's partition from now on.
        self._follow = follow
        self.snapshots = Snapshots(cache, board_log)
        self._boards: dict[str, set[Subscription]] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        self.stats = SyncStats()

    def wanted(self, board_id: str) -> bool:
        """Whether any subscriber here follows the board (the feed tail drops the others)."""
        return board_id in self._boards

    def partitions(self) -> set[int]:
        """The partitions of the boards followed here: the only feeds this process reads."""
        return {self._keys.partition_of(UUID(board_id)) for board_id in self._boards}

    # -- starting and ending -------------------------------------------------------------------

    def subscribe(self, conn: Connection, message: SubscribeMessage) -> None:
        board_id = str(message.board_id)
        if board_id in conn.subs:
            self.reply(conn, encode_error("already_subscribed", "unsubscribe first", board_id))
            return
        if len(conn.subs) >= MAX_SUBSCRIPTIONS:
            limit = f"at most {MAX_SUBSCRIPTIONS} boards per connection"
            self.reply(conn, encode_error("too_many_subscriptions", limit, board_id))
            return
        sub = Subscription(conn, message.board_id)
        conn.subs[board_id] = sub
        # From here on, live events of the board are held for it: nothing can fall between the
        # reads below and the live stream.
        self._boards.setdefault(board_id, set()).add(sub)
        self._start(sub, partial(self._sync, sub, message.since_version), refused="not_found")

    def end(self, sub: Subscription) -> None:
        if sub.ended:
            return
        sub.ended = True
        sub.stop_task()
        subs = self._boards.get(sub.board_id)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._boards[sub.board_id]
        if sub.conn.subs.get(sub.board_id) is sub:
            del sub.conn.subs[sub.board_id]
        if sub.ready:
            self._presence.leave(sub.board_id, sub.user_id)

    def reply(self, conn: Connection, data: bytes) -> None:
        """A message for the connection itself (not for one board): resyncs it when it is full."""
        if not conn.offer(None, data):
            self.fall_behind(conn)
            conn.offer(None, data)

    def _start(
        self,
        sub: Subscription,
        work: Callable[[], Coroutine[Any, Any, None]],
        *,
        refused: str = "forbidden",
    ) -> None:
        # The work is made inside the task: a task cancelled before its first step (an
        # unsubscribe right after the subscribe) then leaves no coroutine never awaited.
        task = asyncio.create_task(self._guarded(sub, work, refused))
        sub.task = task
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _guarded(
        self, sub: Subscription, work: Callable[[], Coroutine[Any, Any, None]], refused: str
    ) -> None:
        try:
            await work()
        except NotMemberError:
            # The same answer for a board that does not exist: membership reveals nothing.
            self._refuse(sub, refused, "no such board, or not yours")
        except RemovedError:
            self._refuse(sub, "forbidden", "you are no longer a member of this board")
        except FellBehindError:
            pass  # resynced or closed already
        except (LogGapError, LogTooLongError, RedisError, PyMongoError, StoreBusyError):
            log.warning("cannot send a board", exc_info=True, extra=_fields(sub))
            self._refuse(sub, "unavailable", "the board cannot be sent now; subscribe again")
        except Exception:
            log.exception("sending a board failed", extra=_fields(sub))
            self._refuse(sub, "internal", "something went wrong on our side")

    def _refuse(self, sub: Subscription, code: str, message: str) -> None:
        self.end(sub)
        self.reply(sub.conn, encode_error(code, message, sub.board_id))

    # -- bringing a subscription up to date ----------------------------------------------------

    async def _sync(self, sub: Subscription, since: int | None) -> None:
        # Before anything is read: what the feed brings from now on is held, what came before
        # is in the log reads below.
        await self._follow(sub.board)
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
        snapshot = await self.snapshots.get(sub.board)
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
        self, sub: Subscription, items: list[LogItem], *, acknowledge: bool = False
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
            self.fall_behind(sub.conn)
            raise FellBehindError

    # -- live events ---------------------------------------------------------------------------

    def dispatch(self, batches: list[BoardBatch]) -> None:
        for batch in batches:
            for sub in list(self._boards.get(batch.board_id, ())):
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
                self._start(sub, partial(self._drain, sub))
                return
            piece = run if run.first == sub.last + 1 else run.after(sub.last)
            if not sub.conn.offer(sub, piece.message):
                self.fall_behind(sub.conn)
                return
            sub.last = piece.last

    def fall_behind(self, conn: Connection) -> None:
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
            self._start(sub, partial(self._sync, sub, None), refused=refused)

    # -- presence ------------------------------------------------------------------------------

    def send_presence(self, board_id: str, viewers: Viewers) -> None:
        message: bytes | None = None
        for sub in list(self._boards.get(board_id, ())):
            if not sub.ready or sub.ended or sub.presence == viewers:
                continue
            message = message or encode_presence(board_id, viewers)
            if sub.conn.offer(sub, message):
                sub.presence = viewers
            else:
                self.fall_behind(sub.conn)


def _fields(sub: Subscription) -> dict[str, Any]:
    return {"fields": {"board": sub.board_id, "user": sub.user_id}}
