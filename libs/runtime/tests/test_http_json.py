"""CachedJson: an async cache that honours Cache-Control, keeps the last good copy when a refetch
fails, refetches on demand at most every so often, and retries a first fetch that failed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from cardstream_runtime.http_json import CachedJson, ProviderUnavailableError, freshness
from multidict import CIMultiDict


@dataclass
class Endpoint:
    """A URL whose answers the test decides: body, status, headers; it counts requests."""

    document: Any
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


def _revision(document: Any) -> int:
    revision = document["revision"]
    if not isinstance(revision, int):
        raise TypeError("revision is not a number")
    return revision


@pytest.fixture
async def endpoint() -> AsyncIterator[tuple[Endpoint, str]]:
    state = Endpoint({"revision": 1}, headers={"Cache-Control": "public, max-age=300"})
    app = web.Application()
    app.router.add_get("/doc", state.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield state, str(server.make_url("/doc"))
    await server.close()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def _cache(
    url: str, session: aiohttp.ClientSession, clock: FakeClock, *, min_refetch_s: float = 10.0
) -> CachedJson[int]:
    return CachedJson(
        url, session, _revision, default_max_age_s=60, min_refetch_s=min_refetch_s, clock=clock
    )


class TestCachedJson:
    async def test_a_fresh_copy_is_served_from_the_cache(self, endpoint, session):
        state, url = endpoint
        clock = FakeClock()
        cache = _cache(url, session, clock)

        await cache.get()
        clock.now += 299
        await cache.get()

        assert state.hits == 1

    async def test_max_age_decides_when_to_fetch_again(self, endpoint, session):
        state, url = endpoint
        clock = FakeClock()
        cache = _cache(url, session, clock)
        await cache.get()
        state.document = {"revision": 2}

        clock.now += 301
        revision = await cache.get()

        assert (state.hits, revision) == (2, 2)

    async def test_age_counts_against_max_age(self, endpoint, session):
        state, url = endpoint
        state.headers = {"Cache-Control": "max-age=300", "Age": "290"}
        clock = FakeClock()
        cache = _cache(url, session, clock, min_refetch_s=1)
        await cache.get()

        clock.now += 11
        await cache.get()

        assert state.hits == 2

    async def test_without_max_age_the_default_applies(self, endpoint, session):
        state, url = endpoint
        state.headers = {}
        clock = FakeClock()
        cache = _cache(url, session, clock)
        await cache.get()

        clock.now += 59
        await cache.get()
        clock.now += 2
        await cache.get()

        assert state.hits == 2

    async def test_the_last_good_copy_is_kept_when_a_refetch_fails(self, endpoint, session):
        state, url = endpoint
        clock = FakeClock()
        cache = _cache(url, session, clock)
        await cache.get()
        state.status = 503
        state.document = {"revision": 2}

        clock.now += 301
        stale = await cache.get()
        forced = await cache.get(refetch=True)

        assert (stale, forced) == (1, 1)

    async def test_a_failing_refetch_is_not_retried_on_every_call(self, endpoint, session):
        state, url = endpoint
        clock = FakeClock()
        cache = _cache(url, session, clock)
        await cache.get()
        state.status = 503
        clock.now += 301

        for _ in range(5):
            await cache.get()

        assert state.hits == 2

    async def test_a_forced_refetch_happens_at_most_every_min_refetch(self, endpoint, session):
        state, url = endpoint
        clock = FakeClock()
        cache = _cache(url, session, clock, min_refetch_s=10)
        await cache.get()
        clock.now += 11

        for _ in range(20):  # a flood of tokens with made-up kids
            await cache.get(refetch=True)
        clock.now += 11
        await cache.get(refetch=True)

        assert state.hits == 3

    async def test_concurrent_callers_share_one_fetch(self, endpoint, session):
        state, url = endpoint
        state.gate = asyncio.Event()
        cache = _cache(url, session, FakeClock())

        waiting = [asyncio.create_task(cache.get()) for _ in range(10)]
        await asyncio.sleep(0)  # let them all reach the lock (no time passes)
        state.gate.set()
        results = await asyncio.gather(*waiting)

        assert state.hits == 1
        assert results == [1] * 10

    async def test_a_first_fetch_that_failed_is_retried_on_the_next_call(self, endpoint, session):
        state, url = endpoint
        state.status = 503
        cache = _cache(url, session, FakeClock(), min_refetch_s=3600)
        with pytest.raises(ProviderUnavailableError):
            await cache.get()

        state.status = 200
        revision = await cache.get()

        assert (state.hits, revision) == (2, 1)

    async def test_concurrent_callers_share_one_failed_first_fetch(self, endpoint, session):
        state, url = endpoint
        state.status = 503
        state.gate = asyncio.Event()
        cache = _cache(url, session, FakeClock())

        waiting = [asyncio.create_task(cache.get()) for _ in range(10)]
        await asyncio.sleep(0)
        state.gate.set()
        results = await asyncio.gather(*waiting, return_exceptions=True)

        assert state.hits == 1
        assert all(isinstance(r, ProviderUnavailableError) for r in results), results
        assert all("answered 503" in str(r) for r in results), results

    async def test_never_fetched_and_unreachable_is_provider_unavailable(self, session):
        cache = _cache("http://127.0.0.1:9/doc", session, FakeClock())

        with pytest.raises(ProviderUnavailableError, match="unreachable"):
            await cache.get()

    @pytest.mark.parametrize("document", [{"revision": "x"}, [], {"nope": 1}])
    async def test_an_unusable_document_is_provider_unavailable(self, endpoint, session, document):
        state, url = endpoint
        state.document = document

        with pytest.raises(ProviderUnavailableError, match="unusable document"):
            await _cache(url, session, FakeClock()).get()


class TestFreshness:
    @pytest.mark.parametrize(
        ("headers", "expected"),
        [
            ({"Cache-Control": "public, max-age=300"}, 300),
            ({"Cache-Control": "public, max-age=300", "Age": "100"}, 200),
            ({"Cache-Control": "max-age=300", "Age": "900"}, 0),
            ({"Cache-Control": "no-store"}, 0),
            ({"Cache-Control": "no-cache, max-age=300"}, 0),
            ({"Cache-Control": "max-age=banana"}, 60),
            ({}, 60),
            ({"Cache-Control": "max-age=99999999"}, 24 * 3600),
            # Hundreds of digits: an int Python takes, a float it cannot (OverflowError before).
            ({"Cache-Control": "max-age=" + "9" * 400}, 24 * 3600),
            ({"Cache-Control": "max-age=300", "Age": "9" * 400}, 0),
        ],
    )
    def test_cache_control_decides(self, headers, expected):
        assert freshness(CIMultiDict(headers), default_s=60) == expected
