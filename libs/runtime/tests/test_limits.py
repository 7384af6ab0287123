"""cardstream_runtime.limits: a token bucket at its boundary (N allowed, the next refused with
when to retry, one more after that wait), bounded memory, and whom a request is counted against."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, make_mocked_request
from cardstream_runtime.errors import error_middleware
from cardstream_runtime.limits import (
    RateLimitedError,
    RateLimiter,
    client_ip,
    parse_networks,
)

Client = TestClient[web.Request, web.Application]
MakeClient = Callable[[web.Application], Awaitable[Client]]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class TestRateLimiter:
    def test_allows_the_burst_and_refuses_the_next_with_when_to_retry(self) -> None:
        clock = Clock()
        limiter = RateLimiter.per_minute(30, clock=clock)
        for _ in range(30):
            limiter.check("1.2.3.4")
        with pytest.raises(RateLimitedError) as refused:
            limiter.check("1.2.3.4")
        assert refused.value.status == 429
        assert refused.value.code == "rate_limited"
        assert refused.value.retry_after_s == 2  # one token every 60/30 s
        assert refused.value.headers == {"Retry-After": "2"}

    def test_one_more_once_the_wait_is_over_and_not_before(self) -> None:
        clock = Clock()
        limiter = RateLimiter(rate_per_s=0.5, burst=2, clock=clock)
        limiter.check("u")
        limiter.check("u")
        clock.now += 1.9
        with pytest.raises(RateLimitedError) as refused:
            limiter.check("u")
        assert refused.value.retry_after_s == 1  # 0.1 s left, rounded up to a whole second
        clock.now += 0.1
        limiter.check("u")
        with pytest.raises(RateLimitedError):
            limiter.check("u")

    def test_refused_requests_take_no_token(self) -> None:
        clock = Clock()
        limiter = RateLimiter(rate_per_s=1, burst=1, clock=clock)
        limiter.check("u")
        for _ in range(100):
            with pytest.raises(RateLimitedError):
                limiter.check("u")
        clock.now += 1
        limiter.check("u")

    def test_keys_are_counted_apart(self) -> None:
        limiter = RateLimiter(rate_per_s=1, burst=1, clock=Clock())
        limiter.check("a")
        limiter.check("b")
        with pytest.raises(RateLimitedError):
            limiter.check("a")

    def test_a_full_minute_refills_the_burst_and_no_more(self) -> None:
        clock = Clock()
        limiter = RateLimiter.per_minute(3, clock=clock)
        for _ in range(3):
            limiter.check("u")
        clock.now += 3600
        for _ in range(3):
            limiter.check("u")
        with pytest.raises(RateLimitedError):
            limiter.check("u")

    def test_keeps_at_most_max_keys_forgetting_the_least_recent(self) -> None:
        limiter = RateLimiter(rate_per_s=1, burst=1, clock=Clock(), max_keys=3)
        for key in ("a", "b", "c", "d"):
            limiter.check(key)
        assert len(limiter) == 3
        limiter.check("a")  # forgotten, so a full bucket again
        with pytest.raises(RateLimitedError):
            limiter.check("d")

    @pytest.mark.parametrize(("rate", "burst"), [(0, 1), (-1, 1), (1, 0)])
    def test_refuses_a_limit_that_lets_nothing_through(self, rate: float, burst: int) -> None:
        with pytest.raises(ValueError, match="positive"):
            RateLimiter(rate_per_s=rate, burst=burst)


class TestTheAnswer:
    async def test_is_a_429_in_the_error_shape_with_retry_after(
        self, aiohttp_client: MakeClient
    ) -> None:
        limiter = RateLimiter(rate_per_s=0.25, burst=1, clock=Clock())

        async def handler(request: web.Request) -> web.Response:
            limiter.check("k")
            return web.json_response({})

        app = web.Application(middlewares=[error_middleware()])
        app.router.add_get("/", handler)
        client = await aiohttp_client(app)
        assert (await client.get("/")).status == 200
        response = await client.get("/")
        assert response.status == 429
        assert response.headers["Retry-After"] == "4"
        assert await response.json() == {
            "error": {
                "code": "rate_limited",
                "message": "too many requests; try again in 4 s",
                "details": {"retry_after_s": 4},
            }
        }


def _request(peer: str, forwarded: str | None = None) -> web.Request:
    headers = {"X-Forwarded-For": forwarded} if forwarded is not None else {}
    request = make_mocked_request("GET", "/", headers=headers)
    return request.clone(remote=peer)


class TestClientIp:
    def test_is_the_peer_when_no_proxy_is_trusted(self) -> None:
        assert client_ip(_request("203.0.113.7", "198.51.100.1"), []) == "203.0.113.7"

    def test_is_the_peer_when_the_peer_is_not_a_trusted_proxy(self) -> None:
        trusted = parse_networks(["127.0.0.1"])
        assert client_ip(_request("203.0.113.7", "198.51.100.1"), trusted) == "203.0.113.7"

    def test_is_the_hop_the_trusted_proxy_added(self) -> None:
        trusted = parse_networks(["10.0.0.0/8"])
        request = _request("10.0.0.2", "1.1.1.1, 198.51.100.1")  # the client wrote 1.1.1.1
        assert client_ip(request, trusted) == "198.51.100.1"

    def test_skips_trusted_proxies_in_a_chain(self) -> None:
        trusted = parse_networks(["10.0.0.0/8", "127.0.0.1"])
        request = _request("127.0.0.1", "9.9.9.9, 198.51.100.1, 10.1.2.3")
        assert client_ip(request, trusted) == "198.51.100.1"

    def test_is_the_peer_when_a_trusted_proxy_sent_no_header(self) -> None:
        assert client_ip(_request("127.0.0.1"), parse_networks(["127.0.0.1"])) == "127.0.0.1"

    def test_a_malformed_network_is_named(self) -> None:
        with pytest.raises(ValueError, match="not-an-ip"):
            parse_networks(["127.0.0.1", "not-an-ip"])
