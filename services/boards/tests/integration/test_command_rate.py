"""Commands per user (issue 12, Deliver 3): `BOARDS_COMMANDS_BURST` at once, then
`BOARDS_COMMANDS_PER_USER_PER_S`; beyond that a 429 `rate_limited` with `Retry-After`, judged
after authentication and before the board's queue, so a refused command writes nothing."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from boards.app import create_app
from boards.settings import BoardsSettings
from cardstream_runtime.devtoken import DevSigner
from cardstream_testing.fixtures import AUDIENCE, ISSUER
from redis.asyncio import Redis

Client = TestClient[web.Request, web.Application]


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _settings(tmp_path: Path, signer: DevSigner, redis_url: str, prefix: str, **limits: Any):
    public = tmp_path / "public.pem"
    public.write_bytes(signer.public_pem())
    return BoardsSettings(
        redis_url=redis_url,
        key_prefix=prefix,
        jwt_issuer=ISSUER,
        jwt_audience=AUDIENCE,
        jwt_public_key_file=public,
        partitions=4,
        **limits,
    )


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def client(
    aiohttp_client: Callable[[web.Application], Awaitable[Client]],
    tmp_path: Path,
    signer: DevSigner,
    redis_url: str,
    key_prefix: str,
    clock: Clock,
) -> Client:
    settings = _settings(
        tmp_path, signer, redis_url, key_prefix, commands_per_user_per_s=2, commands_burst=3
    )
    return await aiohttp_client(create_app(settings, clock=clock))


async def _create(client: Client, signer: DevSigner, user: str, token: str | None = None):
    body = {"command_id": str(uuid.uuid4()), "type": "CreateBoard", "payload": {"title": "B"}}
    headers = {"Authorization": f"Bearer {token or signer.token(user)}"}
    response = await client.post("/api/boards", json=body, headers=headers)
    return response.status, await response.json(), response.headers


class TestCommandsPerUser:
    async def test_the_burst_is_answered_and_the_next_refused_with_when_to_retry(
        self, client: Client, signer: DevSigner
    ) -> None:
        for _ in range(3):
            assert (await _create(client, signer, "alice"))[0] == 201

        status, body, headers = await _create(client, signer, "alice")

        assert status == 429
        assert headers["Retry-After"] == "1"  # a token every 0.5 s, in whole seconds
        assert body == {
            "error": {
                "code": "rate_limited",
                "message": "too many requests; try again in 1 s",
                "details": {"retry_after_s": 1},
            }
        }

    async def test_the_rate_refills_and_no_faster(
        self, client: Client, signer: DevSigner, clock: Clock
    ) -> None:
        for _ in range(3):
            await _create(client, signer, "alice")
        clock.now += 0.49
        assert (await _create(client, signer, "alice"))[0] == 429
        clock.now += 0.01
        assert (await _create(client, signer, "alice"))[0] == 201
        assert (await _create(client, signer, "alice"))[0] == 429

    async def test_users_are_counted_apart(self, client: Client, signer: DevSigner) -> None:
        for _ in range(4):
            await _create(client, signer, "alice")
        assert (await _create(client, signer, "bob"))[0] == 201

    async def test_an_unauthenticated_caller_spends_nobodys_allowance(
        self, client: Client, signer: DevSigner
    ) -> None:
        for _ in range(10):
            assert (await _create(client, signer, "alice", token="not-a-token"))[0] == 401
        assert (await _create(client, signer, "alice"))[0] == 201

    async def test_a_refused_command_writes_nothing(
        self, client: Client, signer: DevSigner, redis_url: str, key_prefix: str
    ) -> None:
        for _ in range(3):
            await _create(client, signer, "alice")
        redis = Redis.from_url(redis_url)
        try:
            before = sorted(await redis.keys(f"{key_prefix}*"))
            assert (await _create(client, signer, "alice"))[0] == 429
            assert sorted(await redis.keys(f"{key_prefix}*")) == before
        finally:
            await redis.aclose()


class TestSettings:
    def test_defaults(self) -> None:
        fields = BoardsSettings.model_fields
        assert fields["commands_per_user_per_s"].default == 50
        assert fields["commands_burst"].default == 200

    @pytest.mark.parametrize(
        ("name", "value"), [("commands_per_user_per_s", 0), ("commands_burst", 0)]
    )
    def test_a_limit_that_lets_nothing_through_is_refused(
        self, tmp_path: Path, signer: DevSigner, name: str, value: float
    ) -> None:
        with pytest.raises(ValueError, match=name):
            _settings(tmp_path, signer, "redis://127.0.0.1:1/0", "", **{name: value})
