"""schemathesis against the live auth service, from docs/openapi/auth.json, with the local
OpenID provider, Redis and FerretDB: under a signed-in user's token and under bad ones, never a
5xx and never an answer the document does not declare."""

from __future__ import annotations

import json
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from auth.app import create_app
from auth.devprovider.app import create_app as create_provider_app
from auth.devprovider.settings import DevClient, DevProviderSettings
from auth.domain.kek import new_key
from auth.settings import AuthSettings
from cardstream_runtime.devtoken import DevSigner
from cardstream_testing import FerretDBServer, RedisServer, free_port
from cardstream_testing.apifuzz import (
    FUZZ,
    ThreadedApp,
    call,
    label,
    operations,
    validate,
    with_modes,
)
from hypothesis import given
from hypothesis import strategies as st
from pymongo import MongoClient
from schemathesis import Case, GenerationMode
from schemathesis.schemas import APIOperation

CLIENT_ID, CLIENT_SECRET = "cardstream-fuzz", "fuzz-secret"
OPERATIONS = operations("auth")


@dataclass
class Live:
    served: ThreadedApp
    settings: AuthSettings

    @property
    def base_url(self) -> str:
        return self.served.base_url

    def sign_in(self) -> str:
        """A fresh session's access token, through the login, the provider and the callback."""
        return self.served.run(_sign_in(self.base_url))


async def _sign_in(base_url: str) -> str:
    email = f"fuzz-{uuid.uuid4().hex[:8]}@example.com"
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        url = f"{base_url}/auth/login"
        for params in ({"login_hint": email}, None):
            async with session.get(url, params=params, allow_redirects=False) as response:
                assert response.status == 302, await response.text()
                url = response.headers["Location"]
        headers = {"Accept": "application/json"}
        async with session.get(url, headers=headers, allow_redirects=False) as response:
            assert response.status == 200, await response.text()
            token: str = (await response.json())["access_token"]
            return token


@pytest.fixture(scope="module")
def live(redis_server: RedisServer, mongo_server: FerretDBServer) -> Iterator[Live]:
    auth_port = free_port()
    redirect = f"http://127.0.0.1:{auth_port}/auth/callback"
    database = f"oa{uuid.uuid4().hex[:8]}"
    provider_port = free_port()
    provider_settings = DevProviderSettings(
        issuer=f"http://127.0.0.1:{provider_port}",
        clients=[
            DevClient(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, redirect_uris=[redirect])
        ],
    )
    settings = AuthSettings(
        public_url=f"http://127.0.0.1:{auth_port}",
        oidc_issuer=provider_settings.issuer,
        oidc_client_id=CLIENT_ID,
        oidc_client_secret=CLIENT_SECRET,
        redis_url=redis_server.url,
        key_prefix=f"oa{uuid.uuid4().hex[:6]}:",
        mongo_url=mongo_server.url,
        mongo_db=database,
        cookie_secure=False,
        key_encryption_keys=f"fuzz:{new_key()}",
        # Every example is a request from 127.0.0.1 and every test signs in first: the per-IP
        # limits (tested at their boundaries in test_rate_limits.py) would soon answer 429.
        login_per_min=100_000,
        refresh_per_min=100_000,
        token_exchange_per_min=100_000,
        user_lookup_per_min=100_000,
    )
    try:
        with (
            ThreadedApp(create_provider_app(provider_settings), port=provider_port),
            ThreadedApp(create_app(settings), port=auth_port) as served,
        ):
            yield Live(served, settings)
    finally:
        client: MongoClient[dict[str, object]] = MongoClient(mongo_server.url)
        with client:
            client.drop_database(database)


@pytest.mark.parametrize(("operation", "mode"), with_modes(OPERATIONS), ids=label)
def test_a_signed_in_user_gets_only_answers_the_document_declares(
    live: Live, operation: APIOperation, mode: GenerationMode
) -> None:
    token = live.sign_in()

    @FUZZ
    @given(case=operation.as_strategy(generation_mode=mode))
    def fuzz(case: Case) -> None:
        validate(case, call(live.base_url, case, token), mode)

    fuzz()


@pytest.mark.parametrize("operation", OPERATIONS, ids=label)
def test_a_bad_token_is_refused(live: Live, operation: APIOperation) -> None:
    foreign = DevSigner.generate(issuer=live.settings.issuer, audience="cardstream")
    tokens = [None, "not-a-jwt", foreign.token(str(uuid.uuid4()))]

    @FUZZ
    @given(case=operation.as_strategy(), token=st.sampled_from(tokens))
    def fuzz(case: Case, token: str | None) -> None:
        response = call(live.base_url, case, token)
        validate(case, response, GenerationMode.POSITIVE)
        if operation.definition.raw.get("security") and operation.path != "/auth/logout":
            assert response.status_code == 401, response.text

    fuzz()


def test_the_service_serves_its_checked_in_document(live: Live) -> None:
    document = Path(__file__).resolve().parents[4] / "docs/openapi/auth.json"
    with urllib.request.urlopen(f"{live.base_url}/openapi.json", timeout=10) as response:
        assert response.headers["Content-Type"].startswith("application/json")
        assert json.loads(response.read()) == json.loads(document.read_text())
