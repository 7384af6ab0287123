"""The live read side fuzzed from its contracts: schemathesis from docs/openapi/projector.json
under a valid, an invalid and a stranger's token (never a 5xx, never an answer the document does
not declare, nothing of a board to a non-member), and Hypothesis over WebSocket messages, valid
and malformed (every reply a server message of `contracts.wire`, or a documented close)."""

from __future__ import annotations

import json
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import WSMsgType
from cardstream_runtime.devtoken import DevSigner
from cardstream_runtime.jwt import StaticKeys
from cardstream_testing import FerretDBServer, RedisServer
from cardstream_testing.apifuzz import (
    FUZZ,
    ThreadedApp,
    call,
    label,
    on_board,
    operations,
    reveals_nothing,
    validate,
    with_modes,
)
from cardstream_testing.feeds import append, envelopes
from cardstream_testing.fixtures import PARTITIONS
from contracts.events import BoardCreated, CardAdded, ColumnAdded, MemberAdded
from contracts.fields import MAX_INT64, Role
from contracts.streams import StreamKeys
from contracts.wire import (
    EventsMessage,
    PresenceMessage,
    ServerMessage,
    SnapshotMessage,
    server_message_adapter,
)
from hypothesis import given
from hypothesis import strategies as st
from projector.app import create_app
from projector.settings import ProjectorSettings
from pymongo import MongoClient
from redis.asyncio import Redis
from schemathesis import Case, GenerationMode
from schemathesis.schemas import APIOperation

ISSUER, AUDIENCE = "cardstream-openapi", "cardstream"
OPERATIONS = operations("projector")
# Close codes docs/websocket.md documents.
CLOSE_CODES = {1000, 1001, 1009, 1013, 4401}


@dataclass
class Live:
    served: ThreadedApp
    signer: DevSigner
    board: str
    # Mallory's own board, so that her list is not empty by construction.
    her_board: str
    # What only alice's board holds: no answer to anyone else may contain any of it.
    secrets: tuple[str, ...]

    @property
    def base_url(self) -> str:
        return self.served.base_url


async def _write_boards(redis_url: str, keys: StreamKeys) -> tuple[str, str, tuple[str, ...]]:
    board, hers = uuid.uuid4(), uuid.uuid4()
    column, card = uuid.uuid5(board, "column"), uuid.uuid5(board, "card")
    title = f"alice-only-{uuid.uuid4().hex}"
    redis = Redis.from_url(redis_url)
    try:
        await append(
            redis,
            keys,
            envelopes(
                board,
                [
                    BoardCreated(title=title, owner_id="alice"),
                    MemberAdded(user_id="bob", role=Role.VIEWER),
                    ColumnAdded(column_id=column, title="c", position="a0"),
                    CardAdded(card_id=card, column_id=column, position="a0", title="t"),
                ],
            ),
        )
        await append(
            redis,
            keys,
            envelopes(hers, [BoardCreated(title="m", owner_id="mallory")], actor="mallory"),
        )
    finally:
        await redis.aclose()
    return str(board), str(hers), (title, str(column), str(card))


async def _caught_up(base_url: str, token: str, board: str, version: int) -> None:
    """Bounded: each read waits up to `min_version_wait_s` for the appliers."""
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession() as session:
        for _ in range(20):
            url = f"{base_url}/api/boards/{board}?min_version={version}"
            async with session.get(url, headers=headers) as response:
                if response.status == 200 and not response.headers.get("X-Projection-Behind"):
                    return
    raise AssertionError(f"board {board} not at version {version}")


@pytest.fixture(scope="module")
def live(
    redis_server: RedisServer,
    mongo_server: FerretDBServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Live]:
    signer = DevSigner.generate(issuer=ISSUER, audience=AUDIENCE)
    public: Path = tmp_path_factory.mktemp("keys") / "public.pem"
    public.write_bytes(signer.public_pem())
    prefix, database = f"oa{uuid.uuid4().hex[:6]}:", f"oa{uuid.uuid4().hex[:8]}"
    settings = ProjectorSettings(
        redis_url=redis_server.url,
        mongo_url=mongo_server.url,
        mongo_db=database,
        key_prefix=prefix,
        partitions=PARTITIONS,
        jwt_issuer=ISSUER,
        jwt_audience=AUDIENCE,
        jwt_public_key_file=public,
        lease_ms=600,
        block_ms=100,
        # A fuzzed min_version waits for nothing: the run stays short.
        min_version_wait_s=0.5,
        ws_auth_timeout_s=2.0,
    )
    keys = StaticKeys({signer.kid: signer.private_key.public_key()})
    try:
        with ThreadedApp(create_app(settings, keys=keys)) as served:
            stream_keys = StreamKeys(prefix=prefix, partitions=PARTITIONS)
            board, hers, secrets = served.run(_write_boards(redis_server.url, stream_keys))
            served.run(_caught_up(served.base_url, signer.token("alice"), board, 4))
            served.run(_caught_up(served.base_url, signer.token("mallory"), hers, 1))
            yield Live(served, signer, board, hers, secrets)
    finally:
        client: MongoClient[dict[str, object]] = MongoClient(mongo_server.url)
        with client:
            client.drop_database(database)


# -- HTTP ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("operation", "mode"), with_modes(OPERATIONS), ids=label)
def test_a_member_gets_only_answers_the_document_declares(
    live: Live, operation: APIOperation, mode: GenerationMode
) -> None:
    @FUZZ
    @given(
        case=operation.as_strategy(generation_mode=mode),
        board=st.sampled_from([live.board, None]),
    )
    def fuzz(case: Case, board: str | None) -> None:
        case = on_board(case, board if mode is GenerationMode.POSITIVE else None)
        validate(case, call(live.base_url, case, live.signer.token("alice")), mode)

    fuzz()


@pytest.mark.parametrize("operation", OPERATIONS, ids=label)
def test_an_invalid_token_is_refused_and_learns_nothing(
    live: Live, operation: APIOperation
) -> None:
    stranger = DevSigner.generate(issuer=ISSUER, audience=AUDIENCE)
    tokens = [
        None,
        "not-a-jwt",
        stranger.token("alice"),  # signed by a key nobody trusts
        live.signer.token("alice", ttl=-60),  # expired
    ]

    @FUZZ
    @given(case=operation.as_strategy(), token=st.sampled_from(tokens))
    def fuzz(case: Case, token: str | None) -> None:
        response = call(live.base_url, on_board(case, live.board), token)
        validate(case, response, GenerationMode.POSITIVE)
        if operation.definition.raw.get("security"):
            assert response.status_code == 401, response.text
        reveals_nothing(live.secrets, response.text)

    fuzz()


@pytest.mark.parametrize("operation", OPERATIONS, ids=label)
def test_a_stranger_learns_nothing_of_a_board(live: Live, operation: APIOperation) -> None:
    @FUZZ
    @given(case=operation.as_strategy())
    def fuzz(case: Case) -> None:
        response = call(live.base_url, on_board(case, live.board), live.signer.token("mallory"))
        validate(case, response, GenerationMode.POSITIVE)
        if "{board_id}" in operation.path:
            assert response.status_code >= 400, response.text
        reveals_nothing(live.secrets, response.text)

    fuzz()


# -- WebSocket -------------------------------------------------------------------------------

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=3)
    ),
    max_leaves=8,
)


def _client_messages(live: Live) -> st.SearchStrategy[Any]:
    boards = st.sampled_from([live.board, live.her_board]) | st.uuids().map(str)
    versions = st.integers(min_value=-2, max_value=MAX_INT64 + 2) | st.none() | _json
    valid_or_nearly = st.one_of(
        st.fixed_dictionaries({"type": st.just("subscribe"), "board_id": boards}),
        st.fixed_dictionaries(
            {"type": st.just("subscribe"), "board_id": boards, "since_version": versions}
        ),
        st.fixed_dictionaries({"type": st.just("unsubscribe"), "board_id": boards | _json}),
        st.just({"type": "ping"}),
        st.fixed_dictionaries(
            {
                "type": st.just("auth"),
                "token": st.sampled_from(
                    [live.signer.token("alice"), live.signer.token("mallory"), "x", ""]
                )
                | _json,
            }
        ),
        st.dictionaries(
            st.sampled_from(["type", "board_id", "since_version", "token", "extra"]),
            _json | boards,
            max_size=4,
        ),
    )
    return (
        valid_or_nearly.map(json.dumps)
        | _json.map(json.dumps)
        | st.text(max_size=50)
        | st.binary(max_size=50)
    )


@dataclass
class Exchange:
    replies: list[str]
    close_code: int | None


async def _converse(live: Live, user: str | None, messages: list[Any]) -> Exchange:
    """Authenticates as `user` (or sends no auth first), sends `messages` and a ping, and reads
    every reply until the pong or the close."""
    replies: list[str] = []
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(
            f"{live.base_url}/ws", timeout=aiohttp.ClientWSTimeout(ws_close=5)
        ) as ws,
    ):
        # Without a user, the first message is not an auth: the socket must close on it.
        first = {"type": "auth", "token": live.signer.token(user)} if user else {"type": "ping"}
        await ws.send_json(first)
        for message in [*messages, json.dumps({"type": "ping"})]:
            if isinstance(message, bytes):
                await ws.send_bytes(message)
            else:
                await ws.send_str(message)
        while True:
            received = await ws.receive(timeout=10)
            if received.type is WSMsgType.TEXT:
                replies.append(received.data)
                if json.loads(received.data) == {"type": "pong"}:
                    return Exchange(replies, None)
            elif received.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED):
                return Exchange(replies, ws.close_code)
            else:
                raise AssertionError(f"unexpected frame {received.type}: {received.data!r}")


def _board_of(message: ServerMessage) -> str | None:
    match message:
        case SnapshotMessage():
            return str(message.board.board.board_id)
        case EventsMessage() | PresenceMessage():
            return str(message.board_id)
        case _:
            return None


@FUZZ
@given(
    data=st.data(),
    user=st.sampled_from(["alice", "mallory", None]),
)
def test_every_websocket_reply_is_a_server_message_or_a_documented_close(
    live: Live, data: st.DataObject, user: str | None
) -> None:
    messages = data.draw(st.lists(_client_messages(live), min_size=1, max_size=5), label="messages")
    exchange = live.served.run(_converse(live, user, messages))
    for reply in exchange.replies:
        message = server_message_adapter.validate_json(reply)
        if user != "alice":
            assert _board_of(message) != live.board, f"{user} was sent {reply[:300]}"
    if exchange.close_code is not None:
        assert exchange.close_code in CLOSE_CODES, exchange
    if user is None:
        assert exchange.close_code == 4401, exchange
    if user != "alice":
        reveals_nothing(live.secrets, "\n".join(exchange.replies))


def test_the_service_serves_its_checked_in_document(live: Live) -> None:
    document = Path(__file__).resolve().parents[4] / "docs/openapi/projector.json"
    with urllib.request.urlopen(f"{live.base_url}/openapi.json", timeout=10) as response:
        assert response.headers["Content-Type"].startswith("application/json")
        assert json.loads(response.read()) == json.loads(document.read_text())
