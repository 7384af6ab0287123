"""`python -m projector`: one command line lists and runs every operation, through `__main__`,
against real servers (the operations' own behaviour is tested beside each of them)."""

from __future__ import annotations

import json
import uuid

import pytest
from cardstream_testing.feeds import append, envelopes
from cardstream_testing.stack import run_module
from contracts.chain import ZERO_HASH, link
from contracts.events import BoardCreated, BoardRenamed, ColumnAdded
from contracts.streams import StreamKeys
from projector import cli
from projector.apply.consumer import PartitionApplier
from projector.store.mongo import MongoReadStore
from redis.asyncio import Redis

OPERATIONS = (
    "serve",
    "verify",
    "replay",
    "rebuild",
    "compact",
    "drop-generation",
    "fences",
    "unfence",
)


# Run on one server and on the test cluster.
pytestmark = pytest.mark.redis_kinds("server", "cluster")


@pytest.fixture
def env(
    redis_url: str, mongo_url: str, mongo_db_name: str, key_prefix: str, tmp_path
) -> dict[str, str]:
    public = tmp_path / "public.pem"
    public.write_text("unused by the operations")
    return {
        "PROJECTOR_REDIS_URL": redis_url,
        "PROJECTOR_MONGO_URL": mongo_url,
        "PROJECTOR_MONGO_DB": mongo_db_name,
        "PROJECTOR_KEY_PREFIX": key_prefix,
        "PROJECTOR_PARTITIONS": str(4),
        "PROJECTOR_JWT_PUBLIC_KEY_FILE": str(public),
        "PROJECTOR_LEASE_MS": "1000",
        "PROJECTOR_LOG_LEVEL": "WARNING",
    }


@pytest.fixture
async def board(redis: Redis, stream_keys: StreamKeys, read_store: MongoReadStore) -> uuid.UUID:
    """A board of four chained events, in Redis and applied to the read models."""
    board = uuid.uuid4()
    column = uuid.uuid5(board, "column")
    payloads = [
        BoardCreated(title="t0", owner_id="alice"),
        ColumnAdded(column_id=column, title="To do", position="a0"),
        BoardRenamed(title="t1", previous_title="t0"),
        BoardRenamed(title="t2", previous_title="t1"),
    ]
    await append(redis, stream_keys, link(envelopes(board, payloads), ZERO_HASH))
    partition = stream_keys.partition_of(board)
    applier = PartitionApplier(redis, stream_keys, read_store, partition, consumer="cli-test")
    await applier.start()
    while await applier.run_once(block=False):
        pass
    return board


async def projector(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    return await run_module("projector", *args, env=env, timeout_s=60)


class TestTheCommandLine:
    async def test_help_lists_every_operation(self, env: dict[str, str]) -> None:
        code, out, _ = await projector(env, "--help")

        assert code == cli.DONE
        for operation in OPERATIONS:
            assert operation in out

    async def test_a_usage_error_exits_2_and_says_why(self, env: dict[str, str]) -> None:
        code, _, err = await projector(env, "drop-generation", "one")

        assert code == cli.USAGE
        assert "invalid _generation value" in err

    async def test_runs_every_operation(self, env: dict[str, str], board: uuid.UUID) -> None:
        code, out, _ = await projector(env, "verify", "--board", str(board))
        assert code == cli.DONE, out
        assert f"board {board} archive: intact, 4 events to version 4" in out

        code, out, _ = await projector(env, "replay", "--board", str(board), "--to-version", "3")
        assert code == cli.DONE
        assert [json.loads(line)["version"] for line in out.splitlines()] == [1, 2, 3]

        code, out, _ = await projector(env, "compact", "--board", str(board), "--dry-run")
        assert code == cli.DONE
        lines = [json.loads(line) for line in out.splitlines()]
        assert [line["kind"] for line in lines] == ["board", "total"]
        assert lines[-1] == {"kind": "total", "dry_run": True, "trimmed": 0}

        code, _, err = await projector(env, "rebuild", "--verify-only")
        assert code == cli.DONE, err
        assert "verified 1 boards: 0 problems" in err

        code, _, err = await projector(env, "rebuild")
        assert code == cli.DONE, err
        assert "switched the read models from generation 0 to 1" in err

        code, out, err = await projector(env, "drop-generation", "0")
        assert code == cli.DONE, err
        dropped = json.loads(out)
        assert (dropped["kind"], dropped["generation"]) == ("dropped_generation", 0)
        assert "boards" in dropped["collections"]

    async def test_a_failed_operation_exits_1(self, env: dict[str, str], board: uuid.UUID) -> None:
        code, _, err = await projector(env, "drop-generation", "0")

        assert code == cli.FAILED
        assert "generation 0 is the live one" in err


class TestABoardHeldForRecovery:
    async def test_is_reported_listed_and_lifted_only_when_asked_to_force_it(
        self, env: dict[str, str], board: uuid.UUID, redis: Redis, stream_keys: StreamKeys
    ) -> None:
        # An older copy of Redis restored: the board's log ends at version 2 again.
        log, head = stream_keys.board_log(board), stream_keys.board_head(board)
        await redis.xdel(log, "3-0", "4-0")
        await redis.set(head, 2)

        code, _, err = await projector(env, "rebuild", "--verify-only")
        assert code == cli.FAILED
        assert f"board {board} is held for recovery" in err

        code, out, _ = await projector(env, "fences")
        assert code == cli.DONE
        [held] = [json.loads(line) for line in out.splitlines()]
        assert (held["board_id"], held["archive_version"], held["log_end"]) == (str(board), 4, 2)

        code, _, err = await projector(env, "unfence", "--board", str(board))
        assert code == cli.FAILED
        assert "the archive holds version 3, its log ends at 2" in err

        code, out, err = await projector(env, "unfence", "--board", str(board), "--force")
        assert code == cli.DONE, err
        assert json.loads(out)["unfenced"] is True
        assert await redis.hlen(stream_keys.fenced(stream_keys.partition_of(board))) == 0  # type: ignore[misc]
