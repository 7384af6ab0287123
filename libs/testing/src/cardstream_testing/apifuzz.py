"""schemathesis against a live service, from the OpenAPI document the contracts generate.

A service's app runs in process on a loopback port, on an event loop of its own in a thread
(`ThreadedApp`), because schemathesis calls it synchronously. `FUZZ` bounds each property so a
run takes seconds; the repository's Hypothesis profile (`CI=true`: derandomized) applies.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from types import TracebackType
from typing import Any, Self, TypeVar

import schemathesis
from aiohttp import web
from contracts.http_spec import Service
from contracts.openapi import openapi
from hypothesis import HealthCheck, settings
from schemathesis import Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.core.transport import Response
from schemathesis.schemas import APIOperation
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

T = TypeVar("T")
Operation = APIOperation[Any, Any, Any, Any]

# Small on purpose: every operation is fuzzed under each kind of token, in `make test`.
FUZZ = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.function_scoped_fixture,
        HealthCheck.filter_too_much,
    ],
)
# No 5xx, and every answer is one the document declares: its status, content type and body.
CONFORMS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
MODES = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]


def operations(service: Service, *, skip: frozenset[str] = frozenset({"/ws"})) -> list[Operation]:
    """Every operation of the service's document but those in `skip` (the WebSocket upgrade is
    fuzzed as a WebSocket instead)."""
    schema = schemathesis.openapi.from_dict(openapi(service))
    found = []
    for result in schema.get_all_operations():
        if not isinstance(result, Ok):
            raise AssertionError(f"schemathesis cannot read {service}'s document: {result}")
        found.append(result.ok())
    return [op for op in found if op.path not in skip]


def with_modes(ops: list[Operation]) -> list[tuple[Operation, GenerationMode]]:
    """Each operation with valid data, and with invalid data where it takes any."""
    return [
        (op, mode)
        for op in ops
        for mode in MODES
        if mode is GenerationMode.POSITIVE or _takes_input(op)
    ]


def _takes_input(op: Operation) -> bool:
    raw = op.definition.raw
    return bool(raw.get("parameters") or raw.get("requestBody"))


def call(base_url: str, case: Case[Any], token: str | None) -> Response:
    """Sends the case with `token` as its bearer token (none at all when None), in place of
    whatever the case drew for `Authorization`."""
    case.headers.pop("Authorization", None)
    if token is not None:
        case.headers["Authorization"] = f"Bearer {token}"
    return case.call(base_url=base_url, timeout=10)


def validate(case: Case[Any], response: Response, mode: GenerationMode) -> None:
    """Raises schemathesis' failure when the answer is a 5xx or outside the document, and when
    data the document refuses was accepted (negative mode)."""
    checks = [*CONFORMS, negative_data_rejection] if mode is GenerationMode.NEGATIVE else CONFORMS
    case.validate_response(response, checks=checks)


class ThreadedApp:
    """An aiohttp app served on a loopback port from a thread with its own event loop."""

    def __init__(self, app: web.Application, *, port: int = 0) -> None:
        self._app = app
        self._port = port
        self._loop = asyncio.new_event_loop()
        self._runner = web.AppRunner(app)
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self.base_url = ""

    def __enter__(self) -> Self:
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", self._port)
        self._loop.run_until_complete(site.start())
        self.base_url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        self._thread.start()
        return self

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Runs `coroutine` on the app's loop, where its clients live."""
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=30)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.run(self._runner.cleanup())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()


def on_board(case: Case[Any], board: str | None) -> Case[Any]:
    """The case aimed at `board` (a stranger's probe of a member's board), where its path has
    a board id; unchanged otherwise."""
    if board is not None and case.path_parameters and "board_id" in case.path_parameters:
        case.path_parameters = {**case.path_parameters, "board_id": board}
    return case


def reveals_nothing(secrets: tuple[str, ...], text: str) -> None:
    """Fails when an answer holds any of the member's board's secrets (title, ids)."""
    leaked = [secret for secret in secrets if secret in text]
    assert not leaked, f"an answer to a stranger holds {leaked}: {text[:500]}"


def label(value: Any) -> str:
    """A parametrized test's id: an operation's label (`GET /api/boards`), else the value."""
    return str(getattr(value, "label", value))
