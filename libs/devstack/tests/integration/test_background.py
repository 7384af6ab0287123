"""A server started in the background (as `make run` starts FerretDB) runs every one of its threads
on idle CPU time only, and one started normally does not; it answers all the same."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from cardstream_devstack import FerretDBServer
from pymongo import MongoClient


def _policies(pid: int) -> set[int]:
    return {os.sched_getscheduler(int(tid)) for tid in os.listdir(f"/proc/{pid}/task")}


@pytest.mark.parametrize(("background", "policy"), [(True, "SCHED_IDLE"), (False, "SCHED_OTHER")])
def test_every_thread_of_the_server_runs_under_its_policy(
    tmp_path: Path, background: bool, policy: str
) -> None:
    with FerretDBServer(tmp_path / "ferretdb", background=background) as server:
        client: MongoClient[dict[str, object]] = MongoClient(server.url)
        with client:
            status = client.admin.command("serverStatus")
            client["db"]["c"].insert_one({"_id": "a"})
            assert client["db"]["c"].find_one({"_id": "a"}) == {"_id": "a"}
        assert _policies(int(status["pid"])) == {getattr(os, policy)}
