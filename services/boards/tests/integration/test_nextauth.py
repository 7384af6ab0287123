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
from cardstream_testing.answers import read_answer
from pydantic import ValidationError

Client = TestClient[web.Request, web.Application]
SECRET = "a-shared-secret-of-at-least-sixty-four-bytes-as-rfc-7518-asks-for!"


def _tutorial_token(secret: str = SECRET, **override: Any) -> str:
    """The shape the tutorial's callback mints: sub, email, name, iat, exp; HS512."""
    now = int(time.time())
    claims = {
        "sub": "user-42",
        "email": "ada@example.com",
        "name": "Ada",
        "iat": now,
        "exp": now + 600,
    }
    claims.update(override)
    return jwt.encode({k: v for k, v in claims.items() if v is not None}, secret, algorithm="HS512")


def _settings(tmp_path: Path, redis_url: str, key_prefix: str, **extra: Any) -> BoardsSettings:
    signer = DevSigner.generate(issuer="i", audience="a")
    public = tmp_path / "public.pem"
    public.write_bytes(signer.public_pem())
    return BoardsSettings(
        redis_url=redis_url,
        key_prefix=key_prefix,
        jwt_issuer="i",
        jwt_audience="a",
        jwt_public_key_file=public,
        **extra,
    )


async def _create(client: Client, token: str) -> int:
    body = {
        "command_id": str(uuid.uuid4()),
        "type": "CreateBoard",
        "payload": {"title": "NextAuth"},
    }
    response = await client.post(
        "/api/boards", json=body, headers={"Authorization": f"Bearer {token}"}
    )
    await read_answer(response, command=True)
    return response.status


MakeClient = Callable[[web.Application], Awaitable[Client]]


class TestOptionOn:
    @pytest.fixture
    async def client(
        self, aiohttp_client: MakeClient, tmp_path: Path, redis_url: str, key_prefix: str
    ) -> Client:
        settings = _settings(
            tmp_path, redis_url, key_prefix, accept_nextauth_tokens=True, nextauth_secret=SECRET
        )
        return await aiohttp_client(create_app(settings))

    async def test_accepts_a_token_in_the_tutorials_shape(self, client: Client) -> None:
        assert await _create(client, _tutorial_token()) == 201

    @pytest.mark.parametrize(
        "token",
        [
            _tutorial_token(
                secret="another-shared-secret-of-sixty-four-bytes-or-more-long-enough-ok!"
            ),
            _tutorial_token(exp=None),
            _tutorial_token(iat=None),
            _tutorial_token(sub=None),
            _tutorial_token(exp=int(time.time()) - 3600),
            jwt.encode(
                {"sub": "x", "iat": int(time.time()), "exp": int(time.time()) + 60},
                SECRET,
                algorithm="HS256",
            ),
        ],
        ids=["wrong secret", "no exp", "no iat", "no sub", "expired", "HS256"],
    )
    async def test_refuses_bad_shared_secret_tokens(self, client: Client, token: str) -> None:
        assert await _create(client, token) == 401


class TestOptionOff:
    async def test_refuses_the_same_token(
        self, aiohttp_client: MakeClient, tmp_path: Path, redis_url: str, key_prefix: str
    ) -> None:
        client = await aiohttp_client(create_app(_settings(tmp_path, redis_url, key_prefix)))
        assert await _create(client, _tutorial_token()) == 401


class TestSettings:
    def test_a_short_secret_is_refused_at_start(self, tmp_path: Path, redis_url: str) -> None:
        from cardstream_runtime.jwt import SharedSecretVerifier

        with pytest.raises(ValueError, match="at least 64 bytes"):
            SharedSecretVerifier(b"short")

    def test_the_option_needs_a_secret(self, tmp_path: Path, redis_url: str) -> None:
        with pytest.raises(ValidationError, match="nextauth_secret"):
            _settings(tmp_path, redis_url, "", accept_nextauth_tokens=True)
