"""Every HTTP endpoint of every service, declared once: its parameters with their ranges, its
body, its answers per status (the models they carry) and whether it needs a bearer token.

`contracts.openapi` renders this table as one OpenAPI 3.1 document per service
(`docs/openapi/<service>.json`); each service serves its own at `GET /openapi.json`, and a test
compares each service's aiohttp routes with it, so an endpoint cannot be added without a line
here. The shapes of answers that only one service builds (auth's tokens, the probes) are here
too: they are what that service promises, and nothing else builds them.

Longer than our 450 lines on purpose: it is one declarative table, an entry per endpoint and
nothing else, read whole by the renderer and the route tests. Split by service it would be three
files that must each be kept in step with the same shared parameters and error lists above.
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from pydantic import AwareDatetime, Field

from contracts.audit import HistoryPage
from contracts.conversation import (
    CommentPage,
    MarkNotificationsRead,
    NotificationList,
    UnreadCount,
)
from contracts.envelope import TaggedCommand
from contracts.fields import MAX_USER_ID, Version
from contracts.http_shapes import (
    BoardList,
    FoundUser,
    IdTokenExchange,
    Jwks,
    LogoutRequest,
    Me,
    Probe,
    RefreshRequest,
    ServiceIndex,
    Tokens,
)
from contracts.http_spec import (
    BEHIND_HEADER,
    NDJSON,
    VERSION_HEADER,
    Answer,
    Endpoint,
    Param,
    Service,
    error,
)
from contracts.read_models import BoardDetail, CardView
from contracts.wire import CommandResult

_PATH_BOARD = Param(
    "board_id",
    "path",
    UUID,
    "the board; one the caller is not a member of answers as one that does not exist",
    required=True,
)
_MIN_VERSION = Param(
    "min_version",
    "query",
    Version,
    "read your writes: wait (bounded) until the read model reaches this version",
)
_CORRELATION = Param("X-Correlation-Id", "header", str, "echoed, logged and stamped on the events")
_RFC3339 = AwareDatetime


def _probes(service: Service, *, ready_checks: str) -> list[Endpoint]:
    return [
        Endpoint(
            service,
            "GET",
            "/healthz",
            "200 while the process runs",
            {200: Answer("running", Probe)},
            secured=False,
        ),
        Endpoint(
            service,
            "GET",
            "/readyz",
            f"200 when {ready_checks} answer, within 2 s whatever they do",
            {200: Answer("ready", Probe), 503: Answer("what failed or did not answer", Probe)},
            secured=False,
        ),
        Endpoint(
            service,
            "GET",
            "/openapi.json",
            "this document",
            {200: Answer("the OpenAPI 3.1 document of this service", dict[str, Any])},
            secured=False,
        ),
    ]


_BOARDS: list[Endpoint] = [
    Endpoint(
        "boards",
        "POST",
        "/api/boards",
        "create a board (a CreateBoard command)",
        {
            201: Answer("created (or the recorded answer to this command id)", CommandResult),
            400: error("invalid_json"),
            409: error("board_exists", "version_conflict", "board_diverged"),
            413: error("payload_too_large"),
            422: error("invalid_command", "wrong_endpoint", "idempotency_mismatch"),
            429: error("rate_limited"),
            503: error(
                "store_unavailable", "store_full", "replication_timeout", "deadline_exceeded"
            ),
        },
        params=(_CORRELATION,),
        body=TaggedCommand,
    ),
    Endpoint(
        "boards",
        "POST",
        "/api/boards/{board_id}/commands",
        "send any command but CreateBoard to a board",
        {
            200: Answer("decided and appended (or the recorded answer)", CommandResult),
            400: error("invalid_json"),
            403: error("forbidden"),
            404: error("board_not_found"),
            409: error("version_conflict", "board_diverged"),
            413: error("payload_too_large"),
            422: error(
                "invalid_command",
                "wrong_endpoint",
                "idempotency_mismatch",
                "board_archived",
                "column_not_found",
                "column_archived",
                "column_exists",
                "card_not_found",
                "card_archived",
                "card_exists",
                "assignee_not_member",
                "member_exists",
                "member_not_found",
                "last_owner",
                "limit_exceeded",
                "comment_not_found",
                "comment_exists",
                "not_comment_author",
                "checklist_item_not_found",
                "checklist_item_exists",
                "wip_limit_reached",
            ),
            429: error("rate_limited"),
            503: error(
                "store_unavailable", "store_full", "replication_timeout", "deadline_exceeded"
            ),
        },
        params=(_PATH_BOARD, _CORRELATION),
        body=TaggedCommand,
    ),
    Endpoint(
        "boards",
        "GET",
        "/",
        "a JSON index of this service's endpoints",
        {200: Answer("the index", ServiceIndex)},
        secured=False,
    ),
    *_probes("boards", ready_checks="Redis (configured safely)"),
]

_BOARD_READ = {
    404: error("board_not_found"),
    422: error("invalid_query"),
    503: error("read_store_unavailable", "deadline_exceeded"),
}

_PROJECTOR: list[Endpoint] = [
    Endpoint(
        "projector",
        "GET",
        "/api/boards",
        "the caller's boards, by title",
        {
            200: Answer("the caller's boards", BoardList),
            503: error("read_store_unavailable", "deadline_exceeded"),
        },
    ),
    Endpoint(
        "projector",
        "GET",
        "/api/boards/{board_id}",
        "a board and its cards: live, or at a version or time (audit)",
        {
            200: Answer("the board", BoardDetail, headers=(VERSION_HEADER, BEHIND_HEADER)),
            404: error("board_not_found", "version_not_found"),
            422: error("invalid_query"),
            500: error("event_log_unreadable"),
            503: error(
                "read_store_unavailable",
                "read_store_busy",
                "event_log_unavailable",
                "deadline_exceeded",
            ),
        },
        params=(
            _PATH_BOARD,
            _MIN_VERSION,
            Param("archived", "query", bool, "include archived columns and cards"),
            Param("at_version", "query", Version, "the board as it was after this version"),
            Param("at", "query", _RFC3339, "the board after its last event at or before this"),
        ),
    ),
    Endpoint(
        "projector",
        "GET",
        "/api/boards/{board_id}/cards/{card_id}",
        "one card, archived or not",
        {
            200: Answer("the card", CardView, headers=(VERSION_HEADER, BEHIND_HEADER)),
            **_BOARD_READ,
            404: error("board_not_found", "card_not_found"),
        },
        params=(
            _PATH_BOARD,
            Param("card_id", "path", UUID, "the card", required=True),
            _MIN_VERSION,
        ),
    ),
    Endpoint(
        "projector",
        "GET",
        "/api/boards/{board_id}/history",
        "the board's history in words, a page at a time",
        {
            200: Answer("a page of history", HistoryPage),
            **_BOARD_READ,
            500: error("event_log_unreadable"),
            503: error("read_store_unavailable", "event_log_unavailable", "deadline_exceeded"),
        },
        params=(
            _PATH_BOARD,
            Param("card_id", "query", UUID, "only entries about this card"),
            Param("column_id", "query", UUID, "only entries about this column"),
            Param(
                "actor",
                "query",
                Annotated[str, Field(min_length=1, max_length=MAX_USER_ID)],
                "only entries by this user",
            ),
            Param("from_version", "query", Version, "from this version on"),
            Param("to_version", "query", Version, "up to this version"),
            Param("since", "query", _RFC3339, "from this time on"),
            Param("until", "query", _RFC3339, "up to this time"),
            Param("after_version", "query", Version, "the cursor: entries after this version"),
            Param("limit", "query", Annotated[int, Field(ge=1, le=500)], "entries per page"),
        ),
    ),
    Endpoint(
        "projector",
        "GET",
        "/api/boards/{board_id}/events",
        "the board's events, one envelope per line, streamed",
        {
            200: Answer("event envelopes as NDJSON", str, media=NDJSON),
            **_BOARD_READ,
            500: error("event_log_unreadable"),
            503: error("read_store_unavailable", "event_log_unavailable", "deadline_exceeded"),
        },
        params=(_PATH_BOARD, Param("after_version", "query", Version, "events after this")),
    ),
    Endpoint(
        "projector",
        "GET",
        "/metrics",
        "Prometheus text format",
        {
            200: Answer("the gauges", str, media="text/plain"),
            503: error("metrics_unavailable", "deadline_exceeded"),
        },
        secured=False,
    ),
    Endpoint(
        "projector",
        "GET",
        "/ws",
        "the live board's WebSocket (docs/asyncapi/websocket.json); auth is its first message",
        {
            101: Answer("switching protocols"),
            400: error("bad_request"),
            403: error("forbidden"),
        },
        secured=False,
    ),
    *_probes("projector", ready_checks="Redis and MongoDB"),
    Endpoint(
        "projector",
        "GET",
        "/api/boards/{board_id}/cards/{card_id}/comments",
        "a card's comments, oldest first, a page at a time",
        {
            200: Answer("a page of comments", CommentPage),
            **_BOARD_READ,
            404: error("board_not_found", "card_not_found"),
        },
        params=(
            _PATH_BOARD,
            Param("card_id", "path", UUID, "the card", required=True),
            Param("after_version", "query", Version, "the cursor: comments after this version"),
            Param("limit", "query", Annotated[int, Field(ge=1, le=200)], "comments per page"),
        ),
    ),
    Endpoint(
        "projector",
        "GET",
        "/api/notifications",
        "the caller's own notifications, newest first, with the unread count",
        {
            200: Answer("the notifications", NotificationList),
            422: error("invalid_query"),
            503: error("read_store_unavailable", "deadline_exceeded"),
        },
        params=(Param("limit", "query", Annotated[int, Field(ge=1, le=200)], "at most this many"),),
    ),
    Endpoint(
        "projector",
        "POST",
        "/api/notifications/read",
        "mark the caller's notifications read: some by id, or all",
        {
            200: Answer("the unread count after", UnreadCount),
            400: error("invalid_json", "invalid_request"),
            413: error("payload_too_large"),
            503: error("read_store_unavailable", "deadline_exceeded"),
        },
        body=MarkNotificationsRead,
    ),
]

_FOUND = Answer("redirect", headers=("Location",))
_NO_BODY_JSON = error("invalid_json", "invalid_request")

_AUTH: list[Endpoint] = [
    Endpoint(
        "auth",
        "GET",
        "/auth/login",
        "start a sign-in: a redirect to the provider, setting the cs_login cookie",
        {
            302: _FOUND,
            400: error("invalid_next", "invalid_login_hint"),
            429: error("rate_limited"),
            503: error("store_unavailable", "store_full", "deadline_exceeded"),
        },
        params=(
            Param("login_hint", "query", str, "the account to suggest to the provider"),
            Param("next", "query", str, "a path on this site to land on afterwards"),
        ),
        secured=False,
    ),
    Endpoint(
        "auth",
        "GET",
        "/auth/callback",
        "the provider's redirect back: a redirect setting cs_refresh, or tokens as JSON",
        {
            200: Answer("tokens (with Accept: application/json)", Tokens),
            302: _FOUND,
            400: error(
                "invalid_state",
                "state_expired",
                "state_mismatch",
                "provider_error",
                "missing_code",
                "code_rejected",
            ),
            401: error("id_token_rejected"),
            403: error("email_not_verified", "not_allowed"),
            502: error("provider_unavailable"),
            503: error("store_unavailable", "deadline_exceeded"),
        },
        params=(
            Param("code", "query", str, "the provider's authorization code"),
            Param("state", "query", str, "the login state"),
            Param("error", "query", str, "the provider's refusal"),
        ),
        secured=False,
    ),
    Endpoint(
        "auth",
        "POST",
        "/auth/token/google",
        "exchange an ID token from Google Identity Services for ours",
        {
            200: Answer("tokens", Tokens),
            400: _NO_BODY_JSON,
            401: error("id_token_rejected"),
            403: error("email_not_verified", "not_allowed"),
            413: error("payload_too_large"),
            502: error("provider_unavailable"),
            429: error("rate_limited"),
            503: error("store_unavailable", "store_full", "deadline_exceeded"),
        },
        body=IdTokenExchange,
        secured=False,
    ),
    Endpoint(
        "auth",
        "POST",
        "/auth/refresh",
        "new tokens for a refresh token (in the body, or the cookie with X-Requested-With)",
        {
            200: Answer("tokens", Tokens),
            400: _NO_BODY_JSON,
            401: error(
                "invalid_refresh_token",
                "refresh_token_expired",
                "refresh_token_reused",
                "session_ended",
                "session_expired",
                "no_refresh_token",
            ),
            403: error("csrf_header_missing"),
            409: error("refresh_in_progress"),
            413: error("payload_too_large"),
            429: error("rate_limited"),
            503: error("store_unavailable", "store_full", "deadline_exceeded"),
        },
        body=RefreshRequest,
        body_required=False,
        secured=False,
    ),
    Endpoint(
        "auth",
        "POST",
        "/auth/logout",
        "end the session of a refresh token, the cookie or the bearer token",
        {
            204: Answer("the session has ended"),
            400: _NO_BODY_JSON,
            401: error("unauthorized", "invalid_refresh_token"),
            403: error("csrf_header_missing"),
            413: error("payload_too_large"),
            503: error("store_unavailable", "store_full", "deadline_exceeded"),
        },
        body=LogoutRequest,
        body_required=False,
    ),
    Endpoint(
        "auth",
        "GET",
        "/auth/me",
        "who the token belongs to, while its session lasts",
        {200: Answer("the user", Me), 503: error("store_unavailable", "deadline_exceeded")},
    ),
    Endpoint(
        "auth",
        "GET",
        "/auth/users",
        "who last signed in with an email address (for invitations)",
        {
            200: Answer("the user", FoundUser),
            400: error("invalid_request"),
            404: error("user_not_found"),
            429: error("rate_limited"),
            503: error("store_unavailable", "deadline_exceeded"),
        },
        params=(Param("email", "query", str, "the address, exact, any case", required=True),),
    ),
    Endpoint(
        "auth",
        "GET",
        "/.well-known/jwks.json",
        "the current, next and previous public keys",
        {200: Answer("a JWK set", Jwks), 503: error("store_unavailable", "deadline_exceeded")},
        secured=False,
    ),
    *_probes("auth", ready_checks="both Redis (the event log's, auth's state) and MongoDB"),
]

ENDPOINTS: tuple[Endpoint, ...] = (*_AUTH, *_BOARDS, *_PROJECTOR)


def endpoints_of(service: Service) -> list[Endpoint]:
    return [e for e in ENDPOINTS if e.service == service]
