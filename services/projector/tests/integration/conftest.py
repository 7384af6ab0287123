from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from projector.mongo import MongoReadStore
from pymongo import AsyncMongoClient

pytestmark = pytest.mark.integration


@pytest.fixture
async def mongo(mongo_url: str) -> AsyncIterator[AsyncMongoClient[dict[str, object]]]:
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(mongo_url, tz_aware=True)
    yield client
    await client.close()


@pytest.fixture
async def read_store(
    mongo: AsyncMongoClient[dict[str, object]], mongo_db_name: str
) -> MongoReadStore:
    store = MongoReadStore(mongo[mongo_db_name])  # type: ignore[arg-type]
    await store.ensure_indexes()
    return store
