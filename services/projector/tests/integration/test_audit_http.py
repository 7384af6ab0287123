"""The audit endpoints over a real socket, Redis and FerretDB: history, the board at a point in
time, the NDJSON export; read from the archive and the Redis log whatever their split; members
only."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from cardstream_runtime.devtoken import DevSigner
from cardstream_testing.answers import assert_error, read_json
from cardstream_testing.feeds import T0, append, envelopes
from contracts.envelope import AnyEvent, event_adapter
from contracts.events import (
    BoardCreated,
    BoardRenamed,
    CardAdded,
    CardArchived,
    CardEdited,
    CardMoved,
    ColumnAdded,
    ColumnArchived,
    ColumnRenamed,
    Event,
    FieldChange,
    MemberAdded,
    MemberRemoved,
)
from contracts.fields import MAX_INT64, Role
from contracts.streams import StreamKeys, board_entry_id
from projector.keys import read_store_key
from projector.projection import BoardProjection, apply_event
from projector.store.mongo import MongoReadStore
from redis.asyncio import Redis

VERSION = "X-Projection-Version"
Client = TestClient[web.Request, web.Application]
MakeClient = Callable[..., Awaitable[Client]]
Step = tuple[str, Event]


class Audit:
    """Writes boards' events where the boards service writes them, reads through the API."""

    def __init__(self, client: Client, signer: DevSigner, redis: Redis, keys: StreamKeys) -> None:
        self.client = client
        self.signer = signer
        self.redis = redis
        self.keys = keys
        self.logs: dict[uuid.UUID, list[AnyEvent]] = {}

    @property
    def store(self) -> MongoReadStore:
        return self.client.app[read_store_key]

    def auth(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.signer.token(user)}"}

    async def write(self, board: uuid.UUID, *steps: Step, to_feed: bool = True) -> int:
        """Events by (actor, payload), version v at T0 + v seconds."""
        log = self.logs.setdefault(board, [])
        events = envelopes(board, [p for _, p in steps], start=len(log) + 1)
        events = [
            e.model_copy(update={"actor": actor})
            for e, (actor, _) in zip(events, steps, strict=True)
        ]
        await append(self.redis, self.keys, events, to_feed=to_feed)
        log.extend(events)
        return len(log)

    async def get(self, path: str, user: str | None = "alice", **params: Any) -> tuple[int, Any]:
        response = await self.client.get(
            path, params=params, headers=self.auth(user) if user else {}
        )
        if response.content_type != "application/json":
            return response.status, await response.text()
        return response.status, await read_json(response)

    async def live(self, board: uuid.UUID, **params: Any) -> dict[str, Any]:
        """The live read model once the projector has applied everything written."""
        status, body = await self.get(
            f"/api/boards/{board}", min_version=len(self.logs[board]), **params
        )
        assert status == 200, body
        assert body["board"]["version"] == len(self.logs[board])
        return body  # type: ignore[no-any-return]

    async def history(self, board: uuid.UUID, user: str = "alice", **params: Any) -> Any:
        status, body = await self.get(f"/api/boards/{board}/history", user, **params)
        assert status == 200, body
        return body

    async def export(self, board: uuid.UUID, **params: Any) -> list[dict[str, Any]]:
        response = await self.client.get(
            f"/api/boards/{board}/events", params=params, headers=self.auth("alice")
        )
        assert response.status == 200, await response.text()
        assert response.headers["Content-Type"] == "application/x-ndjson"
        text = await response.text()
        assert text == "" or text.endswith("\n")
        return [
            event_adapter.validate_json(line).model_dump(mode="json")
            for line in text.split("\n")
            if line
        ]

    def events_json(self, board: uuid.UUID, after: int = 0) -> list[dict[str, Any]]:
        return [e.model_dump(mode="json") for e in self.logs[board][after:]]


@pytest.fixture
async def audit(
    make_client: MakeClient, signer: DevSigner, redis: Redis, stream_keys: StreamKeys
) -> Audit:
    return Audit(await make_client(), signer, redis, stream_keys)


def _id(board: uuid.UUID, name: str) -> uuid.UUID:
    return uuid.uuid5(board, name)


def _at(version: int, ms: int = 0) -> str:
    return (T0 + timedelta(seconds=version, milliseconds=ms)).isoformat().replace("+00:00", "Z")


def _move(board: uuid.UUID, card: str, source: str, target: str, key: str = "a0") -> CardMoved:
    return CardMoved(
        card_id=_id(board, card),
        from_column_id=_id(board, source),
        to_column_id=_id(board, target),
        position=key,
        previous_position="a0",
    )


def _story(board: uuid.UUID) -> list[Step]:
    """A board, two members, three columns, two cards; one card moved three times."""
    c = _id
    return [
        ("alice", BoardCreated(title="Plans", owner_id="alice")),  # 1
        ("alice", MemberAdded(user_id="bob", role=Role.EDITOR, name="Bob")),  # 2
        ("alice", MemberAdded(user_id="carol", role=Role.EDITOR, name="Carol")),  # 3
        ("alice", ColumnAdded(column_id=c(board, "todo"), title="To do", position="a0")),  # 4
        ("alice", ColumnAdded(column_id=c(board, "doing"), title="Doing", position="a1")),  # 5
        ("alice", ColumnAdded(column_id=c(board, "done"), title="Done", position="a2")),  # 6
        (
            "bob",
            CardAdded(
                card_id=c(board, "login"),
                column_id=c(board, "todo"),
                position="a0",
                title="Fix login",
            ),
        ),  # 7
        (
            "carol",
            CardAdded(
                card_id=c(board, "docs"), column_id=c(board, "todo"), position="a1", title="Docs"
            ),
        ),  # 8
        ("bob", _move(board, "login", "todo", "doing")),  # 9
        (
            "carol",
            CardEdited(
                card_id=c(board, "docs"),
                changes=[FieldChange(field="title", before="Docs", after="Write docs")],
            ),
        ),  # 10
        ("carol", _move(board, "login", "doing", "done")),  # 11
        ("alice", BoardRenamed(title="Roadmap", previous_title="Plans")),  # 12
        ("alice", _move(board, "login", "done", "doing", key="a5")),  # 13
        ("bob", CardArchived(card_id=c(board, "docs"), column_id=c(board, "todo"))),  # 14
        ("alice", ColumnArchived(column_id=c(board, "done"))),  # 15
        (
            "alice",
            ColumnRenamed(column_id=c(board, "doing"), title="Busy", previous_title="Doing"),
        ),  # 16
    ]


HEAD = 16


async def _project(audit: Audit, board: uuid.UUID) -> None:
    """What the projector would do with what was written so far (when none runs)."""
    projection = BoardProjection(board_id=str(board))
    for event in audit.logs[board]:
        apply_event(projection, event)
    await audit.store.write([projection])


async def _board(audit: Audit) -> uuid.UUID:
    board = uuid.uuid4()
    await audit.write(board, *_story(board))
    await audit.live(board)
    return board


class TestHistory:
    async def test_a_card_moved_three_times_has_three_entries_with_columns_actors_and_times(
        self, audit: Audit
    ) -> None:
        board = await _board(audit)
        body = await audit.history(board, card_id=str(_id(board, "login")))
        moves = [e for e in body["entries"] if e["type"] == "CardMoved"]
        assert [(e["version"], e["occurred_at"], e["actor"], e["summary"]) for e in moves] == [
            (9, _at(9), {"id": "bob", "name": "Bob"}, "Bob moved 'Fix login' from To do to Doing"),
            (
                11,
                _at(11),
                {"id": "carol", "name": "Carol"},
                "Carol moved 'Fix login' from Doing to Done",
            ),
            (
                13,
                _at(13),
                {"id": "alice", "name": "alice"},
                "alice moved 'Fix login' from Done to Doing",
            ),
        ]
        assert [e["changes"][0] for e in moves] == [
            {
                "field": "column_id",
                "before": str(_id(board, a)),
                "after": str(_id(board, b)),
                "item": None,
            }
            for a, b in [("todo", "doing"), ("doing", "done"), ("done", "doing")]
        ]
        assert body["next_after_version"] is None
        assert [e["version"] for e in body["entries"]] == [7, 9, 11, 13]

    async def test_an_entry_carries_every_field(self, audit: Audit) -> None:
        board = await _board(audit)
        body = await audit.history(board, from_version=10, to_version=10)
        assert body == {
            "entries": [
                {
                    "version": 10,
                    "occurred_at": _at(10),
                    "actor": {"id": "carol", "name": "Carol"},
                    "type": "CardEdited",
                    "summary": "Carol edited 'Docs': title 'Docs' → 'Write docs'",
                    "card_id": str(_id(board, "docs")),
                    "column_id": str(_id(board, "todo")),
                    "changes": [
                        {"field": "title", "before": "Docs", "after": "Write docs", "item": None}
                    ],
                }
            ],
            "next_after_version": None,
        }

    async def test_filters(self, audit: Audit) -> None:
        board = await _board(audit)
        login, todo, done = (str(_id(board, n)) for n in ("login", "todo", "done"))
        cases: list[tuple[dict[str, Any], list[int]]] = [
            ({}, list(range(1, HEAD + 1))),
            ({"card_id": login}, [7, 9, 11, 13]),
            ({"column_id": todo}, [4, 7, 8, 9, 10, 14]),
            ({"column_id": done}, [6, 11, 13, 15]),
            ({"actor": "carol"}, [8, 10, 11]),
            ({"from_version": 12, "to_version": 14}, [12, 13, 14]),
            ({"from_version": 15}, [15, 16]),
            ({"since": _at(3), "until": _at(5)}, [3, 4, 5]),
            ({"since": _at(15, ms=1)}, [16]),
            ({"actor": "bob", "card_id": login}, [7, 9]),
            ({"actor": "nobody"}, []),
            ({"card_id": str(uuid.uuid4())}, []),
        ]
        for params, versions in cases:
            body = await audit.history(board, **params)
            assert [e["version"] for e in body["entries"]] == versions, params

    async def test_a_time_with_an_offset_whose_plus_was_not_encoded(self, audit: Audit) -> None:
        board = await _board(audit)
        # T0 + 5 s written in UTC+01:00, with a bare `+` in the query string (a space once parsed).
        response = await audit.client.get(
            f"/api/boards/{board}/history?since=2026-01-01T01:00:05+01:00&until=2026-01-01T00:00:06Z",
            headers=audit.auth("alice"),
        )
        assert response.status == 200, await response.text()
        assert [e["version"] for e in (await response.json())["entries"]] == [5, 6]

    async def test_pages_by_version_until_none_is_left(self, audit: Audit) -> None:
        board = await _board(audit)
        everything = (await audit.history(board))["entries"]
        seen: list[dict[str, Any]] = []
        after, pages = 0, 0
        while after is not None:
            body = await audit.history(board, limit=5, after_version=after)
            assert len(body["entries"]) <= 5
            seen += body["entries"]
            after, pages = body["next_after_version"], pages + 1
            if after is not None:
                assert after == body["entries"][-1]["version"]
        assert seen == everything
        assert pages == 4  # 5 + 5 + 5 + 1: the last full page already knew more was left
        filtered = await audit.history(board, card_id=str(_id(board, "login")), limit=4)
        assert filtered["next_after_version"] is None  # exactly four: nothing after them
        filtered = await audit.history(board, card_id=str(_id(board, "login")), limit=3)
        assert filtered["next_after_version"] == 11

    async def test_an_invalid_query_is_a_422(self, audit: Audit) -> None:
        board = await _board(audit)
        invalid: list[Any] = [
            {"limit": "0"},
            {"limit": "501"},
            {"after_version": "-1"},
            {"card_id": "not-a-uuid"},
            {"since": "yesterday"},
            {"since": "2026-01-01T00:00:00"},  # no offset: which time is that?
            {"until": "1767225600"},
            [("actor", "bob"), ("actor", "carol")],
        ]
        for params in invalid:
            response = await audit.client.get(
                f"/api/boards/{board}/history", params=params, headers=audit.auth("alice")
            )
            assert response.status == 422, params
            assert_error(await response.json(), "invalid_query")


class TestPointInTime:
    async def test_the_board_at_every_version_is_what_the_live_read_model_was(
        self, audit: Audit
    ) -> None:
        board = uuid.uuid4()
        live: dict[int, tuple[Any, Any]] = {}
        for step in _story(board):
            version = await audit.write(board, step)
            live[version] = (await audit.live(board), await audit.live(board, archived="true"))
        for version, (shown, everything) in live.items():
            response = await audit.client.get(
                f"/api/boards/{board}", params={"at_version": version}, headers=audit.auth("alice")
            )
            assert response.status == 200
            assert response.headers[VERSION] == str(version)
            assert await response.json() == shown, version
            status, body = await audit.get(
                f"/api/boards/{board}", at_version=version, archived="true"
            )
            assert (status, body) == (200, everything), version
            status, body = await audit.get(f"/api/boards/{board}", at=_at(version, ms=500))
            assert (status, body) == (200, shown), version

    async def test_at_a_time_is_the_last_version_at_or_before_it(self, audit: Audit) -> None:
        board = await _board(audit)
        for at, version in [
            (_at(1), 1),
            (_at(9, ms=999), 9),
            (_at(HEAD), HEAD),
            (_at(10**6), HEAD),
        ]:
            status, body = await audit.get(f"/api/boards/{board}", at=at)
            assert (status, body["board"]["version"]) == (200, version), at
        status, body = await audit.get(f"/api/boards/{board}", at="2026-01-01T01:00:09+01:00")
        assert body["board"]["title"] == "Plans"
        assert [c["title"] for c in body["cards"]] == ["Docs", "Fix login"]

    async def test_before_the_board_existed_it_is_not_found(self, audit: Audit) -> None:
        board = await _board(audit)
        for params in ({"at": _at(0, ms=999)}, {"at": "1999-12-31T23:59:59Z"}, {"at_version": 0}):
            status, body = await audit.get(f"/api/boards/{board}", **params)
            assert status == 404, params
            assert_error(body, "board_not_found")

    async def test_a_version_the_board_has_not_reached_is_not_found(self, audit: Audit) -> None:
        board = await _board(audit)
        status, body = await audit.get(f"/api/boards/{board}", at_version=HEAD + 1)
        assert status == 404
        assert_error(body, "version_not_found")
        assert body["error"]["details"] == {"version": HEAD + 1, "head": HEAD}

    async def test_an_invalid_point_is_a_422(self, audit: Audit) -> None:
        board = await _board(audit)
        invalid: list[Any] = [
            {"at_version": "1", "at": _at(1)},
            {"at_version": "1", "min_version": "1"},
            {"at_version": "-1"},
            {"at_version": "x"},
            {"at": "2026-01-01"},
            {"at": "2026-01-01T00:00:00"},
            [("at_version", "1"), ("at_version", "2")],
        ]
        for params in invalid:
            response = await audit.client.get(
                f"/api/boards/{board}", params=params, headers=audit.auth("alice")
            )
            assert response.status == 422, params
            assert_error(await response.json(), "invalid_query")


class TestVersionRange:
    """Every version in a query is 0 to 2^63-1, as in the contracts: the largest is a version the
    board has not reached, anything beyond it a 422 naming the parameter, never a 500."""

    async def test_the_largest_version_is_one_the_board_has_not_reached(self, audit: Audit) -> None:
        board = await _board(audit)
        status, body = await audit.get(f"/api/boards/{board}", at_version=MAX_INT64)
        assert status == 404
        assert_error(body, "version_not_found")
        assert body["error"]["details"] == {"version": MAX_INT64, "head": HEAD}
        page = await audit.history(board, after_version=MAX_INT64)
        assert page == {"entries": [], "next_after_version": None}
        page = await audit.history(board, from_version=MAX_INT64, to_version=MAX_INT64)
        assert page == {"entries": [], "next_after_version": None}
        assert await audit.export(board, after_version=MAX_INT64) == []

    @pytest.mark.parametrize("value", [str(2**63), str(2**64), "9" * 5000, "-1", "1e30", "true"])
    async def test_a_version_out_of_range_is_a_422_naming_it(
        self, audit: Audit, value: str
    ) -> None:
        board = await _board(audit)
        asked = [
            ("", "at_version"),
            ("", "min_version"),
            ("/history", "after_version"),
            ("/history", "from_version"),
            ("/history", "to_version"),
            ("/events", "after_version"),
        ]
        for path, name in asked:
            status, body = await audit.get(f"/api/boards/{board}{path}", **{name: value})
            assert status == 422, (path, name)
            assert_error(body, "invalid_query")
            assert [d["loc"] for d in body["error"]["details"]] == [[name]], (path, name)


class TestExport:
    async def test_streams_every_event_in_order_as_ndjson(self, audit: Audit) -> None:
        board = await _board(audit)
        response = await audit.client.get(
            f"/api/boards/{board}/events", headers=audit.auth("alice")
        )
        assert response.status == 200
        assert response.headers["Content-Type"] == "application/x-ndjson"
        assert response.headers.get("Transfer-Encoding") == "chunked"
        assert response.headers["X-Accel-Buffering"] == "no"
        lines = (await response.read()).split(b"\n")
        assert lines[-1] == b""
        assert lines[:-1] == [event_adapter.dump_json(e) for e in audit.logs[board]]

    async def test_resumes_after_a_version(self, audit: Audit) -> None:
        board = await _board(audit)
        assert await audit.export(board, after_version=12) == audit.events_json(board, 12)
        assert await audit.export(board, after_version=HEAD) == []
        assert await audit.export(board, after_version=10**9) == []

    async def test_a_log_longer_than_a_page_comes_in_pages(
        self, make_client: MakeClient, signer: DevSigner, redis: Redis, stream_keys: StreamKeys
    ) -> None:
        audit = Audit(await make_client(role="serve"), signer, redis, stream_keys)
        board = uuid.uuid4()
        await audit.write(board, ("alice", BoardCreated(title="t0", owner_id="alice")))
        await _project(audit, board)  # the read model and the archive hold version 1
        renames = [BoardRenamed(title=f"t{i}", previous_title=f"t{i - 1}") for i in range(1, 700)]
        await audit.write(board, *[("alice", r) for r in renames], to_feed=False)
        response = await audit.client.get(
            f"/api/boards/{board}/events", params={"after_version": 0}, headers=audit.auth("alice")
        )
        chunks = [chunk async for chunk, _ in response.content.iter_chunks()]
        assert len(chunks) > 1
        lines = b"".join(chunks).split(b"\n")
        assert lines[:-1] == [event_adapter.dump_json(e) for e in audit.logs[board]]

    async def test_a_log_that_breaks_off_cuts_the_transfer(
        self, make_client: MakeClient, signer: DevSigner, redis: Redis, stream_keys: StreamKeys
    ) -> None:
        audit = Audit(await make_client(role="serve"), signer, redis, stream_keys)
        board = uuid.uuid4()
        await audit.write(board, *_story(board)[:3], to_feed=False)
        await _project(audit, board)  # the read model and the archive at version 3
        await audit.write(board, *_story(board)[3:6], to_feed=False)
        await redis.xtrim(stream_keys.board_log(board), minid=board_entry_id(5), approximate=False)
        # Version 4 is gone from both: the export sends 1-3, then cannot go on.
        response = await audit.client.get(
            f"/api/boards/{board}/events", headers=audit.auth("alice")
        )
        assert response.status == 200
        with pytest.raises(aiohttp.ClientPayloadError):
            await response.read()
        broken: list[tuple[str, dict[str, Any]]] = [("/history", {}), ("", {"at_version": 5})]
        for path, params in broken:
            status, body = await audit.get(f"/api/boards/{board}{path}", **params)
            assert status == 500
            assert_error(body, "event_log_unreadable")
        status, _ = await audit.get(f"/api/boards/{board}", at_version=3)
        assert status == 200


async def _answers(audit: Audit, board: uuid.UUID) -> list[Any]:
    """Everything the audit endpoints say about a board."""
    return [
        await audit.history(board),
        await audit.history(board, limit=4, after_version=5),
        await audit.export(board),
        await audit.export(board, after_version=7),
        *[(await audit.get(f"/api/boards/{board}", at_version=v))[1] for v in (1, 6, 11, HEAD)],
        (await audit.get(f"/api/boards/{board}", at=_at(12, ms=1)))[1],
    ]


class TestArchiveAndLog:
    @pytest.mark.parametrize(
        ("archived_to", "log_from"),
        [
            (3, 1),  # the archive behind the log: the rest comes from the log
            (HEAD, HEAD + 1),  # the log trimmed whole: everything from the archive
            (9, 5),  # the log trimmed, the archive behind: both
        ],
    )
    async def test_say_the_same_whatever_holds_which_version(
        self, audit: Audit, archived_to: int, log_from: int
    ) -> None:
        board = await _board(audit)
        before = await _answers(audit, board)
        assert before[2] == audit.events_json(board)
        # The projector has applied everything; rewind its archive and trim the log by hand.
        await audit.store.events.delete_many(
            {"board_id": str(board), "version": {"$gt": archived_to}}
        )
        await audit.redis.xtrim(
            audit.keys.board_log(board), minid=board_entry_id(log_from), approximate=False
        )
        assert await audit.store.events.count_documents({"board_id": str(board)}) == archived_to
        assert await audit.redis.xlen(audit.keys.board_log(board)) == HEAD + 1 - log_from
        assert await _answers(audit, board) == before


def _paths(board: uuid.UUID | str) -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"/api/boards/{board}/history", {}),
        (f"/api/boards/{board}/events", {}),
        (f"/api/boards/{board}", {"at_version": 1}),
        (f"/api/boards/{board}", {"at": _at(5)}),
    ]


class TestMembersOnly:
    async def test_non_members_get_404_from_every_audit_endpoint(self, audit: Audit) -> None:
        board = await _board(audit)
        for path, params in _paths(board):
            status, body = await audit.get(path, user="mallory", **params)
            assert status == 404, path
            assert_error(body, "board_not_found")

    async def test_unknown_and_malformed_boards_answer_the_same(self, audit: Audit) -> None:
        for board in (uuid.uuid4(), "not-a-uuid"):
            for path, params in _paths(board):
                status, body = await audit.get(path, **params)
                assert status == 404, path
                assert_error(body, "board_not_found")

    async def test_a_removed_member_loses_the_past_too(self, audit: Audit) -> None:
        board = await _board(audit)
        for path, params in _paths(board):
            assert (await audit.get(path, user="bob", **params))[0] == 200, path
        await audit.write(board, ("alice", MemberRemoved(user_id="bob", previous_role=Role.EDITOR)))
        await audit.live(board)
        for path, params in _paths(board):
            status, body = await audit.get(path, user="bob", **params)
            assert status == 404, path
            assert_error(body, "board_not_found")

    async def test_a_request_without_a_token_is_refused(self, audit: Audit) -> None:
        board = await _board(audit)
        for path, params in _paths(board):
            status, body = await audit.get(path, user=None, **params)
            assert status == 401, path
            assert_error(body, "unauthorized")
