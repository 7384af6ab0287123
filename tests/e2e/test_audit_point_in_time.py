"""Issue 6's acceptance: for random command sequences, the board at every `at_version` (and at
every time) equals what the live read model was at that version.

Commands are decided by the boards service's domain (`boards.domain.decide`); each event is
applied to the live projection and written to MongoDB as the projector writes it, and appended to
the board's Redis log as the boards service appends it. The live `BoardDetail` is recorded after
every version; then the archive and the log are split at random (the archive behind, the log
trimmed below it by MINID) and the projector's point-in-time reads must give back every record.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from boards.domain import Board, Context, DomainError, decide, fold
from cardstream_runtime.devtoken import DevSigner
from cardstream_runtime.jwt import StaticKeys
from cardstream_testing.feeds import append
from cardstream_testing.fixtures import PARTITIONS
from contracts.commands import (
    AddCard,
    AddColumn,
    AddMember,
    ArchiveBoard,
    ArchiveCard,
    ArchiveColumn,
    ChangeMemberRole,
    Command,
    CreateBoard,
    EditCard,
    MoveCard,
    MoveColumn,
    RemoveMember,
    RenameBoard,
    RenameColumn,
    RestoreBoard,
    RestoreCard,
    RestoreColumn,
)
from contracts.envelope import AnyEvent, event_envelope
from contracts.events import Event
from contracts.fields import Role
from contracts.streams import StreamKeys, board_entry_id
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from projector.app import create_app
from projector.keys import read_store_key
from projector.projection import BoardProjection, apply_event
from projector.settings import ProjectorSettings
from projector.store.mongo import MongoReadStore
from redis.asyncio import Redis

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
Client = TestClient[web.Request, web.Application]

COLUMNS = [uuid.uuid5(uuid.NAMESPACE_URL, f"audit column {i}") for i in range(4)]
CARDS = [uuid.uuid5(uuid.NAMESPACE_URL, f"audit card {i}") for i in range(6)]
USERS = ["bob", "carol"]

columns = st.sampled_from(COLUMNS)
cards = st.sampled_from(CARDS)
maybe_card = st.none() | cards
# Finer than MongoDB keeps (milliseconds), as the boards service writes times.
due_dates = st.none() | st.datetimes(
    min_value=datetime(2026, 1, 1), max_value=datetime(2027, 1, 1), timezones=st.just(UTC)
)
commands = st.one_of(
    st.builds(AddColumn, title=st.sampled_from(["Todo", "Doing"]), column_id=columns),
    st.builds(RenameColumn, column_id=columns, title=st.sampled_from(["x", "y"])),
    st.tuples(columns, st.none() | columns)
    .filter(lambda t: t[0] != t[1])
    .map(lambda t: MoveColumn(column_id=t[0], after_column_id=t[1])),
    st.builds(ArchiveColumn, column_id=columns),
    st.builds(RestoreColumn, column_id=columns),
    st.builds(AddCard, column_id=columns, title=st.just("card"), card_id=cards, due_date=due_dates),
    st.builds(EditCard, card_id=cards, title=st.sampled_from(["p", "q"]), labels=st.just(["l"])),
    st.builds(EditCard, card_id=cards, due_date=due_dates, assignees=st.just(["bob"])),
    st.tuples(cards, columns, maybe_card)
    .filter(lambda t: t[0] != t[2])
    .map(lambda t: MoveCard(card_id=t[0], column_id=t[1], after_card_id=t[2])),
    st.builds(ArchiveCard, card_id=cards),
    st.builds(RestoreCard, card_id=cards),
    st.builds(AddMember, user_id=st.sampled_from(USERS), role=st.sampled_from(list(Role))),
    st.builds(ChangeMemberRole, user_id=st.sampled_from(USERS), role=st.sampled_from(list(Role))),
    st.builds(RemoveMember, user_id=st.sampled_from(USERS)),
    st.builds(RenameBoard, title=st.sampled_from(["B1", "B2"])),
    st.just(ArchiveBoard()),
    st.just(RestoreBoard()),
)
steps = st.lists(st.tuples(st.sampled_from(["alice", "alice", "bob"]), commands), max_size=40)


@pytest.fixture
async def client(
    aiohttp_client: Callable[[web.Application], Awaitable[Client]],
    tmp_path: Path,
    signer: DevSigner,
    redis_url: str,
    mongo_url: str,
    mongo_db_name: str,
    key_prefix: str,
) -> Client:
    """A projector that only serves: the test itself applies the events, as the projector would."""
    public = tmp_path / "public.pem"
    public.write_bytes(signer.public_pem())
    settings = ProjectorSettings(
        redis_url=redis_url,
        mongo_url=mongo_url,
        mongo_db=mongo_db_name,
        key_prefix=key_prefix,
        partitions=PARTITIONS,
        jwt_issuer=signer.issuer,
        jwt_audience=signer.audience,
        jwt_public_key_file=public,
        role="serve",
    )
    keys = StaticKeys({signer.kid: signer.private_key.public_key()})
    return await aiohttp_client(create_app(settings, keys=keys))


class LiveBoard:
    """The command side's state, the projector's live projection and read model, and the log."""

    def __init__(self, store: MongoReadStore, redis: Redis, keys: StreamKeys) -> None:
        self.board_id = uuid.uuid4()
        self.state = Board(board_id=self.board_id)
        self.projection = BoardProjection(board_id=str(self.board_id))
        self.store = store
        self.redis = redis
        self.keys = keys
        self.times: list[datetime] = []  # the time of each version (index 0: version 1)
        self.recorded: dict[int, tuple[Any, Any]] = {}

    async def run(self, actor: str, command: Command) -> None:
        try:
            payloads = decide(self.state, command, Context(actor, uuid.uuid4()))
        except DomainError:
            return
        # One command's events share a time, as the boards service stamps them.
        at = T0 + timedelta(seconds=len(self.times), microseconds=len(self.times) * 1_001)
        events = self._envelopes(payloads, actor, at)
        self.state = fold(self.state, events)
        await append(self.redis, self.keys, events, to_feed=False)
        for event in events:
            apply_event(self.projection, event)
            await self.store.write([self.projection])
            self.times.append(at)
            self.recorded[event.version] = (
                await self._live(archived=False),
                await self._live(archived=True),
            )

    def _envelopes(self, payloads: list[Event], actor: str, at: datetime) -> list[AnyEvent]:
        return [
            event_envelope(
                payload,
                event_id=uuid.uuid4(),
                board_id=self.board_id,
                version=self.state.version + i,
                occurred_at=at,
                actor=actor,
                command_id=uuid.uuid4(),
                correlation_id="c",
                causation_id="c",
                epoch="e",
            )
            for i, payload in enumerate(payloads, start=1)
        ]

    async def _live(self, *, archived: bool) -> Any:
        detail = await self.store.board_detail(self.board_id, archived=archived)
        assert detail is not None
        return detail.model_dump(mode="json")

    async def split(self, archived_to: int, log_from: int) -> None:
        """The archive behind at `archived_to`, the log trimmed below `log_from` (by MINID)."""
        await self.store.events.delete_many(
            {"board_id": str(self.board_id), "version": {"$gt": archived_to}}
        )
        await self.redis.xtrim(
            self.keys.board_log(self.board_id), minid=board_entry_id(log_from), approximate=False
        )


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(history=steps, data=st.data())
async def test_the_board_at_every_version_is_what_the_live_read_model_was(
    client: Client,
    signer: DevSigner,
    redis: Redis,
    stream_keys: StreamKeys,
    history: list[tuple[str, Command]],
    data: st.DataObject,
) -> None:
    store = client.app[read_store_key]
    # Examples share the database and the card and column ids (ids are unique in real life).
    for collection in (store.boards, store.cards, store.memberships, store.events):
        await collection.delete_many({})
    live = LiveBoard(store, redis, stream_keys)
    setup: list[tuple[str, Command]] = [
        ("alice", CreateBoard(title="B0", board_id=live.board_id)),
        ("alice", AddMember(user_id="bob", role=Role.EDITOR, name="Bob")),
        *[("alice", AddColumn(title=f"c{i}", column_id=c)) for i, c in enumerate(COLUMNS[:2])],
        ("alice", AddCard(column_id=COLUMNS[0], title="first", card_id=CARDS[0])),
    ]
    for actor, command in setup + history:
        await live.run(actor, command)
    head = len(live.times)
    archived_to = data.draw(st.integers(0, head), label="archived_to")
    await live.split(archived_to, data.draw(st.integers(1, archived_to + 1), label="log_from"))

    headers = {"Authorization": f"Bearer {signer.token('alice')}"}  # the owner, a member for good
    path = f"/api/boards/{live.board_id}"

    async def board(**params: Any) -> Any:
        response = await client.get(path, params=params, headers=headers)
        assert response.status == 200, await response.text()
        return await response.json()

    for version, (shown, everything) in live.recorded.items():
        assert await board(at_version=version) == shown, version
        assert await board(at_version=version, archived="true") == everything, version
    for time in sorted(set(live.times)):
        last = max(v for v, t in enumerate(live.times, start=1) if t <= time)
        assert await board(at=time.isoformat()) == live.recorded[last][0], time
    response = await client.get(path, params={"at_version": head + 1}, headers=headers)
    assert response.status == 404
