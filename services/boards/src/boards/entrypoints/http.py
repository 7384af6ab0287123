"""HTTP routes of the command side. Handlers translate; the use case lives in BoardCommands, and
`command_errors` says what its errors mean to the client."""

from __future__ import annotations

import logging
import uuid
from uuid import UUID

from aiohttp import web
from cardstream_runtime import logs
from cardstream_runtime.auth import authenticate
from cardstream_runtime.deadlines import probe
from cardstream_runtime.errors import ApiError, validation_details
from cardstream_runtime.jwt import Claims
from contracts.commands import CreateBoard
from contracts.envelope import AnyCommand, command_adapter
from contracts.events import MemberProfile
from contracts.fields import MAX_TITLE
from contracts.openapi import served
from pydantic import ValidationError
from redis.exceptions import (
    ClusterError,
    OutOfMemoryError,
    RedisClusterException,
    RedisError,
    TryAgainError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from boards.adapters.event_store import (
    BoardFencedError,
    CorruptLogError,
    IdempotencyMismatchError,
    ReplicationTimeoutError,
    VersionConflictError,
)
from boards.adapters.redis_config import RedisSafety, check_redis_safety
from boards.domain import (
    BoardExistsError,
    BoardNotFoundError,
    DomainError,
    PermissionDeniedError,
    derive_id,
)
from boards.groups import Caller, Outcome
from boards.keys import (
    command_limit_key,
    commands_key,
    nextauth_verifier_key,
    redis_key,
    verifier_key,
)

log = logging.getLogger("boards.http")
routes = web.RouteTableDef()

BOARD_DIVERGED = (
    "this board is held for recovery: its event log lost changes that had been accepted (it was "
    "restored from an older copy); nothing was written, and it takes no command until an "
    "operator has recovered it, so sending this again will not help"
)


async def read_command(request: web.Request) -> AnyCommand:
    body = await request.read()
    try:
        command = command_adapter.validate_json(body)
    except ValidationError as exc:
        details = validation_details(exc)
        if any(d["type"] == "json_invalid" for d in details):
            raise ApiError(400, "invalid_json", "the body is not valid JSON") from None
        raise ApiError(422, "invalid_command", "the command is not valid", details) from None
    logs.command_id.set(str(command.command_id))
    return command


async def run_command(request: web.Request, board_id: UUID, command: AnyCommand) -> Outcome:
    claims = await authenticate(
        request, request.app[verifier_key], request.app[nextauth_verifier_key]
    )
    # After authentication, so a stranger cannot spend someone's allowance; before the board's
    # queue, so a refused command costs no decision and no append.
    request.app[command_limit_key].check(claims.sub)
    caller = Caller(
        user_id=claims.sub,
        correlation_id=logs.correlation_id.get() or uuid.uuid4().hex,
        profile=profile_of(claims) if isinstance(command.payload, CreateBoard) else None,
    )
    return await request.app[commands_key].handle(board_id, command, caller)


def profile_of(claims: Claims) -> MemberProfile | None:
    """The caller's name and email from their token, as an event may hold them: the name trimmed
    and cut to a title's length (as presence shows it), an address the contract refuses left out.
    Neither is ever a refusal or a 500."""
    name = (claims.name or "").strip()[:MAX_TITLE] or None
    email = (claims.email or "").strip() or None
    if email is not None:
        try:
            MemberProfile(email=email)
        except ValidationError:
            email = None
    return MemberProfile(name=name, email=email) if name or email else None


def command_errors(exc: Exception) -> ApiError | None:
    """What the use case's and the store's errors mean to the client (a translator for
    `error_middleware`)."""
    match exc:
        case DomainError():
            return ApiError(_domain_status(exc), exc.code, exc.message, exc.details or None)
        case VersionConflictError():
            details = {"current_version": exc.current_version}
            return ApiError(409, "version_conflict", str(exc), details)
        case BoardFencedError():
            log.warning(
                "refused a command to a board held for recovery",
                extra={"fields": {"board_id": str(exc.board_id), "fence": exc.reason}},
            )
            return ApiError(409, "board_diverged", BOARD_DIVERGED)
        case IdempotencyMismatchError():
            return ApiError(422, "idempotency_mismatch", str(exc))
        case CorruptLogError():
            log.error("the board's log is not as the store wrote it", exc_info=exc)
            return ApiError(500, "corrupt_log", "the board's log needs an operator")
        case OutOfMemoryError():
            log.error("Redis refused the append: it is out of memory")
            return ApiError(503, "store_full", "the event store is full; nothing was written")
        case ReplicationTimeoutError():
            # Written on the primary, not yet on enough replicas: the retry with the same
            # command id is answered from its record once they have it.
            log.warning(
                "replicas did not confirm an append in time",
                extra={"fields": {"acked": exc.acked, "required": exc.required}},
            )
            return ApiError(
                503,
                "replication_timeout",
                "try again with the same command_id",
                {"replicas_acked": exc.acked, "replicas_required": exc.required},
                headers={"Retry-After": "1"},
            )
        case RedisConnectionError() | RedisTimeoutError():
            # The append may or may not have happened: a retry with the same command id is safe.
            log.warning("event store unreachable", exc_info=exc)
            return ApiError(503, "store_unavailable", "try again with the same command_id")
        case ClusterError() | TryAgainError() | RedisClusterException():
            # A Redis Cluster refused it before running it (CLUSTERDOWN: a failover under way;
            # TRYAGAIN: a slot moving; redis-py out of redirections; a slot served by no node).
            # Nothing was written; the retry is as safe.
            log.warning("event store cluster not serving", exc_info=exc)
            return ApiError(503, "store_unavailable", "try again with the same command_id")
        case _:
            return None


def _domain_status(exc: DomainError) -> int:
    match exc:
        case BoardNotFoundError():
            return 404
        case PermissionDeniedError():
            return 403
        case BoardExistsError():
            return 409
        case _:
            return 422


def _json(outcome: Outcome, status: int) -> web.Response:
    return web.Response(body=outcome.body, status=status, content_type="application/json")


@routes.post("/api/boards")
async def create_board(request: web.Request) -> web.Response:
    command = await read_command(request)
    if not isinstance(command.payload, CreateBoard):
        raise ApiError(422, "wrong_endpoint", "only CreateBoard is sent here")
    board_id = command.payload.board_id or derive_id(command.command_id, "board")
    return _json(await run_command(request, board_id, command), 201)


@routes.post("/api/boards/{board_id}/commands")
async def board_command(request: web.Request) -> web.Response:
    try:
        board_id = UUID(request.match_info["board_id"])
    except ValueError:
        raise ApiError(404, "board_not_found", "no such board") from None
    command = await read_command(request)
    if isinstance(command.payload, CreateBoard):
        raise ApiError(422, "wrong_endpoint", "create boards with POST /api/boards")
    return _json(await run_command(request, board_id, command), 200)


@routes.get("/")
async def index(request: web.Request) -> web.Response:
    # Only someone who opens this service's own port sees this: behind the one URL, nginx serves
    # the web client at "/".
    return web.json_response(
        {
            "service": "cardstream boards (command API)",
            "endpoints": [
                "POST /api/boards",
                "POST /api/boards/{board_id}/commands",
                "GET /healthz",
                "GET /readyz",
                "GET /openapi.json",
            ],
            "docs": "services/boards/README.md",
        }
    )


@routes.get("/openapi.json")
async def openapi_document(request: web.Request) -> web.Response:
    return web.Response(body=served("boards"), content_type="application/json")


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    redis = request.app[redis_key]
    checked: list[RedisSafety] = []

    async def check() -> None:
        await redis.ping()
        checked.append(await check_redis_safety(redis))

    answer = await probe(check(), RedisError, RedisClusterException)
    if answer != "ok":
        return web.json_response({"status": "unavailable", "redis": answer}, status=503)
    safety = checked[0]
    if not safety.safe:
        return web.json_response({"status": "unsafe", "problems": safety.problems}, status=503)
    # Nodes of a cluster that are down are named, but a cluster that serves is ready.
    unreachable = {"unreachable": safety.unreachable} if safety.unreachable else {}
    return web.json_response({"status": "ready", **unreachable})
