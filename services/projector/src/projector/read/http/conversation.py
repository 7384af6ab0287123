"""A card's comments, and the caller's own notifications (docs/comments.md).

Comments are for the board's members only, answering as other board reads do (a board the caller
may not see is one that does not exist). Notifications are always the caller's: the user comes
from the token, never from the request.
"""

from __future__ import annotations

from typing import Annotated

import orjson
from aiohttp import web
from cardstream_runtime.auth import authenticate
from cardstream_runtime.errors import ApiError, validation_details
from contracts.conversation import (
    CommentPage,
    CommentView,
    MarkNotificationsRead,
    NotificationList,
    UnreadCount,
)
from contracts.fields import Version
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from projector.keys import read_store_key, verifier_key
from projector.read.http.queries import (
    board_not_found,
    is_member,
    json_body,
    path_board_id,
    path_uuid,
    query,
)
from projector.read.ws.notices import view_of

routes = web.RouteTableDef()

DEFAULT_COMMENTS = 50
DEFAULT_NOTIFICATIONS = 50


class CommentsQuery(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    after_version: Version = 0
    limit: Annotated[int, Field(ge=1, le=200)] = DEFAULT_COMMENTS


class NotificationsQuery(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    limit: Annotated[int, Field(ge=1, le=200)] = DEFAULT_NOTIFICATIONS


_NOT_SHOWN = ("_id", "board_id", "deleted", "created_version")


def _comment(doc: dict[str, object]) -> CommentView:
    return CommentView.model_validate({k: v for k, v in doc.items() if k not in _NOT_SHOWN})


@routes.get("/api/boards/{board_id}/cards/{card_id}/comments")
async def get_comments(request: web.Request) -> web.Response:
    claims = await authenticate(request, request.app[verifier_key])
    board_id, card_id = path_board_id(request), path_uuid(request, "card_id")
    asked = query(request, CommentsQuery)
    store = request.app[read_store_key]
    board = await store.board_view(board_id)
    if board is None or not is_member(board, claims.sub):
        raise board_not_found()
    if card_id is None or await store.card(board_id, card_id) is None:
        raise ApiError(404, "card_not_found", "no such card on this board")
    standing = await store.card_comments(board_id, card_id)
    later = [d for d in standing if _created(d) > asked.after_version]
    page = later[: asked.limit]
    more = len(later) > asked.limit
    answer = CommentPage(
        comments=[_comment(d) for d in page],
        next_after_version=_created(page[-1]) if more and page else None,
    )
    return json_body(answer.model_dump_json().encode())


def _created(doc: dict[str, object]) -> int:
    return int(str(doc["created_version"]))


@routes.get("/api/notifications")
async def get_notifications(request: web.Request) -> web.Response:
    claims = await authenticate(request, request.app[verifier_key])
    asked = query(request, NotificationsQuery)
    mine = await request.app[read_store_key].notifications(claims.sub)
    answer = NotificationList(
        notifications=[view_of(d) for d in mine[: asked.limit]],
        unread=sum(1 for d in mine if not d["read"]),
    )
    return json_body(answer.model_dump_json().encode())


@routes.post("/api/notifications/read")
async def mark_read(request: web.Request) -> web.Response:
    claims = await authenticate(request, request.app[verifier_key])
    raw = await request.read()
    try:
        asked = MarkNotificationsRead.model_validate(orjson.loads(raw))
    except orjson.JSONDecodeError:
        raise ApiError(400, "invalid_json", "the body is not valid JSON") from None
    except ValidationError as exc:
        details = validation_details(exc)
        raise ApiError(400, "invalid_request", "give ids or all", details) from None
    if not asked.all and not asked.ids:
        raise ApiError(400, "invalid_request", "give ids or all")
    store = request.app[read_store_key]
    await store.mark_read(claims.sub, None if asked.all else asked.ids)
    unread = sum(1 for d in await store.notifications(claims.sub) if not d["read"])
    return json_body(UnreadCount(unread=unread).model_dump_json().encode())
