"""Comments and notifications through the projector over real Redis and FerretDB: events go into
the feeds, the projector applies them, the API serves a card's comments and a user's own
notifications, and the board WebSocket delivers a notification live to its user only."""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestClient
from cardstream_runtime.devtoken import DevSigner
from cardstream_testing.answers import assert_error, read_json
from cardstream_testing.feeds import append, envelopes
from contracts.events import (
    BoardCreated,
    CardAdded,
    CardEdited,
    ColumnAdded,
    CommentAdded,
    CommentDeleted,
    CommentEdited,
    Event,
    FieldChange,
    MemberAdded,
)
from contracts.fields import Role
from contracts.streams import StreamKeys
from contracts.wire import server_message_adapter
from redis.asyncio import Redis

Client = TestClient[web.Request, web.Application]
MakeClient = Callable[..., Awaitable[Client]]
WAIT_S = 5.0

BOARD = uuid.UUID("c0face00-0000-4000-8000-000000000001")
TODO, CARD = uuid.uuid5(BOARD, "todo"), uuid.uuid5(BOARD, "card")
FIRST, SECOND, THIRD = (uuid.uuid5(BOARD, f"comment {n}") for n in (1, 2, 3))


class Board:
    def __init__(self, client: Client, signer: DevSigner, redis: Redis, keys: StreamKeys) -> None:
        self.client, self.signer, self.redis, self.keys = client, signer, redis, keys
        self.version = 0

    def auth(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.signer.token(user)}"}

    async def write(self, *payloads: Event, actor: str = "alice") -> None:
        start = self.version + 1
        await append(self.redis, self.keys, envelopes(BOARD, payloads, start=start, actor=actor))
        self.version = start + len(payloads) - 1
        # Read your writes: the board answers once the projector has applied them.
        response = await self.client.get(
            f"/api/boards/{BOARD}", params={"min_version": self.version}, headers=self.auth("alice")
        )
        assert response.headers["X-Projection-Version"] == str(self.version)

    async def get(self, path: str, user: str = "alice", **params: Any) -> tuple[int, Any]:
        response = await self.client.get(path, params=params, headers=self.auth(user))
        return response.status, await read_json(response)

    async def post(self, path: str, body: bytes, user: str = "alice") -> tuple[int, Any]:
        headers = {**self.auth(user), "Content-Type": "application/json"}
        response = await self.client.post(path, data=body, headers=headers)
        return response.status, await read_json(response)


@pytest.fixture
async def board(client: Client, signer: DevSigner, redis: Redis, stream_keys: StreamKeys) -> Board:
    b = Board(client, signer, redis, stream_keys)
    await b.write(
        BoardCreated(title="Plans", owner_id="alice"),
        MemberAdded(user_id="bob", role=Role.EDITOR),
        ColumnAdded(column_id=TODO, title="To do", position="a0"),
        CardAdded(card_id=CARD, column_id=TODO, position="a0", title="Ship it"),
    )
    return b


COMMENTS = f"/api/boards/{BOARD}/cards/{CARD}/comments"


def _said(comment_id: uuid.UUID, body: str, author: str = "bob", **more: Any) -> CommentAdded:
    return CommentAdded(card_id=CARD, comment_id=comment_id, author_id=author, body=body, **more)


class TestComments:
    async def test_a_card_lists_its_standing_comments_in_the_order_made(self, board: Board):
        await board.write(
            _said(FIRST, "one"), _said(SECOND, "two **bold**"), _said(THIRD, "three"), actor="bob"
        )
        await board.write(
            CommentEdited(card_id=CARD, comment_id=FIRST, body="one, edited"),
            CommentDeleted(card_id=CARD, comment_id=THIRD),
            actor="bob",
        )

        status, page = await board.get(COMMENTS, user="bob")

        assert status == 200
        assert [(c["comment_id"], c["body"]) for c in page["comments"]] == [
            (str(FIRST), "one, edited"),
            (str(SECOND), "two **bold**"),
        ]
        assert page["comments"][0]["edited_at"] is not None
        assert page["next_after_version"] is None
        _, detail = await board.get(f"/api/boards/{BOARD}")
        assert [c["comments"] for c in detail["cards"]] == [2]

    async def test_pages_follow_the_cursor(self, board: Board):
        await board.write(_said(FIRST, "one"), _said(SECOND, "two"), actor="bob")

        _, first = await board.get(COMMENTS, limit=1)
        _, second = await board.get(COMMENTS, limit=1, after_version=first["next_after_version"])

        assert [c["body"] for c in first["comments"] + second["comments"]] == ["one", "two"]
        assert second["next_after_version"] is None

    async def test_a_stranger_and_an_unknown_card_get_404(self, board: Board):
        status, body = await board.get(COMMENTS, user="mallory")
        assert status == 404
        assert_error(body, "board_not_found")
        status, body = await board.get(f"/api/boards/{BOARD}/cards/{uuid.uuid4()}/comments")
        assert status == 404
        assert_error(body, "card_not_found")
        status, body = await board.get(COMMENTS, limit=0)
        assert status == 422
        assert_error(body, "invalid_query")


NOTIFICATIONS = "/api/notifications"


class TestNotifications:
    async def test_a_mention_and_an_assignment_notify_that_member_only(self, board: Board):
        await board.write(
            _said(FIRST, "<@alice> and <@bob>", mentions=["alice", "bob"]), actor="bob"
        )
        assigned = FieldChange(field="assignees", before=[], after=["bob", "alice"])
        await board.write(CardEdited(card_id=CARD, changes=[assigned]), actor="alice")

        _, alice = await board.get(NOTIFICATIONS)
        _, bob = await board.get(NOTIFICATIONS, user="bob")

        assert [(n["kind"], n["actor_id"]) for n in alice["notifications"]] == [("mention", "bob")]
        assert alice["notifications"][0]["excerpt"] == "<@alice> and <@bob>"
        assert alice["notifications"][0]["card_title"] == "Ship it"
        assert [(n["kind"], n["actor_id"]) for n in bob["notifications"]] == [
            ("assignment", "alice")
        ]
        assert (alice["unread"], bob["unread"]) == (1, 1)

    async def test_marking_read_by_id_or_all_clears_only_the_callers(self, board: Board):
        await board.write(_said(FIRST, "<@alice>", mentions=["alice"]), actor="bob")
        await board.write(_said(SECOND, "<@alice> again", mentions=["alice"]), actor="bob")
        _, listed = await board.get(NOTIFICATIONS)
        newest = listed["notifications"][0]["notification_id"]

        status, after = await board.post(
            f"{NOTIFICATIONS}/read", json.dumps({"ids": [newest]}).encode(), user="bob"
        )
        assert (status, after) == (200, {"unread": 0})
        assert (await board.get(NOTIFICATIONS))[1]["unread"] == 2

        status, after = await board.post(
            f"{NOTIFICATIONS}/read", b'{"ids": ["%s"]}' % newest.encode()
        )
        assert (status, after) == (200, {"unread": 1})
        status, after = await board.post(f"{NOTIFICATIONS}/read", b'{"all": true}')
        assert (status, after) == (200, {"unread": 0})
        _, listed = await board.get(NOTIFICATIONS)
        assert [n["read"] for n in listed["notifications"]] == [True, True]

    @pytest.mark.parametrize(
        "body", [b"{", b"[]", b"{}", b'{"ids": ["nope"]}', b'{"ids": [], "all": "x"}']
    )
    async def test_a_bad_body_is_a_400_that_changes_nothing(self, board: Board, body: bytes):
        await board.write(_said(FIRST, "<@alice>", mentions=["alice"]), actor="bob")

        status, answer = await board.post(f"{NOTIFICATIONS}/read", body)

        assert status == 400, answer
        assert answer["error"]["code"] in ("invalid_json", "invalid_request")
        assert (await board.get(NOTIFICATIONS))[1]["unread"] == 1


async def _connect(board: Board, user: str) -> aiohttp.ClientWebSocketResponse:
    ws = await board.client.ws_connect("/ws")
    await ws.send_json({"type": "auth", "token": board.signer.token(user)})
    return ws


async def _next(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    msg = await ws.receive(timeout=WAIT_S)
    assert msg.type is WSMsgType.TEXT, (msg.type, msg.data)
    server_message_adapter.validate_json(msg.data)
    message: dict[str, Any] = json.loads(msg.data)
    return message


class TestLiveNotifications:
    async def test_reach_their_user_over_the_websocket_and_no_one_else(self, board: Board):
        alice, bob = await _connect(board, "alice"), await _connect(board, "bob")
        for ws in (alice, bob):
            await ws.send_json({"type": "subscribe_notifications"})
        # A ping answered means the subscription before it was taken.
        for ws in (alice, bob):
            await ws.send_json({"type": "ping"})
            assert (await _next(ws))["type"] == "pong"

        await board.write(_said(FIRST, "hey <@alice>", mentions=["alice"]), actor="bob")

        message = await _next(alice)
        assert message["type"] == "notification"
        assert message["notification"]["kind"] == "mention"
        assert message["notification"]["comment_id"] == str(FIRST)
        await bob.send_json({"type": "ping"})
        assert (await _next(bob))["type"] == "pong", "bob was not mentioned"
        await alice.close()
        await bob.close()

    async def test_someone_elses_are_refused(self, board: Board):
        ws = await _connect(board, "bob")
        await ws.send_json({"type": "subscribe_notifications", "user_id": "alice"})

        message = await _next(ws)

        assert (message["type"], message["code"]) == ("error", "forbidden")
        await ws.close()
