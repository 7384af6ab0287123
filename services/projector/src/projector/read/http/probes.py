"""Health, readiness and metrics: answered within `PROBE_TIMEOUT_S`, whatever the servers do."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web
from cardstream_runtime.deadlines import PROBE_TIMEOUT_S, probe
from cardstream_runtime.errors import ApiError
from contracts.openapi import served
from pymongo.errors import PyMongoError
from redis.exceptions import RedisError

from projector.keys import hub_key, read_store_key, redis_key, stream_keys_key, supervisor_key
from projector.read.metrics import CONTENT_TYPE, partition_lags, render

log = logging.getLogger("projector.http")
routes = web.RouteTableDef()


@routes.get("/openapi.json")
async def openapi_document(request: web.Request) -> web.Response:
    return web.Response(body=served("projector"), content_type="application/json")


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    app = request.app
    redis_check, mongo_check = await asyncio.gather(
        probe(app[redis_key].ping(), RedisError, OSError),
        probe(app[read_store_key].ping(), PyMongoError, OSError),
    )
    checks = {"redis": redis_check, "mongo": mongo_check}
    diverged = app[supervisor_key].diverged
    if diverged is not None:
        checks["log"] = str(diverged)
    if any(result != "ok" for result in checks.values()):
        return web.json_response({"status": "unavailable", "checks": checks}, status=503)
    return web.json_response({"status": "ready", "checks": checks})


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    app = request.app
    try:
        async with asyncio.timeout(PROBE_TIMEOUT_S):
            lags = await partition_lags(app[redis_key], app[read_store_key], app[stream_keys_key])
    except (TimeoutError, RedisError, PyMongoError, OSError) as exc:
        log.warning("cannot compute the metrics", exc_info=True)
        raise ApiError(503, "metrics_unavailable", f"{type(exc).__name__}: {exc}") from None
    supervisor, hub = app[supervisor_key], app.get(hub_key)
    text = render(
        lags,
        applied=set(supervisor.held),
        appliers=len(supervisor.members),
        tailed=hub.followed_partitions if hub is not None else None,
        websockets=len(hub.connections) if hub is not None else None,
    )
    return web.Response(body=text.encode(), headers={"Content-Type": CONTENT_TYPE})
