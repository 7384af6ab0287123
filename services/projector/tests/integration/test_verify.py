"""`python -m projector verify`: a changed byte of one stored event names its board and version."""

from __future__ import annotations

import sys
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from contracts.chain import ZERO_HASH, ChainBreak, Checked, link
from contracts.streams import EVENT_FIELD, StreamKeys, board_entry_id
from projector.cli import parser
from projector.ops.commands import verify
from projector.ops.verify import ChainVerifier
from projector.projection import BoardProjection, apply_event
from projector.settings import ProjectorSettings
from projector.store.mongo import MongoReadStore
from projector.streams import BoardLog
from redis.asyncio import Redis

from contracts import BoardCreated, BoardRenamed, MemberAdded, Role, event_adapter, event_envelope

# Run on one server and on the test cluster.
pytestmark = pytest.mark.redis_kinds("server", "cluster")


@pytest.fixture
def keys(key_prefix: str) -> StreamKeys:
    return StreamKeys(prefix=key_prefix, partitions=4)


@pytest.fixture
def verifier(read_store: MongoReadStore, redis: Redis, keys: StreamKeys) -> ChainVerifier:
    return ChainVerifier(read_store, BoardLog(redis, keys))


async def _board(read_store: MongoReadStore, redis: Redis, keys: StreamKeys) -> str:
    """A board of five chained events, in its Redis log and archived by the projector's writer."""
    board, command = uuid.uuid4(), uuid.uuid4()
    payloads: list[Any] = [
        BoardCreated(title="t0", owner_id="alice"),
        MemberAdded(user_id="bob", role=Role.EDITOR, name="Bob"),
        *(BoardRenamed(title=f"t{i}", previous_title=f"t{i - 1}") for i in range(1, 4)),
    ]
    events = link(
        [
            event_envelope(
                payload,
                event_id=uuid.uuid4(),
                board_id=board,
                version=i,
                occurred_at=datetime.now(UTC),
                actor="alice",
                command_id=command,
                correlation_id="c",
                causation_id=str(command),
                epoch="e",
            )
            for i, payload in enumerate(payloads, start=1)
        ],
        ZERO_HASH,
    )
    for event in events:
        await redis.xadd(
            keys.board_log(board),
            {EVENT_FIELD: event_adapter.dump_json(event)},
            id=board_entry_id(event.version),
        )
    projection = BoardProjection(board_id=str(board))
    for event in events:
        apply_event(projection, event)
    await read_store.write([projection])
    return str(board)


def _broken(findings: list[Any], where: str) -> ChainBreak:
    [finding] = [f for f in findings if f.where == where]
    assert isinstance(finding.result, ChainBreak)
    return finding.result


class TestVerify:
    async def test_a_fresh_board_is_intact_in_the_archive_and_in_redis(
        self, verifier, read_store, redis, keys
    ) -> None:
        board = await _board(read_store, redis, keys)

        findings = await verifier.verify(board)

        assert [(f.where, f.intact) for f in findings] == [("archive", True), ("redis", True)]
        assert all(isinstance(f.result, Checked) and f.result.version == 5 for f in findings)

    async def test_one_changed_byte_in_an_archived_event_names_that_board_and_version(
        self, verifier, read_store, redis, keys
    ) -> None:
        board = await _board(read_store, redis, keys)
        await _tamper(read_store, f"{board}:3", '"title":"t1"', '"title":"u1"')

        findings = await verifier.verify(board)

        broken = _broken(findings, "archive")
        assert (broken.version, broken.problem) == (3, "hash")
        assert [f.intact for f in findings if f.where == "redis"] == [True]
        assert f"board {board} archive: BROKEN at version 3" in str(findings[0])

    async def test_one_changed_byte_in_a_redis_event_names_that_board_and_version(
        self, verifier, read_store, redis, keys
    ) -> None:
        board = await _board(read_store, redis, keys)
        log = keys.board_log(uuid.UUID(board))
        entries = await redis.xrange(log)
        raw = entries[1][1][EVENT_FIELD.encode()]
        changed = raw.replace(b'"Bob"', b'"Bub"')
        assert changed != raw
        await _rewrite(
            redis,
            log,
            [changed if i == 1 else f[EVENT_FIELD.encode()] for i, (_, f) in enumerate(entries)],
        )

        findings = await verifier.verify(board)

        broken = _broken(findings, "redis")
        assert (broken.version, broken.problem) == (2, "hash")

    async def test_an_unreadable_redis_event_is_reported_at_its_version(
        self, verifier, read_store, redis, keys
    ) -> None:
        board = await _board(read_store, redis, keys)
        log = keys.board_log(uuid.UUID(board))
        pipe = redis.pipeline(transaction=True)
        pipe.delete(log)
        for version in range(1, 6):
            pipe.xadd(
                log, {EVENT_FIELD: b"{not json" if version == 4 else b"{}"}, id=f"{version}-0"
            )
        await pipe.execute()

        broken = _broken(await verifier.verify(board), "redis")

        assert broken.version == 1  # "{}" is no event of version 1 either


class TestCli:
    async def test_exits_0_when_intact_and_1_naming_the_board_and_version_when_broken(
        self, read_store, redis, keys, mongo_url, redis_url, key_prefix, mongo_db_name, capsys
    ) -> None:
        board = await _board(read_store, redis, keys)
        settings = ProjectorSettings(
            mongo_url=mongo_url,
            mongo_db=mongo_db_name,
            redis_url=redis_url,
            key_prefix=key_prefix,
            partitions=4,
            jwks_url="http://127.0.0.1:9/jwks",
        )

        assert await verify(settings, [board], sys.stdout) == 0

        await _tamper(read_store, f"{board}:5", '"actor":"alice"', '"actor":"mallorz"')
        assert await verify(settings, [board], sys.stdout) == 1
        out = capsys.readouterr().out
        assert f"board {board} archive: BROKEN at version 5: hash expected" in out
        assert f"board {board} redis: intact, 5 events to version 5" in out

    async def test_all_includes_every_board_of_the_archive_and_of_redis(
        self, verifier, read_store, redis, keys
    ) -> None:
        boards = [await _board(read_store, redis, keys) for _ in range(2)]

        assert set(boards) <= set(await verifier.boards())

    def test_takes_a_board_or_all_and_serves_without_arguments(self) -> None:
        b1, b2 = uuid.uuid4(), uuid.uuid4()
        assert parser().parse_args([]).command is None
        assert parser().parse_args(["verify", "--all"]).all is True
        assert parser().parse_args(["verify", "--board", str(b1), "--board", str(b2)]).board == [
            b1,
            b2,
        ]
        with pytest.raises(SystemExit):
            parser().parse_args(["verify"])


async def _tamper(store: MongoReadStore, archive_id: str, before: str, after: str) -> None:
    """Changes the archived event's JSON text in place, as someone with access to it could."""
    doc = await store.events.find_one({"_id": archive_id})
    assert doc is not None
    assert before in doc["event"]
    await store.events.update_one(
        {"_id": archive_id}, {"$set": {"event": doc["event"].replace(before, after)}}
    )


async def _rewrite(redis: Redis, log: str, events: list[bytes]) -> None:
    """Stream entries cannot be edited in place: write the log again, versions as before."""
    pipe = redis.pipeline(transaction=True)
    pipe.delete(log)
    for version, raw in enumerate(events, start=1):
        pipe.xadd(log, {EVENT_FIELD: raw}, id=board_entry_id(version))
    await pipe.execute()
