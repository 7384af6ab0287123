"""The authorization code flow through our HTTP endpoints and the local provider's, no browser."""

from __future__ import annotations

import uuid
from http.cookies import SimpleCookie

import orjson
import pytest
from cardstream_runtime.jwt import InvalidTokenError
from cardstream_testing.answers import read_answer
from yarl import URL


def _error_code(body: object) -> str:
    assert isinstance(body, dict), body
    return str(body["error"]["code"])


class TestFullLogin:
    async def test_ends_with_an_access_token_the_boards_service_accepts(
        self, browser, verifier, helpers
    ):
        status, body, _ = await browser.login("alice@example.com")

        assert status == 200, body
        assert body["token_type"] == "Bearer"
        assert body["expires_in"] == 600
        claims = await verifier.verify(body["access_token"])
        assert claims.sub == body["user"]["id"]
        assert str(uuid.UUID(claims.sub)) == claims.sub
        assert claims.email == "alice@example.com"
        assert claims.name == "Alice Example"
        assert claims.sid
        assert claims.jti

    @pytest.mark.parametrize(
        ("field", "audience"),
        [("access_token", "cardstream-boards"), ("read_token", "cardstream-projector")],
    )
    async def test_each_token_carries_our_claims_for_one_audience_and_no_provider_token(
        self, browser, helpers, field, audience
    ):
        _, body, _ = await browser.login("alice@example.com")

        token = body[field]
        header = orjson.loads(_b64(token.split(".")[0]))
        claims = helpers.claims_of(token)
        assert header["alg"] == "ES256"
        assert header["typ"] == "at+jwt"
        assert header["kid"]
        assert claims["aud"] == audience
        assert claims["iss"] == browser.auth.settings.issuer
        assert claims["exp"] - claims["iat"] == 600
        assert set(claims) == {"iss", "sub", "aud", "exp", "iat", "jti", "sid", "name", "email"}
        assert len(token) < 8 * 1024

    async def test_both_tokens_name_one_session_and_one_user(self, browser, helpers):
        _, body, _ = await browser.login("alice@example.com")

        access, read = (helpers.claims_of(body[f]) for f in ("access_token", "read_token"))
        assert (access["sub"], access["sid"], access["exp"]) == (
            read["sub"],
            read["sid"],
            read["exp"],
        )
        assert access["jti"] != read["jti"]

    async def test_each_token_verifies_for_its_own_audience_only(
        self, browser, auth, http, helpers
    ):
        _, body, _ = await browser.login()
        boards = helpers.verifier(auth, http, "cardstream-boards")
        projector = helpers.verifier(auth, http, "cardstream-projector")

        await boards.verify(body["access_token"])
        await projector.verify(body["read_token"])
        with pytest.raises(InvalidTokenError):
            await projector.verify(body["access_token"])
        with pytest.raises(InvalidTokenError):
            await boards.verify(body["read_token"])
        with pytest.raises(InvalidTokenError):
            await helpers.verifier(auth, http, "someone-else").verify(body["access_token"])

    async def test_the_same_account_signs_in_as_the_same_user(self, auth, new_browser):
        _, first, _ = await new_browser().login("bob@example.com")
        _, second, _ = await new_browser().login("bob@example.com")
        _, other, _ = await new_browser().login("carol@example.com")

        assert first["user"]["id"] == second["user"]["id"]
        assert other["user"]["id"] != first["user"]["id"]

    async def test_me_answers_with_the_user(self, browser, http):
        _, body, _ = await browser.login("dora@example.com")

        async with http.get(
            f"{browser.auth.url}/auth/me",
            headers={"Authorization": f"Bearer {body['access_token']}"},
        ) as response:
            me = await read_answer(response)
        assert response.status == 200
        assert me["user"] == body["user"]

    async def test_login_sends_pkce_state_and_nonce_to_the_provider(self, browser):
        authorize = URL(await browser.start_login("alice@example.com"))

        query = authorize.query
        assert query["response_type"] == "code"
        assert query["code_challenge_method"] == "S256"
        assert len(query["code_challenge"]) == 43
        assert len(query["state"]) >= 43
        assert len(query["nonce"]) >= 43
        assert query["login_hint"] == "alice@example.com"
        assert set(query["scope"].split()) == {"openid", "email", "profile"}
        assert query["redirect_uri"] == f"{browser.auth.url}/auth/callback"


class TestBrowserLogin:
    async def test_callback_sets_the_refresh_cookie_and_redirects(self, browser):
        authorize = await browser.start_login("erin@example.com")
        status, _, response = await browser.callback(await browser.approve(authorize), json=False)

        assert status == 302
        assert response.headers["Location"] == "/"
        cookie = _set_cookie(response, "cs_refresh")
        assert cookie["httponly"]
        assert cookie["samesite"] == "Strict"
        assert cookie["path"] == "/auth"
        assert not cookie["secure"]  # development on loopback; on by default

    async def test_login_cookie_is_lax_and_http_only(self, browser):
        async with browser.session.get(
            f"{browser.auth.url}/auth/login", allow_redirects=False
        ) as response:
            cookie = _set_cookie(response, "cs_login")
        assert cookie["httponly"]
        assert cookie["samesite"] == "Lax"
        assert cookie["path"] == "/auth"
        assert int(cookie["max-age"]) <= 600

    async def test_browser_refreshes_with_the_cookie_and_the_csrf_header(self, browser, verifier):
        await browser.callback(await browser.approve(await browser.start_login()), json=False)
        url = f"{browser.auth.url}/auth/refresh"

        async with browser.session.post(url) as response:
            refused = await read_answer(response)
        async with browser.session.post(
            url, headers={"X-Requested-With": "cardstream"}
        ) as response:
            body = await read_answer(response)
            cookie = _set_cookie(response, "cs_refresh")

        assert _error_code(refused) == "csrf_header_missing"
        assert response.status == 200
        assert "refresh_token" not in body
        await verifier.verify(body["access_token"])
        assert cookie["samesite"] == "Strict"

    async def test_next_path_is_where_the_callback_sends_the_browser(self, browser):
        authorize = await browser.start_login("fay@example.com", next="/boards/42?tab=cards")
        status, _, response = await browser.callback(await browser.approve(authorize), json=False)

        assert status == 302
        assert response.headers["Location"] == "/boards/42?tab=cards"

    @pytest.mark.parametrize(
        "next_path",
        ["//evil.example/", "https://evil.example/", "/\\evil.example", "boards", "/a\\b"],
    )
    async def test_next_must_be_a_path_on_this_site(self, browser, next_path):
        async with browser.session.get(
            f"{browser.auth.url}/auth/login", params={"next": next_path}, allow_redirects=False
        ) as response:
            body = await read_answer(response)
        assert response.status == 400
        assert _error_code(body) == "invalid_next"


class TestState:
    async def test_a_replayed_state_is_refused(self, browser):
        callback_url = await browser.approve(await browser.start_login())
        first, _, _ = await browser.callback(callback_url)

        status, body, _ = await browser.callback(callback_url)

        assert first == 200
        assert status == 400
        assert _error_code(body) == "invalid_state"

    async def test_a_state_from_another_browser_is_refused(self, auth, new_browser):
        victim, attacker = new_browser(), new_browser()
        callback_url = await attacker.approve(await attacker.start_login("mallory@example.com"))
        await victim.start_login("victim@example.com")  # the victim has a login cookie too

        status, body, _ = await victim.callback(callback_url)

        assert status == 400
        assert _error_code(body) == "state_mismatch"

    async def test_a_callback_without_the_login_cookie_is_refused(self, auth, new_browser):
        starter, stranger = new_browser(), new_browser()
        callback_url = await starter.approve(await starter.start_login())

        status, body, _ = await stranger.callback(callback_url)

        assert status == 400
        assert _error_code(body) == "state_mismatch"

    async def test_an_expired_state_is_refused(self, browser, auth):
        callback_url = await browser.approve(await browser.start_login())
        auth.clock.offset = auth.settings.state_ttl_s + 1

        status, body, _ = await browser.callback(callback_url)

        assert status == 400
        assert _error_code(body) == "state_expired"

    async def test_the_state_is_kept_at_most_ten_minutes(self, browser, redis, auth):
        authorize = URL(await browser.start_login())

        ttl = await redis.ttl(f"{auth.settings.key_prefix}auth:login:{authorize.query['state']}")

        assert 0 < ttl <= 600

    async def test_an_unknown_or_missing_state_is_refused(self, browser, auth):
        for query in ("", "?state=nope&code=x", "?code=x"):
            status, body, _ = await browser.callback(f"{auth.url}/auth/callback{query}")
            assert status == 400
            assert _error_code(body) == "invalid_state"

    async def test_two_tabs_can_log_in_at_once(self, browser):
        first = await browser.approve(await browser.start_login("gus@example.com"))
        second = await browser.approve(await browser.start_login("gus@example.com"))

        assert (await browser.callback(second))[0] == 200
        assert (await browser.callback(first))[0] == 200

    async def test_a_provider_error_is_a_400(self, browser, auth):
        authorize = URL(await browser.start_login())
        state = authorize.query["state"]

        status, body, _ = await browser.callback(
            f"{auth.url}/auth/callback?state={state}&error=access_denied"
        )

        assert status == 400
        assert _error_code(body) == "provider_error"


class TestIdTokenChecks:
    async def test_a_nonce_mismatch_is_refused(self, browser):
        status, body, _ = await browser.login(dev_nonce="not-the-nonce-we-sent")

        assert status == 401
        assert _error_code(body) == "id_token_rejected"
        assert body["error"]["details"]["claim"] == "nonce"

    async def test_an_unverified_email_is_refused(self, browser):
        status, body, _ = await browser.login(dev_email_verified="false")

        assert status == 403
        assert _error_code(body) == "email_not_verified"

    async def test_an_id_token_for_another_client_is_refused(self, browser):
        status, body, _ = await browser.login(dev_aud="someone-else")

        assert status == 401
        assert _error_code(body) == "id_token_rejected"
        assert body["error"]["details"]["claim"] in ("aud", "azp")


class TestPkce:
    async def _tamper(self, redis, auth, authorize_url: str, verifier: str) -> None:
        key = f"{auth.settings.key_prefix}auth:login:{URL(authorize_url).query['state']}"
        stored = orjson.loads(await redis.get(key))
        stored["code_verifier"] = verifier
        await redis.set(key, orjson.dumps(stored), keepttl=True)

    async def test_a_wrong_verifier_is_refused(self, browser, redis, auth):
        authorize = await browser.start_login()
        await self._tamper(redis, auth, authorize, "w" * 43)

        status, body, _ = await browser.callback(await browser.approve(authorize))

        assert status == 400
        assert _error_code(body) == "code_rejected"
        assert body["error"]["details"] == {"error": "invalid_grant"}

    async def test_a_missing_verifier_is_refused(self, browser, redis, auth):
        authorize = await browser.start_login()
        await self._tamper(redis, auth, authorize, "")

        status, body, _ = await browser.callback(await browser.approve(authorize))

        assert status == 400
        assert _error_code(body) == "code_rejected"

    async def test_a_code_is_good_once(self, browser, auth, provider, http):
        # Redeeming the code ourselves first (as an attacker who saw it would) spends it.
        authorize = URL(await browser.start_login())
        callback_url = URL(await browser.approve(str(authorize)))
        form = {
            "grant_type": "authorization_code",
            "code": callback_url.query["code"],
            "redirect_uri": f"{auth.url}/auth/callback",
            "client_id": "cardstream-test",
            "client_secret": "test-secret",
            "code_verifier": "x" * 43,
        }
        async with http.post(f"{provider.url}/token", data=form) as response:
            assert response.status == 400  # without our verifier the code is useless

        status, body, _ = await browser.callback(str(callback_url))

        assert status == 400
        assert _error_code(body) == "code_rejected"


class TestAllowlists:
    async def test_a_domain_outside_the_allowlist_is_refused(self, start_auth, new_browser):
        await start_auth(allowed_domains=["example.com"])

        status, body, _ = await new_browser().login("eve@elsewhere.org")
        admitted, _, _ = await new_browser().login("ann@example.com")

        assert status == 403
        assert _error_code(body) == "not_allowed"
        assert admitted == 200

    async def test_the_hd_claim_decides_not_the_email(self, start_auth, new_browser):
        await start_auth(allowed_domains=["corp.example"])

        status, _, _ = await new_browser().login("ann@corp.example", dev_hd="other.example")

        assert status == 403

    async def test_an_allowed_email_is_admitted(self, start_auth, new_browser):
        await start_auth(allowed_domains=["example.com"], allowed_emails=["Zed@Gmail.com"])

        status, _, _ = await new_browser().login("zed@gmail.com")
        refused, _, _ = await new_browser().login("yan@gmail.com")

        assert status == 200
        assert refused == 403


class TestProviderDown:
    async def test_wrong_client_credentials_are_a_502_not_the_users_fault(
        self, start_auth, new_browser
    ):
        await start_auth(oidc_client_secret="not-our-secret")

        status, body, _ = await new_browser().login()

        assert status == 502
        assert _error_code(body) == "provider_unavailable"

    async def test_an_unreachable_provider_is_a_502(self, start_auth, new_browser):
        from cardstream_testing import free_port

        auth = await start_auth(oidc_issuer=f"http://127.0.0.1:{free_port()}")
        browser = new_browser()

        async with browser.session.get(f"{auth.url}/auth/login", allow_redirects=False) as response:
            body = await read_answer(response)

        assert response.status == 502
        assert _error_code(body) == "provider_unavailable"


def _b64(segment: str) -> bytes:
    import base64

    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _set_cookie(response, name: str) -> dict[str, str]:
    for header in response.headers.getall("Set-Cookie", []):
        cookie = SimpleCookie()
        cookie.load(header)
        if name in cookie:
            morsel = cookie[name]
            return {key: morsel[key] for key in morsel} | {"value": morsel.value}
    raise AssertionError(f"no Set-Cookie for {name}")
