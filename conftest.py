"""Fixtures for every test in the repository: private servers, shared per session.

Fixtures are sync on purpose: with pytest-asyncio in auto mode an async fixture would be
re-created per test. Tests share one server per session and isolate their data by key prefix
(Redis) and database name (MongoDB). A test that restarts or breaks a server starts its own
`RedisServer`/`FerretDBServer` instead of using these.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
from cardstream_testing import FerretDBServer, RedisServer
from pymongo import MongoClient


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with RedisServer(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    return redis_server.url


@pytest.fixture(scope="session")
def mongo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FerretDBServer]:
    # Only built when a test asks for it: FerretDB is the slower of the two to start.
    with FerretDBServer(tmp_path_factory.mktemp("ferretdb")) as server:
        yield server


@pytest.fixture
def mongo_url(mongo_server: FerretDBServer) -> str:
    return mongo_server.url


@pytest.fixture
def key_prefix() -> str:
    return f"t{secrets.token_hex(4)}:"


@pytest.fixture
def mongo_db_name(mongo_server: FerretDBServer) -> Iterator[str]:
    name = f"t{secrets.token_hex(6)}"
    yield name
    # Each FerretDB/SQLite database is a file with its own connection pool; don't pile them up.
    client: MongoClient[dict[str, object]] = MongoClient(mongo_server.url)
    with client:
        client.drop_database(name)
