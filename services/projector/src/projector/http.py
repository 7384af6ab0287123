"""HTTP routes of the read side: the caller's boards, a board, a card; health, readiness, metrics.

Board reads are for members only, and a board the caller may not see answers exactly like one
that does not exist: the same 404 and, under `min_version`, after the same wait.

Read-your-writes: a client that has just written version N asks with `?min_version=N`; the read
waits, bounded by `min_version_wait_s`, until the board's read model reaches N. Every board read
says the version it reflects in `X-Projection-Version`, and `X-Projection-Behind: true` when it
answers before reaching `min_version`.

Audit (docs/audit.md): a board's history in words, the board at a past version or time, and its
events as NDJSON, read from the archive and the Redis log together; for current members only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Awaitable, Iterator
from dataclasses import dataclass
from typing import Annotated, Any, Self, TypeVar
from uuid import UUID

from aiohttp import web
from cardstream_runtime.auth import authenticate
from cardstream_runtime.errors import ApiError, error_response
from contracts.read_models import BoardSummary, BoardView
from contracts.streams import StreamKeys
from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    model_validator,
)
from pymongo.errors import PyMongoError
from redis.exceptions import RedisError

from projector.audit import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    NDJSON,
    BoardEvents,
    EventLogError,
    HistoryFilter,
    MongoEventArchive,
    RedisEventLog,
    VersionAheadError,
    board_at,
    history_page,
    ndjson_pages,
)
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
from projector.projections.board import ProjectionError

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


_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
# An unencoded `+` in a query string arrives as a space: `...T09:30:00 02:00`.
_PLUS_AS_SPACE = re.compile(r" (\d{2}:\d{2})$")


def _rfc3339(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    value = _PLUS_AS_SPACE.sub(r"+\1", value)
    if not _RFC3339.match(value):
        raise ValueError("not an RFC 3339 date-time with an offset, like 2026-01-01T09:30:00Z")
    return value.upper()


Rfc3339 = Annotated[AwareDatetime, BeforeValidator(_rfc3339)]
Version = Annotated[int, Field(ge=0, le=MAX_VERSION)]


class BoardQuery(ReadQuery):
    archived: bool = False
    # The board as it was (folded from the log), at a version or at a time.
    at_version: Version | None = None
    at: Rfc3339 | None = None

    @model_validator(mode="after")
    def _one_point_in_time(self) -> Self:
        if self.at_version is not None and self.at is not None:
            raise ValueError("give at_version or at, not both")
        if self.point_in_time and self.min_version is not None:
            raise ValueError("min_version does not apply to a board at a point in time")
        return self

    @property
    def point_in_time(self) -> bool:
        return self.at_version is not None or self.at is not None


class HistoryQuery(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    card_id: UUID | None = None
    column_id: UUID | None = None
    actor: Annotated[str, Field(min_length=1, max_length=128)] | None = None
    from_version: Version | None = None
    to_version: Version | None = None
    since: Rfc3339 | None = None
    until: Rfc3339 | None = None
    after_version: Version = 0
    limit: Annotated[int, Field(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT

    def history_filter(self) -> HistoryFilter:
        return HistoryFilter(
            card_id=self.card_id,
            column_id=self.column_id,
            actor=self.actor,
            from_version=self.from_version,
            to_version=self.to_version,
            since=self.since,
            until=self.until,
        )


class ExportQuery(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    after_version: Version = 0


Query = TypeVar("Query", bound=BaseModel)


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
    if query.point_in_time:
        await _require_member(request, board_id, claims.sub)
        return await _board_at(request, board_id, query)
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


# -- audit: history, point in time, export (docs/audit.md) ---------------------------------------


def _board_events(app: web.Application) -> BoardEvents:
    settings = app[settings_key]
    keys = StreamKeys(prefix=settings.key_prefix, partitions=settings.partitions)
    return BoardEvents(
        MongoEventArchive(app[read_store_key].events), RedisEventLog(app[redis_key], keys)
    )


@contextlib.contextmanager
def _log_errors() -> Iterator[None]:
    with _read_store_errors():
        try:
            yield
        except RedisError:
            log.warning("the event log failed", exc_info=True)
            raise ApiError(503, "event_log_unavailable", "the event log cannot be read") from None
        except (EventLogError, ProjectionError) as exc:
            log.error("a board's log cannot be read", exc_info=True)
            raise ApiError(500, "event_log_unreadable", str(exc)) from None


async def _require_member(request: web.Request, board_id: UUID, user_id: str) -> None:
    """Audit reads are for the board's members now (as the read model has them), whatever
    version or time they look at."""
    with _read_store_errors():
        board = await request.app[read_store_key].board_view(board_id)
    if board is None or not _is_member(board, user_id):
        raise _board_not_found()


async def _audit_request(request: web.Request, model: type[Query]) -> tuple[UUID, Query]:
    claims = await authenticate(request, request.app[verifier_key])
    board_id = _uuid(request, "board_id")
    if board_id is None:
        raise _board_not_found()
    query = _query(request, model)
    await _require_member(request, board_id, claims.sub)
    return board_id, query


async def _board_at(request: web.Request, board_id: UUID, query: BoardQuery) -> web.Response:
    events = _board_events(request.app)
    try:
        with _log_errors():
            detail = await board_at(
                events,
                board_id,
                version=query.at_version,
                at=query.at,
                archived=query.archived,
            )
    except VersionAheadError as exc:
        raise ApiError(
            404, "version_not_found", str(exc), {"version": exc.version, "head": exc.head}
        ) from None
    if detail is None:
        raise ApiError(404, "board_not_found", "the board did not exist yet at that point")
    return _json(detail.model_dump_json().encode(), {VERSION_HEADER: str(detail.board.version)})


@routes.get("/api/boards/{board_id}/history")
async def board_history(request: web.Request) -> web.Response:
    board_id, query = await _audit_request(request, HistoryQuery)
    with _log_errors():
        page = await history_page(
            _board_events(request.app),
            board_id,
            query.history_filter(),
            after_version=query.after_version,
            limit=query.limit,
        )
    return _json(page.model_dump_json().encode())


@routes.get("/api/boards/{board_id}/events")
async def export_events(request: web.Request) -> web.StreamResponse:
    board_id, query = await _audit_request(request, ExportQuery)
    chunks = ndjson_pages(_board_events(request.app), board_id, after_version=query.after_version)
    async with contextlib.aclosing(chunks):
        # The first page is read before answering, so a log that cannot be read is a clean error.
        with _log_errors():
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
