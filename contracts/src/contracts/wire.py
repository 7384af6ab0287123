"""What crosses HTTP: command results and the one error shape every service answers with."""

from __future__ import annotations

from pydantic import JsonValue, NonNegativeInt

from contracts.base import Contract
from contracts.envelope import TaggedEvent
from contracts.fields import BoardId


class CommandResult(Contract):
    board_id: BoardId
    version: NonNegativeInt
    events: list[TaggedEvent]


class ErrorDetail(Contract):
    code: str
    message: str
    details: JsonValue = None


class ErrorBody(Contract):
    error: ErrorDetail
