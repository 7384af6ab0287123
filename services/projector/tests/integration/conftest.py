from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from cardstream_runtime.devtoken import DevSigner
from cardstream_runtime.jwt import StaticKeys
from cardstream_testing.fixtures import PARTITIONS
from projector.app import OnApplied, OnDiverged, create_app
from projector.settings import ProjectorSettings
from projector.store.memory import InMemoryReadStore
from projector.store.mongo import MongoReadStore
from projector.store.port import ReadStore
from pymongo import AsyncMongoClient

Client = TestClient[web.Request, web.Application]
MakeClient = Callable[..., Awaitable[Client]]


@pytest.fixture(params=["memory", "mongo"])
async def store(
    request: pytest.FixtureRequest,
    mongo: AsyncMongoClient[dict[str, object]],
    mongo_db_name: str,
) -> ReadStore:
    """Each store the read side has, the fake and the real one, for the suites both must pass."""
    if request.param == "memory":
        return InMemoryReadStore()
    mongo_store = MongoReadStore(mongo[mongo_db_name])  # type: ignore[arg-type]
    await mongo_store.ensure_indexes()
    return mongo_store


@pytest.fixture
async def read_store(
    mongo: AsyncMongoClient[dict[str, object]], mongo_db_name: str
) -> MongoReadStore:
    store = MongoReadStore(mongo[mongo_db_name])  # type: ignore[arg-type]
    await store.ensure_indexes()
    return store


@pytest.fixture
def app_settings() -> dict[str, Any]:
    """The settings a module's apps start from, besides the servers and the signer; a module
    overrides this fixture to start from others, a test passes overrides to `make_client`."""
    return {"role": "both", "lease_ms": 600, "block_ms": 100}


@pytest.fixture
def make_client(
    aiohttp_client: Callable[[web.Application], Awaitable[Client]],
    tmp_path: Path,
    signer: DevSigner,
    redis_url: str,
    mongo_url: str,
    mongo_db_name: str,
    key_prefix: str,
    app_settings: dict[str, Any],
) -> MakeClient:
    """Starts a projector app in process, over the test's Redis prefix and database; keyword
    arguments that `create_app` takes (`on_applied`, `on_diverged`, `store`) go to it, the rest
    are settings."""
    public = tmp_path / "public.pem"
    public.write_bytes(signer.public_pem())
    keys = StaticKeys({signer.kid: signer.private_key.public_key()})

    async def make(
        *,
        on_applied: OnApplied | None = None,
        on_diverged: OnDiverged | None = None,
        store: ReadStore | None = None,
        **overrides: Any,
    ) -> Client:
        settings = ProjectorSettings(
            **{
                "redis_url": redis_url,
                "mongo_url": mongo_url,
                "mongo_db": mongo_db_name,
                "key_prefix": key_prefix,
                "partitions": PARTITIONS,
                "jwt_issuer": signer.issuer,
                "jwt_audience": signer.audience,
                "jwt_public_key_file": public,
                **app_settings,
                **overrides,
            }
        )
        app = create_app(
            settings, keys=keys, store=store, on_applied=on_applied, on_diverged=on_diverged
        )
        return await aiohttp_client(app)

    return make


@pytest.fixture
async def client(make_client: MakeClient) -> Client:
    return await make_client()
