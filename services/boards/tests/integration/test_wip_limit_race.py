"""Two people fill a column's last slot at once, over HTTP and a real Redis: exactly one wins.

The service decides each command against the board it has and appends with an expected
version; the loser of the append re-decides on the winner's board, where the column is full. So
the race is run both within one process (concurrent requests to one app) and across two
processes (two apps on the same Redis and keys, each with its own cache of the board).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from boards.app import create_app
from boards.settings import BoardsSettings
from cardstream_runtime.devtoken import DevSigner
from cardstream_testing.answers import assert_error, read_answer

Client = TestClient[web.Request, web.Application]
MakeClient = Callable[[web.Application], Awaitable[Client]]


class Api:
    def __init__(self, client: Client, signer: DevSigner) -> None:
        self.client = client
        self.signer = signer

    async def send(self, board: str, type_: str, payload: dict[str, Any]) -> tuple[int, Any]:
        body = {"command_id": str(uuid.uuid4()), "type": type_, "payload": payload}
        response = await self.client.post(
            f"/api/boards/{board}/commands",
            json=body,
            headers={"Authorization": f"Bearer {self.signer.token('alice')}"},
        )
        return response.status, await read_answer(response, command=True)

    async def ok(self, board: str, type_: str, payload: dict[str, Any]) -> Any:
        status, answer = await self.send(board, type_, payload)
        assert status == 200, answer
        return answer


@pytest.fixture
async def apis(
    aiohttp_client: MakeClient,
    boards_settings: Callable[..., BoardsSettings],
    signer: DevSigner,
) -> tuple[Api, Api]:
    settings = boards_settings()
    first = await aiohttp_client(create_app(settings))
    second = await aiohttp_client(create_app(settings))
    return Api(first, signer), Api(second, signer)


async def _board_with_one_slot_left(api: Api, limit: int) -> tuple[str, str, list[str]]:
    """A board whose Doing column holds `limit - 1` cards under a limit of `limit`, and two cards
    waiting in To do."""
    board = str(uuid.uuid4())
    body = {"command_id": str(uuid.uuid4()), "type": "CreateBoard", "payload": {"title": "B"}}
    body["payload"]["board_id"] = board
    response = await api.client.post(
        "/api/boards",
        json=body,
        headers={"Authorization": f"Bearer {api.signer.token('alice')}"},
    )
    assert response.status == 201, await response.text()
    todo, doing = str(uuid.uuid4()), str(uuid.uuid4())
    await api.ok(board, "AddColumn", {"title": "To do", "column_id": todo})
    await api.ok(board, "AddColumn", {"title": "Doing", "column_id": doing})
    for n in range(limit - 1):
        await api.ok(board, "AddCard", {"column_id": doing, "title": f"Busy {n}"})
    waiting = [str(uuid.uuid4()), str(uuid.uuid4())]
    for card in waiting:
        await api.ok(board, "AddCard", {"column_id": todo, "title": "Next", "card_id": card})
    await api.ok(board, "ChangeColumnWipLimit", {"column_id": doing, "limit": limit})
    return board, doing, waiting


async def _race(first: Api, second: Api, board: str, doing: str, cards: list[str]) -> list[Any]:
    return list(
        await asyncio.gather(
            first.send(board, "MoveCard", {"card_id": cards[0], "column_id": doing}),
            second.send(board, "MoveCard", {"card_id": cards[1], "column_id": doing}),
        )
    )


def _exactly_one_wins(answers: list[Any], doing: str, limit: int) -> None:
    statuses = sorted(status for status, _ in answers)
    assert statuses == [200, 422], answers
    refused = next(body for status, body in answers if status == 422)
    assert_error(refused, "wip_limit_reached")
    assert refused["error"]["details"] == {"column_id": doing, "limit": limit, "count": limit}


class TestTheLastSlot:
    @pytest.mark.parametrize("limit", [1, 3])
    async def test_two_requests_to_one_process_exactly_one_wins(
        self, apis: tuple[Api, Api], limit: int
    ) -> None:
        api, _ = apis
        board, doing, cards = await _board_with_one_slot_left(api, limit)

        answers = await _race(api, api, board, doing, cards)

        _exactly_one_wins(answers, doing, limit)

    async def test_two_processes_on_one_redis_exactly_one_wins(self, apis: tuple[Api, Api]) -> None:
        first, second = apis
        board, doing, cards = await _board_with_one_slot_left(first, 2)
        # The second process has the board in its cache too, as it stood before the race.
        await second.ok(board, "RenameColumn", {"column_id": doing, "title": "Doing now"})

        answers = await _race(first, second, board, doing, cards)

        _exactly_one_wins(answers, doing, 2)
        # And a third try, decided on the settled board, is refused the same way.
        loser = next(
            card for card, (status, _) in zip(cards, answers, strict=True) if status == 422
        )
        status, body = await first.send(board, "MoveCard", {"card_id": loser, "column_id": doing})
        assert status == 422
        assert_error(body, "wip_limit_reached")
