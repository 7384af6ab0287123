"""RedisServer's memory cap (auth's state Redis in `make run` and the test stacks): at the cap a
write is refused and nothing already stored is evicted."""

from __future__ import annotations

from pathlib import Path

import redis
from cardstream_devstack import RedisServer


def _fill(client: redis.Redis, value: bytes, most: int) -> int:
    """How many values were written before the first refusal (`most` if none was refused)."""
    for written in range(most):
        try:
            client.set(f"k{written}", value)
        except redis.exceptions.OutOfMemoryError:
            return written
    return most


def test_a_capped_server_refuses_writes_at_its_cap_and_keeps_what_it_has(tmp_path: Path) -> None:
    with RedisServer(tmp_path / "redis", maxmemory="2mb") as server:
        client = redis.Redis.from_url(server.url)
        assert client.config_get("maxmemory")["maxmemory"] == str(2 * 1024 * 1024)
        assert client.config_get("maxmemory-policy")["maxmemory-policy"] == "noeviction"

        # 2 MB of 4 KB values is some 250 of them: well under the bound.
        written = _fill(client, b"x" * 4096, most=1000)

        assert 0 < written < 1000
        assert client.exists(*(f"k{i}" for i in range(written))) == written
        assert client.delete("k0") == 1  # what frees memory is still allowed
        client.close()


def test_an_uncapped_server_has_no_maxmemory(tmp_path: Path) -> None:
    with RedisServer(tmp_path / "redis") as server:
        client = redis.Redis.from_url(server.url)
        assert client.config_get("maxmemory")["maxmemory"] == "0"
        client.close()
