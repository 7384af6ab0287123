"""The provider's keys: what auth accepts as a key set, and a new provider key fetched on its first
token, rate limited (the cache, `cardstream_runtime.http_json.CachedJson`, has its own tests)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from auth.adapters.openid_provider import parse_key_set
from auth.devprovider.app import create_app as create_provider_app
from auth.devprovider.settings import DevClient, DevProviderSettings
from cardstream_runtime.http_json import CachedJson, ProviderUnavailableError
from joserfc.jwk import KeySet, RSAKey
from yarl import URL


def _jwks(kid: str) -> dict[str, Any]:
    key = RSAKey.generate_key(2048, parameters={"kid": kid, "use": "sig", "alg": "RS256"})
    return {"keys": [key.as_dict(private=False)]}


@dataclass
class Endpoint:
    """A JWKS URL whose body the test decides."""

    document: Any
    headers: dict[str, str] = field(default_factory=dict)

    async def handle(self, request: web.Request) -> web.Response:
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


class TestProviderKeySet:
    """The cache itself is tested in libs/runtime (test_http_json.py); here, what auth parses."""

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
