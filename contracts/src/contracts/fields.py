"""Field types and the limits a board's content is held to, shared by commands and events."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal, TypeVar
from uuid import UUID

from pydantic import AfterValidator, Field, JsonValue, StringConstraints

MAX_TITLE = 200
MAX_DESCRIPTION = 10_000
MAX_LABELS = 20
MAX_LABEL = 50
MAX_ASSIGNEES = 20
MAX_COLUMNS = 50
MAX_OPEN_CARDS = 5_000
MAX_USER_ID = 128
# A comment is Markdown a person types, not a document: long enough for a careful note.
MAX_COMMENT = 5_000
# A column's work-in-progress limit: at least one card, at most what a board may hold open.
MAX_WIP_LIMIT = MAX_OPEN_CARDS
# A card's checklist: enough for a real to-do list, small enough to sort on every change.
MAX_CHECKLIST_ITEMS = 100
MAX_CHECKLIST_TEXT = 500
# The largest integer that Redis (integers, stream entry ids), BSON (int64) and orjson all hold.
# Every integer a contract carries stays within it, so an out-of-range one is refused where it
# comes in (a 422) rather than failing in an encoder or a store behind a half-done request.
MAX_INT64 = 2**63 - 1


class Role(StrEnum):
    OWNER = "owner"
    EDITOR = "editor"
    VIEWER = "viewer"


BoardId = UUID
CardId = UUID
ColumnId = UUID
CommentId = UUID
UserId = Annotated[str, StringConstraints(min_length=1, max_length=MAX_USER_ID)]
Email = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")
]
PersonName = Annotated[str, StringConstraints(strip_whitespace=True, max_length=MAX_TITLE)]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_TITLE)]
Description = Annotated[str, StringConstraints(max_length=MAX_DESCRIPTION)]
# Blank comments are refused; the text is kept as typed otherwise (Markdown cares about spaces).
CommentBody = Annotated[str, StringConstraints(min_length=1, max_length=MAX_COMMENT, pattern=r"\S")]
ChecklistItemId = UUID
ChecklistText = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_CHECKLIST_TEXT)
]
Label = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_LABEL)]
# A board's version, or a point in its log: 0 is before its first event.
Version = Annotated[int, Field(ge=0, le=MAX_INT64)]
# The version of an event: the first event of a board is 1.
EventVersion = Annotated[int, Field(gt=0, le=MAX_INT64)]
Count = Annotated[int, Field(ge=0, le=MAX_INT64)]
SchemaVersion = Annotated[int, Field(gt=0, le=MAX_INT64)]


def _sane_wip_limit(limit: int) -> int:
    if limit > MAX_WIP_LIMIT:
        raise ValueError(f"a WIP limit is at most {MAX_WIP_LIMIT}")
    return limit


# Every integer's schema range is the one of `Count`/`EventVersion` (contracts/tests/test_ranges),
# so the tighter bound is a validator: still a 422 where it comes in, not a rule of the board.
WipLimit = Annotated[int, Field(gt=0, le=MAX_INT64), AfterValidator(_sane_wip_limit)]
# "enforce" refuses a card into a column at its limit; "warn" lets it in (the client shows it over).
WipPolicy = Literal["enforce", "warn"]
DEFAULT_WIP_POLICY: WipPolicy = "enforce"
# Fractional-index keys are base-62 strings; the bound only keeps a hostile history from bloating.
OrderKey = Annotated[
    str, StringConstraints(min_length=1, max_length=256, pattern=r"^[0-9A-Za-z]+$")
]


_T = TypeVar("_T")


def _unique(items: list[_T]) -> list[_T]:
    if len(set(items)) != len(items):
        raise ValueError("items must be unique")
    return items


# The validator enforces uniqueness; the schema keyword lets clients in other languages know.
_UNIQUE: dict[str, JsonValue] = {"uniqueItems": True}
Labels = Annotated[
    list[Label], Field(max_length=MAX_LABELS, json_schema_extra=_UNIQUE), AfterValidator(_unique)
]
Assignees = Annotated[
    list[UserId],
    Field(max_length=MAX_ASSIGNEES, json_schema_extra=_UNIQUE),
    AfterValidator(_unique),
]
