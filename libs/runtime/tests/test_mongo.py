"""The concerns every service's MongoDB client runs with, whatever its URL says."""

from __future__ import annotations

from cardstream_runtime.mongo import mongo_client
from pymongo import ReadPreference


async def test_majority_journaled_writes_majority_reads_from_the_primary() -> None:
    client = mongo_client("mongodb://127.0.0.1:1/", timeout_ms=100)
    try:
        assert client.write_concern.document == {"w": "majority", "j": True}
        assert client.read_concern.level == "majority"
        assert client.read_preference == ReadPreference.PRIMARY
    finally:
        await client.close()


async def test_options_in_the_url_cannot_weaken_them() -> None:
    weaker = (
        "mongodb://127.0.0.1:1/?w=1&journal=false&readConcernLevel=local&readPreference=nearest"
    )
    client = mongo_client(weaker, timeout_ms=100)
    try:
        assert client.write_concern.document == {"w": "majority", "j": True}
        assert client.read_concern.level == "majority"
        assert client.read_preference == ReadPreference.PRIMARY
    finally:
        await client.close()


async def test_the_rest_comes_from_the_url() -> None:
    url = "mongodb://a.example:27017,b.example:27017/?replicaSet=rs0&tls=true"
    client = mongo_client(url, timeout_ms=1500)
    try:
        assert client.options.replica_set_name == "rs0"
        assert client.options.server_selection_timeout == 1.5
        assert set(client.topology_description.server_descriptions()) == {
            ("a.example", 27017),
            ("b.example", 27017),
        }
    finally:
        await client.close()
