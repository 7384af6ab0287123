"""Audit reads (docs/audit.md): a board's history in words, the board at a past version or time,
and its events as NDJSON, read from the archive and the Redis log together; for the board's
current members only (as the read model has them), whatever version or time they look at."""

from __future__ import annotations

import contextlib
import logging
from uuid import UUID

from aiohttp import web
from cardstream_runtime.auth import authenticate
from cardstream_runtime.errors import ApiError
from contracts.http_spec import NDJSON, VERSION_HEADER
from pymongo.errors import PyMongoError
from redis.exceptions import RedisError

from projector.events import BoardEvents
from projector.keys import (
    board_log_key,
    history_checkpoints_key,
    point_in_time_key,
    read_store_key,
    verifier_key,
)
from projector.read.audit import history_page, ndjson_pages, point_in_time
from projector.read.http.queries import (
    BoardQuery,
    ExportQuery,
    HistoryQuery,
    Query,
    board_not_found,
    is_member,
    json_body,
    path_board_id,
    query,
)
from projector.streams import EventLogError

log = logging.getLogger("projector.http")
routes = web.RouteTableDef()


def _board_events(app: web.Application) -> BoardEvents:
    return BoardEvents.of(app[read_store_key], app[board_log_key])


async def _require_member(request: web.Request, board_id: UUID, user_id: str) -> None:
    board = await request.app[read_store_key].board_view(board_id)
    if board is None or not is_member(board, user_id):
        raise board_not_found()


async def _audit_request(request: web.Request, model: type[Query]) -> tuple[UUID, Query]:
    claims = await authenticate(request, request.app[verifier_key])
    board_id = path_board_id(request)
    asked = query(request, model)
    await _require_member(request, board_id, claims.sub)
    return board_id, asked


async def board_at(
    request: web.Request, board_id: UUID, user_id: str, asked: BoardQuery
) -> web.Response:
    """`GET /api/boards/{id}?at_version=` or `?at=`: the board folded from its log."""
    await _require_member(request, board_id, user_id)
    detail = await point_in_time.board_at(
        _board_events(request.app),
        board_id,
        version=asked.at_version,
        at=asked.at,
        archived=asked.archived,
        checkpoints=request.app.get(point_in_time_key),
    )
    if detail is None:
        raise ApiError(404, "board_not_found", "the board did not exist yet at that point")
    return json_body(detail.model_dump_json().encode(), {VERSION_HEADER: str(detail.board.version)})


@routes.get("/api/boards/{board_id}/history")
async def board_history(request: web.Request) -> web.Response:
    board_id, asked = await _audit_request(request, HistoryQuery)
    page = await history_page(
        _board_events(request.app),
        board_id,
        asked.history_filter(),
        after_version=asked.after_version,
        limit=asked.limit,
        checkpoints=request.app.get(history_checkpoints_key),
    )
    return json_body(page.model_dump_json().encode())


@routes.get("/api/boards/{board_id}/events")
async def export_events(request: web.Request) -> web.StreamResponse:
    board_id, asked = await _audit_request(request, ExportQuery)
    chunks = ndjson_pages(_board_events(request.app), board_id, after_version=asked.after_version)
    async with contextlib.aclosing(chunks):
        # The first page is read before answering, so a log that cannot be read is a clean error.
        first = await anext(chunks, b"")
        # `X-Accel-Buffering: no`: nginx passes each page on as it comes instead of spooling it.
        response = web.StreamResponse(headers={"Content-Type": NDJSON, "X-Accel-Buffering": "no"})
        try:
            await response.prepare(request)
            await response.write(first)
            async for chunk in chunks:
                await response.write(chunk)
        except ConnectionError:
            return response  # the client went away
        except (RedisError, PyMongoError, EventLogError):
            # Past the headers no error can be answered: cut the connection without the final
            # chunk, so the client sees a broken transfer rather than a complete-looking export.
            log.exception("the export broke off", extra={"fields": {"board": str(board_id)}})
            if request.transport is not None:
                request.transport.close()
            return response
        await response.write_eof()
    return response
