"""Issue 6's acceptance for `compact`: after it, history, export, point in time, replay and a full
rebuild give the same answers as before, and the command side still loads and appends to the
compacted board (from its snapshot plus the log's tail)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import aiohttp
from boards.adapters.redis_store import RedisEventStore
from boards.groups import Caller
from boards.service import BoardCommands
from cardstream_testing.stack import Api, Stack
from contracts.commands import AddCard, AddColumn, CreateBoard, MoveCard, RenameBoard
from contracts.envelope import command_envelope
from contracts.streams import StreamKeys
from redis.asyncio import Redis

ALICE = Caller(user_id="alice", correlation_id="test")
KEYS = StreamKeys(partitions=4)


async def _send(commands: BoardCommands, board: uuid.UUID, payload: Any) -> None:
    await commands.handle(board, command_envelope(payload, command_id=uuid.uuid4()), ALICE)


async def _get(http: aiohttp.ClientSession, api: Api, path: str) -> tuple[int, str]:
    headers = {"Authorization": f"Bearer {api.stack.token('alice')}"}
    async with http.get(f"{api.read_url}{path}", headers=headers) as r:
        return r.status, await r.text()


async def _answers(
    http: aiohttp.ClientSession, api: Api, stack: Stack, board: uuid.UUID, head: int
) -> dict[str, Any]:
    base = f"/api/boards/{board}"
    answers: dict[str, Any] = {
        "history": await _get(http, api, f"{base}/history?limit=500"),
        "export": await _get(http, api, f"{base}/events"),
        "board": await _get(http, api, f"{base}?archived=true"),
    }
    for version in (1, 9, 15, head):
        answers[f"at {version}"] = await _get(http, api, f"{base}?at_version={version}")
    answers["replay"] = (await stack.projector_cli("replay", "--board", str(board)))[1]
    answers["replay to 12"] = (
        await stack.projector_cli("replay", "--board", str(board), "--to-version", "12")
    )[1]
    return answers


class TestCompaction:
    async def test_compaction_changes_no_answer_and_the_board_stays_writable(
        self, stack: Stack, http: aiohttp.ClientSession
    ) -> None:
        projector = stack.start_projector()
        api = Api(http, stack, projector.url)
        redis = Redis.from_url(stack.redis.url, decode_responses=False)
        try:
            store = RedisEventStore(redis, KEYS)
            await store.install()
            commands = BoardCommands(store, snapshot_every=10)
            board = uuid.uuid4()
            await _send(commands, board, CreateBoard(title="Compact me"))
            columns = [uuid.uuid4(), uuid.uuid4()]
            for i, column in enumerate(columns):
                await _send(commands, board, AddColumn(title=f"c{i}", column_id=column))
            cards = [uuid.uuid4() for _ in range(3)]
            for i, card in enumerate(cards):
                await _send(
                    commands, board, AddCard(title=f"k{i}", column_id=columns[0], card_id=card)
                )
            for i in range(20):
                await _send(
                    commands, board, MoveCard(card_id=cards[i % 3], column_id=columns[(i + 1) % 2])
                )
            await commands.drain()
            head = 26
            await api.wait_for_version(str(board), head)
            before = await _answers(http, api, stack, board, head)
            assert before["history"][0] == 200
            assert len(before["replay"].splitlines()) == head
            assert [json.loads(x)["version"] for x in before["replay to 12"].splitlines()] == list(
                range(1, 13)
            )

            code, dry, _ = await stack.projector_cli("compact", "--all", "--dry-run")
            assert code == 0
            assert await redis.xlen(KEYS.board_log(board)) == head
            code, report, err = await stack.projector_cli("compact", "--all")
            assert code == 0, err
            assert dry == report.replace('"dry_run": false', '"dry_run": true')
            first = await redis.xrange(KEYS.board_log(board), count=1)
            assert first[0][0] == b"20-0"  # below the snapshot at 20, all archived and applied
            assert await _answers(http, api, stack, board, head) == before

            # A new process of the command side loads the compacted board and appends to it.
            fresh = BoardCommands(RedisEventStore(redis, KEYS), snapshot_every=10)
            await _send(fresh, board, RenameBoard(title="Still writable"))
            _, detail = await api.board(str(board), min_version=head + 1)
            assert detail["board"]["title"] == "Still writable"
            assert detail["board"]["version"] == head + 1

            _, current = await _get(http, api, f"/api/boards/{board}?archived=true")
            code, _, progress = await stack.projector_cli("rebuild")
            assert code == 0, progress
            after = await _answers(http, api, stack, board, head)
            for name in ("at 1", "at 9", "at 15", f"at {head}", "replay to 12"):
                assert after[name] == before[name]
            assert after["replay"].splitlines()[:head] == before["replay"].splitlines()
            assert after["board"] == (200, current)  # served by the rebuilt generation
        finally:
            await redis.aclose()
