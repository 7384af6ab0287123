"""HTTP answers read as `contracts.wire` says they look, strictly: an error status must carry an
`ErrorBody` and a command's success a `CommandResult`, or the test fails. Tests then index the
plain JSON as before; the check is that nothing outside the contract got through."""

from __future__ import annotations

import re
from typing import Any

import aiohttp
import orjson
from contracts.read_models import BoardDetail, CardView
from contracts.wire import CommandResult, ErrorBody
from projector.read.audit import HistoryPage
from pydantic import BaseModel


class AnswerOutsideContractError(AssertionError):
    """The service answered something `contracts.wire` does not describe."""


def checked(
    status: int, raw: bytes, *, command: bool = False, success: type[BaseModel] | None = None
) -> Any:
    """The JSON of an answer with `status`; `command` says a 2xx must be a CommandResult,
    `success` names the model any other 2xx must be (a read model, say)."""
    model: type[BaseModel] | None = None
    if status >= 400:
        model = ErrorBody
    elif command and 200 <= status < 300:
        model = CommandResult
    elif success is not None and 200 <= status < 300:
        model = success
    if model is not None:
        try:
            model.model_validate_json(raw, strict=True)
        except ValueError as exc:
            raise AnswerOutsideContractError(
                f"a {status} answer is not a {model.__name__}: {exc}\n{raw[:2000]!r}"
            ) from None
    return orjson.loads(raw)


async def read_answer(
    response: aiohttp.ClientResponse,
    *,
    command: bool = False,
    success: type[BaseModel] | None = None,
) -> Any:
    """`checked` for an aiohttp response (a TestClient's too)."""
    return checked(response.status, await response.read(), command=command, success=success)


def assert_error(body: Any, code: str) -> None:
    """`body` is an `ErrorBody` (strictly, every field present, `details` even when null) with
    this code."""
    checked(400, orjson.dumps(body))
    assert set(body["error"]) == {"code", "message", "details"}, body
    assert body["error"]["code"] == code, body


# What each read route of the projector promises on success; an error is always an ErrorBody.
_READ_MODELS: list[tuple[re.Pattern[str], type[BaseModel]]] = [
    (re.compile(r"^/api/boards/[^/]+$"), BoardDetail),
    (re.compile(r"^/api/boards/[^/]+/cards/[^/]+$"), CardView),
    (re.compile(r"^/api/boards/[^/]+/history$"), HistoryPage),
]


async def read_json(response: aiohttp.ClientResponse) -> Any:
    """The JSON of a read answer, checked strictly against the model its route promises."""
    path = response.url.path
    model = next((m for pattern, m in _READ_MODELS if pattern.match(path)), None)
    return await read_answer(response, success=model)
