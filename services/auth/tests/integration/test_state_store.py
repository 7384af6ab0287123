"""Auth's short-lived state in a Redis of its own (issue 12): login states go to
`state_redis_url`, the ended sessions every service reads stay in the event log's Redis; a full,
frozen or stopped state Redis is a JSON 503 to whoever needs it and touches nothing else;
readiness asks both; production refuses a state Redis that is the event log's, has no cap or
evicts. (Used ID tokens: `test_token_google.py::TestUsedIdTokensInTheStateRedis`.)"""

from __future__ import annotations

import logging

import aiohttp
import pytest
from aiohttp import web
from auth.app import UnsafeStateRedisError, create_app
from cardstream_runtime.ended_sessions import denied_key
from cardstream_testing import RedisServer
from cardstream_testing.answers import read_answer

# The client gives up long after the service's deadlines: an answer at all is the point.
PATIENCE = aiohttp.ClientTimeout(total=15)


async def _get(http, url) -> tuple[int, dict]:
    async with http.get(url, allow_redirects=False, timeout=PATIENCE) as response:
        assert response.content_type == "application/json", response.status
        return response.status, await read_answer(response)


async def _ready(http, auth) -> tuple[int, dict]:
    async with http.get(f"{auth.url}/readyz", timeout=PATIENCE) as response:
        return response.status, await response.json()


async def _logout(http, auth, tokens) -> int:
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    async with http.post(f"{auth.url}/auth/logout", headers=bearer) as response:
        return response.status


class TestWhereTheStateLives:
    async def test_a_login_state_goes_to_the_state_redis_and_an_ended_session_to_the_event_log(
        self, start_auth, new_browser, http, state_redis_server, state_redis, redis, key_prefix
    ):
        auth = await start_auth(state_redis_url=state_redis_server.url)
        browser = new_browser()
        authorize = await browser.start_login()

        assert len(await state_redis.keys(f"{key_prefix}auth:login:*")) == 1
        assert await redis.keys(f"{key_prefix}*") == []

        status, tokens, _ = await browser.callback(await browser.approve(authorize))
        assert status == 200, tokens
        assert await state_redis.keys(f"{key_prefix}auth:login:*") == []  # taken once
        assert await _logout(http, auth, tokens) == 204
        # Boards and the projector read the deny list from the event log's Redis.
        assert await redis.zcard(denied_key(key_prefix)) == 1
        assert await state_redis.keys(f"{key_prefix}cs:*") == []


class TestAFullStateRedis:
    async def test_a_new_login_is_a_503_store_full_and_one_already_started_finishes(
        self, start_auth, new_browser, http, helpers, state_redis_server, state_redis, redis
    ):
        auth = await start_auth(state_redis_url=state_redis_server.url)
        browser = new_browser()
        started = await browser.start_login("early@example.com")
        event_log_keys = await redis.dbsize()

        assert await helpers.fill(state_redis) > 0

        status, body = await _get(http, f"{auth.url}/auth/login")
        assert status == 503
        assert body["error"]["code"] == "store_full"
        # noeviction: the state stored before the cap is still there, and its callback only
        # deletes, which a full Redis allows.
        status, tokens, _ = await browser.callback(await browser.approve(started))
        assert status == 200, tokens
        assert tokens["user"]["email"] == "early@example.com"
        # The event log's Redis takes what it always took, the session's end, and no more.
        assert await _logout(http, auth, tokens) == 204
        assert await redis.dbsize() <= event_log_keys + 1


class TestAStateRedisThatDoesNotAnswer:
    async def test_a_frozen_one_is_a_503_and_readiness_names_it(
        self, start_auth, http, state_redis_server
    ):
        auth = await start_auth(state_redis_url=state_redis_server.url, request_timeout_s=2.0)

        with state_redis_server.frozen():
            status, body = await _ready(http, auth)
            assert status == 503
            assert body["state_redis"].startswith("no answer within"), body
            assert "redis" not in body
            assert "mongo" not in body
            status, body = await _get(http, f"{auth.url}/auth/login")
            assert status == 503
            assert body["error"]["code"] == "deadline_exceeded"

        status, body = await _ready(http, auth)
        assert (status, body) == (200, {"status": "ready"})

    async def test_a_stopped_one_is_a_json_503_and_readiness_names_it(
        self, start_auth, http, state_redis_server
    ):
        auth = await start_auth(state_redis_url=state_redis_server.url, request_timeout_s=2.0)
        state_redis_server.stop()

        status, body = await _ready(http, auth)
        assert status == 503
        assert set(body) == {"status", "state_redis"}, body
        status, body = await _get(http, f"{auth.url}/auth/login")
        assert status == 503
        # Refused at once, or still being retried by the client when the deadline comes.
        assert body["error"]["code"] in ("store_unavailable", "deadline_exceeded")


class TestStartingUp:
    @pytest.fixture
    def production(self, auth_settings):
        def build(**overrides):
            return auth_settings(
                mode="production",
                public_url="https://cards.example",
                oidc_issuer="https://idp.example",  # never asked: nothing signs in here
                cookie_secure=True,
                **overrides,
            )

        return build

    async def _start(self, settings) -> None:
        runner = web.AppRunner(create_app(settings))
        try:
            await runner.setup()
        finally:
            await runner.cleanup()

    async def test_production_refuses_the_event_logs_redis_under_another_url(
        self, production, redis_url
    ):
        another_database = redis_url.removesuffix("/0") + "/1"

        with pytest.raises(UnsafeStateRedisError, match="names the event log's Redis server"):
            await self._start(production(state_redis_url=another_database))

    async def test_production_refuses_a_state_redis_without_a_cap(self, production, tmp_path):
        with (
            RedisServer(tmp_path / "uncapped") as uncapped,
            pytest.raises(UnsafeStateRedisError, match="no maxmemory"),
        ):
            await self._start(production(state_redis_url=uncapped.url))

    @pytest.mark.parametrize("policy", ["volatile-ttl", "allkeys-lru"])
    async def test_production_refuses_a_state_redis_that_evicts(
        self, production, state_redis_server, state_redis, policy
    ):
        await state_redis.config_set("maxmemory-policy", policy)

        with pytest.raises(UnsafeStateRedisError, match="maxmemory-policy"):
            await self._start(production(state_redis_url=state_redis_server.url))

    async def test_production_starts_on_a_capped_state_redis_of_its_own(
        self, production, state_redis_server
    ):
        await self._start(production(state_redis_url=state_redis_server.url))

    async def test_development_without_one_keeps_the_state_in_the_event_logs_and_says_so(
        self, start_auth, new_browser, redis, key_prefix, caplog
    ):
        with caplog.at_level(logging.WARNING, logger="auth"):
            await start_auth()

        assert any("AUTH_STATE_REDIS_URL is unset" in str(r.fields) for r in _fields(caplog))
        await new_browser().start_login()
        assert len(await redis.keys(f"{key_prefix}auth:login:*")) == 1


def _fields(caplog):
    return [r for r in caplog.records if hasattr(r, "fields")]
