"""HTTP answers read as `contracts.wire` says they look, strictly: an error status must carry an
`ErrorBody` and a command's success a `CommandResult`, or the test fails. Tests then index the
plain JSON as before; the check is that nothing outside the contract got through."""

from __future__ import annotations

from typing import Any

import aiohttp
import orjson
from contracts.wire import CommandResult, ErrorBody


class AnswerOutsideContractError(AssertionError):
    """The service answered something `contracts.wire` does not describe."""


def checked(status: int, raw: bytes, *, command: bool = False) -> Any:
    """The JSON of an answer with `status`; `command` says a 2xx must be a CommandResult."""
    model: type[ErrorBody] | type[CommandResult] | None = None
    if status >= 400:
        model = ErrorBody
    elif command and 200 <= status < 300:
        model = CommandResult
    if model is not None:
        try:
            model.model_validate_json(raw, strict=True)
        except ValueError as exc:
            raise AnswerOutsideContractError(
                f"a {status} answer is not a {model.__name__}: {exc}\n{raw[:2000]!r}"
            ) from None
    return orjson.loads(raw)


async def read_answer(response: aiohttp.ClientResponse, *, command: bool = False) -> Any:
    """`checked` for an aiohttp response (a TestClient's too)."""
    return checked(response.status, await response.read(), command=command)
