"""Deadlines on request paths (issue 12, hole 8): with MongoDB frozen, auth's requests answer
503 deadline_exceeded instead of hanging, and /readyz says which store did not answer."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from cardstream_testing import FerretDBServer
from cardstream_testing.answers import read_answer

# The client gives up long after the service's deadlines: an answer at all is the point.
PATIENCE = aiohttp.ClientTimeout(total=15)


@pytest.fixture
def own_mongo(tmp_path: Path) -> Iterator[FerretDBServer]:
    """A FerretDB of this test's own, since it is frozen."""
    with FerretDBServer(tmp_path / "ferretdb") as server:
        yield server


async def test_a_frozen_mongodb_is_a_503_and_readiness_names_it(
    start_auth, new_browser, http: aiohttp.ClientSession, own_mongo: FerretDBServer
) -> None:
    auth = await start_auth(mongo_url=own_mongo.url, request_timeout_s=2.0)
    _, tokens, _ = await new_browser().login()
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}

    with own_mongo.frozen():
        async with http.get(f"{auth.url}/readyz", timeout=PATIENCE) as response:
            assert response.status == 503
            body = await response.json()
        assert "mongo" in body, body
        assert body["mongo"].startswith("no answer within"), body
        assert "redis" not in body
        async with http.get(f"{auth.url}/auth/me", headers=bearer, timeout=PATIENCE) as response:
            assert response.status == 503
            assert (await read_answer(response))["error"]["code"] == "deadline_exceeded"

    async with http.get(f"{auth.url}/readyz", timeout=PATIENCE) as response:
        assert response.status == 200
    async with http.get(f"{auth.url}/auth/me", headers=bearer, timeout=PATIENCE) as response:
        assert response.status == 200
