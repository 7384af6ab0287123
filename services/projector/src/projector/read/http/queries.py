"""What a read request asks: its query string as a model, its board id, and the shape of the
answers every read route shares (a 404 that reveals nothing, the version headers)."""

from __future__ import annotations

import re
from typing import Annotated, Any, Self, TypeVar
from uuid import UUID

from aiohttp import web
from cardstream_runtime.errors import ApiError, validation_details
from contracts.fields import Version
from contracts.read_models import BoardView
from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from projector.read.audit import DEFAULT_LIMIT, MAX_LIMIT, HistoryFilter

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


class ReadQuery(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    min_version: Version | None = None


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


def query(request: web.Request, model: type[Query]) -> Query:
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
        details = validation_details(exc)
        raise ApiError(422, "invalid_query", "the query is not valid", details) from None


def path_board_id(request: web.Request) -> UUID:
    """The board id in the path; a malformed one is a board that does not exist."""
    board_id = path_uuid(request, "board_id")
    if board_id is None:
        raise board_not_found()
    return board_id


def path_uuid(request: web.Request, name: str) -> UUID | None:
    try:
        return UUID(request.match_info[name])
    except ValueError:
        return None


def board_not_found() -> ApiError:
    return ApiError(404, "board_not_found", "no such board")


def is_member(board: BoardView, user_id: str) -> bool:
    return any(member.user_id == user_id for member in board.members)


def json_body(body: bytes, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=body, content_type="application/json", headers=headers)
