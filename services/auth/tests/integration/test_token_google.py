"""POST /auth/token/google: an ID token a browser or app got from the provider directly (Google
Identity Services) is traded for our tokens, checked exactly as the callback checks one."""

from __future__ import annotations

import secrets

import pytest
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from cardstream_testing.answers import read_answer
from yarl import URL


@pytest.fixture
def id_token_from_provider(provider, auth, http):
    """An ID token issued by the provider to a client, as Google hands one to a web page."""

    async def issue(
        email: str = "gis@example.com",
        *,
        nonce: str = "n-0123456789",
        client_id: str = "cardstream-test",
        client_secret: str = "test-secret",
        **knobs: str,
    ) -> str:
        verifier = secrets.token_urlsafe(32)
        query = {
            "client_id": client_id,
            "redirect_uri": f"{auth.url}/auth/callback",
            "response_type": "code",
            "scope": "openid email profile",
            "state": secrets.token_urlsafe(16),
            "nonce": nonce,
            "code_challenge": create_s256_code_challenge(verifier),
            "code_challenge_method": "S256",
            "login_hint": email,
            **knobs,
        }
        async with http.get(
            f"{provider.url}/authorize", params=query, allow_redirects=False
        ) as response:
            assert response.status == 302, await response.text()
            code = URL(response.headers["Location"]).query["code"]
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": f"{auth.url}/auth/callback",
            "code_verifier": verifier,
            "client_id": client_id,
            "client_secret": client_secret,
        }
        async with http.post(f"{provider.url}/token", data=form) as response:
            assert response.status == 200, await response.text()
            token: str = (await response.json())["id_token"]  # the provider's answer, not ours
            return token

    return issue


async def _exchange(http, auth, body) -> tuple[int, dict]:
    async with http.post(f"{auth.url}/auth/token/google", json=body) as response:
        return response.status, await read_answer(response)


class TestTokenFromIdToken:
    async def test_a_provider_issued_id_token_gets_our_tokens(
        self, auth, http, id_token_from_provider, verifier
    ):
        id_token = await id_token_from_provider("gis@example.com")

        status, body = await _exchange(http, auth, {"id_token": id_token})

        assert status == 200, body
        claims = await verifier.verify(body["access_token"])
        assert claims.email == "gis@example.com"
        assert claims.sub == body["user"]["id"]
        assert body["refresh_token"]
        refreshed = await http.post(
            f"{auth.url}/auth/refresh", json={"refresh_token": body["refresh_token"]}
        )
        assert refreshed.status == 200
        refreshed.release()

    async def test_an_id_token_is_good_once(self, auth, http, id_token_from_provider):
        id_token = await id_token_from_provider()

        first, _ = await _exchange(http, auth, {"id_token": id_token})
        again, body = await _exchange(http, auth, {"id_token": id_token})

        assert first == 200
        assert again == 401
        assert body["error"]["code"] == "id_token_rejected"

    async def test_same_user_as_the_code_flow(self, auth, http, id_token_from_provider, browser):
        _, by_code, _ = await browser.login("hal@example.com")

        _, by_id_token = await _exchange(
            http, auth, {"id_token": await id_token_from_provider("hal@example.com")}
        )

        assert by_id_token["user"]["id"] == by_code["user"]["id"]

    async def test_the_nonce_is_checked_when_given(self, auth, http, id_token_from_provider):
        id_token = await id_token_from_provider(nonce="n-the-real-one")

        wrong, body = await _exchange(http, auth, {"id_token": id_token, "nonce": "n-another"})
        right, _ = await _exchange(http, auth, {"id_token": id_token, "nonce": "n-the-real-one"})

        assert right == 200
        assert wrong == 401
        assert body["error"]["details"]["claim"] == "nonce"

    async def test_a_token_for_another_client_is_refused(self, auth, http, id_token_from_provider):
        id_token = await id_token_from_provider(client_id="someone-else", client_secret="other")

        status, body = await _exchange(http, auth, {"id_token": id_token})

        assert status == 401
        assert body["error"]["code"] == "id_token_rejected"

    async def test_an_unverified_email_is_refused(self, auth, http, id_token_from_provider):
        id_token = await id_token_from_provider(dev_email_verified="false")

        status, body = await _exchange(http, auth, {"id_token": id_token})

        assert status == 403
        assert body["error"]["code"] == "email_not_verified"

    async def test_a_tampered_token_is_refused(self, auth, http, id_token_from_provider):
        header, payload, signature = (await id_token_from_provider()).split(".")
        flipped = signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB")

        status, body = await _exchange(http, auth, {"id_token": f"{header}.{payload}.{flipped}"})

        assert status == 401
        assert body["error"]["code"] == "id_token_rejected"

    @pytest.mark.parametrize(
        "body",
        [
            {},
            {"id_token": ""},
            {"id_token": 7},
            {"id_token": "not.a.jwt"},
            {"id_token": "x" * 20_000},
            {"id_token": "é.é.é"},
            {"id_token": "a.b.c", "nonce": 5},
        ],
    )
    async def test_bad_input_is_a_4xx(self, auth, http, body):
        status, answer = await _exchange(http, auth, body)

        assert 400 <= status < 500
        assert set(answer["error"]) == {"code", "message", "details"}

    async def test_no_body_is_a_400(self, auth, http):
        async with http.post(f"{auth.url}/auth/token/google") as response:
            body = await read_answer(response)
        assert response.status == 400
        assert body["error"]["code"] == "invalid_request"


class TestUsedIdTokensInTheStateRedis:
    """A used ID token is remembered in auth's state Redis; when that is full, the exchange is
    refused rather than made without remembering the token (it could be traded again)."""

    @pytest.fixture
    async def auth(self, start_auth, state_redis_server):
        return await start_auth(state_redis_url=state_redis_server.url)

    async def test_is_remembered_there_and_not_in_the_event_logs(
        self, auth, http, id_token_from_provider, state_redis, redis, key_prefix
    ):
        status, _ = await _exchange(http, auth, {"id_token": await id_token_from_provider()})

        assert status == 200
        assert len(await state_redis.keys(f"{key_prefix}auth:seen-id-token:*")) == 1
        assert await redis.keys(f"{key_prefix}auth:*") == []

    async def test_a_full_state_redis_refuses_the_exchange(
        self, auth, http, id_token_from_provider, state_redis, helpers
    ):
        id_token = await id_token_from_provider()
        await helpers.fill(state_redis)

        status, body = await _exchange(http, auth, {"id_token": id_token})

        assert status == 503
        assert body["error"]["code"] == "store_full"
