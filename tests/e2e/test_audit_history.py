"""Issue 6's history, point in time and export end to end: commands to the boards service by two
people, the projector (a real process) telling what happened."""

from __future__ import annotations

import json
import uuid
from typing import Any

import aiohttp
from cardstream_testing.stack import Api, Stack
from contracts.streams import StreamKeys
from redis.asyncio import Redis


async def _log(stack: Stack, board: str) -> list[dict[str, Any]]:
    redis = Redis.from_url(stack.redis.url)
    try:
        entries: Any = await redis.xrange(StreamKeys(partitions=4).board_log(uuid.UUID(board)))
    finally:
        await redis.aclose()
    return [json.loads(fields[b"event"]) for _, fields in entries]


async def _get(api: Api, path: str, user: str = "alice", **params: Any) -> tuple[int, str]:
    headers = {"Authorization": f"Bearer {api.stack.token(user)}"}
    async with api.session.get(f"{api.read_url}{path}", params=params, headers=headers) as r:
        return r.status, await r.text()


class TestACardMovedThreeTimes:
    async def test_has_three_history_entries_with_columns_actors_and_times(
        self, stack: Stack, http: aiohttp.ClientSession
    ) -> None:
        stack.start_boards()
        api = Api(http, stack, stack.start_projector().url)
        board = await api.create_board(title="Launch")
        columns = {name: str(uuid.uuid4()) for name in ("To do", "Doing", "Done")}
        card = str(uuid.uuid4())
        setup = [
            ("alice", "AddMember", {"user_id": "bob", "role": "editor", "name": "Bob"}),
            *[("alice", "AddColumn", {"column_id": c, "title": t}) for t, c in columns.items()],
            (
                "bob",
                "AddCard",
                {"card_id": card, "column_id": columns["To do"], "title": "Fix login"},
            ),
        ]
        moves = [("bob", "Doing"), ("alice", "Done"), ("bob", "To do")]
        versions = []
        for user, type_, payload in setup:
            assert (await api.command(board, type_, user, **payload))["status"] == 200
        for user, column in moves:
            answer = await api.command(
                board, "MoveCard", user, card_id=card, column_id=columns[column]
            )
            assert answer["status"] == 200, answer
            versions.append(answer["version"])
        await api.wait_for_version(board, versions[-1])
        log = {e["version"]: e for e in await _log(stack, board)}

        status, text = await _get(api, f"/api/boards/{board}/history", card_id=card)
        assert status == 200, text
        entries = [e for e in json.loads(text)["entries"] if e["type"] == "CardMoved"]
        assert [(e["version"], e["actor"], e["summary"]) for e in entries] == [
            (
                versions[0],
                {"id": "bob", "name": "Bob"},
                "Bob moved 'Fix login' from To do to Doing",
            ),
            (
                versions[1],
                {"id": "alice", "name": "alice"},
                "alice moved 'Fix login' from Doing to Done",
            ),
            (versions[2], {"id": "bob", "name": "Bob"}, "Bob moved 'Fix login' from Done to To do"),
        ]
        assert [e["occurred_at"] for e in entries] == [log[v]["occurred_at"] for v in versions]

        # The board between the second and the third move, and the log itself.
        status, text = await _get(api, f"/api/boards/{board}", at_version=versions[1])
        assert status == 200, text
        assert [c["column_id"] for c in json.loads(text)["cards"]] == [columns["Done"]]
        status, text = await _get(api, f"/api/boards/{board}/events", after_version=versions[0])
        assert status == 200
        assert [json.loads(line) for line in text.splitlines()] == [
            log[v] for v in sorted(log) if v > versions[0]
        ]

        for path, params in [("/history", {}), ("/events", {}), ("", {"at_version": 1})]:
            status, text = await _get(api, f"/api/boards/{board}{path}", "mallory", **params)
            assert status == 404, path
            assert json.loads(text)["error"]["code"] == "board_not_found"
