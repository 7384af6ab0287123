"""Refresh token rotation, reuse detection, logout, and key rotation between logins."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from cardstream_runtime.jwt import InvalidTokenError
from cardstream_runtime.redis_urls import pubsub_for
from cardstream_testing.answers import read_answer
from yarl import URL


async def _refresh(http, auth, token: str) -> tuple[int, dict]:
    async with http.post(f"{auth.url}/auth/refresh", json={"refresh_token": token}) as response:
        return response.status, await read_answer(response)


async def _me(http, auth, access_token: str) -> int:
    async with http.get(
        f"{auth.url}/auth/me", headers={"Authorization": f"Bearer {access_token}"}
    ) as response:
        return response.status


class TestRefresh:
    async def test_a_refresh_token_gives_a_new_pair(self, browser, http, verifier, helpers):
        _, r1, _ = await browser.login("alice@example.com")

        status, r2 = await _refresh(http, browser.auth, r1["refresh_token"])

        assert status == 200
        assert r2["refresh_token"] != r1["refresh_token"]
        claims = await verifier.verify(r2["access_token"])
        assert claims.sub == r1["user"]["id"]
        assert claims.sid == helpers.claims_of(r1["access_token"])["sid"]

    @pytest.mark.redis_kinds("server", "cluster")
    async def test_reusing_a_spent_token_revokes_the_whole_family(self, browser, http, redis):
        auth = browser.auth
        _, r1, _ = await browser.login()
        _, r2 = await _refresh(http, auth, r1["refresh_token"])
        pubsub = await pubsub_for(redis)
        await pubsub.subscribe(auth.settings.sessions_channel)

        reuse_status, reuse = await _refresh(http, auth, r1["refresh_token"])
        r2_status, after = await _refresh(http, auth, r2["refresh_token"])

        assert reuse_status == 401
        assert reuse["error"]["code"] == "refresh_token_reused"
        assert r2_status == 401
        assert after["error"]["code"] == "session_ended"
        assert await _me(http, auth, r2["access_token"]) == 401
        assert await _next_message(pubsub) == _sid(r1["access_token"])
        await pubsub.aclose()

    async def test_two_concurrent_refreshes_of_one_token_exactly_one_succeeds(self, browser, http):
        _, r1, _ = await browser.login()

        results = await asyncio.gather(
            *(_refresh(http, browser.auth, r1["refresh_token"]) for _ in range(8))
        )

        winners = [body for status, body in results if status == 200]
        losers = [body["error"]["code"] for status, body in results if status != 200]
        assert len(winners) == 1
        # Refused while the winner is in flight (409); after it, a use is a reuse (401), which
        # ends the session, so one that comes after that hears the session has ended (401).
        assert set(losers) <= {"refresh_in_progress", "refresh_token_reused", "session_ended"}
        if "session_ended" in losers:
            assert "refresh_token_reused" in losers
        if set(losers) == {"refresh_in_progress"}:
            assert (await _refresh(http, browser.auth, winners[0]["refresh_token"]))[0] == 200

    async def test_a_token_spent_by_a_refresh_still_in_flight_is_a_409_and_revokes_nothing(
        self, browser, http, mongo, helpers
    ):
        # The state a concurrent loser finds: the winner spent the token, has no successor yet.
        _, r1, _ = await browser.login()
        await _spends(mongo, browser.auth).insert_one(
            {"_id": _hash(r1["refresh_token"]), "at": datetime.now(UTC), "successor": None}
        )

        status, body = await _refresh(http, browser.auth, r1["refresh_token"])

        assert status == 409
        assert body["error"]["code"] == "refresh_in_progress"
        assert await _me(http, browser.auth, r1["access_token"]) == 200

    async def test_a_token_whose_refresh_died_half_way_counts_as_reused(self, browser, http, mongo):
        _, r1, _ = await browser.login()
        await _spends(mongo, browser.auth).insert_one(
            {"_id": _hash(r1["refresh_token"]), "at": datetime.now(UTC) - timedelta(minutes=1)}
        )

        status, body = await _refresh(http, browser.auth, r1["refresh_token"])

        assert status == 401
        assert body["error"]["code"] == "refresh_token_reused"
        assert await _me(http, browser.auth, r1["access_token"]) == 401

    async def test_an_unknown_or_malformed_token_is_a_401(self, auth, http):
        for token in ("nope", "x" * 43, "x" * 5000):
            status, body = await _refresh(http, auth, token)
            assert status == 401
            assert body["error"]["code"] == "invalid_refresh_token"

    async def test_an_expired_refresh_token_is_a_401(self, start_auth, new_browser, http):
        auth = await start_auth(refresh_ttl_s=60)
        _, r1, _ = await new_browser().login()
        auth.clock.offset = 61

        status, body = await _refresh(http, auth, r1["refresh_token"])

        assert status == 401
        assert body["error"]["code"] == "refresh_token_expired"

    @pytest.mark.parametrize(
        "body", [b"{", b"[]", b'{"refresh_token": 5}', b'{"refresh_token": ""}', b"{}"]
    )
    async def test_a_bad_body_is_a_400(self, auth, http, body):
        async with http.post(
            f"{auth.url}/auth/refresh", data=body, headers={"Content-Type": "application/json"}
        ) as response:
            answer = await read_answer(response)
        assert response.status == 400
        assert answer["error"]["code"] in ("invalid_json", "invalid_request")

    async def test_without_any_token_is_a_401(self, auth, http):
        async with http.post(
            f"{auth.url}/auth/refresh", headers={"X-Requested-With": "cardstream"}
        ) as response:
            answer = await read_answer(response)
        assert response.status == 401
        assert answer["error"]["code"] == "no_refresh_token"

    async def test_a_rejected_cookie_is_cleared(self, browser):
        await browser.callback(await browser.approve(await browser.start_login()), json=False)
        url = f"{browser.auth.url}/auth/refresh"
        headers = {"X-Requested-With": "cardstream"}
        spent = browser.session.cookie_jar.filter_cookies(URL(url))["cs_refresh"].value
        async with browser.session.post(url, headers=headers) as response:
            assert response.status == 200
        browser.session.cookie_jar.clear()
        # A browser that kept a copy of the spent cookie (or a thief who copied it).
        browser.session.cookie_jar.update_cookies({"cs_refresh": spent}, response_url=URL(url))

        async with browser.session.post(url, headers=headers) as response:
            body = await read_answer(response)

        assert response.status == 401
        assert body["error"]["code"] == "refresh_token_reused"
        assert "cs_refresh" not in browser.session.cookie_jar.filter_cookies(URL(url))


class TestAbsoluteLifetime:
    """AUTH_SESSION_MAX_S: refreshing keeps a session going only until start + the maximum."""

    async def test_refreshing_often_does_not_carry_a_session_past_its_end(
        self, start_auth, new_browser, http
    ):
        auth = await start_auth(session_max_s=600, refresh_ttl_s=200)
        _, answer, _ = await new_browser().login()
        token = answer["refresh_token"]
        # Each refresh well within the idle limit, as an active client's would be.
        for offset in (150, 300, 450, 590):
            auth.clock.offset = offset
            status, answer = await _refresh(http, auth, token)
            assert status == 200, answer
            token = answer["refresh_token"]

        auth.clock.offset = 601
        status, body = await _refresh(http, auth, token)

        assert status == 401
        assert body["error"]["code"] == "session_expired"

    async def test_no_token_outlives_the_sessions_end(self, start_auth, new_browser, http, mongo):
        auth = await start_auth(session_max_s=600, refresh_ttl_s=400)
        _, r1, _ = await new_browser().login()
        end = await _session_end(mongo, auth, _sid(r1["access_token"]), 600)
        auth.clock.offset = 300

        status, r2 = await _refresh(http, auth, r1["refresh_token"])

        assert status == 200
        # Unbounded, the refresh token would last until 700 s and the access token until 900 s.
        assert await _refresh_token_expiry(mongo, auth, r2["refresh_token"]) <= end
        access_exp = _claims(r2["access_token"])["exp"]
        assert access_exp <= end.timestamp()
        assert end.timestamp() - access_exp < 2
        assert r2["expires_in"] <= 300

    async def test_a_session_shorter_than_an_access_token_cuts_the_first_one_short(
        self, start_auth, new_browser
    ):
        await start_auth(session_max_s=120)

        _, answer, _ = await new_browser().login()

        claims = _claims(answer["access_token"])
        assert claims["exp"] - claims["iat"] <= 120
        assert answer["expires_in"] <= 120

    async def test_the_cookie_lasts_no_longer_than_the_session(self, start_auth, new_browser):
        await start_auth(session_max_s=120)
        browser = new_browser()

        _, _, response = await browser.login(json=False)

        max_age = int(response.cookies["cs_refresh"]["max-age"])
        assert 110 <= max_age <= 120

    async def test_every_token_of_the_family_hears_why_after_the_end(
        self, start_auth, new_browser, http
    ):
        # A spent one too: the session's age is the answer, not a reuse that revokes.
        auth = await start_auth(session_max_s=600)
        _, r1, _ = await new_browser().login()
        auth.clock.offset = 100
        _, r2 = await _refresh(http, auth, r1["refresh_token"])
        auth.clock.offset = 600

        for token in (r1["refresh_token"], r2["refresh_token"]):
            status, body = await _refresh(http, auth, token)
            assert status == 401
            assert body["error"]["code"] == "session_expired"


@pytest.mark.redis_kinds("server", "cluster")
class TestLogout:
    async def test_logout_publishes_the_session_and_ends_refresh(self, browser, http, redis):
        auth = browser.auth
        _, tokens, _ = await browser.login()
        pubsub = await pubsub_for(redis)
        await pubsub.subscribe(auth.settings.sessions_channel)

        async with http.post(
            f"{auth.url}/auth/logout", json={"refresh_token": tokens["refresh_token"]}
        ) as response:
            assert response.status == 204

        assert await _next_message(pubsub) == _sid(tokens["access_token"])
        status, body = await _refresh(http, auth, tokens["refresh_token"])
        assert status == 401
        assert body["error"]["code"] == "session_ended"
        assert await _me(http, auth, tokens["access_token"]) == 401
        await pubsub.aclose()

    async def test_browser_logout_with_the_cookie_clears_it(self, browser, redis):
        auth = browser.auth
        await browser.callback(await browser.approve(await browser.start_login()), json=False)
        pubsub = await pubsub_for(redis)
        await pubsub.subscribe(auth.settings.sessions_channel)
        url = f"{auth.url}/auth/logout"

        async with browser.session.post(url) as response:
            refused = response.status
        async with browser.session.post(
            url, headers={"X-Requested-With": "cardstream"}
        ) as response:
            status = response.status

        assert refused == 403
        assert status == 204
        assert await _next_message(pubsub)
        assert "cs_refresh" not in browser.session.cookie_jar.filter_cookies(
            URL(f"{auth.url}/auth/")
        )
        await pubsub.aclose()

    async def test_logout_with_an_access_token(self, browser, http, redis):
        _, tokens, _ = await browser.login()
        pubsub = await pubsub_for(redis)
        await pubsub.subscribe(browser.auth.settings.sessions_channel)

        async with http.post(
            f"{browser.auth.url}/auth/logout",
            headers={"Authorization": f"Bearer {tokens['access_token']}"},
        ) as response:
            assert response.status == 204

        assert await _next_message(pubsub) == _sid(tokens["access_token"])
        assert (await _refresh(http, browser.auth, tokens["refresh_token"]))[0] == 401
        await pubsub.aclose()

    async def test_logout_without_credentials_is_a_401(self, auth, http):
        async with http.post(f"{auth.url}/auth/logout") as response:
            body = await read_answer(response)
        assert response.status == 401
        assert body["error"]["code"] == "unauthorized"

    async def test_logout_of_one_session_leaves_the_others(self, auth, new_browser, http):
        _, laptop, _ = await new_browser().login("alice@example.com")
        _, phone, _ = await new_browser().login("alice@example.com")

        async with http.post(
            f"{auth.url}/auth/logout", json={"refresh_token": laptop["refresh_token"]}
        ) as response:
            assert response.status == 204

        assert (await _refresh(http, auth, phone["refresh_token"]))[0] == 200


class TestKeyRotation:
    async def test_tokens_from_before_and_after_a_rotation_both_verify(
        self, auth, new_browser, http, helpers, mongo_url, mongo_db_name, kek
    ):
        verifier = helpers.verifier(auth, http)
        _, first, _ = await new_browser().login("ann@example.com")
        await verifier.verify(first["access_token"])  # the verifier has fetched the JWKS
        before = await _jwks_kids(http, auth)

        rotated = await _rotate_keys_cli(helpers, mongo_url, mongo_db_name, kek)
        _, second, _ = await new_browser().login("ben@example.com")

        assert helpers.kid_of(first["access_token"]) == rotated["previous"]
        assert helpers.kid_of(second["access_token"]) == rotated["current"]
        assert rotated["current"] == before["next"]  # published before it signed anything
        assert (await verifier.verify(first["access_token"])).email == "ann@example.com"
        assert (await verifier.verify(second["access_token"])).email == "ben@example.com"
        fresh = helpers.verifier(auth, http)
        await fresh.verify(first["access_token"])
        await fresh.verify(second["access_token"])

    async def test_the_jwks_publishes_current_next_and_previous(
        self, auth, http, helpers, mongo_url, mongo_db_name, kek
    ):
        first = await _jwks_kids(http, auth)
        rotated = await _rotate_keys_cli(helpers, mongo_url, mongo_db_name, kek)
        second = await _jwks_kids(http, auth)

        assert first["count"] == 2
        assert second["count"] == 3
        assert set(second["kids"]) == {rotated["previous"], rotated["current"], rotated["next"]}
        assert rotated["previous"] == first["current"]

    async def test_a_token_two_rotations_old_is_refused(
        self, browser, http, helpers, mongo_url, mongo_db_name, kek
    ):
        _, tokens, _ = await browser.login()
        await _rotate_keys_cli(helpers, mongo_url, mongo_db_name, kek)
        await _rotate_keys_cli(helpers, mongo_url, mongo_db_name, kek)
        verifier = helpers.verifier(browser.auth, http)

        with pytest.raises(InvalidTokenError):
            await verifier.verify(tokens["access_token"])
        # ... and the refresh token still works: rotation logs no one out.
        status, fresh = await _refresh(http, browser.auth, tokens["refresh_token"])
        assert status == 200
        await verifier.verify(fresh["access_token"])


def _spends(mongo, auth):
    return mongo[auth.settings.mongo_db]["refresh_spends"]


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def _jwks_kids(http, auth) -> dict:
    async with http.get(auth.jwks_url()) as response:
        assert response.status == 200
        keys = (await read_answer(response))["keys"]
    for key in keys:
        assert key["kty"] == "EC"
        assert key["crv"] == "P-256"
        assert key["alg"] == "ES256"
        assert "d" not in key
    ring = await auth.app[_signing_keys_key()].ring()
    return {
        "count": len(keys),
        "kids": [k["kid"] for k in keys],
        "current": ring.current.kid,
        "next": ring.next.kid,
    }


def _signing_keys_key():
    from auth.keys import signing_keys_key

    return signing_keys_key


async def _rotate_keys_cli(helpers, mongo_url: str, mongo_db: str, kek: str) -> dict:
    status, out, err = await helpers.auth_cli(mongo_url, mongo_db, kek, "rotate-keys")
    assert status == 0, err
    rotated: dict = orjson.loads(out)
    return rotated


async def _next_message(pubsub, within: float = 5.0) -> str:
    """The next message on the channel, waiting at most `within` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while loop.time() < deadline:
        message = await pubsub.get_message(
            ignore_subscribe_messages=True, timeout=deadline - loop.time()
        )
        if message is not None:
            data = message["data"]
            return data.decode() if isinstance(data, bytes) else str(data)
    raise AssertionError("nothing published")


def _sid(access_token: str) -> str:
    import jwt

    sid: str = jwt.decode(access_token, options={"verify_signature": False})["sid"]
    return sid


def _claims(access_token: str) -> dict:
    import jwt

    claims: dict = jwt.decode(access_token, options={"verify_signature": False})
    return claims


async def _session_end(mongo, auth, sid: str, max_s: int) -> datetime:
    doc = await mongo[auth.settings.mongo_db]["sessions"].find_one({"_id": sid})
    return doc["created_at"].replace(tzinfo=UTC) + timedelta(seconds=max_s)


async def _refresh_token_expiry(mongo, auth, token: str) -> datetime:
    doc = await mongo[auth.settings.mongo_db]["refresh_tokens"].find_one({"_id": _hash(token)})
    return doc["expires_at"].replace(tzinfo=UTC)
