"""The command use case over a real Redis: retries, races between processes, lost replies."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import Counter

import orjson
import pytest
from boards.adapters.event_store import IdempotencyMismatchError, VersionConflictError
from boards.adapters.redis_store import RedisEventStore
from boards.domain import Board, fold
from boards.groups import Caller
from boards.service import BoardCommands
from cardstream_testing import RedisServer
from cardstream_testing.proxy import FaultyProxy
from contracts.commands import AddCard, AddColumn, CreateBoard, MoveCard, RenameBoard
from contracts.envelope import command_envelope
from contracts.streams import StreamKeys
from redis.asyncio import Redis
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.retry import Retry

ALICE = Caller(user_id="alice", correlation_id="test")


class CountingStore(RedisEventStore):
    conflicts = 0

    async def append_group(self, group):  # type: ignore[no-untyped-def]
        try:
            return await super().append_group(group)
        except VersionConflictError:
            CountingStore.conflicts += 1
            raise


async def _commands(redis: Redis, keys: StreamKeys) -> BoardCommands:
    store = CountingStore(redis, keys)
    await store.install()
    return BoardCommands(store)


async def _send(commands: BoardCommands, board: uuid.UUID, payload, **kw):  # type: ignore[no-untyped-def]
    return await commands.handle(
        board, command_envelope(payload, command_id=uuid.uuid4(), **kw), ALICE
    )


async def _board_with(
    commands: BoardCommands, columns: int, cards: int
) -> tuple[uuid.UUID, list[uuid.UUID], list[uuid.UUID]]:
    board = uuid.uuid4()
    await _send(commands, board, CreateBoard(title="Race"))
    column_ids = [uuid.uuid4() for _ in range(columns)]
    for i, column in enumerate(column_ids):
        await _send(commands, board, AddColumn(title=f"c{i}", column_id=column))
    card_ids = [uuid.uuid4() for _ in range(cards)]
    for i, card in enumerate(card_ids):
        await _send(
            commands,
            board,
            AddCard(column_id=column_ids[i % columns], title=f"card {i}", card_id=card),
        )
    return board, column_ids, card_ids


def _assert_keys_unique_per_column(board: Board) -> None:
    for column_id, lane in board.lanes.items():
        keys = [key for key, _ in lane]
        assert len(keys) == len(set(keys)), f"column {column_id} has a shared order key"
        assert keys == sorted(keys)
    active = [c for c in board.cards.values() if not c.archived]
    assert sorted(c.card_id for c in active) == sorted(
        i for lane in board.lanes.values() for _, i in lane
    )


class TestManyWritersOnOneBoard:
    async def test_twenty_writers_moving_cards_all_succeed_with_gapless_versions(
        self, redis: Redis, stream_keys: StreamKeys
    ) -> None:
        # Four BoardCommands stand for four processes: each has its own cached state, so their
        # appends really race in Redis and are settled by the version check and a retry.
        processes = [await _commands(redis, stream_keys) for _ in range(4)]
        board, columns, cards = await _board_with(processes[0], columns=4, cards=40)
        rng = random.Random(7)

        async def writer(n: int) -> int:
            commands = processes[n % len(processes)]
            moved = 0
            for _ in range(50):
                anchor = rng.choice([None, "after", "before"])
                other = rng.choice(cards)
                payload = MoveCard(
                    card_id=(card := rng.choice(cards)),
                    column_id=rng.choice(columns),
                    after_card_id=other if anchor == "after" and other != card else None,
                    before_card_id=other if anchor == "before" and other != card else None,
                )
                outcome = await _send(commands, board, payload)
                moved += len(orjson.loads(outcome.body)["events"])
            return moved

        CountingStore.conflicts = 0
        moved = sum(await asyncio.gather(*(writer(n) for n in range(20))))
        assert CountingStore.conflicts > 0, "the writers never raced; the test proves nothing"

        store = RedisEventStore(redis, stream_keys)
        events = await store.read(board)
        assert [e.version for e in events] == list(range(1, len(events) + 1))
        assert Counter(e.type for e in events)["CardMoved"] == moved
        assert moved > 900  # a few of the 1,000 moves land where the card already was
        _assert_keys_unique_per_column(fold(Board(board_id=board), events))

    async def test_a_process_with_a_stale_board_still_decides_on_the_current_one(
        self, redis: Redis, stream_keys: StreamKeys
    ) -> None:
        a, b = await _commands(redis, stream_keys), await _commands(redis, stream_keys)
        board, columns, _ = await _board_with(a, columns=2, cards=0)
        await b.load(board)
        card = uuid.uuid4()
        await _send(a, board, AddCard(column_id=columns[0], title="new", card_id=card))
        outcome = await _send(b, board, MoveCard(card_id=card, column_id=columns[1]))
        assert orjson.loads(outcome.body)["events"][0]["payload"]["card_id"] == str(card)


class TestExpectedVersion:
    async def test_a_stale_expected_version_is_a_conflict_naming_the_current_one(
        self, redis: Redis, stream_keys: StreamKeys
    ) -> None:
        commands = await _commands(redis, stream_keys)
        board, _, _ = await _board_with(commands, columns=1, cards=1)
        with pytest.raises(VersionConflictError) as conflict:
            await _send(commands, board, RenameBoard(title="late"), expected_version=1)
        assert conflict.value.current_version == 3

    async def test_the_right_expected_version_appends(
        self, redis: Redis, stream_keys: StreamKeys
    ) -> None:
        commands = await _commands(redis, stream_keys)
        board, _, _ = await _board_with(commands, columns=1, cards=1)
        outcome = await _send(commands, board, RenameBoard(title="on time"), expected_version=3)
        assert outcome.version == 4


class TestRetries:
    async def test_a_command_sent_ten_times_after_a_lost_reply_applies_once(
        self, redis_server: RedisServer, stream_keys: StreamKeys
    ) -> None:
        async with FaultyProxy("127.0.0.1", redis_server.port) as proxy:
            # No client-side retries: the test, not redis-py, is the client that retries.
            via_proxy = Redis.from_url(proxy.url, retry=Retry(NoBackoff(), 0))
            try:
                commands = await _commands(via_proxy, stream_keys)
                board, columns, _ = await _board_with(commands, columns=1, cards=0)
                command = command_envelope(
                    AddCard(column_id=columns[0], title="exactly once"), command_id=uuid.uuid4()
                )
                proxy.drop_replies = True
                with pytest.raises(RedisConnectionError):
                    await commands.handle(board, command, ALICE)
                assert proxy.replies_dropped == 1
                proxy.drop_replies = False

                bodies = [(await commands.handle(board, command, ALICE)).body for _ in range(10)]
            finally:
                await via_proxy.aclose()

        assert len(set(bodies)) == 1
        answer = orjson.loads(bodies[0])
        direct = Redis.from_url(redis_server.url)
        try:
            events = await RedisEventStore(direct, stream_keys).read(board)
        finally:
            await direct.aclose()
        added = [e for e in events if e.type == "CardAdded"]
        assert len(added) == 1
        assert answer["version"] == events[-1].version
        assert [e["event_id"] for e in answer["events"]] == [str(added[0].event_id)]

    async def test_a_retry_that_would_now_be_refused_gets_the_first_answer(
        self, redis: Redis, stream_keys: StreamKeys
    ) -> None:
        commands = await _commands(redis, stream_keys)
        board, columns, _ = await _board_with(commands, columns=1, cards=0)
        command = command_envelope(
            AddCard(column_id=columns[0], title="once", card_id=uuid.uuid4()),
            command_id=uuid.uuid4(),
        )
        first = await commands.handle(board, command, ALICE)
        # A fresh process has no memory of it: deciding again would say "card exists".
        again = await (await _commands(redis, stream_keys)).handle(board, command, ALICE)
        assert again.body == first.body

    async def test_the_same_id_for_another_command_is_refused(
        self, redis: Redis, stream_keys: StreamKeys
    ) -> None:
        commands = await _commands(redis, stream_keys)
        board, _, _ = await _board_with(commands, columns=1, cards=0)
        command_id = uuid.uuid4()
        await commands.handle(
            board, command_envelope(RenameBoard(title="one"), command_id=command_id), ALICE
        )
        with pytest.raises(IdempotencyMismatchError):
            await commands.handle(
                board, command_envelope(RenameBoard(title="two"), command_id=command_id), ALICE
            )


class ReadCountingStore(RedisEventStore):
    reads_after: list[int] = []

    async def read(self, board_id, *, after_version=0, to_version=None):  # type: ignore[no-untyped-def]
        self.reads_after.append(after_version)
        return await super().read(board_id, after_version=after_version, to_version=to_version)


class TestSnapshots:
    async def test_a_new_process_starts_from_the_newest_snapshot(
        self, redis: Redis, stream_keys: StreamKeys
    ) -> None:
        store = RedisEventStore(redis, stream_keys)
        await store.install()
        writer = BoardCommands(store, snapshot_every=10)
        board, columns, cards = await _board_with(writer, columns=2, cards=5)  # versions 1..8
        for i in range(17):  # versions 9..25: snapshots at 10 and 20
            await _send(writer, board, MoveCard(card_id=cards[i % 5], column_id=columns[i % 2]))
        await writer.drain()
        assert (await store.snapshot(board) or (0, b""))[0] == 20

        reader_store = ReadCountingStore(redis, stream_keys)
        reader_store.reads_after = []
        loaded = await BoardCommands(reader_store).load(board)
        assert reader_store.reads_after == [20]
        assert loaded == fold(Board(board_id=board), await store.read(board))
        assert loaded.version == 25
