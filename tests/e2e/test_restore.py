"""Issue 12, hole 4, end to end: Redis restored from an older copy of itself loses versions of a
board that were acknowledged, archived and applied. Once the projector (starting on a feed below
its checkpoint) and `rebuild --verify-only` have reported the board, the boards service refuses
its commands with 409 `board_diverged` and appends nothing, while other boards take theirs; once
the board is recovered and `unfence` has lifted the hold, it takes commands again
(docs/operations.md#a-board-whose-log-diverged)."""

from __future__ import annotations

import json
import shutil
import uuid
from typing import Any

import aiohttp
import pytest
from boards.adapters.redis_store import head_hash_key
from cardstream_devstack import free_port
from cardstream_testing.stack import Api, Stack, run_module
from contracts.streams import EVENT_FIELD, StreamKeys, board_entry_id
from projector.cli import DIVERGED
from redis.asyncio import Redis

KEYS = StreamKeys(partitions=4)  # as the stack runs them
AOF = "appendonlydir"


async def _log(stack: Stack, board: str) -> list[int]:
    redis = Redis.from_url(stack.redis.url)
    try:
        entries: Any = await redis.xrange(KEYS.board_log(uuid.UUID(board)))
    finally:
        await redis.aclose()
    return [int(entry_id.split(b"-")[0]) for entry_id, _ in entries]


async def _write_back(stack: Stack, board: str, events: list[dict[str, Any]]) -> None:
    """Step 3 of the recovery, keeping the archived history: the archived events the log lost go
    back to the board's log, head and head hash, as the append would have written them."""
    board_id = uuid.UUID(board)
    redis = Redis.from_url(stack.redis.url)
    try:
        for event in events:
            await redis.xadd(
                KEYS.board_log(board_id),
                {EVENT_FIELD: json.dumps(event)},
                id=board_entry_id(event["version"]),
            )
        await redis.set(KEYS.board_head(board_id), events[-1]["version"])
        await redis.set(head_hash_key(KEYS, board_id), events[-1]["hash"])
    finally:
        await redis.aclose()


class TestAfterARestoreOfAnOlderRedis:
    @pytest.mark.timeout(240)
    async def test_a_board_that_lost_versions_takes_no_command_until_it_is_recovered(
        self, stack: Stack, http: aiohttp.ClientSession
    ) -> None:
        stack.start_boards()
        api = Api(http, stack, stack.start_projector("p1").url)
        board, quiet = await api.create_board(), await api.create_board(title="Quiet")
        assert (await api.command(board, "RenameBoard", title="two"))["status"] == 200
        await api.wait_for_version(board, 2)
        await api.wait_for_version(quiet, 1)
        # The older copy: Redis as it was at version 2 of the board.
        stack.stop()
        stack.redis.stop()
        backup = stack.tmp / "backup"
        shutil.copytree(stack.redis.data_dir / AOF, backup)
        stack.redis.start()
        stack.start_boards()
        api = Api(http, stack, stack.start_projector("p2").url)
        for title in ("three", "four"):
            assert (await api.command(board, "RenameBoard", title=title))["status"] == 200
        await api.wait_for_version(board, 4)  # applied and archived
        stack.stop()
        stack.redis.stop()
        shutil.rmtree(stack.redis.data_dir / AOF)
        shutil.copytree(backup, stack.redis.data_dir / AOF)
        stack.redis.start()
        assert await _log(stack, board) == [1, 2]

        # The projector finds its feed below its checkpoint: it fences the board, then stops.
        code, _, err = await run_module(
            "projector",
            "serve",
            env=stack.projector_env(instance_id="p3", port=str(free_port())),
            timeout_s=60,
        )
        assert code == DIVERGED, err
        assert "1 boards beyond their log's end fenced" in err
        code, _, err = await stack.projector_cli("rebuild", "--verify-only")
        assert code == 1
        assert f"board {board}: at version 4, but its log ends at 2" in err
        code, out, _ = await stack.projector_cli("fences")
        [held] = [json.loads(line) for line in out.splitlines()]
        assert (held["board_id"], held["archive_version"], held["log_end"]) == (board, 4, 2)

        stack.start_boards()
        refused = await api.command(board, "RenameBoard", title="lost?")
        assert refused["status"] == 409
        assert refused["error"]["code"] == "board_diverged"
        assert await _log(stack, board) == [1, 2]
        assert (await api.command(quiet, "RenameBoard", title="flows on"))["status"] == 200

        code, _, err = await stack.projector_cli("unfence", "--board", board)
        assert code == 1
        assert "the archive holds version 3, its log ends at 2" in err
        code, out, _ = await stack.projector_cli("replay", "--board", board)
        await _write_back(stack, board, [json.loads(line) for line in out.splitlines()][2:])
        code, _, err = await stack.projector_cli("unfence", "--board", board)
        assert code == 0, err

        accepted = await api.command(board, "RenameBoard", title="five")
        assert accepted["status"] == 200, accepted
        assert accepted["version"] == 5
        assert await _log(stack, board) == [1, 2, 3, 4, 5]
