"""The projector's HTTP reads over a real socket, Redis and FerretDB: events go into the feeds,
the projector applies them, and `?min_version=` waits for that (read-your-writes)."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from cardstream_runtime.devtoken import DevSigner
from cardstream_testing import RedisServer
from cardstream_testing.answers import assert_error, read_json
from cardstream_testing.feeds import append, envelopes
from contracts.envelope import AnyEvent
from contracts.events import (
    BoardCreated,
    BoardRenamed,
    CardAdded,
    CardArchived,
    ColumnAdded,
    ColumnArchived,
    ColumnRestored,
    Event,
    MemberAdded,
    MemberRemoved,
)
from contracts.fields import Role
from contracts.streams import StreamKeys
from projector.keys import hub_key
from projector.store.mongo import MongoReadStore
from projector.store.port import Checkpoint
from projector.streams import dead_letter_key
from redis.asyncio import Redis

Client = TestClient[web.Request, web.Application]
MakeClient = Callable[..., Awaitable[Client]]


class Reader:
    """Writes a board's events to the feeds and reads them back through the API."""

    def __init__(self, client: Client, signer: DevSigner, redis: Redis, keys: StreamKeys) -> None:
        self.client = client
        self.signer = signer
        self.redis = redis
        self.keys = keys
        self.versions: dict[uuid.UUID, int] = {}

    def auth(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.signer.token(user)}"}

    async def write(self, board: uuid.UUID, *payloads: Event) -> int:
        start = self.versions.get(board, 0) + 1
        await append(self.redis, self.keys, envelopes(board, payloads, start=start))
        self.versions[board] = start + len(payloads) - 1
        return self.versions[board]

    async def get(self, path: str, user: str | None = "alice", **params: Any) -> tuple[int, Any]:
        response = await self.client.get(
            path, params=params, headers=self.auth(user) if user else {}
        )
        return response.status, await read_json(response)

    async def caught_up(self, board: uuid.UUID, user: str = "alice") -> dict[str, Any]:
        """The board once the projector has applied everything written to it."""
        response = await self.client.get(
            f"/api/boards/{board}",
            params={"min_version": self.versions[board], "archived": "true"},
            headers=self.auth(user),
        )
        assert response.status == 200, await response.text()
        assert response.headers[VERSION] == str(self.versions[board])
        body: dict[str, Any] = await read_json(response)
        return body


@pytest.fixture
def reader(client: Client, signer: DevSigner, redis: Redis, stream_keys: StreamKeys) -> Reader:
    return Reader(client, signer, redis, stream_keys)


VERSION, BEHIND = "X-Projection-Version", "X-Projection-Behind"


def _ids(name: str, board: uuid.UUID) -> uuid.UUID:
    return uuid.uuid5(board, name)


def _created(title: str = "Plans", owner: str = "alice") -> Event:
    return BoardCreated(title=title, owner_id=owner)


async def _ordered_board(reader: Reader) -> uuid.UUID:
    """Columns added out of order; cards with equal positions; one archived card and column."""
    board = uuid.uuid4()
    first, middle, last = (_ids(n, board) for n in ("first", "middle", "last"))
    await reader.write(
        board,
        _created(),
        ColumnAdded(column_id=last, title="Last", position="a2"),
        ColumnAdded(column_id=first, title="First", position="a0"),
        ColumnAdded(column_id=middle, title="Middle", position="a1"),
        CardAdded(card_id=_ids("late", board), column_id=first, position="a5", title="late"),
        CardAdded(card_id=_ids("tie 1", board), column_id=first, position="a3", title="tie"),
        CardAdded(card_id=_ids("tie 2", board), column_id=first, position="a3", title="tie"),
        CardAdded(card_id=_ids("early", board), column_id=first, position="a1", title="early"),
        CardAdded(card_id=_ids("in last", board), column_id=last, position="a0", title="l"),
        CardAdded(card_id=_ids("in middle", board), column_id=middle, position="a0", title="m"),
        CardAdded(card_id=_ids("gone", board), column_id=last, position="Zz", title="gone"),
        CardArchived(card_id=_ids("gone", board), column_id=last),
        ColumnArchived(column_id=middle),
    )
    return board


class TestListBoards:
    async def test_lists_the_boards_the_caller_belongs_to_with_their_role(
        self, reader: Reader
    ) -> None:
        shared, own = uuid.uuid4(), uuid.uuid4()
        await reader.write(shared, _created("Shared"), MemberAdded(user_id="bob", role=Role.EDITOR))
        await reader.write(own, _created("Alone"))
        await reader.caught_up(shared)
        await reader.caught_up(own)

        status, body = await reader.get("/api/boards")
        assert status == 200
        assert [(b["board_id"], b["title"], b["role"], b["version"]) for b in body["boards"]] == [
            (str(own), "Alone", "owner", 1),
            (str(shared), "Shared", "owner", 2),
        ]
        status, body = await reader.get("/api/boards", user="bob")
        assert (status, [b["role"] for b in body["boards"]]) == (200, ["editor"])

    async def test_a_user_on_no_board_gets_an_empty_list(self, reader: Reader) -> None:
        assert await reader.get("/api/boards", user="nobody") == (200, {"boards": []})


class TestBoardDetail:
    async def test_columns_and_cards_come_in_board_order_without_archived_ones(
        self, reader: Reader
    ) -> None:
        board = await _ordered_board(reader)
        await reader.caught_up(board)
        response = await reader.client.get(f"/api/boards/{board}", headers=reader.auth("alice"))
        assert response.status == 200
        assert response.headers[VERSION] == str(reader.versions[board])
        assert BEHIND not in response.headers
        body = await response.json()
        assert set(body) == {"board", "cards"}
        assert [c["title"] for c in body["board"]["columns"]] == ["First", "Last"]
        ties = sorted(str(_ids(n, board)) for n in ("tie 1", "tie 2"))
        assert [c["card_id"] for c in body["cards"]] == [
            str(_ids("early", board)),
            *ties,
            str(_ids("late", board)),
            str(_ids("in last", board)),
        ]

    async def test_archived_columns_and_cards_are_shown_on_request(self, reader: Reader) -> None:
        board = await _ordered_board(reader)
        body = await reader.caught_up(board)  # asks with archived=true
        columns = [(c["title"], c["archived"]) for c in body["board"]["columns"]]
        assert columns == [("First", False), ("Middle", True), ("Last", False)]
        titles = [c["title"] for c in body["cards"]]
        assert titles == ["early", "tie", "tie", "late", "m", "gone", "l"]
        assert [c["archived"] for c in body["cards"]].count(True) == 1

    async def test_a_restored_column_comes_back_in_its_place_with_its_cards(
        self, reader: Reader
    ) -> None:
        board = await _ordered_board(reader)
        await reader.write(board, ColumnRestored(column_id=_ids("middle", board), position="a1"))
        await reader.caught_up(board)
        status, body = await reader.get(f"/api/boards/{board}")
        assert status == 200
        assert [c["title"] for c in body["board"]["columns"]] == ["First", "Middle", "Last"]
        assert [c["title"] for c in body["cards"]] == ["early", "tie", "tie", "late", "m", "l"]
        assert body["board"]["counts"]["columns"] == 3

    async def test_a_viewer_can_read_the_board(self, reader: Reader) -> None:
        board = uuid.uuid4()
        await reader.write(board, _created(), MemberAdded(user_id="vic", role=Role.VIEWER))
        body = await reader.caught_up(board, user="vic")
        assert body["board"]["board_id"] == str(board)


class TestCard:
    async def test_answers_the_card_with_the_board_version(self, reader: Reader) -> None:
        board = await _ordered_board(reader)
        await reader.caught_up(board)
        card = _ids("early", board)
        response = await reader.client.get(
            f"/api/boards/{board}/cards/{card}", headers=reader.auth("alice")
        )
        assert response.status == 200
        assert response.headers[VERSION] == str(reader.versions[board])
        body = await response.json()
        assert (body["card_id"], body["title"], body["column_id"]) == (
            str(card),
            "early",
            str(_ids("first", board)),
        )

    # A fixed id: parameters must be the same in every collection (pytest-xdist's workers).
    @pytest.mark.parametrize("card", [str(uuid.UUID(int=7)), "not-a-uuid"])
    async def test_an_unknown_card_is_not_found(self, reader: Reader, card: str) -> None:
        board = uuid.uuid4()
        await reader.write(board, _created())
        await reader.caught_up(board)
        status, body = await reader.get(f"/api/boards/{board}/cards/{card}")
        assert status == 404
        assert_error(body, "card_not_found")

    async def test_a_card_of_another_board_is_not_found(self, reader: Reader) -> None:
        board, other = await _ordered_board(reader), uuid.uuid4()
        await reader.write(other, _created())
        await reader.caught_up(other)
        await reader.caught_up(board)
        status, body = await reader.get(f"/api/boards/{other}/cards/{_ids('early', board)}")
        assert status == 404
        assert_error(body, "card_not_found")


def _paths(board: uuid.UUID | str, card: uuid.UUID | str) -> list[str]:
    return [f"/api/boards/{board}", f"/api/boards/{board}/cards/{card}"]


class TestMembersOnly:
    async def test_a_non_member_is_told_the_board_does_not_exist(self, reader: Reader) -> None:
        board = await _ordered_board(reader)
        await reader.caught_up(board)
        for path in _paths(board, _ids("early", board)):
            status, body = await reader.get(path, user="mallory")
            assert status == 404, path
            assert_error(body, "board_not_found")
        status, body = await reader.get("/api/boards", user="mallory")
        assert body == {"boards": []}

    async def test_an_unknown_board_answers_the_same(self, reader: Reader) -> None:
        for board in (uuid.uuid4(), "not-a-uuid"):
            for path in _paths(board, uuid.uuid4()):
                status, body = await reader.get(path)
                assert status == 404, path
                assert_error(body, "board_not_found")

    async def test_a_removed_member_can_no_longer_read(self, reader: Reader) -> None:
        board = uuid.uuid4()
        await reader.write(board, _created(), MemberAdded(user_id="bob", role=Role.EDITOR))
        await reader.caught_up(board, user="bob")
        await reader.write(board, MemberRemoved(user_id="bob", previous_role=Role.EDITOR))
        await reader.caught_up(board)
        status, body = await reader.get(f"/api/boards/{board}", user="bob")
        assert status == 404
        assert_error(body, "board_not_found")
        assert await reader.get("/api/boards", user="bob") == (200, {"boards": []})


class TestAuthentication:
    @pytest.mark.parametrize(
        "headers",
        [
            {},
            {"Authorization": "Bearer not.a.token"},
            {"Authorization": "Basic YWxpY2U6c2VjcmV0"},
        ],
    )
    async def test_a_request_without_a_valid_token_is_refused(
        self, reader: Reader, headers: dict[str, str]
    ) -> None:
        board = uuid.uuid4()
        for path in ["/api/boards", *_paths(board, uuid.uuid4()), "/api/boards/not-a-uuid"]:
            response = await reader.client.get(path, headers=headers)
            assert response.status == 401, path
            assert_error(await response.json(), "unauthorized")

    async def test_a_token_from_another_signer_is_refused(self, reader: Reader) -> None:
        stranger = DevSigner.generate(issuer=reader.signer.issuer, audience=reader.signer.audience)
        response = await reader.client.get(
            "/api/boards", headers={"Authorization": f"Bearer {stranger.token('alice')}"}
        )
        assert response.status == 401


class TestReadYourWrites:
    async def test_a_read_waits_for_a_write_made_after_it_began(self, reader: Reader) -> None:
        board = uuid.uuid4()
        await reader.write(board, _created())
        await reader.caught_up(board)
        read = asyncio.create_task(
            reader.client.get(
                f"/api/boards/{board}", params={"min_version": 3}, headers=reader.auth("alice")
            )
        )
        await reader.write(
            board,
            BoardRenamed(title="Renamed", previous_title="Plans"),
            BoardRenamed(title="Final", previous_title="Renamed"),
        )
        response = await read
        assert response.status == 200
        assert (response.headers[VERSION], BEHIND in response.headers) == ("3", False)
        assert (await response.json())["board"]["title"] == "Final"

    async def test_a_waiting_read_is_woken_by_another_process_applying_not_by_polling(
        self,
        make_client: MakeClient,
        signer: DevSigner,
        redis: Redis,
        stream_keys: StreamKeys,
        read_store: MongoReadStore,
    ) -> None:
        asked = 0

        class Counting(MongoReadStore):
            async def board_version(self, board_id: uuid.UUID) -> int | None:
                nonlocal asked
                asked += 1
                return await super().board_version(board_id)

        serving = await make_client(role="serve", store=Counting(read_store.db))
        reader = Reader(serving, signer, redis, stream_keys)
        board = uuid.uuid4()
        read = asyncio.create_task(
            serving.get(
                f"/api/boards/{board}", params={"min_version": 1}, headers=reader.auth("alice")
            )
        )
        await reader.write(board, _created())
        await make_client(role="apply")  # another process applies it, and says so

        response = await read
        assert response.status == 200
        assert response.headers[VERSION] == "1"
        # Once before waiting, once when woken; polling every 25 ms for as long as the applier
        # takes to start would have asked dozens of times.
        assert asked <= 3

    async def test_a_new_board_is_read_as_soon_as_it_is_projected(self, reader: Reader) -> None:
        board = uuid.uuid4()
        await reader.write(
            board, _created(), ColumnAdded(column_id=uuid.uuid4(), title="c", position="a0")
        )
        response = await reader.client.get(
            f"/api/boards/{board}/cards/{uuid.uuid4()}",
            params={"min_version": 2},
            headers=reader.auth("alice"),
        )
        assert response.status == 404  # the board is there; that card is not
        assert_error(await response.json(), "card_not_found")
        assert response.headers[VERSION] == "2"

    async def test_a_read_past_the_head_answers_what_it_has_after_the_bound(
        self, make_client: MakeClient, signer: DevSigner, redis: Redis, stream_keys: StreamKeys
    ) -> None:
        reader = Reader(await make_client(min_version_wait_s=0.3), signer, redis, stream_keys)
        board = uuid.uuid4()
        await reader.write(board, _created(), MemberAdded(user_id="bob", role=Role.VIEWER))
        await reader.caught_up(board)
        card = _ids("card", board)
        await reader.write(
            board, CardAdded(card_id=card, column_id=uuid.uuid4(), position="a0", title="x")
        )
        await reader.caught_up(board)
        for path in _paths(board, card):
            started = time.monotonic()
            response = await reader.client.get(
                path, params={"min_version": 10}, headers=reader.auth("bob")
            )
            elapsed = time.monotonic() - started
            assert response.status == 200, path
            assert (response.headers[VERSION], response.headers[BEHIND]) == ("3", "true")
            assert 0.3 <= elapsed < 2.0, path

    async def test_not_found_under_min_version_answers_after_the_same_wait(
        self, make_client: MakeClient, signer: DevSigner, redis: Redis, stream_keys: StreamKeys
    ) -> None:
        reader = Reader(await make_client(min_version_wait_s=0.3), signer, redis, stream_keys)
        board = uuid.uuid4()
        await reader.write(board, _created())
        await reader.caught_up(board)
        # A non-member of an existing board must not learn, by the time taken, that it exists.
        for target, user in [(board, "mallory"), (uuid.uuid4(), "alice")]:
            for path in _paths(target, uuid.uuid4()):
                started = time.monotonic()
                response = await reader.client.get(
                    path, params={"min_version": 1}, headers=reader.auth(user)
                )
                assert response.status == 404
                assert 0.3 <= time.monotonic() - started < 2.0, path
                assert VERSION not in response.headers
                assert_error(await response.json(), "board_not_found")

    @pytest.mark.parametrize(
        "params",
        [
            {"min_version": "abc"},
            {"min_version": "-1"},
            {"min_version": "1.5"},
            {"min_version": ""},
            {"min_version": "9" * 40},
            {"min_version": str(2**63)},
            {"min_version": str(2**64)},
            {"archived": "maybe"},
            [("min_version", "1"), ("min_version", "2")],
        ],
    )
    async def test_an_invalid_query_is_a_422(self, reader: Reader, params: Any) -> None:
        board = uuid.uuid4()
        await reader.write(board, _created())
        await reader.caught_up(board)
        paths = [f"/api/boards/{board}"] if "archived" in params else _paths(board, uuid.uuid4())
        for path in paths:
            response = await reader.client.get(path, params=params, headers=reader.auth("alice"))
            assert response.status == 422, path
            assert_error(await response.json(), "invalid_query")


class TestReadiness:
    async def test_healthz_and_readyz_answer_when_both_stores_are_up(self, client: Client) -> None:
        assert (await client.get("/healthz")).status == 200
        response = await client.get("/readyz")
        assert response.status == 200
        assert await response.json() == {
            "status": "ready",
            "checks": {"redis": "ok", "mongo": "ok"},
        }

    async def test_readyz_says_what_failed_when_redis_is_down(
        self, make_client: MakeClient, tmp_path: Path
    ) -> None:
        with RedisServer(tmp_path / "redis") as server:
            client = await make_client(redis_url=server.url, role="serve")
            server.stop()
            started = time.monotonic()
            response = await client.get("/readyz")
            assert time.monotonic() - started < 5
            assert response.status == 503
            body = await response.json()
            assert body["status"] == "unavailable"
            assert body["checks"]["mongo"] == "ok"
            assert body["checks"]["redis"] != "ok"

    async def test_readyz_reports_a_log_that_diverged_from_the_read_models(
        self,
        make_client: MakeClient,
        redis: Redis,
        stream_keys: StreamKeys,
        read_store: MongoReadStore,
    ) -> None:
        await read_store.save_checkpoint(Checkpoint(0, "1-0", "the-old-epoch"))
        await redis.set(stream_keys.epoch(0), "a-new-epoch")
        diverged = asyncio.Event()
        client = await make_client(on_diverged=lambda _: diverged.set())
        await asyncio.wait_for(diverged.wait(), 10)
        response = await client.get("/readyz")
        assert response.status == 503
        checks = (await response.json())["checks"]
        assert (checks["redis"], checks["mongo"]) == ("ok", "ok")
        assert "epoch" in checks["log"]


_SAMPLE = re.compile(r'^([a-z_]+)(?:\{partition="(\d+)"\})? (-?[0-9.e+]+)$')


def _parse_metrics(text: str) -> dict[tuple[str, int | None], float]:
    """A strict reading of the Prometheus text format: every line a comment or a sample."""
    samples: dict[tuple[str, int | None], float] = {}
    typed: set[str] = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            name, kind = line.split()[2:]
            assert kind == "gauge"
            typed.add(name)
            continue
        if line.startswith("# HELP "):
            continue
        match = _SAMPLE.match(line)
        assert match, line
        name, partition, value = match.groups()
        assert name in typed, line
        samples[(name, int(partition) if partition else None)] = float(value)
    return samples


async def _metrics(client: Client) -> dict[tuple[str, int | None], float]:
    response = await client.get("/metrics")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return _parse_metrics(await response.text())


class Applied:
    """An app's `on_applied` hook: the versions its projector has applied, each called once the
    partition's checkpoint has moved past them."""

    def __init__(self) -> None:
        self.versions: dict[uuid.UUID, int] = {}
        self._changed = asyncio.Event()

    def __call__(self, events: Sequence[AnyEvent]) -> None:
        for event in events:
            self.versions[event.board_id] = max(event.version, self.versions.get(event.board_id, 0))
        self._changed.set()

    async def until(self, board: uuid.UUID, version: int) -> None:
        async with asyncio.timeout(10):
            while self.versions.get(board, 0) < version:
                self._changed.clear()
                await self._changed.wait()


def _boards_on(keys: StreamKeys, partitions: Sequence[int]) -> list[uuid.UUID]:
    """A new board id on each of `partitions`, in order."""
    return [
        next(board for board in iter(uuid.uuid4, None) if keys.partition_of(board) == partition)
        for partition in partitions
    ]


LAG, LAG_S = "cardstream_projector_lag_entries", "cardstream_projector_lag_seconds"
HELD, DEAD = "cardstream_projector_partitions_held", "cardstream_projector_dead_letters"
SOCKETS = "cardstream_projector_websocket_connections"


class TestMetrics:
    async def test_lag_counts_the_feed_when_nothing_was_applied(
        self, make_client: MakeClient, signer: DevSigner, redis: Redis, stream_keys: StreamKeys
    ) -> None:
        client = await make_client(role="serve")
        reader = Reader(client, signer, redis, stream_keys)
        board = uuid.uuid4()
        await reader.write(board, _created(), *[BoardRenamed(title="t", previous_title="t")] * 4)
        samples = await _metrics(client)
        partition = stream_keys.partition_of(board)
        for p in range(stream_keys.partitions):
            assert samples[(LAG, p)] == (5 if p == partition else 0)
            assert samples[(DEAD, p)] == 0
            assert samples[(LAG_S, p)] >= 0
        assert samples[(HELD, None)] == 0

    async def test_lag_goes_to_zero_once_the_projector_catches_up(
        self, make_client: MakeClient, signer: DevSigner, redis: Redis, stream_keys: StreamKeys
    ) -> None:
        applied = Applied()
        client = await make_client(on_applied=applied)
        reader = Reader(client, signer, redis, stream_keys)
        # Boards on every partition, so that each partition's applier reports having applied.
        partitions = range(stream_keys.partitions)
        boards = _boards_on(stream_keys, [*partitions, *partitions[:2]])
        for board in boards:
            await reader.write(board, _created(), BoardRenamed(title="t", previous_title="Plans"))
        for board in boards:
            await applied.until(board, 2)

        samples = await _metrics(client)
        lags = [samples[(name, p)] for name in (LAG, LAG_S) for p in partitions]
        assert samples[(HELD, None)] == stream_keys.partitions, samples
        assert not any(lags), samples
        for board in boards:
            assert (await reader.caught_up(board))["board"]["title"] == "t"

    async def test_lag_counts_the_entries_after_the_checkpoint(
        self, make_client: MakeClient, signer: DevSigner, redis: Redis, stream_keys: StreamKeys
    ) -> None:
        reader = Reader(await make_client(), signer, redis, stream_keys)
        board = uuid.uuid4()
        await reader.write(board, _created())
        await reader.caught_up(board)
        # A second app that only reads: it sees the checkpoint, then entries nobody applies.
        observer = await make_client(role="serve")
        await reader.client.close()  # the applying projector stops; its checkpoint stays
        await reader.write(board, *[BoardRenamed(title="t", previous_title="t")] * 3)
        samples = await _metrics(observer)
        partition = stream_keys.partition_of(board)
        assert samples[(LAG, partition)] == 3
        assert samples[(LAG_S, partition)] >= 0
        assert samples[(HELD, None)] == 0

    async def test_dead_letters_are_counted_per_partition(
        self, make_client: MakeClient, signer: DevSigner, redis: Redis, stream_keys: StreamKeys
    ) -> None:
        applied = Applied()
        client = await make_client(max_attempts=1, on_applied=applied)
        poisoned = uuid.uuid4()
        partition = stream_keys.partition_of(poisoned)
        await redis.xadd(
            stream_keys.feed(partition),
            {"board": str(poisoned), "version": 1, "event": b"{not json"},
        )
        # A sound board behind it on the same partition: once that is applied, the poisoned
        # entry has been parked and the checkpoint has moved past both.
        (sound,) = _boards_on(stream_keys, [partition])
        await Reader(client, signer, redis, stream_keys).write(sound, _created())
        await applied.until(sound, 1)
        samples = await _metrics(client)
        assert samples[(DEAD, partition)] == 1
        assert samples[(LAG, partition)] == 0
        assert await redis.xlen(dead_letter_key(stream_keys, partition)) == 1
        others = [p for p in range(stream_keys.partitions) if p != partition]
        assert all(samples[(DEAD, p)] == 0 for p in others)

    async def test_counts_open_websockets(self, client: Client, signer: DevSigner) -> None:
        assert (await _metrics(client))[(SOCKETS, None)] == 0
        ws = await client.ws_connect("/ws", headers={"Origin": "http://127.0.0.1:8080"})
        await ws.send_json({"type": "auth", "token": signer.token("alice")})
        await ws.send_json({"type": "ping"})
        assert (await ws.receive_json(timeout=5))["type"] == "pong"
        assert (await _metrics(client))[(SOCKETS, None)] == 1
        (server_side,) = client.app[hub_key].connections
        await ws.close()
        # Its writer ends only once the server has begun closing it, and stopped counting it.
        await asyncio.wait_for(server_side.wait_closed(), 5)
        assert (await _metrics(client))[(SOCKETS, None)] == 0

    async def test_health_endpoints_need_no_token(self, client: Client) -> None:
        for path in ("/healthz", "/readyz", "/metrics"):
            assert (await client.get(path)).status == 200, path
