"""The pytest fixtures every test directory shares, loaded by the root conftest.py as a plugin.

Servers are per session and sync on purpose: an async fixture would be bound to one test's event
loop. Tests share one server per session and isolate their data by key prefix (Redis) and
database name (MongoDB); a test that restarts or breaks a server starts its own `RedisServer` or
`FerretDBServer` instead. Clients are per test, on the test's own loop.

A test marked `unit` (the root conftest marks tests by directory) gets no server: asking for one,
directly or through another fixture, fails the test at setup, before anything starts.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from cardstream_runtime.devtoken import DevSigner
from cardstream_runtime.redis_urls import AnyRedis, redis_from_url
from contracts.streams import StreamKeys
from pymongo import AsyncMongoClient, MongoClient

from cardstream_testing.servers import FerretDBServer, RedisCluster, RedisServer

# What `signer` signs for and `stream_keys` spreads over; apps a test starts are configured alike.
ISSUER = "cardstream-test"
AUDIENCE = "cardstream"
PARTITIONS = 4

SERVER_FIXTURES = ("redis_server", "mongo_server", "redis_cluster")
_running = pytest.StashKey[pytest.Item]()


def refuse_servers_in_unit_tests(item: pytest.Item, wanted: Sequence[str]) -> None:
    if not wanted or item.get_closest_marker("unit") is None:
        return
    pytest.fail(
        f"{item.nodeid} is a unit test (by its directory, see the root conftest.py) but asks for "
        f"{' and '.join(wanted)}: unit tests start no server. Use an in-memory fake whose "
        "contract suite also runs against the real adapter, or move the test to an integration "
        "directory.",
        pytrace=False,
    )


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    item.config.stash[_running] = item
    # The fixture closure: servers asked for through other fixtures count too.
    closure: Sequence[str] = getattr(item, "fixturenames", ())
    refuse_servers_in_unit_tests(item, [name for name in SERVER_FIXTURES if name in closure])


def _refuse_for_running_test(request: pytest.FixtureRequest, fixture: str) -> None:
    # For a server asked for by name at run time (`request.getfixturevalue`).
    item = request.config.stash.get(_running, None)
    if item is not None:
        refuse_servers_in_unit_tests(item, [fixture])


@pytest.fixture(scope="session")
def redis_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RedisServer]:
    _refuse_for_running_test(request, "redis_server")
    with RedisServer(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture(scope="session")
def mongo_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FerretDBServer]:
    _refuse_for_running_test(request, "mongo_server")
    # Only built when a test asks for it: FerretDB is the slower of the two to start.
    with FerretDBServer(tmp_path_factory.mktemp("ferretdb")) as server:
        yield server


@pytest.fixture(scope="session")
def redis_cluster(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RedisCluster]:
    """Three primaries and three replicas, shared by the session as the single server is. A
    test may fail a primary over (`CLUSTER FAILOVER`): the cluster stays whole, only roles swap,
    so no test may count on which node is a primary. A test that kills a node starts its own."""
    _refuse_for_running_test(request, "redis_cluster")
    with RedisCluster(tmp_path_factory.mktemp("redis-cluster")) as cluster:
        yield cluster


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """`@pytest.mark.redis_kinds("server", "cluster")` runs a test (or a module's, a class's)
    once on each: its `redis_url`, `redis` and what is built from them name that one."""
    marker = metafunc.definition.get_closest_marker("redis_kinds")
    if marker is not None and "redis_kind" in metafunc.fixturenames:
        metafunc.parametrize("redis_kind", marker.args, ids=[str(kind) for kind in marker.args])


@pytest.fixture
def redis_kind() -> str:
    """`server` (one Redis) unless the test is marked to run on others (`redis_kinds`)."""
    return "server"


@pytest.fixture
def redis_url(request: pytest.FixtureRequest, redis_kind: str) -> str:
    """The shared single server's URL, or the shared cluster's (`redis+cluster://`) for a test
    run on it; a cluster is started only if some test asks for it."""
    if redis_kind not in ("server", "cluster"):
        raise ValueError(f"no Redis of kind {redis_kind!r}: server or cluster")
    fixture = "redis_cluster" if redis_kind == "cluster" else "redis_server"
    server: RedisServer | RedisCluster = request.getfixturevalue(fixture)
    return server.url


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


@pytest_asyncio.fixture
async def redis(redis_url: str) -> AsyncIterator[AnyRedis]:
    client = redis_from_url(redis_url, decode_responses=False)
    yield client
    await client.aclose()


@pytest_asyncio.fixture
async def mongo(mongo_url: str) -> AsyncIterator[AsyncMongoClient[dict[str, Any]]]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_url, tz_aware=True)
    yield client
    await client.close()


@pytest_asyncio.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        yield session


@pytest.fixture
def signer() -> DevSigner:
    return DevSigner.generate(issuer=ISSUER, audience=AUDIENCE)


@pytest.fixture
def stream_keys(key_prefix: str) -> StreamKeys:
    return StreamKeys(prefix=key_prefix, partitions=PARTITIONS)
