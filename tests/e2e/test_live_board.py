"""Issue 3's acceptance: the live board, end to end, with the services as real processes."""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from pathlib import Path
from typing import Any

import aiohttp
from cardstream_testing.stack import WAIT_S, Api, Stack, Subscriber
from contracts.streams import StreamKeys
from contracts.upcasting import parse_event
from projector.projection import BoardProjection, apply_event
from pymongo import AsyncMongoClient
from redis.asyncio import Redis

COLLECTIONS = ("boards", "cards", "memberships", "events")


async def _board_with_columns(api: Api, columns: int = 3) -> tuple[str, list[str]]:
    board = await api.create_board()
    ids = [str(uuid.uuid4()) for _ in range(columns)]
    for i, column in enumerate(ids):
        answer = await api.command(board, "AddColumn", column_id=column, title=f"c{i}")
        assert answer["status"] == 200, answer
    return board, ids


async def _log(stack: Stack, board: str) -> list[dict[str, Any]]:
    redis = Redis.from_url(stack.redis.url)
    try:
        entries = await redis.xrange(StreamKeys(partitions=4).board_log(uuid.UUID(board)))
    finally:
        await redis.aclose()
    return [json.loads(fields[b"event"]) for _, fields in entries]


def _fold(events: list[dict[str, Any]], board: str) -> BoardProjection:
    projection = BoardProjection(board_id=board)
    for raw in events:
        apply_event(projection, parse_event(raw))
    return projection


def _assert_gapless(events: list[dict[str, Any]], first: int, last: int) -> None:
    assert [e["version"] for e in events] == list(range(first, last + 1))


async def _mixed_commands(
    api: Api, board: str, columns: list[str], writers: int, total: int
) -> None:
    cards: list[str] = []

    async def writer(n: int) -> None:
        rng = random.Random(n)
        for i in range(total // writers):
            roll = rng.random()
            if roll < 0.3 or len(cards) < 3:
                card = str(uuid.uuid4())
                answer = await api.command(
                    board, "AddCard", column_id=rng.choice(columns), title=f"{n}-{i}", card_id=card
                )
                cards.append(card)
            elif roll < 0.8:
                answer = await api.command(
                    board, "MoveCard", card_id=rng.choice(cards), column_id=rng.choice(columns)
                )
            elif roll < 0.95:
                answer = await api.command(
                    board, "EditCard", card_id=rng.choice(cards), description=f"d{n}-{i}"
                )
            else:
                answer = await api.command(board, "ArchiveCard", card_id=rng.choice(cards))
            assert answer["status"] in (200, 422), answer

    await asyncio.gather(*(writer(n) for n in range(writers)))


class TestSubscribersSeeEverything:
    async def test_two_subscribers_get_every_event_once_in_order_while_five_writers_write(
        self, stack: Stack, http: aiohttp.ClientSession
    ) -> None:
        stack.start_boards()
        projector = stack.start_projector()
        api = Api(http, stack, projector.url)
        board, columns = await _board_with_columns(api)
        subscribers = [
            await Subscriber(http, projector.url, stack.token()).connect() for _ in range(2)
        ]
        for subscriber in subscribers:
            await subscriber.subscribe(board, since_version=0)

        await _mixed_commands(api, board, columns, writers=5, total=500)

        log = await _log(stack, board)
        head = log[-1]["version"]
        for subscriber in subscribers:
            await subscriber.until(lambda s=subscriber: s.last_version(board) >= head)
            received = subscriber.events(board)
            _assert_gapless(received, 1, head)
            assert [e["event_id"] for e in received] == [e["event_id"] for e in log]
        detail = await api.wait_for_version(board, head)
        folded = _fold(subscribers[0].events(board), board)
        assert folded.board is not None
        assert detail["board"]["version"] == folded.board["version"] == head
        assert detail["board"]["title"] == folded.board["title"]
        open_cards = sorted(
            (c["column_id"], c["position"], c["card_id"])
            for c in folded.cards.values()
            if not c["archived"]
        )
        assert (
            sorted((c["column_id"], c["position"], c["card_id"]) for c in detail["cards"])
            == open_cards
        )
        for subscriber in subscribers:
            await subscriber.close()

    async def test_a_subscriber_that_reconnects_gets_exactly_what_it_missed(
        self, stack: Stack, http: aiohttp.ClientSession
    ) -> None:
        stack.start_boards()
        projector = stack.start_projector()
        api = Api(http, stack, projector.url)
        board, _ = await _board_with_columns(api)
        first = await Subscriber(http, projector.url, stack.token()).connect()
        await first.subscribe(board)
        await first.until(lambda: first.last_version(board) >= 4)
        dropped_at = first.last_version(board)
        await first.close()
        for i in range(50):
            assert (await api.command(board, "RenameBoard", title=f"t{i}"))["status"] == 200
        again = await Subscriber(http, projector.url, stack.token()).connect()
        await again.subscribe(board, since_version=dropped_at)
        await again.until(lambda: again.last_version(board) >= dropped_at + 50)
        received = again.events(board)
        _assert_gapless(received, dropped_at + 1, dropped_at + 50)
        assert not [m for m in again.messages if m["type"] == "snapshot"]
        await again.close()


async def _documents(mongo_url: str, db: str) -> dict[str, list[str]]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_url, tz_aware=True)
    try:
        return {
            name: sorted(
                [
                    json.dumps(doc, sort_keys=True, default=str)
                    async for doc in client[db][name].find({})
                ]
            )
            for name in COLLECTIONS
        }
    finally:
        await client.close()


async def _rebuild(
    stack: Stack, http: aiohttp.ClientSession, boards: dict[str, int]
) -> dict[str, list[str]]:
    """What a projector builds from an empty database, as another consumer group."""
    db = f"{stack.mongo_db}_rebuild"
    process = stack.start_projector("rebuild", mongo_db=db, consumer_group="rebuild")
    api = Api(http, stack, process.url)
    for board, version in boards.items():
        await api.wait_for_version(board, version)
    documents = await _documents(stack.mongo_url, db)
    process.stop()
    return documents


class TestConvergence:
    async def test_a_projector_killed_mid_batch_converges_to_a_rebuild(
        self, stack: Stack, http: aiohttp.ClientSession
    ) -> None:
        stack.start_boards()
        projector = stack.start_projector("victim", batch_size="20")
        api = Api(http, stack, projector.url)
        board, columns = await _board_with_columns(api)
        writing = asyncio.create_task(_mixed_commands(api, board, columns, writers=4, total=600))
        await api.wait_for_version(board, 60)
        projector.kill()
        await writing
        head = (await _log(stack, board))[-1]["version"]
        restarted = stack.start_projector("victim-again", batch_size="20")
        api = Api(http, stack, restarted.url)
        await api.wait_for_version(board, head)
        live = await _documents(stack.mongo_url, stack.mongo_db)
        assert live == await _rebuild(stack, http, {board: head})

    async def test_two_projectors_on_the_same_partitions_apply_everything_once(
        self, stack: Stack, http: aiohttp.ClientSession
    ) -> None:
        stack.start_boards()
        one, two = stack.start_projector("one"), stack.start_projector("two")
        api = Api(http, stack, one.url)
        boards = {}
        for _ in range(4):
            board, columns = await _board_with_columns(api, columns=2)
            await _mixed_commands(api, board, columns, writers=2, total=60)
            boards[board] = (await _log(stack, board))[-1]["version"]
        for board, version in boards.items():
            await Api(http, stack, two.url).wait_for_version(board, version)
        live = await _documents(stack.mongo_url, stack.mongo_db)
        assert len(live["events"]) == sum(boards.values())
        assert live == await _rebuild(stack, http, boards)


class TestPoison:
    async def test_a_poison_event_is_parked_and_other_boards_keep_updating(
        self, stack: Stack, http: aiohttp.ClientSession
    ) -> None:
        stack.start_boards()
        projector = stack.start_projector(max_attempts="2")
        api = Api(http, stack, projector.url)
        board, _ = await _board_with_columns(api, columns=1)
        keys = StreamKeys(partitions=4)
        redis = Redis.from_url(stack.redis.url)
        try:
            victim = uuid.UUID(board)
            await redis.xadd(
                keys.feed(keys.partition_of(victim)),
                {"board": board, "version": 99, "event": b"\x00garbage"},
            )
            for i in range(5):
                assert (await api.command(board, "RenameBoard", title=f"after {i}"))[
                    "status"
                ] == 200
            await api.wait_for_version(board, 7)

            async def parked() -> list[Any]:
                while True:
                    entries = await redis.xrange(
                        f"{keys.tag(keys.partition_of(victim))}:deadletter:projector"
                    )
                    if entries:
                        return entries

            entries = await asyncio.wait_for(parked(), WAIT_S)
        finally:
            await redis.aclose()
        assert entries[0][1][b"event"] == b"\x00garbage"


class TestSlowSubscriber:
    async def test_a_subscriber_that_never_reads_does_not_grow_memory_or_delay_others(
        self, stack: Stack, http: aiohttp.ClientSession, tmp_path: Path
    ) -> None:
        stack.start_boards()
        projector = stack.start_projector(ws_send_queue="64")
        api = Api(http, stack, projector.url)
        board, columns = await _board_with_columns(api, columns=2)
        # The slow one: a raw socket that authenticates, subscribes, then never reads again.
        reader, writer = await asyncio.open_connection("127.0.0.1", projector.port)
        slow = _RawWebSocket(reader, writer)
        await slow.handshake(f"127.0.0.1:{projector.port}")
        await slow.send_json({"type": "auth", "token": stack.token()})
        await slow.send_json({"type": "subscribe", "board_id": board})
        fast = await Subscriber(http, projector.url, stack.token()).connect()
        await fast.subscribe(board, since_version=0)
        rss_before = _rss_kib(projector)
        big = "x" * 8000
        for i in range(400):
            answer = await api.command(board, "RenameBoard", title=f"r{i}")
            assert answer["status"] == 200
            if i % 50 == 0:
                card = str(uuid.uuid4())
                await api.command(
                    board,
                    "AddCard",
                    column_id=columns[0],
                    title="big",
                    card_id=card,
                    description=big,
                )
        head = (await _log(stack, board))[-1]["version"]
        await fast.until(lambda: fast.last_version(board) >= head)
        _assert_gapless(fast.events(board), 1, head)
        growth = _rss_kib(projector) - rss_before
        # Stated bound: a stalled subscriber costs its queue (64 messages), far below 64 MiB.
        assert growth < 64 * 1024, f"projector grew by {growth} KiB"
        writer.close()
        await fast.close()


class TestAuthorization:
    async def test_members_read_and_subscribe_and_others_do_not(
        self, stack: Stack, http: aiohttp.ClientSession
    ) -> None:
        stack.start_boards()
        projector = stack.start_projector()
        api = Api(http, stack, projector.url)
        board, _ = await _board_with_columns(api, columns=1)
        assert (await api.command(board, "AddMember", user_id="victor", role="viewer"))[
            "status"
        ] == 200
        assert (await api.command(board, "AddMember", user_id="eve", role="editor"))[
            "status"
        ] == 200
        await api.wait_for_version(board, 4)

        status, _ = await api.board(board, user="mallory")
        assert status == 404
        mallory = await Subscriber(http, projector.url, stack.token("mallory")).connect()
        await mallory.subscribe(board)
        await mallory.until(lambda: any(m["type"] == "error" for m in mallory.messages))
        assert not [m for m in mallory.messages if m["type"] in ("snapshot", "events")]

        status, _ = await api.board(board, user="victor")
        assert status == 200
        victor = await Subscriber(http, projector.url, stack.token("victor")).connect()
        await victor.subscribe(board)
        await victor.until(lambda: victor.last_version(board) >= 4)

        eve = await Subscriber(http, projector.url, stack.token("eve")).connect()
        await eve.subscribe(board)
        await eve.until(lambda: eve.last_version(board) >= 4)
        assert (await api.command(board, "RemoveMember", user_id="eve"))["status"] == 200
        assert (await api.command(board, "RenameBoard", title="after eve"))["status"] == 200
        await victor.until(lambda: victor.last_version(board) >= 6)
        await eve.until(
            lambda: any(m["type"] == "error" and m.get("board_id") == board for m in eve.messages)
        )
        assert eve.last_version(board) <= 5
        for subscriber in (mallory, victor, eve):
            await subscriber.close()


def _rss_kib(process: Any) -> int:
    pid = process.pid
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


class _RawWebSocket:
    """Just enough of a WebSocket client to subscribe and then stop reading, so TCP fills up."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def handshake(self, host: str) -> None:
        self.writer.write(
            (
                f"GET /ws HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        await self.writer.drain()
        response = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), WAIT_S)
        assert b" 101 " in response

    async def send_json(self, data: dict[str, Any]) -> None:
        payload = json.dumps(data).encode()
        mask = b"\x01\x02\x03\x04"
        header = bytes([0x81])
        if len(payload) < 126:
            header += bytes([0x80 | len(payload)])
        else:
            header += bytes([0x80 | 126]) + len(payload).to_bytes(2, "big")
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.writer.write(header + mask + masked)
        await self.writer.drain()
