"""The FerretDB that `make run` and the tests start answers update commands of any number of
statements, one or several at once (deploy/ferretdb/patches/0002: stock 1.24.2 held a pooled
connection per statement until the whole command ended, and never answered once 100 were held).

Each command runs under a client-side deadline, so a FerretDB that hangs fails the test instead of
stopping it; the deadline is a bound on "answers", far above what an answer takes.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pymongo import AsyncMongoClient, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection

Doc = dict[str, Any]
DOCUMENTS = 1_000
ANSWERS_WITHIN_S = 30


@pytest.fixture
async def buckets(mongo_url: str, mongo_db_name: str) -> AsyncCollection[Doc]:
    client: AsyncMongoClient[Doc] = AsyncMongoClient(
        mongo_url, socketTimeoutMS=ANSWERS_WITHIN_S * 1000
    )
    collection = client[mongo_db_name]["buckets"]
    await collection.insert_many([{"_id": f"b{i}", "version": 0} for i in range(DOCUMENTS)])
    yield collection  # type: ignore[misc]
    await client.close()


def _guarded(ids: range, version: int) -> list[UpdateOne]:
    return [
        UpdateOne({"_id": f"b{i}", "version": {"$lt": version}}, {"$set": {"version": version}})
        for i in ids
    ]


async def test_one_command_of_many_statements_is_answered(buckets: AsyncCollection[Doc]) -> None:
    result = await buckets.bulk_write(_guarded(range(500), 1), ordered=False)

    assert (result.matched_count, result.modified_count) == (500, 500)
    again = await buckets.bulk_write(_guarded(range(500), 1), ordered=False)
    assert again.matched_count == 0  # the guards still hold


async def test_several_commands_at_once_are_answered(buckets: AsyncCollection[Doc]) -> None:
    commands = [
        buckets.bulk_write(_guarded(range(start, start + 100), 2), ordered=False)
        for start in range(0, DOCUMENTS, 100)
    ]

    results = await asyncio.gather(*commands)

    assert sum(r.modified_count for r in results) == DOCUMENTS
    assert await buckets.count_documents({"version": 2}) == DOCUMENTS
