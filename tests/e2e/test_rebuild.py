"""Issue 6's acceptance for `rebuild`: while a writer keeps sending commands and a subscriber keeps
receiving, the read models are rebuilt into a new generation, verified and switched over; the new
documents equal the old ones (canonical JSON) and a fresh fold; the subscriber sees no gap; reads
after the switch come from the new generation, which the live projector then keeps applying."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import aiohttp
import pytest
from cardstream_testing.stack import Api, Stack, Subscriber
from contracts.fields import MAX_OPEN_CARDS
from contracts.streams import StreamKeys
from projector.events import BoardEvents
from projector.ops.rebuild import canonical, fold, folded_documents
from projector.store.mongo import MongoReadStore
from projector.streams import BoardLog
from pymongo import AsyncMongoClient
from redis.asyncio import Redis

# A steady writer, not a flood: FerretDB (SQLite) serves the live projector and the rebuild at once.
WRITE_PAUSE_S = 0.05
CLI_TIMEOUT_S = 150


async def _board_with_columns(api: Api) -> tuple[str, list[str]]:
    board = await api.create_board()
    columns = [str(uuid.uuid4()) for _ in range(2)]
    for i, column in enumerate(columns):
        assert (await api.command(board, "AddColumn", column_id=column, title=f"c{i}"))[
            "status"
        ] == 200
    return board, columns


async def _write(api: Api, board: str, columns: list[str], n: int, tag: str) -> None:
    cards: list[str] = []
    for i in range(n):
        if i % 3 == 0 or not cards:
            card = str(uuid.uuid4())
            answer = await api.command(
                board, "AddCard", column_id=columns[i % 2], title=f"{tag}{i}", card_id=card
            )
            cards.append(card)
        elif i % 3 == 1:
            answer = await api.command(board, "MoveCard", card_id=cards[-1], column_id=columns[0])
        else:
            answer = await api.command(board, "RenameBoard", title=f"{tag}{i}")
        # Each write is valid on the board as it stands (a live column, a new card id, the card
        # just added, a new title), so a refusal is a bug, never a race. The one rule these
        # writes could meet is the open-card limit, out of reach here (see the test's first line).
        assert answer["status"] == 200, answer


async def _head(stack: Stack, board: str) -> int:
    redis = Redis.from_url(stack.redis.url)
    try:
        entries: Any = await redis.xrevrange(
            StreamKeys(partitions=4).board_log(uuid.UUID(board)), count=1
        )
    finally:
        await redis.aclose()
    return int(entries[0][0].split(b"-")[0])


class TestRebuild:
    @pytest.mark.timeout(240)
    async def test_rebuilds_verifies_and_switches_while_writing_and_subscribed(
        self, stack: Stack, http: aiohttp.ClientSession
    ) -> None:
        # The writer adds at most one card per pause for as long as the rebuild may run.
        assert CLI_TIMEOUT_S / WRITE_PAUSE_S + 100 < MAX_OPEN_CARDS
        stack.start_boards()
        projector = stack.start_projector()
        api = Api(http, stack, projector.url)
        quiet, quiet_columns = await _board_with_columns(api)
        await _write(api, quiet, quiet_columns, 30, "q")
        busy, columns = await _board_with_columns(api)
        await _write(api, busy, columns, 60, "b")
        await api.wait_for_version(quiet, await _head(stack, quiet))
        subscriber = await Subscriber(http, projector.url, stack.token()).connect()
        await subscriber.subscribe(busy, since_version=0)

        stop = asyncio.Event()

        async def writer() -> int:
            written = 0
            while not stop.is_set():
                await _write(api, busy, columns, 3, f"w{written}")
                written += 3
                await asyncio.sleep(WRITE_PAUSE_S)
            return written

        writing = asyncio.create_task(writer())
        code, _, progress = await stack.projector_cli("rebuild", timeout_s=CLI_TIMEOUT_S)
        await _write(api, busy, columns, 30, "after")  # applied by the live projector, on g1
        stop.set()
        written = await writing

        assert code == 0, progress
        assert written > 0
        assert "events/s" in progress
        assert "partitions done" in progress
        assert "switched the read models from generation 0 to 1" in progress
        head = await _head(stack, busy)
        await subscriber.until(lambda: subscriber.last_version(busy) >= head)
        assert [e["version"] for e in subscriber.events(busy)] == list(range(1, head + 1))
        detail = await api.wait_for_version(busy, head)
        assert detail["board"]["version"] == head

        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(stack.mongo_url, tz_aware=True)
        redis = Redis.from_url(stack.redis.url)
        try:
            db = client[stack.mongo_db]
            old, new = MongoReadStore(db), MongoReadStore(db, generation=1)
            assert (await old.generation_pointer()).live == 1
            events = BoardEvents.of(old, BoardLog(redis, StreamKeys(partitions=4)))
            # The quiet board did not move: both generations hold the same documents.
            assert canonical(await new.stored_documents(quiet)) == canonical(
                await old.stored_documents(quiet)
            )
            # The busy one: each generation equals a fresh fold at its own version.
            for store in (old, new):
                documents = await store.stored_documents(busy)
                assert documents is not None
                projection, _ = await fold(events, busy, documents["board"]["version"])
                assert canonical(documents) == canonical(folded_documents(projection))
            # HTTP reads come from generation 1 once the live projector has seen the pointer
            # move: a mark made only there, one version ahead so that a read can wait for it
            # (`min_version`), is what they show.
            original = await new.boards.find_one({"_id": quiet})
            assert original is not None
            marked = original["version"] + 1
            await new.boards.update_one(
                {"_id": quiet}, {"$set": {"title": "only in g1", "version": marked}}
            )
            assert (await api.wait_for_version(quiet, marked))["board"]["title"] == "only in g1"
            # The rebuild had exited before the last commands: the live projector, which moves
            # its appliers with its readers, applied them to generation 1.
            await api.wait_for_version(busy, head)
            assert await new.board_version(uuid.UUID(busy)) == head
            # The mark at the board's own version, which `rebuild --verify-only` finds as a
            # document that is not the fold.
            await new.boards.update_one({"_id": quiet}, {"$set": {"version": original["version"]}})
            code, _, report = await stack.projector_cli(
                "rebuild", "--verify-only", timeout_s=CLI_TIMEOUT_S
            )
            assert code == 1
            assert f"board {quiet}: the documents differ from the fold" in report
            await new.boards.update_one({"_id": quiet}, {"$set": {"title": original["title"]}})
            code, _, report = await stack.projector_cli(
                "rebuild", "--verify-only", timeout_s=CLI_TIMEOUT_S
            )
            assert code == 0, report
        finally:
            await client.close()
            await redis.aclose()
        await subscriber.close()
