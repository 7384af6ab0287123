"""HTTP routes of the read side: the caller's boards, a board, a card; health, readiness, metrics.

Board reads are for members only, and a board the caller may not see answers exactly like one
that does not exist: the same 404 and, under `min_version`, after the same wait.

Read-your-writes: a client that has just written version N asks with `?min_version=N`; the read
waits, bounded by `min_version_wait_s`, until the board's read model reaches N. Every board read
says the version it reflects in `X-Projection-Version`, and `X-Projection-Behind: true` when it
answers before reaching `min_version`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Iterator
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar
from uuid import UUID

from aiohttp import web
from cardstream_runtime.auth import authenticate
from cardstream_runtime.errors import ApiError, error_response
from contracts.read_models import BoardSummary, BoardView
from contracts.streams import StreamKeys
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from pymongo.errors import PyMongoError
from redis.exceptions import RedisError

from projector.keys import (
    hub_key,
    mongo_key,
    read_store_key,
    redis_key,
    settings_key,
    supervisor_key,
    verifier_key,
)
from projector.metrics import CONTENT_TYPE, partition_lags, render
from projector.mongo import MongoReadStore

log = logging.getLogger("projector.http")
routes = web.RouteTableDef()

VERSION_HEADER = "X-Projection-Version"
BEHIND_HEADER = "X-Projection-Behind"
# How often a read under `min_version` looks at the board's version again.
POLL_INTERVAL_S = 0.025
# A readiness probe or a metrics scrape answers within this, whatever the servers do.
PROBE_TIMEOUT_S = 2.0
MAX_VERSION = 2**63 - 1

_summaries = TypeAdapter(list[BoardSummary])


class ReadQuery(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    min_version: Annotated[int, Field(ge=0, le=MAX_VERSION)] | None = None


class BoardQuery(ReadQuery):
    archived: bool = False


Query = TypeVar("Query", bound=ReadQuery)


def _query(request: web.Request, model: type[Query]) -> Query:
    params: dict[str, str] = {}
    for name in model.model_fields:
        values = request.query.getall(name, [])
        if len(values) > 1:
            raise ApiError(422, "invalid_query", f"{name} is given more than once")
        if values:
            params[name] = values[0]
    try:
        return model.model_validate(params)
    except ValidationError as exc:
        details = [
            {"loc": [str(part) for part in e["loc"]], "message": e["msg"], "type": e["type"]}
            for e in exc.errors(include_url=False, include_input=False)
        ]
        raise ApiError(422, "invalid_query", "the query is not valid", details) from None


def _uuid(request: web.Request, name: str) -> UUID | None:
    try:
        return UUID(request.match_info[name])
    except ValueError:
        return None


def _board_not_found() -> ApiError:
    return ApiError(404, "board_not_found", "no such board")


@contextlib.contextmanager
def _read_store_errors() -> Iterator[None]:
    try:
        yield
    except PyMongoError:
        log.warning("the read store failed", exc_info=True)
        raise ApiError(503, "read_store_unavailable", "the read models cannot be read") from None


@dataclass(frozen=True, slots=True)
class ReadYourWrites:
    """One read's wait for `min_version`, and what its answer says about it."""

    min_version: int | None
    deadline: float

    @classmethod
    def start(cls, min_version: int | None, wait_s: float) -> ReadYourWrites:
        return cls(min_version, asyncio.get_running_loop().time() + wait_s)

    def _remaining(self) -> float:
        return self.deadline - asyncio.get_running_loop().time()

    async def wait_for(self, store: MongoReadStore, board_id: UUID) -> None:
        if not self.min_version:
            return
        while (await store.board_version(board_id) or 0) < self.min_version:
            remaining = self._remaining()
            if remaining <= 0:
                return
            await asyncio.sleep(min(POLL_INTERVAL_S, remaining))

    async def not_found(self) -> ApiError:
        # An unknown board waits out the bound; a board the caller may not see must too.
        if self.min_version and (remaining := self._remaining()) > 0:
            await asyncio.sleep(remaining)
        return _board_not_found()

    def headers(self, version: int) -> dict[str, str]:
        headers = {VERSION_HEADER: str(version)}
        if self.min_version is not None and version < self.min_version:
            headers[BEHIND_HEADER] = "true"
        return headers


def _is_member(board: BoardView, user_id: str) -> bool:
    return any(member.user_id == user_id for member in board.members)


def _json(body: bytes, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=body, content_type="application/json", headers=headers)


@routes.get("/api/boards")
async def list_boards(request: web.Request) -> web.Response:
    claims = await authenticate(request, request.app[verifier_key])
    with _read_store_errors():
        boards = await request.app[read_store_key].boards_of(claims.sub)
    return _json(b'{"boards":' + _summaries.dump_json(boards) + b"}")


@routes.get("/api/boards/{board_id}")
async def get_board(request: web.Request) -> web.Response:
    claims = await authenticate(request, request.app[verifier_key])
    board_id = _uuid(request, "board_id")
    if board_id is None:
        raise _board_not_found()
    query = _query(request, BoardQuery)
    store = request.app[read_store_key]
    wait = ReadYourWrites.start(query.min_version, request.app[settings_key].min_version_wait_s)
    with _read_store_errors():
        await wait.wait_for(store, board_id)
        detail = await store.board_detail(board_id, archived=query.archived)
    if detail is None or not _is_member(detail.board, claims.sub):
        raise await wait.not_found()
    return _json(detail.model_dump_json().encode(), wait.headers(detail.board.version))


@routes.get("/api/boards/{board_id}/cards/{card_id}")
async def get_card(request: web.Request) -> web.Response:
    claims = await authenticate(request, request.app[verifier_key])
    board_id, card_id = _uuid(request, "board_id"), _uuid(request, "card_id")
    if board_id is None:
        raise _board_not_found()
    query = _query(request, ReadQuery)
    store = request.app[read_store_key]
    wait = ReadYourWrites.start(query.min_version, request.app[settings_key].min_version_wait_s)
    with _read_store_errors():
        await wait.wait_for(store, board_id)
        board = await store.board_view(board_id)
        if board is None or not _is_member(board, claims.sub):
            raise await wait.not_found()
        card = await store.card(board_id, card_id) if card_id is not None else None
    headers = wait.headers(board.version)
    if card is None:
        response = error_response(404, "card_not_found", "no such card on this board")
        response.headers.update(headers)  # a member may learn that the board is behind
        return response
    return _json(card.model_dump_json().encode(), headers)


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def _probe(check: Awaitable[Any]) -> str:
    try:
        async with asyncio.timeout(PROBE_TIMEOUT_S):
            await check
    except TimeoutError:
        return f"no answer within {PROBE_TIMEOUT_S:g} s"
    except (RedisError, PyMongoError, OSError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return "ok"


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    app = request.app
    redis_check, mongo_check = await asyncio.gather(
        _probe(app[redis_key].ping()), _probe(app[mongo_key].admin.command("ping"))
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
    settings = app[settings_key]
    keys = StreamKeys(prefix=settings.key_prefix, partitions=settings.partitions)
    try:
        async with asyncio.timeout(PROBE_TIMEOUT_S):
            lags = await partition_lags(app[redis_key], app[read_store_key], keys)
    except (TimeoutError, RedisError, PyMongoError, OSError) as exc:
        log.warning("cannot compute the metrics", exc_info=True)
        raise ApiError(503, "metrics_unavailable", f"{type(exc).__name__}: {exc}") from None
    text = render(lags, held=len(app[supervisor_key].held), websockets=_websockets(app))
    return web.Response(body=text.encode(), headers={"Content-Type": CONTENT_TYPE})


def _websockets(app: web.Application) -> int | None:
    hub = app.get(hub_key)
    return len(hub.connections) if hub is not None else None
