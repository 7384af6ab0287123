"""Comment commands over the boards HTTP API and a real Redis: who may add, edit and delete a
comment answers as the domain says, every refusal a 4xx in the error shape that writes nothing."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from boards.app import create_app
from boards.settings import BoardsSettings
from cardstream_runtime.devtoken import DevSigner
from cardstream_runtime.settings import Mode
from cardstream_testing.answers import assert_error, read_answer
from contracts.fields import MAX_COMMENT

Client = TestClient[web.Request, web.Application]


@pytest.fixture
async def client(
    aiohttp_client: Callable[[web.Application], Awaitable[Client]],
    boards_settings: Callable[..., BoardsSettings],
) -> Client:
    return await aiohttp_client(create_app(boards_settings(mode=Mode.DEVELOPMENT)))


class Board:
    def __init__(self, client: Client, signer: DevSigner) -> None:
        self.client, self.signer = client, signer
        self.id = ""
        self.card = str(uuid.uuid4())

    async def send(self, type_: str, user: str = "alice", **payload: Any) -> tuple[int, Any]:
        body = {"command_id": str(uuid.uuid4()), "type": type_, "payload": payload}
        path = "/api/boards" if type_ == "CreateBoard" else f"/api/boards/{self.id}/commands"
        headers = {"Authorization": f"Bearer {self.signer.token(user)}"}
        response = await self.client.post(path, json=body, headers=headers)
        return response.status, await read_answer(response, command=True)

    async def version(self) -> int:
        # A command that changes nothing answers with the board's version.
        status, body = await self.send("RenameBoard", title="Plans")
        assert status == 200, body
        return int(body["version"])


@pytest.fixture
async def board(client: Client, signer: DevSigner) -> Board:
    b = Board(client, signer)
    status, body = await b.send("CreateBoard", title="Plans")
    assert status == 201, body
    b.id = body["board_id"]
    column = str(uuid.uuid4())
    for type_, payload in [
        ("AddMember", {"user_id": "bob", "role": "editor"}),
        ("AddMember", {"user_id": "carol", "role": "viewer"}),
        ("AddColumn", {"column_id": column, "title": "To do"}),
        ("AddCard", {"column_id": column, "card_id": b.card, "title": "Ship"}),
    ]:
        status, body = await b.send(type_, **payload)
        assert status == 200, body
    return b


class TestCommentCommands:
    async def test_an_editor_comments_with_mentions_of_members_only(self, board: Board) -> None:
        comment = str(uuid.uuid4())

        status, body = await board.send(
            "AddComment",
            user="bob",
            card_id=board.card,
            comment_id=comment,
            body="<@alice> <@mallory> *look*",
        )

        assert status == 200, body
        [event] = body["events"]
        assert event["type"] == "CommentAdded"
        assert event["payload"]["author_id"] == "bob"
        assert event["payload"]["mentions"] == ["alice"]

    @pytest.mark.parametrize(
        ("type_", "user", "status", "code"),
        [
            ("EditComment", "alice", 422, "not_comment_author"),
            ("DeleteComment", "dave", 404, "board_not_found"),
            ("DeleteComment", "carol", 403, "forbidden"),
        ],
    )
    async def test_refusals_are_4xx_and_write_nothing(
        self, board: Board, type_: str, user: str, status: int, code: str
    ) -> None:
        comment = str(uuid.uuid4())
        await board.send("AddComment", user="bob", card_id=board.card, comment_id=comment, body="x")
        before = await board.version()
        extra = {"body": "y"} if type_ == "EditComment" else {}

        answer = await board.send(type_, user=user, card_id=board.card, comment_id=comment, **extra)

        assert answer[0] == status, answer
        assert_error(answer[1], code)
        assert await board.version() == before

    async def test_an_unknown_comment_is_a_422_comment_not_found(self, board: Board) -> None:
        status, body = await board.send(
            "DeleteComment", card_id=board.card, comment_id=str(uuid.uuid4())
        )
        assert status == 422
        assert_error(body, "comment_not_found")

    @pytest.mark.parametrize("text", ["", "   \n", "x" * (MAX_COMMENT + 1)])
    async def test_a_blank_or_oversized_body_is_a_422_invalid_command(
        self, board: Board, text: str
    ) -> None:
        status, body = await board.send("AddComment", card_id=board.card, body=text)
        assert status == 422
        assert_error(body, "invalid_command")
