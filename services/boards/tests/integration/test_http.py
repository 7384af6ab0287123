"""The HTTP API: every status code it promises, over a real socket and a real Redis."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import jwt
import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from boards.app import UnsafeRedisError, create_app
from boards.settings import BoardsSettings
from cardstream_runtime.devtoken import DevSigner
from cardstream_runtime.settings import Mode
from cardstream_testing import RedisServer
from cardstream_testing.answers import assert_error, checked, read_answer
from cardstream_testing.fixtures import AUDIENCE, ISSUER
from contracts.fields import MAX_COLUMNS, MAX_INT64, MAX_TITLE
from contracts.streams import StreamKeys
from cryptography.hazmat.primitives.asymmetric import ec
from redis.asyncio import Redis

Client = TestClient[web.Request, web.Application]


def _settings(
    tmp_path: Path,
    signer: DevSigner,
    redis_url: str,
    key_prefix: str,
    mode: Mode = Mode.DEVELOPMENT,
) -> BoardsSettings:
    public = tmp_path / "public.pem"
    public.write_bytes(signer.public_pem())
    return BoardsSettings(
        redis_url=redis_url,
        key_prefix=key_prefix,
        jwt_issuer=ISSUER,
        jwt_audience=AUDIENCE,
        jwt_public_key_file=public,
        partitions=4,
        mode=mode,
    )


@pytest.fixture
async def client(
    aiohttp_client: Callable[[web.Application], Awaitable[Client]],
    tmp_path: Path,
    signer: DevSigner,
    redis_url: str,
    key_prefix: str,
) -> Client:
    return await aiohttp_client(create_app(_settings(tmp_path, signer, redis_url, key_prefix)))


class Api:
    def __init__(self, client: Client, signer: DevSigner) -> None:
        self.client = client
        self.signer = signer

    def auth(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.signer.token(user)}"}

    async def create_board(self, user: str = "alice", **payload: Any) -> str:
        body = {
            "command_id": str(uuid.uuid4()),
            "type": "CreateBoard",
            "payload": {"title": "B", **payload},
        }
        response = await self.client.post("/api/boards", json=body, headers=self.auth(user))
        assert response.status == 201, await response.text()
        return str((await read_answer(response, command=True))["board_id"])

    async def command(
        self, board: str, type_: str, payload: dict[str, Any], user: str = "alice", **envelope: Any
    ) -> tuple[int, Any]:
        body = {"command_id": str(uuid.uuid4()), "type": type_, "payload": payload, **envelope}
        response = await self.client.post(
            f"/api/boards/{board}/commands", json=body, headers=self.auth(user)
        )
        return response.status, await read_answer(response, command=True)


@pytest.fixture
def api(client: Client, signer: DevSigner) -> Api:
    return Api(client, signer)


class TestCreateBoard:
    async def test_answers_201_with_the_board_id_and_version(self, api: Api) -> None:
        board_id = str(uuid.uuid4())
        body = {
            "command_id": str(uuid.uuid4()),
            "type": "CreateBoard",
            "payload": {"title": "Plans", "board_id": board_id},
        }
        response = await api.client.post("/api/boards", json=body, headers=api.auth("alice"))
        assert response.status == 201
        answer = await read_answer(response, command=True)
        assert answer["board_id"] == board_id
        assert answer["version"] == 1
        assert [e["type"] for e in answer["events"]] == ["BoardCreated"]
        assert answer["events"][0]["actor"] == "alice"

    @pytest.mark.parametrize(
        ("claims", "owner"),
        [
            (
                {"name": "Alice Liddell", "email": "alice@example.com"},
                {"name": "Alice Liddell", "email": "alice@example.com", "avatar_url": None},
            ),
            # A name is cut to a title's length; what an event may not hold is left out, never a
            # refusal.
            (
                {"name": "A" * 5_000, "email": "alice@example.com"},
                {"name": "A" * MAX_TITLE, "email": "alice@example.com", "avatar_url": None},
            ),
            (
                {"name": "   ", "email": "alice@example.com"},
                {"name": None, "email": "alice@example.com", "avatar_url": None},
            ),
            (
                {"name": "Alice", "email": "not an address"},
                {"name": "Alice", "email": None, "avatar_url": None},
            ),
            ({"email": "no-at-sign"}, None),
            ({}, None),
        ],
        ids=["both", "name too long", "blank name", "bad email", "nothing usable", "no claims"],
    )
    async def test_the_owner_profile_comes_from_the_token(
        self, api: Api, claims: dict[str, str], owner: dict[str, Any] | None
    ) -> None:
        body = {"command_id": str(uuid.uuid4()), "type": "CreateBoard", "payload": {"title": "P"}}
        token = api.signer.token("alice", **claims)
        response = await api.client.post(
            "/api/boards", json=body, headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status == 201
        answer = await read_answer(response, command=True)
        assert answer["events"][0]["payload"]["owner"] == owner
        assert answer["events"][0]["schema_version"] == 2

    async def test_a_board_id_taken_by_another_command_is_a_409(self, api: Api) -> None:
        board = await api.create_board()
        body = {
            "command_id": str(uuid.uuid4()),
            "type": "CreateBoard",
            "payload": {"title": "again", "board_id": board},
        }
        response = await api.client.post("/api/boards", json=body, headers=api.auth("alice"))
        assert response.status == 409
        assert_error(await read_answer(response), "board_exists")

    async def test_other_commands_are_not_sent_here(self, api: Api) -> None:
        body = {"command_id": str(uuid.uuid4()), "type": "RenameBoard", "payload": {"title": "x"}}
        response = await api.client.post("/api/boards", json=body, headers=api.auth("alice"))
        assert response.status == 422
        assert_error(await read_answer(response), "wrong_endpoint")

    async def test_the_same_command_twice_creates_one_board(self, api: Api) -> None:
        body = {
            "command_id": str(uuid.uuid4()),
            "type": "CreateBoard",
            "payload": {"title": "once"},
        }
        first = await api.client.post("/api/boards", json=body, headers=api.auth("alice"))
        second = await api.client.post("/api/boards", json=body, headers=api.auth("alice"))
        assert (first.status, second.status) == (201, 201)
        assert await first.read() == await second.read()


class TestCommands:
    async def test_a_command_answers_200_with_its_events(self, api: Api) -> None:
        board = await api.create_board()
        status, body = await api.command(board, "AddColumn", {"title": "To do"})
        assert status == 200
        assert body["board_id"] == board
        assert body["version"] == 2
        assert body["events"][0]["type"] == "ColumnAdded"
        assert body["events"][0]["version"] == 2

    async def test_card_added_and_moved(self, api: Api) -> None:
        board = await api.create_board()
        todo, done = str(uuid.uuid4()), str(uuid.uuid4())
        await api.command(board, "AddColumn", {"title": "To do", "column_id": todo})
        await api.command(board, "AddColumn", {"title": "Done", "column_id": done})
        _, added = await api.command(board, "AddCard", {"column_id": todo, "title": "Ship it"})
        card = added["events"][0]["payload"]["card_id"]
        status, moved = await api.command(board, "MoveCard", {"card_id": card, "column_id": done})
        assert status == 200
        assert moved["events"][0]["payload"]["from_column_id"] == todo
        assert moved["events"][0]["payload"]["to_column_id"] == done

    async def test_a_stale_expected_version_is_a_409_with_the_current_version(
        self, api: Api
    ) -> None:
        board = await api.create_board()
        await api.command(board, "RenameBoard", {"title": "v2"})
        status, body = await api.command(board, "RenameBoard", {"title": "v3"}, expected_version=1)
        assert status == 409
        assert_error(body, "version_conflict")
        assert body["error"]["details"] == {"current_version": 2}

    async def test_the_largest_expected_version_is_a_409_like_any_stale_one(self, api: Api) -> None:
        board = await api.create_board()
        status, body = await api.command(
            board, "RenameBoard", {"title": "v2"}, expected_version=MAX_INT64
        )
        assert status == 409
        assert body["error"]["details"] == {"current_version": 1}

    @pytest.mark.parametrize(
        "version",
        [str(2**63), str(2**64), str(2**64 + 1), "-1", "1e30", "1.5", '"' + "9" * 30 + '"'],
    )
    async def test_an_expected_version_out_of_range_is_a_422_and_writes_nothing(
        self, api: Api, version: str
    ) -> None:
        board = await api.create_board()
        status, body = await self._raw(api, board, version)
        assert status == 422
        assert_error(body, "invalid_command")
        assert [d["loc"][-1] for d in body["error"]["details"]] == ["expected_version"]
        status, body = await api.command(board, "RenameBoard", {"title": "v2"}, expected_version=1)
        assert (status, body["version"]) == (200, 2)  # version 1 was still the newest

    async def test_an_integer_too_long_to_parse_is_a_400_and_writes_nothing(self, api: Api) -> None:
        board = await api.create_board()
        status, body = await self._raw(api, board, "9" * 5000)
        assert status == 400
        assert_error(body, "invalid_json")
        status, body = await api.command(board, "RenameBoard", {"title": "v2"}, expected_version=1)
        assert (status, body["version"]) == (200, 2)

    async def test_create_board_holds_expected_version_to_the_range_too(self, api: Api) -> None:
        board_id = str(uuid.uuid4())
        body = {
            "command_id": str(uuid.uuid4()),
            "type": "CreateBoard",
            "expected_version": 2**64,
            "payload": {"title": "B", "board_id": board_id},
        }
        response = await api.client.post("/api/boards", json=body, headers=api.auth("alice"))
        assert response.status == 422
        assert_error(await read_answer(response), "invalid_command")
        status, _ = await api.command(board_id, "RenameBoard", {"title": "x"})
        assert status == 404  # no board was created

    @staticmethod
    async def _raw(api: Api, board: str, expected_version: str) -> tuple[int, Any]:
        # Written out by hand: the literal is what is tested, not what a JSON encoder makes of it.
        body = (
            f'{{"command_id": "{uuid.uuid4()}", "type": "RenameBoard",'
            f' "expected_version": {expected_version}, "payload": {{"title": "v2"}}}}'
        )
        response = await api.client.post(
            f"/api/boards/{board}/commands", data=body.encode(), headers=api.auth("alice")
        )
        return response.status, await read_answer(response, command=True)

    async def test_a_viewer_is_forbidden_to_change_anything(self, api: Api) -> None:
        board = await api.create_board()
        await api.command(board, "AddMember", {"user_id": "victor", "role": "viewer"})
        status, body = await api.command(board, "AddColumn", {"title": "x"}, user="victor")
        assert status == 403
        assert_error(body, "forbidden")

    async def test_an_editor_cannot_manage_members(self, api: Api) -> None:
        board = await api.create_board()
        await api.command(board, "AddMember", {"user_id": "eddie", "role": "editor"})
        status, _ = await api.command(board, "AddColumn", {"title": "ok"}, user="eddie")
        assert status == 200
        status, body = await api.command(
            board, "AddMember", {"user_id": "x", "role": "owner"}, user="eddie"
        )
        assert status == 403
        assert_error(body, "forbidden")

    async def test_a_board_the_caller_may_not_see_is_a_404(self, api: Api) -> None:
        board = await api.create_board()
        status, body = await api.command(
            board, "RenameBoard", {"title": "mine now"}, user="mallory"
        )
        assert status == 404
        assert_error(body, "board_not_found")

    async def test_an_unknown_board_is_a_404(self, api: Api) -> None:
        status, body = await api.command(str(uuid.uuid4()), "RenameBoard", {"title": "x"})
        assert status == 404
        assert_error(body, "board_not_found")

    async def test_a_board_id_that_is_not_a_uuid_is_a_404(self, api: Api) -> None:
        status, body = await api.command("not-a-uuid", "RenameBoard", {"title": "x"})
        assert status == 404
        assert_error(body, "board_not_found")

    async def test_an_invalid_payload_is_a_422_naming_the_field(self, api: Api) -> None:
        board = await api.create_board()
        status, body = await api.command(board, "AddColumn", {"title": "x" * 201})
        assert status == 422
        assert_error(body, "invalid_command")
        assert body["error"]["details"][0]["loc"][-1] == "title"

    async def test_an_unknown_command_type_is_a_422(self, api: Api) -> None:
        board = await api.create_board()
        status, body = await api.command(board, "DropTable", {})
        assert status == 422
        assert_error(body, "invalid_command")

    async def test_a_rule_violation_is_a_422_with_its_code(self, api: Api) -> None:
        board = await api.create_board()
        status, body = await api.command(
            board, "MoveCard", {"card_id": str(uuid.uuid4()), "column_id": str(uuid.uuid4())}
        )
        assert status == 422
        assert_error(body, "card_not_found")

    async def test_the_column_limit_is_a_422(self, api: Api) -> None:
        board = await api.create_board()
        for i in range(MAX_COLUMNS):
            status, _ = await api.command(board, "AddColumn", {"title": f"c{i}"})
            assert status == 200
        status, body = await api.command(board, "AddColumn", {"title": "one too many"})
        assert status == 422
        assert_error(body, "limit_exceeded")

    async def test_a_command_id_reused_for_another_command_is_a_422(self, api: Api) -> None:
        board = await api.create_board()
        command_id = str(uuid.uuid4())
        headers = api.auth("alice")
        url = f"/api/boards/{board}/commands"
        first = {"command_id": command_id, "type": "RenameBoard", "payload": {"title": "one"}}
        second = {"command_id": command_id, "type": "RenameBoard", "payload": {"title": "two"}}
        assert (await api.client.post(url, json=first, headers=headers)).status == 200
        response = await api.client.post(url, json=second, headers=headers)
        assert response.status == 422
        assert_error(await read_answer(response), "idempotency_mismatch")

    async def test_a_body_over_64_kib_is_a_413(self, api: Api) -> None:
        board = await api.create_board()
        body = json.dumps(
            {
                "command_id": str(uuid.uuid4()),
                "type": "RenameBoard",
                "payload": {"title": "x" * 70_000},
            }
        )
        response = await api.client.post(
            f"/api/boards/{board}/commands",
            data=body,
            headers={**api.auth("alice"), "Content-Type": "application/json"},
        )
        assert response.status == 413
        assert_error(await read_answer(response), "payload_too_large")

    async def test_a_body_that_is_not_json_is_a_400(self, api: Api) -> None:
        board = await api.create_board()
        response = await api.client.post(
            f"/api/boards/{board}/commands", data=b"{not json", headers=api.auth("alice")
        )
        assert response.status == 400
        assert_error(await read_answer(response), "invalid_json")

    async def test_a_wrong_method_is_a_405_in_the_same_shape(self, api: Api) -> None:
        response = await api.client.get(f"/api/boards/{uuid.uuid4()}/commands")
        assert response.status == 405
        assert_error(await read_answer(response), "method_not_allowed")

    async def test_an_unknown_path_is_a_404_in_the_same_shape(self, api: Api) -> None:
        response = await api.client.get("/nowhere")
        assert response.status == 404
        assert_error(await read_answer(response), "not_found")

    async def test_the_correlation_id_is_echoed_and_stamped_on_events(self, api: Api) -> None:
        board = await api.create_board()
        body = {
            "command_id": str(uuid.uuid4()),
            "type": "RenameBoard",
            "payload": {"title": "traced"},
        }
        response = await api.client.post(
            f"/api/boards/{board}/commands",
            json=body,
            headers={**api.auth("alice"), "X-Correlation-Id": "trace-42"},
        )
        assert response.headers["X-Correlation-Id"] == "trace-42"
        assert (await read_answer(response, command=True))["events"][0]["correlation_id"] == (
            "trace-42"
        )


class TestWhatAStrangerLearns:
    """Whoever is not a member of a board gets, for every command, the very answer a board that
    does not exist gets (its id aside), whatever command id, version or body they send; only
    the caller who made a command gets its recorded answer again (issue 12, hole 9)."""

    @staticmethod
    async def _post(api: Api, url: str, body: dict[str, Any], user: str) -> tuple[int, bytes]:
        response = await api.client.post(url, json=body, headers=api.auth(user))
        raw = await response.read()
        checked(response.status, raw, command=True)
        return response.status, raw

    async def _alike_on_a_missing_board(
        self, api: Api, board: str, body: dict[str, Any], user: str = "mallory"
    ) -> tuple[int, bytes]:
        """What `user` gets for `body` on `board`, having checked it is byte for byte what they
        get on a board that does not exist (whose id the answer echoes, as it echoes this one)."""
        missing = str(uuid.uuid4())
        answer = await self._post(api, f"/api/boards/{board}/commands", body, user)
        elsewhere = await self._post(api, f"/api/boards/{missing}/commands", body, user)
        assert answer == (elsewhere[0], elsewhere[1].replace(missing.encode(), board.encode()))
        return answer

    async def test_a_command_id_replayed_by_a_stranger_gets_what_a_missing_board_gets(
        self, api: Api
    ) -> None:
        board = await api.create_board()
        sent = {"command_id": str(uuid.uuid4()), "type": "AddColumn", "payload": {"title": "X"}}
        status, _ = await self._post(api, f"/api/boards/{board}/commands", sent, "alice")
        assert status == 200

        for body in (sent, {**sent, "payload": {"title": "another"}}):
            status, raw = await self._alike_on_a_missing_board(api, board, body)
            assert status == 404
            answer = orjson.loads(raw)
            assert_error(answer, "board_not_found")
            assert answer["error"]["details"] == {"board_id": board}

    async def test_the_callers_own_retry_still_gets_its_recorded_answer(self, api: Api) -> None:
        board = await api.create_board()
        url = f"/api/boards/{board}/commands"
        sent = {"command_id": str(uuid.uuid4()), "type": "AddColumn", "payload": {"title": "X"}}
        first = await self._post(api, url, sent, "alice")
        await self._post(api, url, sent, "mallory")
        assert await self._post(api, url, sent, "alice") == first
        assert first[0] == 200

    async def test_a_member_replaying_anothers_command_id_learns_only_that_it_is_taken(
        self, api: Api
    ) -> None:
        board = await api.create_board()
        await api.command(board, "AddMember", {"user_id": "bob", "role": "editor"})
        url = f"/api/boards/{board}/commands"
        sent = {"command_id": str(uuid.uuid4()), "type": "AddColumn", "payload": {"title": "X"}}
        assert (await self._post(api, url, sent, "alice"))[0] == 200
        status, raw = await self._post(api, url, sent, "bob")
        assert status == 422
        assert_error(orjson.loads(raw), "idempotency_mismatch")
        assert b"events" not in raw
        assert b'"version"' not in raw

    async def test_a_removed_member_retrying_their_own_command_gets_its_answer(
        self, api: Api
    ) -> None:
        # The answer they were given (or owed) while a member; nothing of the board since.
        board = await api.create_board()
        await api.command(board, "AddMember", {"user_id": "bob", "role": "editor"})
        url = f"/api/boards/{board}/commands"
        sent = {"command_id": str(uuid.uuid4()), "type": "AddColumn", "payload": {"title": "X"}}
        first = await self._post(api, url, sent, "bob")
        await api.command(board, "RemoveMember", {"user_id": "bob"})
        assert await self._post(api, url, sent, "bob") == first
        again = {**sent, "command_id": str(uuid.uuid4())}
        assert (await self._alike_on_a_missing_board(api, board, again, "bob"))[0] == 404

    @pytest.mark.parametrize("expected_version", [None, 0, 1, 3, MAX_INT64])
    @pytest.mark.parametrize(
        ("type_", "payload"),
        [
            ("RenameBoard", {"title": "mine now"}),
            ("RestoreBoard", {}),
            ("AddColumn", {"title": "X"}),
            ("MoveCard", {"card_id": str(uuid.UUID(int=1)), "column_id": str(uuid.UUID(int=2))}),
            ("AddMember", {"user_id": "mallory", "role": "owner"}),
            ("RemoveMember", {"user_id": "alice"}),
        ],
    )
    async def test_no_command_or_version_tells_a_stranger_the_board_is_there(
        self, api: Api, type_: str, payload: dict[str, Any], expected_version: int | None
    ) -> None:
        board = await api.create_board()
        await api.command(board, "AddColumn", {"title": "X"})
        archived = await api.create_board()
        await api.command(archived, "ArchiveBoard", {})
        envelope = {} if expected_version is None else {"expected_version": expected_version}
        for target in (board, archived):
            body = {"command_id": str(uuid.uuid4()), "type": type_, "payload": payload, **envelope}
            status, raw = await self._alike_on_a_missing_board(api, target, body)
            # On a missing board an expected_version other than 0 used to be a 409 naming 0,
            # and on this one a 409 naming its version: now both are the one 404.
            assert status == 404, raw

    async def test_create_board_on_a_taken_id_answers_everyone_alike(self, api: Api) -> None:
        board_id = str(uuid.uuid4())
        create = {
            "command_id": str(uuid.uuid4()),
            "type": "CreateBoard",
            "payload": {"title": "Plans", "board_id": board_id},
        }
        first = await self._post(api, "/api/boards", create, "alice")
        assert first[0] == 201
        await api.command(board_id, "AddMember", {"user_id": "bob", "role": "editor"})
        fresh = {**create, "command_id": str(uuid.uuid4())}
        answers = {
            "the creator's command id, replayed by a stranger": (create, "mallory"),
            "the creator's command id and another title": (
                {**create, "payload": {"title": "Mine", "board_id": board_id}},
                "mallory",
            ),
            "a new command id, from a stranger": (fresh, "mallory"),
            "with the version it is not at": ({**fresh, "expected_version": 0}, "mallory"),
            "with the version it is at": ({**fresh, "expected_version": 2}, "mallory"),
            "from a member": (fresh, "bob"),
            "from the owner": ({**fresh, "command_id": str(uuid.uuid4())}, "alice"),
        }
        seen = {
            case: await self._post(api, "/api/boards", body, user)
            for case, (body, user) in answers.items()
        }
        # One answer for all: the id is taken, and nothing else (no version, no events, nobody's
        # membership). That much a create cannot hide from whoever holds the id: see ADR 003.
        assert len(set(seen.values())) == 1, seen
        status, raw = seen["a new command id, from a stranger"]
        assert status == 409
        answer = orjson.loads(raw)
        assert_error(answer, "board_exists")
        assert answer["error"]["details"] == {"board_id": board_id}
        assert await self._post(api, "/api/boards", create, "alice") == first


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _claims(**override: Any) -> dict[str, Any]:
    now = int(time.time())
    return {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "alice",
        "iat": now,
        "exp": now + 600,
        **override,
    }


def _hs256_with_public_key(signer: DevSigner) -> str:
    # The classic confusion attack; built by hand because PyJWT rightly refuses to make it.
    head = _b64({"alg": "HS256", "typ": "at+jwt", "kid": signer.kid})
    signing_input = f"{head}.{_b64(_claims())}"
    mac = hmac.new(signer.public_pem(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"


def _bad_tokens(signer: DevSigner) -> dict[str, str]:
    other = DevSigner.generate(issuer=ISSUER, audience=AUDIENCE)
    headers = {"kid": signer.kid, "typ": "at+jwt"}
    unsigned_head = _b64({"alg": "none", "typ": "at+jwt", "kid": signer.kid})
    return {
        "tampered signature": signer.token("alice")[:-4] + "AAAA",
        "unknown key": other.token("alice"),
        "alg none": f"{unsigned_head}.{_b64(_claims())}.",
        "HS256 with the public key": _hs256_with_public_key(signer),
        "wrong aud": jwt.encode(
            _claims(aud="elsewhere"), signer.private_key, algorithm="ES256", headers=headers
        ),
        "wrong iss": jwt.encode(
            _claims(iss="evil"), signer.private_key, algorithm="ES256", headers=headers
        ),
        "expired": jwt.encode(
            _claims(exp=int(time.time()) - 120),
            signer.private_key,
            algorithm="ES256",
            headers=headers,
        ),
        "nbf in the future": jwt.encode(
            _claims(nbf=int(time.time()) + 600),
            signer.private_key,
            algorithm="ES256",
            headers=headers,
        ),
        "no exp": jwt.encode(
            {k: v for k, v in _claims().items() if k != "exp"},
            signer.private_key,
            algorithm="ES256",
            headers=headers,
        ),
        "wrong typ": jwt.encode(
            _claims(),
            signer.private_key,
            algorithm="ES256",
            headers={"kid": signer.kid, "typ": "JWT"},
        ),
        "oversized": signer.token("alice", padding="x" * 9000),
        "garbage": "not.a.token",
        "other curve": jwt.encode(
            _claims(), ec.generate_private_key(ec.SECP384R1()), algorithm="ES384", headers=headers
        ),
    }


class TestABoardHeldForRecovery:
    """A board the projector fenced (its log lost versions the archive holds) takes no command
    that would append, says why, and writes nothing (docs/operations.md, "A board whose log
    diverged")."""

    async def test_its_commands_are_a_409_board_diverged_and_write_nothing(
        self, api: Api, redis: Redis, stream_keys: StreamKeys
    ) -> None:
        board, other = await api.create_board(), await api.create_board()
        fence = stream_keys.fenced(stream_keys.partition_of(uuid.UUID(board)))
        await redis.hset(fence, board, '{"reason": "test"}')  # type: ignore[misc]
        head = stream_keys.board_head(uuid.UUID(board))

        # Together, so that some go out as one group.
        answers = await asyncio.gather(
            *(api.command(board, "RenameBoard", {"title": f"t{i}"}) for i in range(5))
        )

        for status, body in answers:
            assert status == 409
            assert_error(body, "board_diverged")
            assert "held for recovery" in body["error"]["message"]
        assert await redis.get(head) == b"1"
        assert (await api.command(other, "RenameBoard", {"title": "flows on"}))[0] == 200
        # A stranger still learns nothing of the board, its hold included.
        status, body = await api.command(board, "RenameBoard", {"title": "x"}, user="mallory")
        assert status == 404
        assert_error(body, "board_not_found")

        await redis.hdel(fence, board)  # type: ignore[misc]
        status, body = await api.command(board, "RenameBoard", {"title": "recovered"})
        assert status == 200, body
        assert body["version"] == 2


class TestAuthentication:
    async def test_no_token_is_a_401(self, api: Api) -> None:
        body = {"command_id": str(uuid.uuid4()), "type": "CreateBoard", "payload": {"title": "x"}}
        response = await api.client.post("/api/boards", json=body)
        assert response.status == 401
        assert_error(await read_answer(response), "unauthorized")

    @pytest.mark.parametrize(
        "case",
        [
            "tampered signature",
            "unknown key",
            "alg none",
            "HS256 with the public key",
            "wrong aud",
            "wrong iss",
            "expired",
            "nbf in the future",
            "no exp",
            "wrong typ",
            "oversized",
            "garbage",
            "other curve",
        ],
    )
    async def test_a_bad_token_is_a_401(self, api: Api, signer: DevSigner, case: str) -> None:
        token = _bad_tokens(signer)[case]
        body = {"command_id": str(uuid.uuid4()), "type": "CreateBoard", "payload": {"title": "x"}}
        response = await api.client.post(
            "/api/boards", json=body, headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status == 401, case
        assert_error(await read_answer(response), "unauthorized")


class TestHealth:
    async def test_healthz_answers(self, client: Client) -> None:
        response = await client.get("/healthz")
        assert response.status == 200

    async def test_readyz_is_ready_on_a_safely_configured_redis(self, client: Client) -> None:
        response = await client.get("/readyz")
        assert response.status == 200, await response.text()

    async def test_readyz_is_503_when_redis_could_lose_acknowledged_events(
        self,
        aiohttp_client: Callable[[web.Application], Awaitable[Client]],
        tmp_path: Path,
        signer: DevSigner,
    ) -> None:
        with RedisServer(tmp_path / "redis") as server:
            redis = Redis.from_url(server.url)
            await redis.config_set("appendfsync", "everysec")
            client = await aiohttp_client(create_app(_settings(tmp_path, signer, server.url, "")))
            response = await client.get("/readyz")
            assert response.status == 503
            assert "appendfsync" in json.dumps(await response.json())
            await redis.aclose()


class TestUnreachableStore:
    @pytest.fixture
    def own_redis(self, tmp_path: Path) -> Iterator[RedisServer]:
        """A Redis of this test's own, since it is stopped or frozen."""
        with RedisServer(tmp_path / "redis") as server:
            yield server

    @pytest.fixture
    async def api(
        self,
        aiohttp_client: Callable[[web.Application], Awaitable[Client]],
        tmp_path: Path,
        signer: DevSigner,
        own_redis: RedisServer,
    ) -> Api:
        settings = _settings(tmp_path, signer, own_redis.url, "").model_copy(
            update={"redis_timeout_s": 0.5, "request_timeout_s": 2.0}
        )
        return Api(await aiohttp_client(create_app(settings)), signer)

    async def test_commands_answer_503_when_redis_is_gone(
        self, api: Api, own_redis: RedisServer
    ) -> None:
        board = await api.create_board()
        own_redis.stop()
        status, body = await api.command(board, "RenameBoard", {"title": "lost?"})
        assert status == 503
        assert_error(body, "store_unavailable")

    async def test_a_frozen_redis_is_a_503_and_readiness_names_it(
        self, api: Api, own_redis: RedisServer
    ) -> None:
        # Issue 12, hole 8: a Redis that keeps the connection but never answers must not hold
        # the command, nor the board's committer, nor /readyz.
        board = await api.create_board()
        with own_redis.frozen():
            status, body = await api.command(board, "RenameBoard", {"title": "held?"})
            assert status == 503
            assert_error(body, "store_unavailable")
            response = await api.client.get("/readyz")
            assert response.status == 503
            assert (await response.json())["redis"].startswith("TimeoutError")
        status, body = await api.command(board, "RenameBoard", {"title": "resumed"})
        assert status == 200, body


class TestProductionMode:
    async def test_refuses_to_start_on_an_unsafe_redis(
        self, tmp_path: Path, signer: DevSigner
    ) -> None:
        with RedisServer(tmp_path / "redis") as server:
            redis = Redis.from_url(server.url)
            await redis.config_set("maxmemory-policy", "allkeys-lru")
            await redis.aclose()
            settings = _settings(tmp_path, signer, server.url, "", Mode.PRODUCTION)
            runner = web.AppRunner(create_app(settings))
            with pytest.raises(UnsafeRedisError, match="maxmemory-policy"):
                await runner.setup()
            await runner.cleanup()
