"""The WebSocket at /ws over a real socket, Redis and FerretDB: handshake, authorization, ordered
delivery with catch-up and gap filling, membership, tokens, backpressure, presence and shutdown."""

from __future__ import annotations

import asyncio
import gc
import json
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID

import aiohttp
import jwt
import pytest
from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestClient
from cardstream_runtime.devtoken import DevSigner
from cardstream_runtime.redis_urls import AnyRedis
from cardstream_testing.feeds import append, envelopes
from contracts.envelope import AnyEvent, event_adapter
from contracts.events import (
    BoardCreated,
    BoardRenamed,
    CardAdded,
    CardArchived,
    CardEdited,
    ColumnAdded,
    ColumnArchived,
    ColumnRestored,
    Event,
    FieldChange,
    MemberAdded,
    MemberRemoved,
)
from contracts.fields import MAX_INT64, Role
from contracts.streams import StreamKeys
from contracts.wire import server_message_adapter
from projector.keys import hub_key, read_store_key
from projector.projection import apply_event
from projector.read.ws.hub import WebSocketHub
from projector.read.ws.snapshots import fold_detail
from projector.settings import ProjectorSettings

WAIT_S = 5.0
Client = TestClient[web.Request, web.Application]
Socket = aiohttp.ClientWebSocketResponse
MakeClient = Callable[..., Awaitable[Client]]


@pytest.fixture
def app_settings() -> dict[str, Any]:
    # Only serving: a test builds the read models it needs (`project`) or asks for `apply`.
    return {"role": "serve", "block_ms": 200}


class Boards:
    """Writes boards' events where the boards service would, numbering each board's versions."""

    def __init__(self, redis: AnyRedis, keys: StreamKeys) -> None:
        self.redis = redis
        self.keys = keys
        self.versions: dict[UUID, int] = {}
        self.history: dict[UUID, list[AnyEvent]] = {}

    async def create(self, owner: str = "alice", **members: Role) -> UUID:
        board = uuid.uuid4()
        payloads: list[Event] = [BoardCreated(title="Plans", owner_id=owner)]
        payloads += [MemberAdded(user_id=u, role=r, name=u.title()) for u, r in members.items()]
        await self.write(board, payloads)
        return board

    async def write(self, board: UUID, payloads: list[Event], *, to_feed: bool = True) -> int:
        start = self.versions.get(board, 0) + 1
        events = envelopes(board, payloads, start=start)
        await append(self.redis, self.keys, events, to_feed=to_feed)
        self.versions[board] = start + len(payloads) - 1
        self.history.setdefault(board, []).extend(events)
        return self.versions[board]

    async def renames(self, board: UUID, count: int, *, to_feed: bool = True) -> int:
        return await self.write(
            board,
            [BoardRenamed(title=f"t{i + 1}", previous_title=f"t{i}") for i in range(count)],
            to_feed=to_feed,
        )


@pytest.fixture
def boards(redis: AnyRedis, stream_keys: StreamKeys) -> Boards:
    return Boards(redis, stream_keys)


async def project(client: Client, boards: Boards, board: UUID, up_to: int) -> None:
    """Builds the read model of the board's first `up_to` events, as a projector would."""
    store = client.app[read_store_key]
    projection = await store.load(str(board))
    for event in boards.history[board][projection.version : up_to]:
        apply_event(projection, event)
    assert await store.write([projection]) == []


async def connect(client: Client, signer: DevSigner, user: str = "alice", **claims: Any) -> Socket:
    ws = await client.ws_connect("/ws")
    await ws.send_json({"type": "auth", "token": signer.token(user, name=user.title(), **claims)})
    return ws


async def subscribe(ws: Socket, board: UUID, since: int | None = None) -> None:
    message: dict[str, Any] = {"type": "subscribe", "board_id": str(board)}
    if since is not None:
        message["since_version"] = since
    await ws.send_json(message)


async def receive(ws: Socket, *skip: str) -> dict[str, Any]:
    """The next message not of a skipped type, validated against the contract."""
    while True:
        msg = await ws.receive(timeout=WAIT_S)
        assert msg.type is WSMsgType.TEXT, (msg.type, msg.data, msg.extra)
        server_message_adapter.validate_json(msg.data)
        message: dict[str, Any] = json.loads(msg.data)
        if message["type"] not in skip:
            return message


async def closed_with(ws: Socket) -> int | None:
    """The code of the close frame the server sends, skipping what comes before it."""
    while True:
        msg = await ws.receive(timeout=WAIT_S)
        if msg.type is WSMsgType.CLOSE:
            code: int = msg.data
            return code
        if msg.type in (WSMsgType.CLOSED, WSMsgType.CLOSING):
            return ws.close_code
        assert msg.type is WSMsgType.TEXT


async def versions_until(ws: Socket, board: UUID, last: int) -> list[int]:
    """Every event version the socket receives for the board, up to `last`."""
    seen: list[int] = []
    while not seen or seen[-1] < last:
        message = await receive(ws, "presence")
        assert message["type"] == "events", message
        assert message["board_id"] == str(board)
        seen += [event["version"] for event in message["events"]]
    return seen


def hub(client: Client) -> WebSocketHub:
    return client.app[hub_key]


class TestHandshake:
    async def test_a_foreign_origin_is_refused_with_403_before_the_upgrade(
        self, client: Client
    ) -> None:
        response = await client.get("/ws", headers={"Origin": "https://evil.example"})
        assert response.status == 403
        assert (await response.json())["error"]["code"] == "forbidden"
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await client.ws_connect("/ws", origin="https://evil.example")
        assert refused.value.status == 403

    async def test_an_allowed_origin_and_no_origin_may_connect(
        self, client: Client, signer: DevSigner
    ) -> None:
        for origin in ("http://localhost:8080", None):
            ws = await client.ws_connect("/ws", origin=origin)
            await ws.send_json({"type": "auth", "token": signer.token("alice")})
            await ws.send_json({"type": "ping"})
            assert await receive(ws) == {"type": "pong"}
            await ws.close()

    async def test_no_auth_in_time_closes_with_4401(self, make_client: MakeClient) -> None:
        client = await make_client(ws_auth_timeout_s=0.2)
        ws = await client.ws_connect("/ws")
        assert await closed_with(ws) == 4401

    @pytest.mark.parametrize(
        "first",
        [
            {"type": "ping"},
            {"type": "subscribe", "board_id": str(uuid.uuid4())},
            {"type": "auth", "token": "not.a.jwt"},
            {"type": "auth"},
            "not json",
        ],
    )
    async def test_anything_but_a_valid_auth_first_closes_with_4401(
        self, client: Client, first: Any
    ) -> None:
        ws = await client.ws_connect("/ws")
        await (ws.send_str(first) if isinstance(first, str) else ws.send_json(first))
        assert await closed_with(ws) == 4401

    async def test_a_message_over_the_limit_closes_with_1009(
        self, client: Client, signer: DevSigner
    ) -> None:
        ws = await connect(client, signer)
        await ws.send_str(json.dumps({"type": "ping", "pad": "x" * (64 * 1024)}))
        assert await closed_with(ws) == 1009

    async def test_a_malformed_message_is_answered_and_the_socket_stays(
        self, client: Client, signer: DevSigner
    ) -> None:
        ws = await connect(client, signer)
        for bad in ("{", '{"type": "dance"}', '{"type": "subscribe", "board_id": "x"}', "[]"):
            await ws.send_str(bad)
            error = await receive(ws)
            assert error["type"] == "error"
            assert error["code"] == "bad_message"
        await ws.send_bytes(b'{"type": "ping"}')
        assert (await receive(ws))["code"] == "bad_message"
        await ws.send_json({"type": "ping"})
        assert await receive(ws) == {"type": "pong"}


@pytest.mark.redis_kinds("server", "cluster")
class TestSubscribe:
    async def test_a_member_gets_a_snapshot_then_live_events_in_order(
        self, client: Client, signer: DevSigner, boards: Boards
    ) -> None:
        board = await boards.create("alice")
        await project(client, boards, board, 1)
        ws = await connect(client, signer, "alice")
        await subscribe(ws, board)
        snapshot = await receive(ws, "presence")
        assert snapshot["type"] == "snapshot"
        assert snapshot["version"] == 1
        assert snapshot["board"]["board"]["title"] == "Plans"
        last = await boards.renames(board, 30)
        assert await versions_until(ws, board, last) == list(range(2, last + 1))

    async def test_a_snapshot_behind_the_log_is_caught_up_from_the_log(
        self, client: Client, signer: DevSigner, boards: Boards
    ) -> None:
        board = await boards.create("alice")
        await boards.renames(board, 10)
        await project(client, boards, board, 4)
        ws = await connect(client, signer, "alice")
        await subscribe(ws, board)
        snapshot = await receive(ws, "presence")
        assert snapshot["version"] == 4
        assert await versions_until(ws, board, 11) == list(range(5, 12))

    async def test_a_board_the_read_model_lacks_is_folded_from_its_log(
        self, client: Client, signer: DevSigner, boards: Boards
    ) -> None:
        board = await boards.create("alice")
        await boards.renames(board, 2)
        ws = await connect(client, signer, "alice")
        await subscribe(ws, board)
        snapshot = await receive(ws, "presence")
        assert snapshot["type"] == "snapshot"
        assert snapshot["version"] == 3
        assert snapshot["board"]["board"]["title"] == "t2"

    async def test_a_board_folded_from_its_log_equals_the_read_model_of_it(
        self, client: Client, boards: Boards
    ) -> None:
        board = await boards.create("alice", bob=Role.VIEWER)
        todo, done, gone = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        cards = [uuid.uuid4() for _ in range(4)]
        await boards.write(
            board,
            [
                ColumnAdded(column_id=done, title="Done", position="b0"),
                ColumnAdded(column_id=todo, title="To do", position="a0"),
                ColumnAdded(column_id=gone, title="Gone", position="c0"),
                CardAdded(card_id=cards[0], column_id=todo, position="a1", title="Second"),
                CardAdded(card_id=cards[1], column_id=todo, position="a0", title="First"),
                CardAdded(card_id=cards[2], column_id=done, position="a0", title="Done"),
                CardAdded(card_id=cards[3], column_id=gone, position="a0", title="Hidden"),
                CardArchived(card_id=cards[2], column_id=done),
                ColumnArchived(column_id=gone),
            ],
        )
        await project(client, boards, board, boards.versions[board])
        stored = await client.app[read_store_key].board_detail(board)
        items = [(e.version, event_adapter.dump_json(e)) for e in boards.history[board]]
        assert fold_detail(str(board), items) == stored

    async def test_a_restored_column_folds_back_with_its_cards_as_the_read_model_has_it(
        self, client: Client, boards: Boards
    ) -> None:
        board = await boards.create("alice")
        todo, back, card = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        await boards.write(
            board,
            [
                ColumnAdded(column_id=todo, title="To do", position="a0"),
                ColumnAdded(column_id=back, title="Back", position="a1"),
                CardAdded(card_id=card, column_id=back, position="a0", title="Kept"),
                ColumnArchived(column_id=back),
                ColumnRestored(column_id=back, position="a1"),
            ],
        )
        await project(client, boards, board, boards.versions[board])
        stored = await client.app[read_store_key].board_detail(board)
        assert stored is not None
        assert [c.title for c in stored.board.columns] == ["To do", "Back"]
        assert [c.title for c in stored.cards] == ["Kept"]
        items = [(e.version, event_adapter.dump_json(e)) for e in boards.history[board]]
        assert fold_detail(str(board), items) == stored

    async def test_a_viewer_may_subscribe(
        self, client: Client, signer: DevSigner, boards: Boards
    ) -> None:
        board = await boards.create("alice", bob=Role.VIEWER)
        await project(client, boards, board, 2)
        ws = await connect(client, signer, "bob")
        await subscribe(ws, board)
        assert (await receive(ws, "presence"))["type"] == "snapshot"

    async def test_a_member_added_after_the_read_model_may_subscribe(
        self, client: Client, signer: DevSigner, boards: Boards
    ) -> None:
        board = await boards.create("alice")
        await project(client, boards, board, 1)
        await boards.write(board, [MemberAdded(user_id="bob", role=Role.EDITOR)])
        ws = await connect(client, signer, "bob")
        await subscribe(ws, board)
        snapshot = await receive(ws, "presence")
        assert snapshot["version"] == 1
        assert await versions_until(ws, board, 2) == [2]

    async def test_a_non_member_and_an_unknown_board_get_the_same_not_found(
        self, client: Client, signer: DevSigner, boards: Boards
    ) -> None:
        board = await boards.create("alice", bob=Role.VIEWER)
        await project(client, boards, board, 2)
        ws = await connect(client, signer, "mallory")
        errors = []
        for target, since in ((board, None), (uuid.uuid4(), None), (board, 0), (uuid.uuid4(), 0)):
            await subscribe(ws, target, since)
            error = await receive(ws)
            assert error["board_id"] == str(target)
            errors.append((error["type"], error["code"], error["message"]))
        assert len(set(errors)) == 1
        assert errors[0][:2] == ("error", "not_found")
        (conn,) = hub(client).connections
        assert not conn.subs

    async def test_subscribing_twice_to_a_board_is_an_error(
        self, client: Client, signer: DevSigner, boards: Boards
    ) -> None:
        board = await boards.create("alice")
        ws = await connect(client, signer, "alice")
        await subscribe(ws, board)
        await subscribe(ws, board)
        messages = [await receive(ws, "presence"), await receive(ws, "presence")]
        assert sorted(m["type"] for m in messages) == ["error", "snapshot"]

    async def test_after_unsubscribe_nothing_more_of_the_board_arrives(
        self, client: Client, signer: DevSigner, boards: Boards
    ) -> None:
        board, other = await boards.create("alice"), await boards.create("alice")
        ws = await connect(client, signer, "alice")
        await subscribe(ws, board)
        await subscribe(ws, other)
        assert (await receive(ws, "presence"))["type"] == "snapshot"
        assert (await receive(ws, "presence"))["type"] == "snapshot"
        await ws.send_json({"type": "unsubscribe", "board_id": str(board)})
        await ws.send_json({"type": "ping"})
        assert await receive(ws, "presence") == {"type": "pong"}
        await boards.renames(board, 3)
        last = await boards.renames(other, 1)
        assert await versions_until(ws, other, last) == [last]

    async def test_an_unsubscribe_right_after_its_subscribe_leaves_no_work_behind(
        self, client: Client, signer: DevSigner, boards: Boards
    ) -> None:
        # Found by the WebSocket fuzz (test_api_fuzz.py): a subscription's catch-up cancelled
        # before its task first ran was a coroutine never awaited (a RuntimeWarning, an error
        # under filterwarnings=error).
        board = await boards.create("alice")
        ws = await connect(client, signer, "alice")
        for _ in range(20):
            await subscribe(ws, board)
            await ws.send_json({"type": "unsubscribe", "board_id": str(board)})
        await ws.send_json({"type": "ping"})
        assert await receive(ws, "presence", "snapshot", "events") == {"type": "pong"}
        await ws.close()
        gc.collect()


@pytest.mark.redis_kinds("server", "cluster")
class TestWhichFeedsAreRead:
    async def test_a_process_reads_only_the_partitions_of_the_boards_followed_there(
        self, client: Client, signer: DevSigner, boards: Boards, stream_keys: StreamKeys
    ) -> None:
        the_hub = client.app[hub_key]
        assert the_hub.followed_partitions == set()
        board = await boards.create("alice")
        ws = await connect(client, signer, "alice")
        await subscribe(ws, board)
        assert (await receive(ws, "presence"))["type"] == "snapshot"

        assert the_hub.followed_partitions == {stream_keys.partition_of(board)}
        last = await boards.renames(board, 3)
        assert await versions_until(ws, board, last) == [2, 3, 4]

    @pytest.mark.redis_kinds("server", "cluster")
    async def test_every_partition_followed_at_once_delivers_live_and_one_dropped_comes_back(
        self, client: Client, signer: DevSigner, boards: Boards, stream_keys: StreamKeys
    ) -> None:
        # On a cluster each partition is in a slot of its own, most on different primaries:
        # each followed feed is read by an XREAD of its own there.
        by_partition: dict[int, UUID] = {}
        while len(by_partition) < stream_keys.partitions:
            board = await boards.create("alice")
            by_partition.setdefault(stream_keys.partition_of(board), board)
        ws = await connect(client, signer, "alice")
        for board in by_partition.values():
            await subscribe(ws, board)
            assert (await receive(ws, "presence"))["type"] == "snapshot"
        assert hub(client).followed_partitions == set(by_partition)
        heads = {board: await boards.renames(board, 2) for board in by_partition.values()}
        seen: dict[str, list[int]] = {}
        while any(seen.get(str(b), [0])[-1] < head for b, head in heads.items()):
            message = await receive(ws, "presence")
            assert message["type"] == "events", message
            seen.setdefault(message["board_id"], []).extend(e["version"] for e in message["events"])
        assert seen == {str(b): list(range(2, head + 1)) for b, head in heads.items()}

        # A feed no longer wanted is dropped after its tail's next read; followed again, it
        # delivers what it missed (from the board's log) and what comes after.
        dropped, other = by_partition[0], by_partition[1]
        await ws.send_json({"type": "unsubscribe", "board_id": str(dropped)})
        await ws.send_json({"type": "ping"})
        assert await receive(ws, "presence") == {"type": "pong"}
        missed = await boards.renames(dropped, 2)
        nudge = await boards.renames(other, 1)
        assert await versions_until(ws, other, nudge) == [nudge]
        await subscribe(ws, dropped, since=heads[dropped])
        last = await boards.renames(dropped, 2)
        assert await versions_until(ws, dropped, last) == list(range(heads[dropped] + 1, last + 1))
        assert missed < last


class TestCatchUp:
    async def test_a_resubscription_since_v_gets_exactly_the_events_after_v(
        self, client: Client, signer: DevSigner, boards: Boards
    ) -> None:
        board = await boards.create("alice")
        first = await connect(client, signer, "alice")
        await subscribe(first, board)
        assert (await receive(first, "presence"))["version"] == 1
        dropped_at = await boards.renames(board, 10)
        assert await versions_until(first, board, dropped_at) == list(range(2, 12))
        await first.close()
        last = await boards.renames(board, 50)
        again = await connect(client, signer, "alice")
        await subscribe(again, board, since=dropped_at)
        assert await versions_until(again, board, last) == list(range(dropped_at + 1, last + 1))
        following = await boards.renames(board, 1)
        assert await versions_until(again, board, following) == [following]

    async def test_since_the_head_is_acknowledged_with_no_events(
        self, client: Client, signer: DevSigner, boards: Boards
    ) -> None:
        board = await boards.create("alice")
        ws = await connect(client, signer, "alice")
        await subscribe(ws, board, since=1)
        message = await receive(ws, "presence")
        assert message == {"type": "events", "board_id": str(board), "events": []}

    @pytest.mark.parametrize("since", [99, 0])
    async def test_a_since_version_beyond_the_head_or_too_far_back_gets_a_snapshot(
        self,
        make_client: MakeClient,
        signer: DevSigner,
        boards: Boards,
        since: int,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setattr("projector.read.ws.sync.MAX_CATCH_UP", 5)
        client = await make_client()
        board = await boards.create("alice")
        await boards.renames(board, 8)
        ws = await connect(client, signer, "alice")
        await subscribe(ws, board, since=since)
        snapshot = await receive(ws, "presence")
        assert snapshot["type"] == "snapshot"
        assert snapshot["version"] == 9

    async def test_the_largest_since_version_is_beyond_the_head(
        self, make_client: MakeClient, signer: DevSigner, boards: Boards
    ) -> None:
        client = await make_client()
        board = await boards.create("alice")
        ws = await connect(client, signer, "alice")
        await subscribe(ws, board, since=MAX_INT64)
        snapshot = await receive(ws, "presence")
        assert (snapshot["type"], snapshot["version"]) == ("snapshot", 1)

    @pytest.mark.parametrize("since", [str(2**63), str(2**64), "9" * 5000, "-1", "1e30"])
    async def test_a_since_version_out_of_range_is_a_bad_message_and_subscribes_nothing(
        self, client: Client, signer: DevSigner, boards: Boards, since: str
    ) -> None:
        board = await boards.create("alice")
        await project(client, boards, board, 1)
        ws = await connect(client, signer, "alice")
        await ws.send_str(
            f'{{"type": "subscribe", "board_id": "{board}", "since_version": {since}}}'
        )
        error = await receive(ws)
        assert (error["type"], error["code"], error.get("board_id")) == (
            "error",
            "bad_message",
            None,
        )
        await subscribe(ws, board)  # not already_subscribed: the bad one started nothing
        snapshot = await receive(ws, "presence")
        assert (snapshot["type"], snapshot["version"]) == ("snapshot", 1)


class TestOrdering:
    async def test_subscribers_joining_while_events_flow_get_each_version_once_in_order(
        self, make_client: MakeClient, signer: DevSigner, boards: Boards
    ) -> None:
        # One process applies the feed to MongoDB, the other only serves: both serve subscribers.
        applying = await make_client(role="both")
        serving = await make_client(instance_id="serving")
        board = await boards.create("alice", bob=Role.VIEWER)
        joined: list[tuple[Socket, int | None]] = []
        for round_ in range(30):
            await boards.renames(board, 5)
            if round_ % 5 == 0:
                client = (applying, serving)[len(joined) % 2]
                since = boards.versions[board] - 3 if len(joined) % 3 == 2 else None
                ws = await connect(client, signer, ("alice", "bob")[len(joined) % 2])
                await subscribe(ws, board, since)
                joined.append((ws, since))
        head = boards.versions[board]
        for ws, since in joined:
            first = await receive(ws, "presence")
            if since is None:
                assert first["type"] == "snapshot"
                start, versions = first["version"], []
            else:
                start, versions = since, [e["version"] for e in first["events"]]
            if not versions or versions[-1] < head:
                versions += await versions_until(ws, board, head)
            assert versions == list(range(start + 1, head + 1))


class TestGaps:
    async def test_a_gap_in_the_feed_is_filled_from_the_board_log(
        self, client: Client, signer: DevSigner, boards: Boards
    ) -> None:
        board = await boards.create("alice")
        ws = await connect(client, signer, "alice")
        await subscribe(ws, board)
        assert (await receive(ws, "presence"))["version"] == 1
        await boards.renames(board, 3, to_feed=False)
        last = await boards.renames(board, 2)
        assert await versions_until(ws, board, last) == [2, 3, 4, 5, 6]


class TestMembership:
    async def test_a_removed_member_gets_forbidden_and_nothing_more(
        self, client: Client, signer: DevSigner, boards: Boards
    ) -> None:
        board = await boards.create("alice", bob=Role.EDITOR)
        bob, alice = await connect(client, signer, "bob"), await connect(client, signer, "alice")
        for ws in (bob, alice):
            await subscribe(ws, board)
            assert (await receive(ws, "presence"))["type"] == "snapshot"
        await boards.renames(board, 2)
        removed_at = await boards.write(
            board, [MemberRemoved(user_id="bob", previous_role=Role.EDITOR)]
        )
        last = await boards.renames(board, 3)
        assert await versions_until(alice, board, last) == list(range(3, last + 1))
        assert await versions_until(bob, board, removed_at - 1) == [3, 4]
        error = await receive(bob, "presence")
        assert (error["type"], error["code"], error["board_id"]) == (
            "error",
            "forbidden",
            str(board),
        )
        await bob.send_json({"type": "ping"})
        assert await receive(bob, "presence") == {"type": "pong"}

    async def test_a_removal_inside_the_catch_up_ends_the_subscription(
        self, client: Client, signer: DevSigner, boards: Boards
    ) -> None:
        board = await boards.create("alice", bob=Role.EDITOR)
        await boards.write(board, [MemberRemoved(user_id="bob", previous_role=Role.EDITOR)])
        await boards.write(board, [MemberAdded(user_id="bob", role=Role.VIEWER)])
        ws = await connect(client, signer, "bob")
        await subscribe(ws, board, since=1)
        error = await receive(ws, "presence")
        assert (error["type"], error["code"]) == ("error", "forbidden")


class TestTokens:
    async def test_an_expired_token_closes_the_socket_with_4401(
        self, client: Client, signer: DevSigner, boards: Boards
    ) -> None:
        ws = await client.ws_connect("/ws")
        await ws.send_json({"type": "auth", "token": signer.token("alice", ttl=1)})
        assert await closed_with(ws) == 4401

    async def test_a_fresh_token_before_expiry_keeps_the_socket_open(
        self, client: Client, signer: DevSigner
    ) -> None:
        short = signer.token("alice", ttl=1)
        expires = jwt.decode(short, options={"verify_signature": False})["exp"]
        ws = await client.ws_connect("/ws")
        await ws.send_json({"type": "auth", "token": short})
        await ws.send_json({"type": "auth", "token": signer.token("alice", ttl=600)})
        with pytest.raises(TimeoutError):
            await ws.receive(timeout=max(0.0, expires - time.time()) + 0.3)
        await ws.send_json({"type": "ping"})
        assert await receive(ws) == {"type": "pong"}

    async def test_an_invalid_fresh_token_is_refused_and_the_old_one_stands(
        self, client: Client, signer: DevSigner
    ) -> None:
        ws = await connect(client, signer, "alice")
        await ws.send_json({"type": "auth", "token": "nope"})
        assert (await receive(ws))["code"] == "unauthorized"
        await ws.send_json({"type": "ping"})
        assert await receive(ws) == {"type": "pong"}

    async def test_a_nextauth_hs512_token_is_refused_on_the_websocket(self, client: Client) -> None:
        now = int(time.time())
        claims = {"sub": "alice", "iat": now, "exp": now + 600}
        token = jwt.encode(claims, "s" * 64, algorithm="HS512")
        ws = await client.ws_connect("/ws")
        await ws.send_json({"type": "auth", "token": token})
        assert await closed_with(ws) == 4401

    async def test_a_token_for_another_user_closes_with_4401(
        self, client: Client, signer: DevSigner
    ) -> None:
        ws = await connect(client, signer, "alice")
        await ws.send_json({"type": "auth", "token": signer.token("mallory")})
        assert await closed_with(ws) == 4401

    async def test_ending_a_session_closes_its_sockets_with_4401(
        self, client: Client, signer: DevSigner
    ) -> None:
        ended = [await connect(client, signer, "alice", sid="s1") for _ in range(2)]
        kept = await connect(client, signer, "alice", sid="s2")
        for ws in (*ended, kept):
            await ws.send_json({"type": "ping"})
            assert await receive(ws) == {"type": "pong"}
        assert await hub(client).close_session("s1") == 2
        for ws in ended:
            assert await closed_with(ws) == 4401
        await kept.send_json({"type": "ping"})
        assert await receive(kept) == {"type": "pong"}

    @pytest.mark.redis_kinds("server", "cluster")
    async def test_a_logout_published_by_the_auth_service_closes_that_sessions_sockets(
        self, client: Client, signer: DevSigner, redis: AnyRedis, stream_keys: StreamKeys
    ) -> None:
        ended = await connect(client, signer, "alice", sid="gone")
        kept = await connect(client, signer, "alice", sid="stays")
        for ws in (ended, kept):
            await ws.send_json({"type": "ping"})
            assert await receive(ws) == {"type": "pong"}
        await redis.publish(stream_keys.sessions_ended(), "gone")
        assert await closed_with(ended) == 4401
        await kept.send_json({"type": "ping"})
        assert await receive(kept) == {"type": "pong"}


class TestBackpressure:
    QUEUE = 8

    @pytest.fixture
    async def client(self, make_client: MakeClient) -> Client:
        return await make_client(ws_send_queue=self.QUEUE, batch_size=20)

    async def _big_card(self, boards: Boards) -> tuple[UUID, UUID]:
        board = await boards.create("alice", bob=Role.VIEWER)
        column, card = uuid.uuid4(), uuid.uuid4()
        await boards.write(
            board,
            [
                ColumnAdded(column_id=column, title="To do", position="a0"),
                CardAdded(card_id=card, column_id=column, position="a0", title="Big"),
            ],
        )
        return board, card

    async def _edits(self, boards: Boards, board: UUID, card: UUID, count: int = 20) -> int:
        text = "x" * 4000  # about 8 KiB an event
        change = FieldChange(field="description", before=text, after=text + "!")
        return await boards.write(board, [CardEdited(card_id=card, changes=[change])] * count)

    async def _stalled(self, client: Client, signer: DevSigner, board: UUID) -> Socket:
        """Bob, subscribed, with a small send buffer on the server's end: when he stops reading,
        the server's writer blocks after a few hundred KiB, not after the kernel's megabytes."""
        bob = await connect(client, signer, "bob")
        await subscribe(bob, board)
        assert (await receive(bob, "presence"))["type"] == "snapshot"
        server_side = next(c for c in hub(client).connections if c.user_id == "bob")
        sock = server_side.ws.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16 * 1024)
        return bob

    async def test_sockets_that_keep_up_hold_no_queue_and_no_task_of_their_own(
        self, client: Client, signer: DevSigner, boards: Boards
    ) -> None:
        # What thousands of sockets on one process cost is mostly what each one keeps.
        board = await boards.create("alice")
        sockets = [await connect(client, signer, "alice") for _ in range(5)]
        for ws in sockets:
            await subscribe(ws, board)
            assert (await receive(ws, "presence"))["type"] == "snapshot"
        head = await boards.renames(board, 3 * self.QUEUE)
        for ws in sockets:
            assert await versions_until(ws, board, head) == list(range(2, head + 1))
        connections = hub(client).connections
        assert len(connections) == len(sockets)
        assert [conn.queued() for conn in connections] == [0] * len(sockets)
        assert [sub.task for conn in connections for sub in conn.subs.values()] == [None] * 5
        coroutines = [getattr(t.get_coro(), "__qualname__", "") for t in asyncio.all_tasks()]
        assert [name for name in coroutines if name.startswith("Connection.")] == []

    async def test_one_that_never_reads_is_resynced_then_closed_and_delays_no_one(
        self, client: Client, signer: DevSigner, boards: Boards, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # How long a close may wait for a client that does not read before the socket is dropped.
        monkeypatch.setattr("projector.read.ws.connection.CLOSE_TIMEOUT_S", 0.5)
        board, card = await self._big_card(boards)
        alice = await connect(client, signer, "alice")
        await subscribe(alice, board)
        assert (await receive(alice, "presence"))["type"] == "snapshot"
        bob = await self._stalled(client, signer, board)
        slow = next(c for c in hub(client).connections if c.user_id == "bob")
        head = 4 + 20 * 15
        reader = asyncio.create_task(versions_until(alice, board, head))
        held = []
        for _ in range(15):
            await self._edits(boards, board, card)
            held.append((slow.queued(), slow.buffered_bytes()))
        assert await asyncio.wait_for(reader, WAIT_S) == list(range(5, head + 1))
        # What the server holds for bob: a queue of at most QUEUE messages, and in the transport
        # at most a message or two, however much was written.
        assert max(queued for queued, _ in held) <= self.QUEUE
        assert max(buffered for _, buffered in held) < 1024 * 1024
        assert slow.closing
        assert (hub(client).stats.resyncs, hub(client).stats.closed_too_slow) == (1, 1)
        assert slow not in hub(client).connections
        await asyncio.wait_for(slow.wait_closed(), WAIT_S)
        # What bob still gets ends with the close (or the dropped socket), without a gap.
        versions = []
        while (msg := await bob.receive(timeout=WAIT_S)).type is WSMsgType.TEXT:
            message = json.loads(msg.data)
            if message["type"] == "events":
                versions += [e["version"] for e in message["events"]]
        assert msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.ERROR)
        assert msg.type is not WSMsgType.CLOSE or msg.data == 1013
        assert versions == list(range(5, 5 + len(versions)))

    async def test_one_that_falls_behind_once_gets_a_fresh_snapshot(
        self, client: Client, signer: DevSigner, boards: Boards
    ) -> None:
        board, card = await self._big_card(boards)
        bob = await self._stalled(client, signer, board)
        the_hub = hub(client)
        for _ in range(100):
            head = await self._edits(boards, board, card, count=5)
            if the_hub.stats.resyncs:
                break
        assert the_hub.stats.resyncs == 1
        versions: list[int] = []
        snapshots: list[int] = []
        while not versions or versions[-1] < head:
            message = await receive(bob, "presence")
            if message["type"] == "snapshot":
                snapshots.append(message["version"])
                versions.append(message["version"])
            else:
                versions += [e["version"] for e in message["events"]]
        assert len(snapshots) == 1
        cut = versions.index(snapshots[0])
        before, after = versions[:cut], versions[cut:]
        assert before == list(range(5, 5 + len(before)))
        assert after == list(range(snapshots[0], head + 1))
        assert the_hub.stats.closed_too_slow == 0
        following = await self._edits(boards, board, card, count=1)
        assert await versions_until(bob, board, following) == [following]


@pytest.mark.redis_kinds("server", "cluster")
class TestPresence:
    async def test_viewers_across_two_processes(
        self, make_client: MakeClient, signer: DevSigner, boards: Boards
    ) -> None:
        one, two = await make_client(), await make_client(instance_id="two")
        board = await boards.create("alice", bob=Role.VIEWER)
        alice = await connect(one, signer, "alice")
        await subscribe(alice, board)
        assert (await receive(alice, "presence"))["type"] == "snapshot"
        assert await _viewers(alice) == [{"user_id": "alice", "name": "Alice"}]
        bob = await connect(two, signer, "bob")
        await subscribe(bob, board)
        assert (await receive(bob, "presence"))["type"] == "snapshot"
        both = [{"user_id": "alice", "name": "Alice"}, {"user_id": "bob", "name": "Bob"}]
        assert await _viewers(alice, until=both) == both
        assert await _viewers(bob, until=both) == both
        # A second tab of the same user changes nothing for others, but it is told who is there.
        tab = await connect(two, signer, "bob")
        await subscribe(tab, board)
        assert (await receive(tab, "presence"))["type"] == "snapshot"
        assert await _viewers(tab) == both
        await bob.close()
        await tab.close()
        assert await _viewers(alice, until=both[:1]) == both[:1]

    async def test_the_viewers_of_a_dead_process_lapse(
        self, client: Client, signer: DevSigner, boards: Boards, redis: AnyRedis
    ) -> None:
        board = await boards.create("alice", bob=Role.VIEWER)
        presence = hub(client)._presence
        dead = json.dumps({"at": int(time.time() * 1000) - 3_600_000, "viewers": [["bob", "B"]]})
        await redis.hset(presence.key(str(board)), "dead-process", dead)
        alice = await connect(client, signer, "alice")
        await subscribe(alice, board)
        assert (await receive(alice, "presence"))["type"] == "snapshot"
        assert await _viewers(alice) == [{"user_id": "alice", "name": "Alice"}]
        assert not await redis.hexists(presence.key(str(board)), "dead-process")


@pytest.mark.redis_kinds("server", "cluster")
class TestShutdown:
    async def test_close_says_going_away_and_clears_this_process_presence(
        self, make_client: MakeClient, signer: DevSigner, boards: Boards, redis: AnyRedis
    ) -> None:
        client = await make_client()
        board = await boards.create("alice")
        ws = await connect(client, signer, "alice")
        await subscribe(ws, board)
        assert (await receive(ws, "presence"))["type"] == "snapshot"
        assert await _viewers(ws)
        the_hub = hub(client)
        key = the_hub._presence.key(str(board))
        assert await redis.hlen(key) == 1
        await the_hub.close()
        assert await closed_with(ws) == 1001
        assert await redis.hlen(key) == 0
        assert not the_hub.connections


async def _viewers(ws: Socket, until: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    while True:
        message = await receive(ws)
        assert message["type"] == "presence", message
        if until is None or message["viewers"] == until:
            viewers: list[dict[str, Any]] = message["viewers"]
            return viewers


class TestSocketsPerUser:
    """PROJECTOR_WS_PER_USER sockets per user and process; the next is closed with 4429."""

    async def _open(self, client: Client, signer: DevSigner, user: str) -> Socket:
        ws = await connect(client, signer, user)
        await ws.send_json({"type": "ping"})
        assert await receive(ws) == {"type": "pong"}  # authenticated and counted
        return ws

    async def test_the_nth_socket_is_served_and_the_next_closed_with_4429(
        self, make_client: MakeClient, signer: DevSigner
    ) -> None:
        client = await make_client(ws_per_user=3)
        open_ = [await self._open(client, signer, "alice") for _ in range(3)]

        extra = await connect(client, signer, "alice")

        assert await closed_with(extra) == 4429
        assert extra.close_code == 4429
        for ws in open_:  # the others are untouched
            await ws.send_json({"type": "ping"})
            assert await receive(ws) == {"type": "pong"}

    async def test_the_reason_says_why(self, make_client: MakeClient, signer: DevSigner) -> None:
        client = await make_client(ws_per_user=1)
        await self._open(client, signer, "alice")
        extra = await connect(client, signer, "alice")
        msg = await extra.receive(timeout=WAIT_S)
        assert (msg.type, msg.data, msg.extra) == (
            WSMsgType.CLOSE,
            4429,
            "too many WebSockets for this user (at most 1)",
        )

    async def test_other_users_are_counted_apart_and_a_closed_socket_frees_its_place(
        self, make_client: MakeClient, signer: DevSigner
    ) -> None:
        client = await make_client(ws_per_user=1)
        first = await self._open(client, signer, "alice")
        await self._open(client, signer, "bob")
        await first.close()
        # The server forgets a socket once its handler sees the close: let the loop get there.
        hub = client.app[hub_key]
        for _ in range(10_000):
            if len(hub.connections) == 1:
                break
            await asyncio.sleep(0)  # a turn of the loop, not a wait
        await self._open(client, signer, "alice")

    def test_the_default_is_twenty(self) -> None:
        assert ProjectorSettings.model_fields["ws_per_user"].default == 20
