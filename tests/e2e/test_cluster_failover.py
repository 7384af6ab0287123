"""A primary of the Redis Cluster killed under load (issue 13, item 3): with BOARDS_REPLICA_ACKS=1
no command the boards service acknowledged is lost when the primary's replica takes over, and
every WebSocket subscriber converges on the log.

The boards service and two projector processes (sharing the partitions through their leases)
run as real processes on their own cluster (3 primaries, a replica each, a 1 s node timeout so
that the cluster fails over by itself). Writers on boards spread over every primary send
commands; two subscribers, one on each projector, follow every board. Mid-load one primary is
SIGKILLed. Its replica is promoted by the cluster, and the killed node is started again and
rejoins as the new primary's replica (until then the promoted primary has no replica to confirm
anything: its appends are answered 503 `replication_timeout`, as they must be). Every writer
sends each command again, with the same command_id, until it is answered. Afterwards each
board's log is read from the cluster: every acknowledged command is there exactly once, at the
version it was answered with, and the versions have no gap; each subscriber's board is at the
log's head, folded from the log's own events since its last snapshot, and equal to the read
model. The test prints a JSON report.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from cardstream_runtime.devtoken import load_signer
from cardstream_runtime.redis_urls import redis_from_url
from cardstream_testing import FerretDBServer, RedisCluster, RedisClusterNode
from cardstream_testing.answers import read_answer
from cardstream_testing.chaos.subscribers import Subscriber, View
from cardstream_testing.chaos.verify import Findings, check_subscribers
from cardstream_testing.processes import ServiceProcess
from contracts.read_models import BoardDetail
from contracts.streams import StreamKeys
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.crc import key_slot

ISSUER, AUDIENCE = "cardstream-dev", "cardstream"
SEED = 13
WRITERS = 12
BOARDS_PER_PRIMARY = 3
LOAD_BEFORE_KILL_S = 3.0
LOAD_WITHOUT_REPLICA_S = 1.5  # the promoted primary alone: its appends cannot be confirmed
LOAD_AFTER_REJOIN_S = 2.0
PACING_S = 0.01  # between one writer's commands: load, not a flood of one core
RETRY_PACING_S = 0.05
DEADLINE_S = 45.0
CONVERGED_S = 20.0  # for the subscribers to reach every head once the load has stopped
RETRYABLE = {500, 502, 503, 504}


@dataclass
class Tally:
    acknowledged: dict[str, tuple[str, int, str]] = field(default_factory=dict)  # command id ->
    # (board, version, event id), as answered
    before_kill: int = 0
    after_kill: int = 0
    retries: int = 0
    unanswered: Counter[str] = field(default_factory=Counter)  # why a try got no 2xx
    killed_at: float | None = None
    promoted_s: float | None = None  # after the kill
    rejoined_s: float | None = None
    seen_s: dict[str, list[float]] = field(default_factory=dict)  # why -> first, last try
    stop: bool = False

    def unanswered_try(self, why: str) -> None:
        self.unanswered[why] += 1
        at = round(time.monotonic() - (self.killed_at or time.monotonic()), 2)
        self.seen_s.setdefault(why, [at, at])[1] = at


def _boards_env(cluster: RedisCluster, key_file: Path) -> dict[str, str]:
    return {
        "BOARDS_REDIS_URL": cluster.url,
        "BOARDS_REPLICA_ACKS": "1",
        "BOARDS_REPLICA_WAIT_MS": "500",
        "BOARDS_REDIS_TIMEOUT_S": "2",
        "BOARDS_JWT_PUBLIC_KEY_FILE": str(key_file),
        "BOARDS_JWT_ISSUER": ISSUER,
        "BOARDS_JWT_AUDIENCE": AUDIENCE,
        "BOARDS_COMMANDS_PER_USER_PER_S": "100000",
        "BOARDS_COMMANDS_BURST": "100000",
        "BOARDS_LOG_LEVEL": "ERROR",
    }


def _projector_env(
    cluster: RedisCluster, key_file: Path, mongo_url: str, mongo_db: str
) -> dict[str, str]:
    return {
        "PROJECTOR_REDIS_URL": cluster.url,
        "PROJECTOR_MONGO_URL": mongo_url,
        "PROJECTOR_MONGO_DB": mongo_db,
        "PROJECTOR_LEASE_MS": "1500",
        "PROJECTOR_JWT_PUBLIC_KEY_FILE": str(key_file),
        "PROJECTOR_JWT_ISSUER": ISSUER,
        "PROJECTOR_JWT_AUDIENCE": AUDIENCE,
        "PROJECTOR_LOG_LEVEL": "ERROR",
    }


@dataclass
class DevReader:
    """Reads with one dev-signed token, which outlives the test."""

    token: str
    email: str = "alice (dev token)"

    async def reading_token(self) -> str:
        return self.token

    async def renew(self, refused: str) -> None:
        raise AssertionError("the projector refused a valid dev token")


async def _send(
    session: aiohttp.ClientSession, url: str, token: str, body: dict[str, Any], tally: Tally
) -> Any:
    """Sends one command until it is answered 2xx (the same command_id each time)."""
    deadline = time.monotonic() + DEADLINE_S
    while True:
        try:
            async with session.post(
                url, json=body, headers={"Authorization": f"Bearer {token}"}
            ) as response:
                answer = await read_answer(response, command=True)
                if response.status < 300:
                    return answer
                assert response.status in RETRYABLE, (response.status, answer)
                tally.unanswered_try(answer["error"]["code"])
        except (aiohttp.ClientConnectionError, TimeoutError) as exc:
            tally.unanswered_try(type(exc).__name__)
        assert time.monotonic() < deadline, f"{body['command_id']} never answered"
        tally.retries += 1
        await asyncio.sleep(RETRY_PACING_S)


async def _writer(
    n: int,
    rng: random.Random,
    session: aiohttp.ClientSession,
    token: str,
    boards: list[str],
    tally: Tally,
) -> None:
    i = 0
    while not tally.stop:
        board = rng.choice(boards)
        command = {
            "command_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "type": "RenameBoard",
            "payload": {"title": f"w{n}-{i}"},
        }
        answer = await _send(session, f"/api/boards/{board}/commands", token, command, tally)
        tally.acknowledged[command["command_id"]] = (
            board,
            answer["version"],
            answer["events"][0]["event_id"],
        )
        if tally.killed_at is None:
            tally.before_kill += 1
        else:
            tally.after_kill += 1
        i += 1
        await asyncio.sleep(PACING_S)


async def _create_boards(
    session: aiohttp.ClientSession, token: str, cluster: RedisCluster, tally: Tally
) -> dict[str, list[str]]:
    """Boards until every primary serves BOARDS_PER_PRIMARY (the service picks their ids)."""
    keys = StreamKeys()
    by_primary: dict[str, list[str]] = {p.address: [] for p in cluster.primaries()}
    while any(len(held) < BOARDS_PER_PRIMARY for held in by_primary.values()):
        create = {"command_id": str(uuid.uuid4()), "type": "CreateBoard", "payload": {"title": "F"}}
        answer = await _send(session, "/api/boards", token, create, tally)
        board = answer["board_id"]
        tally.acknowledged[create["command_id"]] = (board, 1, answer["events"][0]["event_id"])
        primary = cluster.primary_for(key_slot(keys.board_log(uuid.UUID(board)).encode()))
        by_primary[primary.address].append(board)
    return by_primary


async def _kill_and_recover(cluster: RedisCluster, victim: RedisClusterNode, tally: Tally) -> None:
    cluster.kill(victim)
    tally.killed_at = time.monotonic()
    # Blocking polls (with deadlines) in a thread: the writers go on meanwhile.
    await asyncio.to_thread(cluster.wait_until_ok, every_node_up=False)  # replica promoted
    tally.promoted_s = round(time.monotonic() - tally.killed_at, 2)
    await asyncio.sleep(LOAD_WITHOUT_REPLICA_S)  # load pacing: the writers meet the lone primary
    await asyncio.to_thread(cluster.restart, victim)  # back, as the new primary's replica
    tally.rejoined_s = round(time.monotonic() - tally.killed_at, 2)


async def _read_models(
    url: str, token: str, logs: dict[str, list[dict[str, Any]]]
) -> dict[str, BoardDetail]:
    details = {}
    async with aiohttp.ClientSession(url, timeout=aiohttp.ClientTimeout(total=10)) as session:
        for board, log in logs.items():
            async with session.get(
                f"/api/boards/{board}",
                params={"min_version": str(len(log))},
                headers={"Authorization": f"Bearer {token}"},
            ) as response:
                assert response.status == 200, await response.text()
                details[board] = BoardDetail.model_validate(await response.json())
    return details


def _subscriber_problems(
    subscribers: list[Subscriber],
    logs: dict[str, list[dict[str, Any]]],
    details: dict[str, BoardDetail],
) -> list[str]:
    findings = Findings()
    logged = {
        board: [(e["version"], e["event_id"], e["command_id"]) for e in log]
        for board, log in logs.items()
    }
    check_subscribers(subscribers, logged, details, findings)
    return findings.subscriber_mismatches


async def _logs(cluster: RedisCluster, boards: list[str]) -> dict[str, list[dict[str, Any]]]:
    client = redis_from_url(cluster.url, decode_responses=False)
    assert isinstance(client, AsyncRedisCluster)
    keys = StreamKeys()
    try:
        logs = {}
        for board in boards:
            entries = await client.xrange(keys.board_log(uuid.UUID(board)))
            logs[board] = [json.loads(fields[b"event"]) for _, fields in entries]
        return logs
    finally:
        await client.aclose()


def _check(tally: Tally, logs: dict[str, list[dict[str, Any]]]) -> dict[str, int]:
    gaps = sum([e["version"] for e in log] != list(range(1, len(log) + 1)) for log in logs.values())
    logged = Counter(e["command_id"] for log in logs.values() for e in log)
    where = {e["event_id"]: (board, e["version"]) for board, log in logs.items() for e in log}
    missing = [
        command
        for command, (board, version, event_id) in tally.acknowledged.items()
        if where.get(event_id) != (board, version)
    ]
    return {
        "missing": len(missing),
        "duplicated": sum(1 for command in tally.acknowledged if logged[command] != 1),
        "boards_with_gaps": gaps,
        "events_logged": sum(len(log) for log in logs.values()),
    }


class TestAPrimaryKilledUnderLoad:
    async def test_no_acknowledged_command_is_lost_and_every_subscriber_converges(
        self, tmp_path: Path, mongo_server: FerretDBServer, mongo_db_name: str
    ) -> None:
        rng = random.Random(SEED)
        print(f"failover test seed: {SEED}")
        started = time.monotonic()
        key_dir = tmp_path / "jwt"
        token = load_signer(key_dir, issuer=ISSUER, audience=AUDIENCE).token("alice")
        public_key = key_dir / "public.pem"
        tally = Tally()
        with (
            RedisCluster(tmp_path / "cluster", node_timeout_ms=1000) as cluster,
            ServiceProcess(
                "boards",
                _boards_env(cluster, public_key),
                port_setting="BOARDS_PORT",
                log_path=tmp_path / "boards.log",
            ) as service,
            ServiceProcess(
                "projector",
                _projector_env(cluster, public_key, mongo_server.url, mongo_db_name),
                port_setting="PROJECTOR_PORT",
                log_path=tmp_path / "projector-1.log",
            ) as first,
            ServiceProcess(
                "projector",
                _projector_env(cluster, public_key, mongo_server.url, mongo_db_name),
                port_setting="PROJECTOR_PORT",
                log_path=tmp_path / "projector-2.log",
            ) as second,
        ):
            timeout = aiohttp.ClientTimeout(total=5)
            async with (
                aiohttp.ClientSession(service.url, timeout=timeout) as session,
                aiohttp.ClientSession(timeout=timeout) as reading,
            ):
                by_primary = await _create_boards(session, token, cluster, tally)
                boards = [board for held in by_primary.values() for board in held]
                subscribers = [
                    Subscriber(projector.url, DevReader(token), {b: View(b) for b in boards})
                    for projector in (first, second)
                ]
                following = [asyncio.create_task(s.run(reading)) for s in subscribers]
                writers = [
                    asyncio.create_task(
                        _writer(n, random.Random(rng.random()), session, token, boards, tally)
                    )
                    for n in range(WRITERS)
                ]
                await asyncio.sleep(LOAD_BEFORE_KILL_S)  # load pacing: the writers run
                victim = rng.choice(cluster.primaries())
                await _kill_and_recover(cluster, victim, tally)
                await asyncio.sleep(LOAD_AFTER_REJOIN_S)  # load pacing: after the failover
                tally.stop = True
                await asyncio.gather(*writers)
                logs = await _logs(cluster, boards)
                heads = {board: len(log) for board, log in logs.items()}
                until = time.monotonic() + CONVERGED_S
                converged = [await s.until_at(heads, until) for s in subscribers]
                details = await _read_models(first.url, token, logs)
                for subscriber in subscribers:
                    await subscriber.close()
                await asyncio.gather(*following, return_exceptions=True)
            log_text = service.log()

        found = _check(tally, logs)
        mismatches = _subscriber_problems(subscribers, logs, details)
        report = {
            "seed": SEED,
            "killed": victim.address,
            "boards": len(boards),
            "boards_on_killed_primary": len(by_primary[victim.address]),
            "acknowledged_before_kill": tally.before_kill,
            "acknowledged_after_kill": tally.after_kill,
            "retries": tally.retries,
            "unanswered_tries": dict(tally.unanswered),
            "promoted_after_s": tally.promoted_s,
            "rejoined_after_s": tally.rejoined_s,
            "unanswered_between_s": tally.seen_s,
            **found,
            "subscribers": [s.stats() for s in subscribers],
            "subscribers_converged": converged,
            "subscriber_mismatches": mismatches[:10],
            "seconds": round(time.monotonic() - started, 1),
        }
        print(json.dumps(report))
        assert "Traceback" not in log_text, log_text[-4000:]
        assert found == {**found, "missing": 0, "duplicated": 0, "boards_with_gaps": 0}
        assert tally.before_kill > 0
        assert tally.after_kill > 0
        assert tally.unanswered["store_unavailable"], "the kill caught no command in flight"
        assert tally.unanswered["replication_timeout"], "no append met the replica-less primary"
        # Every acknowledged rename, and every create, is one event: nothing else was written.
        assert found["events_logged"] == len(tally.acknowledged)
        assert converged == [True, True]
        assert mismatches == []
