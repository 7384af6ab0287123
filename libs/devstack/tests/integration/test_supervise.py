"""Supervisor (make run keeps its processes up, issue 12 finding 12), against a real Redis: one
killed is started again on its port with its data; one that keeps dying stops the stack."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis
from cardstream_devstack import CrashLoopError, RedisServer, Supervisor


def test_a_killed_server_is_started_again_with_its_data(tmp_path: Path) -> None:
    said: list[str] = []
    with RedisServer(tmp_path / "redis") as server:
        client = redis.Redis.from_url(server.url)
        client.set("kept", "1")
        client.save()  # on disk, so a restart finds it whatever the AOF policy
        supervisor = Supervisor({"redis": server}, say=said.append)
        assert supervisor.check() == []

        server.kill()
        assert supervisor.check() == ["redis"]

        assert client.get("kept") == b"1"
        assert len(said) == 1
        assert said[0].startswith("redis exited with status -9; starting it again")
        client.close()


def test_a_crash_loop_stops_the_stack(tmp_path: Path) -> None:
    moments = iter([0.0, 1.0, 2.0])
    with RedisServer(tmp_path / "redis") as server:
        supervisor = Supervisor(
            {"redis": server},
            max_restarts=2,
            window_s=60,
            say=lambda _: None,
            clock=lambda: next(moments),
        )
        for _ in range(2):
            server.kill()
            assert supervisor.check() == ["redis"]
        server.kill()

        with pytest.raises(CrashLoopError, match="redis exited with status -9 after 2 restarts"):
            supervisor.check()


def test_restarts_long_ago_do_not_count(tmp_path: Path) -> None:
    moments = iter([0.0, 100.0])
    with RedisServer(tmp_path / "redis") as server:
        supervisor = Supervisor(
            {"redis": server},
            max_restarts=1,
            window_s=60,
            say=lambda _: None,
            clock=lambda: next(moments),
        )
        server.kill()
        assert supervisor.check() == ["redis"]
        server.kill()
        assert supervisor.check() == ["redis"]
