"""The auth service against the real local OpenID provider, real Redis and real FerretDB.

Both apps listen on real loopback ports (aiohttp TestServer): the provider must know our
redirect URI, and we must know its issuer, before either starts. A `Browser` is an aiohttp
session with its own cookie jar, driving the login through HTTP redirects as a browser would.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import jwt
import pytest
from aiohttp.test_utils import TestServer
from auth.adapters.mongo_accounts import MongoAccounts
from auth.app import create_app
from auth.devprovider.app import create_app as create_provider_app
from auth.devprovider.settings import DevClient, DevProviderSettings
from auth.domain.kek import new_key
from auth.settings import AuthSettings
from cardstream_runtime.jwt import JwksKeys, TokenVerifier
from cardstream_testing import RedisServer, free_port
from cardstream_testing.answers import read_answer
from pymongo import AsyncMongoClient
from redis.asyncio import Redis
from redis.exceptions import OutOfMemoryError
from yarl import URL

CLIENT_ID = "cardstream-test"
CLIENT_SECRET = "test-secret"
OTHER_CLIENT_ID = "someone-else"


class Clock:
    """Wall time plus an offset a test can move forward."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


@dataclass
class Provider:
    url: str
    server: TestServer


@dataclass
class AuthServer:
    url: str
    settings: AuthSettings
    server: TestServer
    clock: Clock

    @property
    def app(self) -> Any:
        return self.server.app

    def jwks_url(self) -> str:
        return f"{self.url}/.well-known/jwks.json"


@dataclass
class Browser:
    """A user agent: cookies, and redirects followed by hand so each hop can be looked at."""

    session: aiohttp.ClientSession
    auth: AuthServer
    history: list[str] = field(default_factory=list)

    async def start_login(self, email: str | None = "alice@example.com", **query: str) -> str:
        """GET /auth/login; returns the provider URL we are sent to."""
        params = dict(query)
        if email is not None:
            params["login_hint"] = email
        async with self.session.get(
            f"{self.auth.url}/auth/login", params=params, allow_redirects=False
        ) as response:
            assert response.status == 302, await response.text()
            return response.headers["Location"]

    async def approve(self, authorize_url: str, **knobs: str) -> str:
        """The provider's /authorize with a login_hint approves at once; returns our callback
        URL with code and state."""
        url = URL(authorize_url).update_query(knobs) if knobs else URL(authorize_url)
        async with self.session.get(url, allow_redirects=False) as response:
            assert response.status == 302, await response.text()
            return response.headers["Location"]

    async def callback(
        self, callback_url: str, *, json: bool = True
    ) -> tuple[int, Any, aiohttp.ClientResponse]:
        headers = {"Accept": "application/json"} if json else {"Accept": "text/html"}
        async with self.session.get(
            callback_url, headers=headers, allow_redirects=False
        ) as response:
            body = (
                await read_answer(response)
                if response.content_type == "application/json"
                else await response.text()
            )
            return response.status, body, response

    async def login(
        self, email: str = "alice@example.com", *, json: bool = True, **knobs: str
    ) -> tuple[int, Any, aiohttp.ClientResponse]:
        callback_url = await self.approve(await self.start_login(email), **knobs)
        return await self.callback(callback_url, json=json)


@pytest.fixture
def provider_port() -> int:
    return free_port()


@pytest.fixture
def auth_port() -> int:
    return free_port()


@pytest.fixture
async def provider(provider_port: int, auth_port: int) -> AsyncIterator[Provider]:
    url = f"http://127.0.0.1:{provider_port}"
    redirect_uris = [f"http://127.0.0.1:{auth_port}/auth/callback"]
    settings = DevProviderSettings(
        issuer=url,
        clients=[
            DevClient(
                client_id=CLIENT_ID, client_secret=CLIENT_SECRET, redirect_uris=redirect_uris
            ),
            DevClient(
                client_id=OTHER_CLIENT_ID, client_secret="other", redirect_uris=redirect_uris
            ),
        ],
    )
    server = TestServer(create_provider_app(settings), host="127.0.0.1", port=provider_port)
    await server.start_server()
    yield Provider(url=url, server=server)
    await server.close()


@pytest.fixture
def kek() -> str:
    """This test's own key-encryption key, as AUTH_KEY_ENCRYPTION_KEYS takes it."""
    return f"test-kek:{new_key()}"


@pytest.fixture
def auth_settings(
    kek: str,
    provider: Provider,
    auth_port: int,
    redis_url: str,
    key_prefix: str,
    mongo_url: str,
    mongo_db_name: str,
) -> Callable[..., AuthSettings]:
    def build(**overrides: Any) -> AuthSettings:
        values: dict[str, Any] = {
            "public_url": f"http://127.0.0.1:{auth_port}",
            "oidc_issuer": provider.url,
            "oidc_client_id": CLIENT_ID,
            "oidc_client_secret": CLIENT_SECRET,
            "redis_url": redis_url,
            "key_prefix": key_prefix,
            "mongo_url": mongo_url,
            "mongo_db": mongo_db_name,
            "cookie_secure": False,
            # Reread the key ring on every use, so a rotation shows at once.
            "signing_keys_refresh_s": 0,
            "key_encryption_keys": kek,
            **overrides,
        }
        return AuthSettings(**values)

    return build


StartAuth = Callable[..., Awaitable[AuthServer]]


@dataclass
class Started:
    servers: list[TestServer] = field(default_factory=list)
    latest: AuthServer | None = None


@pytest.fixture
def started() -> Started:
    return Started()


@pytest.fixture
async def start_auth(
    auth_settings: Callable[..., AuthSettings], auth_port: int, started: Started
) -> AsyncIterator[StartAuth]:
    """Starts the auth service with settings overridden; new browsers talk to the latest."""

    async def start(**overrides: Any) -> AuthServer:
        settings = auth_settings(**overrides)
        clock = Clock()
        server = TestServer(create_app(settings, clock=clock), host="127.0.0.1", port=auth_port)
        await server.start_server()
        started.servers.append(server)
        started.latest = AuthServer(
            url=settings.public_url, settings=settings, server=server, clock=clock
        )
        return started.latest

    yield start
    for server in started.servers:
        await server.close()


@pytest.fixture
async def auth(start_auth: StartAuth) -> AuthServer:
    return await start_auth()


@pytest.fixture
async def new_browser(
    start_auth: StartAuth, started: Started
) -> AsyncIterator[Callable[[], Browser]]:
    sessions: list[aiohttp.ClientSession] = []

    def make() -> Browser:
        assert started.latest is not None, "start the auth service first (auth or start_auth)"
        # unsafe: the jar keeps cookies of IP-address hosts (127.0.0.1) too.
        session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        sessions.append(session)
        return Browser(session=session, auth=started.latest)

    yield make
    for session in sessions:
        await session.close()


@pytest.fixture
async def browser(auth: AuthServer, new_browser: Callable[[], Browser]) -> Browser:
    return new_browser()


@pytest.fixture
async def verifier(auth: AuthServer, http: aiohttp.ClientSession) -> TokenVerifier:
    """What the boards service builds from BOARDS_JWKS_URL: our JWKS, its issuer, its audience."""
    return TokenVerifier(
        JwksKeys(auth.jwks_url(), http), issuer=auth.settings.issuer, audience="cardstream-boards"
    )


@pytest.fixture
async def accounts(mongo: AsyncMongoClient[dict[str, Any]], mongo_db_name: str) -> MongoAccounts:
    store = MongoAccounts(mongo[mongo_db_name])
    await store.ensure_indexes()
    return store


@pytest.fixture
def state_redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A Redis of the test's own for auth's state (`state_redis_url`), capped small enough to
    fill in a moment."""
    with RedisServer(tmp_path / "state-redis", maxmemory="2mb") as server:
        yield server


@pytest.fixture
async def state_redis(state_redis_server: RedisServer) -> AsyncIterator[Redis]:
    client = Redis.from_url(state_redis_server.url)
    yield client
    await client.aclose()


class Helpers:
    """Test modules cannot import conftest; they get these through the `helpers` fixture."""

    @staticmethod
    async def fill(redis: Redis) -> int:
        """Writes login-state-sized values until Redis refuses one, as a login flood from many
        addresses would, and keeps it full; how many went in. Bounded: a 2 MB cap takes some
        400."""
        for written in range(10_000):
            try:
                await redis.set(f"flood:{written}", b"x" * 2700)
            except OutOfMemoryError:
                break
        else:
            raise AssertionError("the Redis took 27 MB without refusing a write: is it capped?")
        # Right at the cap, a small write fits again whenever a client's buffers shrink; a cap
        # pinned below what is stored keeps every write refused, as a flood that goes on would.
        used = int((await redis.info("memory"))["used_memory"])
        await redis.config_set("maxmemory", used - 256 * 1024)
        return written

    @staticmethod
    async def auth_cli(mongo_url: str, mongo_db: str, kek: str, *args: str) -> tuple[int, str, str]:
        """`python -m auth <args>` against that database: exit status, stdout, stderr."""
        env = {
            **os.environ,
            "AUTH_MONGO_URL": mongo_url,
            "AUTH_MONGO_DB": mongo_db,
            "AUTH_KEY_ENCRYPTION_KEYS": kek,
        }
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "auth",
            *args,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(), timeout=60)
        assert process.returncode is not None
        return process.returncode, out.decode(), err.decode()

    @staticmethod
    def kid_of(token: str) -> str:
        kid: str = jwt.get_unverified_header(token)["kid"]
        return kid

    @staticmethod
    def claims_of(token: str) -> dict[str, Any]:
        claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
        return claims

    @staticmethod
    def verifier(
        auth: AuthServer, http: aiohttp.ClientSession, audience: str = "cardstream-boards"
    ) -> TokenVerifier:
        return TokenVerifier(
            JwksKeys(auth.jwks_url(), http), issuer=auth.settings.issuer, audience=audience
        )


@pytest.fixture
def helpers() -> type[Helpers]:
    return Helpers
