"""Per-IP rate limits on sign-in, refresh, the ID token exchange and the lookup by email (issue 12,
hole 3), each at its boundary: the setting's N answered, the next a 429 `rate_limited` with
`Retry-After`, one more once that wait is over (the app's clock moved, no sleep)."""

from __future__ import annotations

import pytest
from cardstream_testing.answers import read_answer

# Each endpoint, what to send it (its answer below the limit does not matter here, only that it
# is not a 429) and the setting that limits it.
ENDPOINTS = [
    ("GET", "/auth/login", None, "login_per_min"),
    ("POST", "/auth/refresh", {"refresh_token": "not-a-token"}, "refresh_per_min"),
    ("POST", "/auth/token/google", {"id_token": "not-a-token"}, "token_exchange_per_min"),
    ("GET", "/auth/users?email=a@example.com", None, "user_lookup_per_min"),
]
IDS = [path for _, path, _, _ in ENDPOINTS]


async def _call(http, auth, method, path, body, headers=None) -> tuple[int, dict, dict]:
    async with http.request(
        method, f"{auth.url}{path}", json=body, headers=headers or {}, allow_redirects=False
    ) as response:
        answer = await read_answer(response) if response.content_type == "application/json" else {}
        return response.status, answer, dict(response.headers)


@pytest.mark.parametrize(("method", "path", "body", "setting"), ENDPOINTS, ids=IDS)
class TestPerIpLimit:
    async def test_the_nth_request_is_answered_and_the_next_refused_until_its_wait_is_over(
        self, start_auth, http, method, path, body, setting
    ):
        auth = await start_auth(**{setting: 3})
        for _ in range(3):
            status, _, _ = await _call(http, auth, method, path, body)
            assert status != 429

        status, answer, headers = await _call(http, auth, method, path, body)

        assert status == 429
        assert headers["Retry-After"] == "20"  # one request every 60/3 s
        assert answer == {
            "error": {
                "code": "rate_limited",
                "message": "too many requests; try again in 20 s",
                "details": {"retry_after_s": 20},
            }
        }
        auth.clock.offset += 20
        assert (await _call(http, auth, method, path, body))[0] != 429
        assert (await _call(http, auth, method, path, body))[0] == 429

    async def test_the_forwarded_for_header_is_ignored_unless_the_peer_is_a_trusted_proxy(
        self, start_auth, http, method, path, body, setting
    ):
        auth = await start_auth(**{setting: 1})
        assert (await _call(http, auth, method, path, body, {"X-Forwarded-For": "1.1.1.1"}))[
            0
        ] != 429
        status, _, _ = await _call(http, auth, method, path, body, {"X-Forwarded-For": "2.2.2.2"})
        assert status == 429


class TestBehindATrustedProxy:
    async def test_each_client_address_has_its_own_limit(self, start_auth, http):
        auth = await start_auth(login_per_min=1, trusted_proxies=["127.0.0.1"])
        first = {"X-Forwarded-For": "198.51.100.1"}
        second = {"X-Forwarded-For": "evil-guess, 198.51.100.2"}

        assert (await _call(http, auth, "GET", "/auth/login", None, first))[0] == 302
        assert (await _call(http, auth, "GET", "/auth/login", None, second))[0] == 302
        assert (await _call(http, auth, "GET", "/auth/login", None, first))[0] == 429
        assert (await _call(http, auth, "GET", "/auth/login", None, second))[0] == 429


class TestALoginFlood:
    async def test_leaves_no_more_login_state_in_redis_than_the_limit_allows(
        self, start_auth, http, redis, key_prefix
    ):
        auth = await start_auth(login_per_min=5)
        statuses = [(await _call(http, auth, "GET", "/auth/login", None))[0] for _ in range(50)]

        assert statuses == [302] * 5 + [429] * 45
        assert len(await redis.keys(f"{key_prefix}auth:login:*")) == 5


class TestSettings:
    def test_defaults_are_generous_for_people(self, auth_settings):
        settings = auth_settings()
        assert (
            settings.login_per_min,
            settings.refresh_per_min,
            settings.token_exchange_per_min,
            settings.user_lookup_per_min,
            settings.trusted_proxies,
        ) == (60, 120, 60, 120, [])

    @pytest.mark.parametrize("setting", [s for _, _, _, s in ENDPOINTS])
    def test_a_limit_of_zero_is_refused(self, auth_settings, setting):
        with pytest.raises(ValueError, match=setting):
            auth_settings(**{setting: 0})

    def test_a_trusted_proxy_that_is_not_an_address_is_refused(self, auth_settings):
        with pytest.raises(ValueError, match="trusted_proxies"):
            auth_settings(trusted_proxies=["nginx"])
