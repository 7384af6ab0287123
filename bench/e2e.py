"""The `e2e` benchmark: from a command's HTTP request to its receipt by WebSocket subscribers.

Everything runs as it would in production, each in its own process: a private Redis (AOF, fsync
always), FerretDB, the boards service, one projector (applying the feeds to MongoDB and serving
the WebSockets), the load generator (this process) and the subscribers (`bench.subscribers`).

Design budget, reported and never asserted: p50 under 5 ms and p99 under 25 ms at 1,000 commands/s
with 100 subscribers on one board.
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson
from contracts.streams import StreamKeys
from pymongo import AsyncMongoClient
from pymongo.errors import PyMongoError
from redis.asyncio import Redis

from bench.append import COLUMNS, Api, BenchError, Card, command
from bench.runtime import BenchSettings, CpuMeter, Tally, latency_ms, log, open_loop, run_async
from bench.services import ServiceProcess, die_with_parent, service_process
from bench.stack import (
    PARTITIONS,
    Doc,
    Servers,
    mongo_client,
    mongo_facts,
    redis_facts,
    servers,
)

KEY_PREFIX = "bench-e2e:"
# (commands/s offered, subscribers), in the order they run.
ROWS = ((100, 1), (1000, 1), (100, 100), (1000, 100))
BUDGET_ROW = "paced_1000_subs_100"
DESIGN_BUDGET = {"row": BUDGET_ROW, "p50_ms": 5, "p99_ms": 25}
# A card is moved by one request at a time, so this many cards bound the requests in flight.
CARDS = 64
MAX_IN_FLIGHT = CARDS
REQUEST_TIMEOUT = 30.0
# How long the subscribers may take, after the last command, to receive everything.
DRAIN_TIMEOUT = 30.0
SUBSCRIBERS_START_TIMEOUT = 90.0


@dataclass(slots=True)
class Load:
    """The commands of one row: where their cards are, when each event was due, how they went."""

    api: Api
    cards: deque[Card]
    tally: Tally = field(default_factory=Tally)
    # Event version -> when the command that appended it was due to be sent, and answered.
    due: dict[int, float] = field(default_factory=dict)
    answered: dict[int, float] = field(default_factory=dict)

    async def send(self, due: float) -> None:
        card = self.cards.popleft()
        try:
            target, body = card.next_move()
            try:
                status, reply = await self.api.post(card.path, body)
            except (aiohttp.ClientError, TimeoutError) as exc:
                self.tally.failed(type(exc).__name__, str(exc))
                return
            if status != 200:
                self.tally.failed(f"HTTP {status}", reply[:300].decode(errors="replace"))
                return
            answered = time.monotonic()
            result = orjson.loads(reply)
            version, appended = int(result["version"]), len(result["events"])
            # A move may append a CardsRebalanced before its CardMoved: both are due with it.
            for v in range(version - appended + 1, version + 1):
                self.due[v] = due
                self.answered[v] = answered
            self.tally.ok(answered - due, noop=appended == 0)
            card.column = target
        finally:
            self.cards.append(card)


class SubscriberProcess:
    """`python -m bench.subscribers`, driven over its stdin and stdout (see that module)."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    @property
    def pid(self) -> int:
        return self.process.pid

    async def request(self, message: dict[str, Any], within: float) -> dict[str, Any]:
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.process.stdin.write(orjson.dumps(message) + b"\n")
        await self.process.stdin.drain()
        async with asyncio.timeout(within):
            line = await self.process.stdout.readline()
        if not line:
            raise BenchError(f"the subscribers' process exited ({self.process.returncode})")
        reply: dict[str, Any] = orjson.loads(line)
        if reply.get("ok") is False:
            raise BenchError(f"subscribers: {reply.get('error')}")
        return reply

    async def stop(self) -> None:
        if self.process.returncode is not None:
            return
        if self.process.stdin is not None:
            self.process.stdin.close()  # it exits at the end of its input
        try:
            await asyncio.wait_for(self.process.wait(), 10)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()


@asynccontextmanager
async def subscriber_process(rig: Servers) -> AsyncIterator[SubscriberProcess]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.subscribers",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=rig.log,
        start_new_session=True,
        preexec_fn=die_with_parent(),
        limit=64 * 1024 * 1024,
    )
    subscribers = SubscriberProcess(process)
    try:
        yield subscribers
    finally:
        await subscribers.stop()


@asynccontextmanager
async def _api(url: str, token: str) -> AsyncIterator[Api]:
    connector = aiohttp.TCPConnector(limit=MAX_IN_FLIGHT)
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
    async with aiohttp.ClientSession(url, connector=connector, timeout=timeout) as session:
        yield Api(session, token)


async def _new_board(api: Api) -> tuple[str, deque[Card]]:
    board_id = str(uuid.uuid4())
    await api.must("/api/boards", command("CreateBoard", title="e2e", board_id=board_id))
    path = f"/api/boards/{board_id}/commands"
    columns = tuple(str(uuid.uuid4()) for _ in range(COLUMNS))
    for i, column_id in enumerate(columns):
        await api.must(path, command("AddColumn", title=f"column {i}", column_id=column_id))
    cards: deque[Card] = deque()
    for i in range(CARDS):
        card = Card(path, str(uuid.uuid4()), columns, i % COLUMNS)
        add = command(
            "AddCard", column_id=columns[card.column], title=f"card {i}", card_id=card.card_id
        )
        await api.must(path, add)
        cards.append(card)
    return board_id, cards


@dataclass(frozen=True, slots=True)
class Running:
    """What the rows run against."""

    settings: BenchSettings
    token: str
    redis: Redis
    mongo: AsyncMongoClient[Doc]
    keys: StreamKeys
    boards: ServiceProcess
    projector: ServiceProcess
    subscribers: SubscriberProcess
    cpu: CpuMeter

    async def mongo_answers(self) -> str:
        """Whether FerretDB still answers (the projector's reads and writes wait on it)."""
        try:
            async with asyncio.timeout(5):
                await self.mongo["e2e"]["boards"].find_one({})
        except (TimeoutError, PyMongoError) as exc:
            return f"FerretDB does not answer a read within 5 s ({type(exc).__name__})"
        return "FerretDB answers"

    async def head(self, board_id: str) -> int:
        value: bytes | None = await self.redis.get(self.keys.board_head(uuid.UUID(board_id)))  # type: ignore[assignment]
        return int(value) if value is not None else 0


async def measure_row(run: Running, rate: int, count: int) -> dict[str, Any]:
    settings = run.settings
    async with _api(run.boards.url, run.token) as api:
        board_id, cards = await _new_board(api)
        since = await run.head(board_id)
        ws_url = run.projector.url.replace("http://", "ws://")
        opening = {"op": "open", "url": ws_url, "token": run.token, "board": board_id}
        try:
            opened = await run.subscribers.request(
                {**opening, "since": since, "count": count}, SUBSCRIBERS_START_TIMEOUT
            )
        except BenchError as exc:
            raise BenchError(f"{exc}; {await run.mongo_answers()}") from None
        warm = Load(api, cards)
        await open_loop(warm.send, rate, settings.warmup_seconds, MAX_IN_FLIGHT)
        load = Load(api, cards)
        before = run.cpu.read()
        elapsed = await open_loop(load.send, rate, settings.seconds, MAX_IN_FLIGHT)
        cores = run.cpu.cores_since(before, elapsed)
    head = await run.head(board_id)
    due = [[v, t, load.answered[v]] for v, t in load.due.items()]
    collect = {"op": "collect", "head": head, "due": due, "within": DRAIN_TIMEOUT}
    received = await run.subscribers.request(collect, DRAIN_TIMEOUT + 30)
    received["subscribe_s"] = opened["seconds"]
    return _row(rate, count, load, warm, elapsed, cores, received)


def _row(
    rate: int,
    count: int,
    load: Load,
    warm: Load,
    elapsed: float,
    cores: dict[str, float],
    received: dict[str, Any],
) -> dict[str, Any]:
    commands = load.tally.summary("commands", elapsed)
    row: dict[str, Any] = {
        "offered_per_s": rate,
        "subscribers": count,
        **received.pop("latency"),
        "samples": received.pop("samples"),
        "after_response": received.pop("after_response"),
        "per_subscriber_p50_ms": received.pop("per_subscriber_p50_ms"),
        "http": latency_ms(load.tally.latencies),
        "commands": commands["commands"],
        "commands_per_s": commands["commands_per_s"],
        "events": len(load.due),
        "errors": load.tally.error_count,
        "noops": load.tally.noops,
        **received,
        "events_per_frame": _per(received["delivered"], received["frames"]),
        "cpu_cores": cores,
    }
    if load.tally.errors:
        row["errors_by_kind"] = dict(load.tally.errors.most_common())
    if warm.tally.error_count:
        row["warmup_errors"] = warm.tally.error_count
    return row


def _per(part: int, whole: int) -> float | None:
    return round(part / whole, 2) if whole else None


async def _measure(settings: BenchSettings, rig: Servers, rate: int, count: int) -> dict[str, Any]:
    redis = Redis.from_url(rig.redis.url, decode_responses=False)
    mongo = mongo_client(rig.mongo.url)
    try:
        facts, mongo_pid = await redis_facts(redis), (await mongo_facts(mongo))["pid"]
        boards_env = rig.env("BOARDS", KEY_PREFIX)
        projector_env = rig.env("PROJECTOR", KEY_PREFIX, mongo_url=rig.mongo.url)
        projector_env.update({"PROJECTOR_MONGO_DB": "e2e", "PROJECTOR_INSTANCE_ID": "bench"})
        async with (
            service_process("boards", "BOARDS", boards_env, rig.log, rig.log_path) as boards,
            service_process(
                "projector", "PROJECTOR", projector_env, rig.log, rig.log_path
            ) as projector,
            subscriber_process(rig) as subscribers,
        ):
            pids = {
                "subscribers": subscribers.pid,
                "boards": boards.pid,
                "projector": projector.pid,
                "redis": facts["pid"],
                "ferretdb": mongo_pid,
            }
            keys = StreamKeys(prefix=KEY_PREFIX, partitions=PARTITIONS)
            run = Running(
                settings,
                rig.token(),
                redis,
                mongo,
                keys,
                boards,
                projector,
                subscribers,
                CpuMeter(pids),
            )
            row = await measure_row(run, rate, count)
        row["redis"] = {k: v for k, v in (await redis_facts(redis)).items() if k != "pid"}
    finally:
        await redis.aclose()
        await mongo.close()
    return row


def _report(settings: BenchSettings, rows: dict[str, Any]) -> dict[str, Any]:
    measured = [row for row in rows.values() if "failed" not in row]
    failed = [name for name, row in rows.items() if "failed" in row]
    errors = sum(row["errors"] + row.get("warmup_errors", 0) for row in measured)
    missing = sum(row["missing"] for row in measured)
    budget = rows.get(BUDGET_ROW, {})
    p50, p99 = budget.get("p50_ms"), budget.get("p99_ms")
    return {
        "ok": errors == 0 and missing == 0 and not failed,
        "errors": errors,
        "missing": missing,
        "failed_rows": failed,
        "seconds_per_row": settings.seconds,
        "latency_measured_for": "every subscriber, every event",
        "design_budget": DESIGN_BUDGET,
        "budget_row": {
            "p50_ms": p50,
            "p99_ms": p99,
            "within_budget": p50 is not None
            and p99 is not None
            and p50 < DESIGN_BUDGET["p50_ms"]
            and p99 < DESIGN_BUDGET["p99_ms"],
        },
        "rows": rows,
    }


def run(settings: BenchSettings) -> dict[str, Any]:
    rows: dict[str, Any] = {}
    for rate, count in ROWS:
        # Fresh servers and services for every row: no row inherits another's backlog, and a
        # FerretDB that stops answering (see README) spoils one row only.
        log.info("e2e: %d commands/s, %d subscribers, %.1fs", rate, count, settings.seconds)
        name = f"paced_{rate}_subs_{count}"
        try:
            with servers("e2e") as rig:
                rows[name] = run_async(_measure(settings, rig, rate, count))
        except Exception as exc:
            log.exception("e2e: %s failed", name)
            rows[name] = {"failed": f"{type(exc).__name__}: {exc}"}
    return _report(settings, rows)
