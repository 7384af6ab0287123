"""The NextAuth compatibility option: HS512 tokens from a NextAuth `jwt()` callback."""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import jwt
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from boards.app import create_app
from boards.settings import BoardsSettings
from cardstream_runtime.devtoken import DevSigner
from cardstream_runtime.nextauth import nextauth_user_id
from cardstream_testing.answers import read_answer
from cardstream_testing.fixtures import AUDIENCE, ISSUER
from pydantic import ValidationError

Client = TestClient[web.Request, web.Application]
SECRET = "a-shared-secret-of-at-least-sixty-four-bytes-as-rfc-7518-asks-for!"
FRONT_END = "https://app.example.com"
NEXTAUTH_AUDIENCE = "cardstream-boards"
MINUTE = 60
NEXTAUTH = {
    "accept_nextauth_tokens": True,
    "nextauth_secret": SECRET,
    "nextauth_issuers": [FRONT_END],
    "nextauth_audience": NEXTAUTH_AUDIENCE,
}


def _tutorial_token(secret: str = SECRET, *, lifetime: int = 10 * MINUTE, **override: Any) -> str:
    """The shape docs/nextauth.md's callback mints: sub, email, name, iss, aud, iat, exp."""
    now = int(time.time())
    claims = {
        "sub": "user-42",
        "email": "ada@example.com",
        "name": "Ada",
        "iss": FRONT_END,
        "aud": NEXTAUTH_AUDIENCE,
        "iat": now,
        "exp": now + lifetime,
    }
    claims.update(override)
    return jwt.encode({k: v for k, v in claims.items() if v is not None}, secret, algorithm="HS512")


def _settings(tmp_path: Path, redis_url: str, key_prefix: str, **extra: Any) -> BoardsSettings:
    signer = DevSigner.generate(issuer=ISSUER, audience=AUDIENCE)
    return _settings_for(signer, tmp_path, redis_url, key_prefix, **extra)


def _settings_for(
    signer: DevSigner, tmp_path: Path, redis_url: str, key_prefix: str, **extra: Any
) -> BoardsSettings:
    public = tmp_path / "public.pem"
    public.write_bytes(signer.public_pem())
    return BoardsSettings(
        redis_url=redis_url,
        key_prefix=key_prefix,
        jwt_issuer=ISSUER,
        jwt_audience=AUDIENCE,
        jwt_public_key_file=public,
        **extra,
    )


async def _send(client: Client, token: str, path: str, type_: str, **payload: Any) -> Any:
    body = {"command_id": str(uuid.uuid4()), "type": type_, "payload": payload}
    response = await client.post(path, json=body, headers={"Authorization": f"Bearer {token}"})
    return response.status, await read_answer(response, command=True)


async def _create(client: Client, token: str) -> int:
    status, _ = await _send(client, token, "/api/boards", "CreateBoard", title="NextAuth")
    return int(status)


MakeClient = Callable[[web.Application], Awaitable[Client]]


class TestOptionOn:
    @pytest.fixture
    async def client(
        self, aiohttp_client: MakeClient, tmp_path: Path, redis_url: str, key_prefix: str
    ) -> Client:
        settings = _settings(tmp_path, redis_url, key_prefix, **NEXTAUTH)
        return await aiohttp_client(create_app(settings))

    async def test_accepts_a_token_in_the_tutorials_shape(self, client: Client) -> None:
        assert await _create(client, _tutorial_token()) == 201

    async def test_accepts_a_fifteen_minute_token(self, client: Client) -> None:
        assert await _create(client, _tutorial_token(lifetime=15 * MINUTE)) == 201

    async def test_refuses_a_sixteen_minute_token(self, client: Client) -> None:
        assert await _create(client, _tutorial_token(lifetime=16 * MINUTE)) == 401

    async def test_refuses_a_one_year_token(self, client: Client) -> None:
        assert await _create(client, _tutorial_token(lifetime=365 * 24 * 3600)) == 401

    @pytest.mark.parametrize(
        "token",
        [
            _tutorial_token(
                secret="another-shared-secret-of-sixty-four-bytes-or-more-long-enough-ok!"
            ),
            _tutorial_token(exp=None),
            _tutorial_token(iat=None),
            _tutorial_token(sub=None),
            _tutorial_token(iss=None),
            _tutorial_token(iss="https://elsewhere.example.com"),
            _tutorial_token(aud=None),
            _tutorial_token(aud="cardstream-projector"),
            _tutorial_token(iat=int(time.time()) + 10 * MINUTE),
            _tutorial_token(exp=int(time.time()) - 3600),
            jwt.encode(
                {
                    "sub": "x",
                    "iss": FRONT_END,
                    "aud": NEXTAUTH_AUDIENCE,
                    "iat": int(time.time()),
                    "exp": int(time.time()) + 60,
                },
                SECRET,
                algorithm="HS256",
            ),
        ],
        ids=[
            "wrong secret",
            "no exp",
            "no iat",
            "no sub",
            "no iss",
            "wrong iss",
            "no aud",
            "wrong aud",
            "issued in the future",
            "expired",
            "HS256",
        ],
    )
    async def test_refuses_bad_shared_secret_tokens(self, client: Client, token: str) -> None:
        assert await _create(client, token) == 401


class TestUserIds:
    """A NextAuth user is `(iss, sub)` mapped to an id of its own, never one of ours."""

    @pytest.fixture
    def signer(self) -> DevSigner:
        return DevSigner.generate(issuer=ISSUER, audience=AUDIENCE)

    @pytest.fixture
    async def client(
        self,
        aiohttp_client: MakeClient,
        signer: DevSigner,
        tmp_path: Path,
        redis_url: str,
        key_prefix: str,
    ) -> Client:
        settings = _settings_for(signer, tmp_path, redis_url, key_prefix, **NEXTAUTH)
        return await aiohttp_client(create_app(settings))

    async def test_the_actor_is_the_mapped_id(self, client: Client) -> None:
        status, answer = await _send(
            client, _tutorial_token(), "/api/boards", "CreateBoard", title="B"
        )

        assert status == 201
        assert answer["events"][0]["actor"] == nextauth_user_id(FRONT_END, "user-42")

    async def test_a_sub_equal_to_our_users_id_cannot_act_as_them(
        self, client: Client, signer: DevSigner
    ) -> None:
        ours = str(uuid.uuid4())  # a user of our auth service, signed in with Google
        status, created = await _send(
            client, signer.token(ours), "/api/boards", "CreateBoard", title="Ours"
        )
        assert status == 201
        board = f"/api/boards/{created['board_id']}/commands"

        impostor = _tutorial_token(sub=ours)
        status, refused = await _send(client, impostor, board, "RenameBoard", title="Mine now")

        assert status == 404  # not a member: the board is not even said to exist
        assert refused["error"]["code"] == "board_not_found"

    async def test_a_nextauth_user_invited_by_the_mapped_id_can_act(
        self, client: Client, signer: DevSigner
    ) -> None:
        owner = signer.token(str(uuid.uuid4()))
        _, created = await _send(client, owner, "/api/boards", "CreateBoard", title="Shared")
        board = f"/api/boards/{created['board_id']}/commands"
        invited = nextauth_user_id(FRONT_END, "user-42")
        status, _ = await _send(client, owner, board, "AddMember", user_id=invited, role="editor")
        assert status == 200

        status, added = await _send(client, _tutorial_token(), board, "AddColumn", title="Doing")

        assert status == 200
        assert added["events"][0]["actor"] == invited


class TestOptionOff:
    async def test_refuses_the_same_token(
        self, aiohttp_client: MakeClient, tmp_path: Path, redis_url: str, key_prefix: str
    ) -> None:
        client = await aiohttp_client(create_app(_settings(tmp_path, redis_url, key_prefix)))
        assert await _create(client, _tutorial_token()) == 401


class TestSettings:
    def test_a_short_secret_is_refused_at_start(self) -> None:
        from cardstream_runtime.jwt import SharedSecretVerifier

        with pytest.raises(ValueError, match="at least 64 bytes"):
            SharedSecretVerifier(b"short", issuers=[FRONT_END], audience=NEXTAUTH_AUDIENCE)

    @pytest.mark.parametrize(
        "missing", ["nextauth_secret", "nextauth_issuers", "nextauth_audience"]
    )
    def test_the_option_needs_a_secret_an_issuer_and_an_audience(
        self, tmp_path: Path, redis_url: str, missing: str
    ) -> None:
        given = {name: value for name, value in NEXTAUTH.items() if name != missing}
        with pytest.raises(ValidationError, match=missing):
            _settings(tmp_path, redis_url, "", **given)

    @pytest.mark.parametrize("seconds", [59, 3601])
    def test_the_longest_lifetime_is_bounded(
        self, tmp_path: Path, redis_url: str, seconds: int
    ) -> None:
        with pytest.raises(ValidationError, match="nextauth_max_lifetime_s"):
            _settings(tmp_path, redis_url, "", nextauth_max_lifetime_s=seconds, **NEXTAUTH)

    def test_a_longer_lifetime_can_be_allowed(self, tmp_path: Path, redis_url: str) -> None:
        settings = _settings(tmp_path, redis_url, "", nextauth_max_lifetime_s=1800, **NEXTAUTH)
        assert settings.nextauth_max_lifetime_s == 1800
