"""The caller's boards, a board and a card, as the read models hold them.

Board reads are for members only, and a board the caller may not see answers exactly like one
that does not exist: the same 404 and, under `min_version`, after the same wait.

Read-your-writes: a client that has just written version N asks with `?min_version=N`; the read
waits, bounded by `min_version_wait_s`, until the board's read model reaches N. Every board read
says the version it reflects in `X-Projection-Version`, and `X-Projection-Behind: true` when it
answers before reaching `min_version`.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from uuid import UUID

from aiohttp import web
from cardstream_runtime.auth import authenticate
from cardstream_runtime.errors import ApiError, error_response
from contracts.http_spec import BEHIND_HEADER, VERSION_HEADER
from contracts.read_models import BoardSummary
from pydantic import TypeAdapter

from projector.applied import RECHECK_S
from projector.keys import applied_key, board_cache_key, read_store_key, settings_key, verifier_key
from projector.read.http.audit import board_at
from projector.read.http.queries import (
    BoardQuery,
    ReadQuery,
    board_not_found,
    is_member,
    json_body,
    path_board_id,
    path_uuid,
    query,
)

routes = web.RouteTableDef()

_summaries = TypeAdapter(list[BoardSummary])


@dataclass(frozen=True, slots=True)
class ReadYourWrites:
    """One read's wait for `min_version`, and what its answer says about it."""

    min_version: int | None
    deadline: float

    @classmethod
    def start(cls, request: web.Request, min_version: int | None) -> ReadYourWrites:
        wait_s = request.app[settings_key].min_version_wait_s
        return cls(min_version, asyncio.get_running_loop().time() + wait_s)

    def _remaining(self) -> float:
        return self.deadline - asyncio.get_running_loop().time()

    async def wait_for(self, request: web.Request, board_id: UUID) -> None:
        """Until the read model reaches `min_version` or the bound passes: woken by the appliers
        (`projector.applied`), asking the store itself at least every `RECHECK_S`."""
        if not self.min_version:
            return
        store, applied = request.app[read_store_key], request.app[applied_key]
        key = str(board_id)
        while True:
            written = applied.expect(key, self.min_version)
            try:
                if (await store.board_version(board_id) or 0) >= self.min_version:
                    return
                remaining = self._remaining()
                if remaining <= 0:
                    return
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(written), min(RECHECK_S, remaining))
            finally:
                applied.forget(key, written)

    async def not_found(self) -> ApiError:
        # An unknown board waits out the bound; a board the caller may not see must too.
        if self.min_version and (remaining := self._remaining()) > 0:
            await asyncio.sleep(remaining)
        return board_not_found()

    def headers(self, version: int) -> dict[str, str]:
        headers = {VERSION_HEADER: str(version)}
        if self.min_version is not None and version < self.min_version:
            headers[BEHIND_HEADER] = "true"
        return headers


@routes.get("/api/boards")
async def list_boards(request: web.Request) -> web.Response:
    claims = await authenticate(request, request.app[verifier_key])
    boards = await request.app[read_store_key].boards_of(claims.sub)
    return json_body(b'{"boards":' + _summaries.dump_json(boards) + b"}")


@routes.get("/api/boards/{board_id}")
async def get_board(request: web.Request) -> web.Response:
    claims = await authenticate(request, request.app[verifier_key])
    board_id = path_board_id(request)
    asked = query(request, BoardQuery)
    if asked.point_in_time:
        return await board_at(request, board_id, claims.sub, asked)
    wait = ReadYourWrites.start(request, asked.min_version)
    await wait.wait_for(request, board_id)
    held = await request.app[board_cache_key].board(board_id, archived=asked.archived)
    if held is None or claims.sub not in held.members:
        raise await wait.not_found()
    return json_body(held.detail, wait.headers(held.version))


@routes.get("/api/boards/{board_id}/cards/{card_id}")
async def get_card(request: web.Request) -> web.Response:
    claims = await authenticate(request, request.app[verifier_key])
    board_id, card_id = path_board_id(request), path_uuid(request, "card_id")
    asked = query(request, ReadQuery)
    store = request.app[read_store_key]
    wait = ReadYourWrites.start(request, asked.min_version)
    await wait.wait_for(request, board_id)
    board = await store.board_view(board_id)
    if board is None or not is_member(board, claims.sub):
        raise await wait.not_found()
    card = await store.card(board_id, card_id) if card_id is not None else None
    headers = wait.headers(board.version)
    if card is None:
        response = error_response(404, "card_not_found", "no such card on this board")
        response.headers.update(headers)  # a member may learn that the board is behind
        return response
    return json_body(card.model_dump_json().encode(), headers)
