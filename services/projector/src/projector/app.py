"""`create_app`: the projector, wired. It applies the feeds to the read store (when `apply` is
on), serves the read models over HTTP and pushes live updates over WebSocket.

Tests pass the parts they replace (a key source for tokens, a read store); production builds real
ones from the settings."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Mapping, Sequence

from aiohttp import web
from cardstream_runtime.deadlines import deadline_middleware
from cardstream_runtime.ended_sessions import EndedSessions
from cardstream_runtime.errors import error_middleware
from cardstream_runtime.jwt import KeySource, verifier_from_settings
from cardstream_runtime.logs import request_context_middleware
from cardstream_runtime.mongo import mongo_client
from cardstream_runtime.redis_urls import redis_from_url
from contracts.envelope import AnyEvent

from projector.applied import AppliedVersions, announce, listen
from projector.apply.consumer import LogDivergedError
from projector.apply.supervisor import Supervisor
from projector.events import BoardEvents
from projector.keys import (
    applied_key,
    board_cache_key,
    board_log_key,
    ended_sessions_key,
    history_checkpoints_key,
    hub_key,
    point_in_time_key,
    read_store_key,
    redis_key,
    settings_key,
    stream_keys_key,
    supervisor_key,
    verifier_key,
)
from projector.read.audit.checkpoints import PointInTimeCheckpoints
from projector.read.audit.history import HistoryCheckpoints
from projector.read.cache import BoardCache
from projector.read.http import add_routes, api_error
from projector.read.ws.hub import WebSocketHub
from projector.read.ws.notices import NoticeTeller
from projector.settings import ProjectorSettings
from projector.store.mongo import MongoReadStore
from projector.store.port import ReadStore
from projector.streams import BoardLog, applied_channel, stream_keys

AppContext = Callable[[web.Application], AsyncIterator[None]]
OnApplied = Callable[[Sequence[AnyEvent]], None]
OnDiverged = Callable[[LogDivergedError], None]


def create_app(
    settings: ProjectorSettings,
    *,
    keys: KeySource | None = None,
    store: ReadStore | None = None,
    on_diverged: OnDiverged | None = None,
    on_applied: OnApplied | None = None,
) -> web.Application:
    app = web.Application(
        middlewares=[
            request_context_middleware,
            error_middleware(api_error),
            deadline_middleware(settings.request_timeout_s),
        ],
        handler_args={"max_field_size": 16 * 1024},
    )
    app[settings_key] = settings
    app[stream_keys_key] = stream_keys(settings)
    app[applied_key] = AppliedVersions()
    add_routes(app, serving=settings.serves)
    app.cleanup_ctx.append(redis_ctx)
    app.cleanup_ctx.append(_store_ctx(store))
    app.cleanup_ctx.append(_verifier_ctx(keys))
    app.cleanup_ctx.append(_supervisor_ctx(on_diverged, on_applied))
    if settings.serves:
        app.router.add_get("/ws", websocket)
        app.cleanup_ctx.append(board_cache_ctx)
        app.cleanup_ctx.append(applied_ctx)
        app.cleanup_ctx.append(hub_ctx)
        # Sockets are closed (1001) when shutdown begins, not after aiohttp's handler timeout.
        app.on_shutdown.append(close_hub)
    return app


async def close_hub(app: web.Application) -> None:
    await app[hub_key].close()


async def websocket(request: web.Request) -> web.StreamResponse:
    return await request.app[hub_key].handle(request)


async def redis_ctx(app: web.Application) -> AsyncIterator[None]:
    redis = redis_from_url(app[settings_key].redis_url, decode_responses=False)
    app[redis_key] = redis
    app[board_log_key] = BoardLog(redis, app[stream_keys_key])
    try:
        yield
    finally:
        await redis.aclose()


def _store_ctx(given: ReadStore | None) -> AppContext:
    async def store_ctx(app: web.Application) -> AsyncIterator[None]:
        if given is not None:
            app[read_store_key] = given
            yield
            return
        settings = app[settings_key]
        client = mongo_client(settings.mongo_url, timeout_ms=settings.mongo_timeout_ms)
        try:
            store = MongoReadStore(client[settings.mongo_db])
            store.switch_to((await store.generation_pointer()).live)
            await store.ensure_indexes()
            app[read_store_key] = store
            yield
        finally:
            await client.close()

    return store_ctx


def _verifier_ctx(given: KeySource | None) -> AppContext:
    async def verifier_ctx(app: web.Application) -> AsyncIterator[None]:
        # Tokens of sessions the auth service ended are refused from then on, and the
        # WebSocket hub closes their sockets.
        ended = EndedSessions(app[redis_key], key_prefix=app[stream_keys_key].prefix)
        async with (
            ended.running(),
            verifier_from_settings(app[settings_key], given, ended=ended.ended) as verifier,
        ):
            app[ended_sessions_key] = ended
            app[verifier_key] = verifier
            yield

    return verifier_ctx


def _supervisor_ctx(on_diverged: OnDiverged | None, on_applied: OnApplied | None) -> AppContext:
    async def supervisor_ctx(app: web.Application) -> AsyncIterator[None]:
        redis, channel = app[redis_key], applied_channel(app[stream_keys_key])

        async def on_written(generation: int, versions: Mapping[str, int]) -> None:
            if generation == app[read_store_key].generation:
                app[applied_key].written(versions)
            await announce(redis, channel, generation, versions)

        tell = NoticeTeller(redis, app[stream_keys_key], on_applied)

        supervisor = Supervisor(
            redis,
            app[read_store_key],
            app[stream_keys_key],
            app[settings_key],
            on_applied=tell.applied,
            on_diverged=on_diverged,
            on_written=on_written,
        )
        app[supervisor_key] = supervisor
        # Runs without `apply` too: it moves the readers when a rebuild switches generations.
        task = asyncio.create_task(supervisor.run())
        try:
            yield
        finally:
            await supervisor.stop()
            await tell.close()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    return supervisor_ctx


async def board_cache_ctx(app: web.Application) -> AsyncIterator[None]:
    store, board_log = app[read_store_key], app[board_log_key]
    app[board_cache_key] = BoardCache(
        store,
        lambda: BoardEvents.of(store, board_log),
        max_cards=app[settings_key].read_cache_cards,
    )
    app[point_in_time_key] = PointInTimeCheckpoints(
        every=app[settings_key].point_in_time_every,
        max_cards=app[settings_key].point_in_time_cards,
    )
    # The history API's own: the board as its sentences knew it (names, comments), as bounded.
    app[history_checkpoints_key] = HistoryCheckpoints(
        every=app[settings_key].point_in_time_every,
        max_cards=app[settings_key].point_in_time_cards,
    )
    yield


async def applied_ctx(app: web.Application) -> AsyncIterator[None]:
    """Hears what every applier, here or in another process, has just written."""
    store = app[read_store_key]
    channel = applied_channel(app[stream_keys_key])
    task = asyncio.create_task(
        listen(app[redis_key], channel, app[applied_key], lambda: store.generation)
    )
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def hub_ctx(app: web.Application) -> AsyncIterator[None]:
    hub = WebSocketHub(
        app[redis_key],
        app[stream_keys_key],
        app[read_store_key],
        app[board_cache_key],
        app[verifier_key],
        app[settings_key],
        app[ended_sessions_key],
    )
    app[hub_key] = hub
    await hub.start()
    try:
        yield
    finally:
        await hub.close()
