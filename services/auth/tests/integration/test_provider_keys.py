"""The provider's keys: an async cache that honours Cache-Control, keeps the last good set when a
refetch fails, and refetches on an unknown `kid` at most every so often."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from auth.adapters.http_json import CachedJson, ProviderUnavailableError
from auth.adapters.openid_provider import parse_key_set
from auth.devprovider.app import create_app as create_provider_app
from auth.devprovider.settings import DevClient, DevProviderSettings
from joserfc.jwk import KeySet, RSAKey
from yarl import URL


def _jwks(kid: str) -> dict[str, Any]:
    key = RSAKey.generate_key(2048, parameters={"kid": kid, "use": "sig", "alg": "RS256"})
    return {"keys": [key.as_dict(private=False)]}


@dataclass
class Endpoint:
    """A JWKS URL whose answers the test decides: body, status, headers; it counts requests."""

    document: dict[str, Any]
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    hits: int = 0
    gate: asyncio.Event | None = None

    async def handle(self, request: web.Request) -> web.Response:
        self.hits += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.status != 200:
            return web.Response(status=self.status, text="down")
        return web.json_response(self.document, headers=self.headers)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def endpoint() -> AsyncIterator[tuple[Endpoint, str]]:
    state = Endpoint(_jwks("k1"), headers={"Cache-Control": "public, max-age=300"})
    app = web.Application()
    app.router.add_get("/jwks", state.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield state, str(server.make_url("/jwks"))
    await server.close()


def _cache(url: str, http, clock, *, min_refetch_s: float = 10.0) -> CachedJson[KeySet]:
    return CachedJson(
        url,
        http,
        parse_key_set,
        default_max_age_s=60,
        min_refetch_s=min_refetch_s,
        clock=clock,
    )


def _kids(keys: KeySet) -> set[str | None]:
    return {k.kid for k in keys}


class TestCachedKeys:
    async def test_a_fresh_copy_is_served_from_the_cache(self, endpoint, http):
        state, url = endpoint
        clock = FakeClock()
        cache = _cache(url, http, clock)

        await cache.get()
        clock.now += 299
        await cache.get()

        assert state.hits == 1

    async def test_max_age_decides_when_to_fetch_again(self, endpoint, http):
        state, url = endpoint
        clock = FakeClock()
        cache = _cache(url, http, clock)
        await cache.get()
        state.document = _jwks("k2")

        clock.now += 301
        keys = await cache.get()

        assert state.hits == 2
        assert _kids(keys) == {"k2"}

    async def test_age_counts_against_max_age(self, endpoint, http):
        state, url = endpoint
        state.headers = {"Cache-Control": "max-age=300", "Age": "290"}
        clock = FakeClock()
        cache = _cache(url, http, clock, min_refetch_s=1)
        await cache.get()

        clock.now += 11
        await cache.get()

        assert state.hits == 2

    async def test_without_max_age_the_default_applies(self, endpoint, http):
        state, url = endpoint
        state.headers = {}
        clock = FakeClock()
        cache = _cache(url, http, clock)
        await cache.get()

        clock.now += 59
        await cache.get()
        clock.now += 2
        await cache.get()

        assert state.hits == 2

    async def test_the_last_good_set_is_kept_when_a_refetch_fails(self, endpoint, http):
        state, url = endpoint
        clock = FakeClock()
        cache = _cache(url, http, clock)
        await cache.get()
        state.status = 503

        clock.now += 301
        keys = await cache.get()
        forced = await cache.get(refetch=True)

        assert _kids(keys) == {"k1"}
        assert _kids(forced) == {"k1"}

    async def test_a_failing_refetch_is_not_retried_on_every_call(self, endpoint, http):
        state, url = endpoint
        clock = FakeClock()
        cache = _cache(url, http, clock)
        await cache.get()
        state.status = 503
        clock.now += 301

        for _ in range(5):
            await cache.get()

        assert state.hits == 2

    async def test_an_unknown_kid_refetches_at_most_every_min_refetch(self, endpoint, http):
        state, url = endpoint
        clock = FakeClock()
        cache = _cache(url, http, clock, min_refetch_s=10)
        await cache.get()
        clock.now += 11

        for _ in range(20):  # a flood of tokens with made-up kids
            await cache.get(refetch=True)
        clock.now += 11
        await cache.get(refetch=True)

        assert state.hits == 3

    async def test_concurrent_callers_share_one_fetch(self, endpoint, http):
        state, url = endpoint
        state.gate = asyncio.Event()
        cache = _cache(url, http, FakeClock())

        waiting = [asyncio.create_task(cache.get()) for _ in range(10)]
        await asyncio.sleep(0)  # let them all reach the lock (no time passes)
        state.gate.set()
        results = await asyncio.gather(*waiting)

        assert state.hits == 1
        assert all(_kids(r) == {"k1"} for r in results)

    async def test_never_fetched_and_unreachable_is_provider_unavailable(self, http):
        from cardstream_testing import free_port

        cache = _cache(f"http://127.0.0.1:{free_port()}/jwks", http, FakeClock())

        with pytest.raises(ProviderUnavailableError):
            await cache.get()

    @pytest.mark.parametrize("document", [{"keys": []}, {"keys": "x"}, [], {"nope": 1}])
    async def test_an_unusable_document_is_provider_unavailable(self, endpoint, http, document):
        state, url = endpoint
        state.document = document

        with pytest.raises(ProviderUnavailableError):
            await _cache(url, http, FakeClock()).get()


class TestProviderKeyRotation:
    @pytest.mark.parametrize(("min_refetch_s", "expected"), [(0, 200), (3600, 401)])
    async def test_a_new_provider_key_is_fetched_on_its_first_token_rate_limited(
        self, provider, start_auth, new_browser, min_refetch_s, expected
    ):
        auth = await start_auth(provider_jwks_min_refetch_s=min_refetch_s)
        assert (await new_browser().login("ivy@example.com"))[0] == 200
        # The provider restarts with a new key (and kid) that our cached set lacks.
        await provider.server.close()
        restarted = TestServer(
            create_provider_app(
                DevProviderSettings(
                    issuer=provider.url,
                    clients=[
                        DevClient(
                            client_id="cardstream-test",
                            client_secret="test-secret",
                            redirect_uris=[f"{auth.url}/auth/callback"],
                        )
                    ],
                )
            ),
            host="127.0.0.1",
            port=URL(provider.url).port,
        )
        await restarted.start_server()
        try:
            status, body, _ = await new_browser().login("ivy@example.com")
        finally:
            await restarted.close()

        # Refetched at once when allowed; refused (never a 5xx) while the last fetch is recent.
        assert status == expected, body
