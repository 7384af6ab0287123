"""The `e2e` benchmark: from a command's HTTP request to its receipt by WebSocket subscribers.

Everything runs as `make run` runs it, each in its own process: a private Redis (AOF, fsync
always), FerretDB on idle CPU time, the boards service, a projector serving the WebSockets and
another applying the feeds to FerretDB on idle CPU time, the load generator (this process) and
the subscribers (`bench.subscribers`).

Budgets (issue 11), reported and never asserted: p50 under 5 ms and p99 under 25 ms, nothing
missing, at 1,000 commands/s with 100 subscribers on one board, and at 1,000 commands/s over 100
boards with one subscriber on each.

A cluster row (issue 13) runs that last load again with the event log on a Redis Cluster of 3
primaries and 3 replicas on the same machine, appends acknowledged after a replica has them
(`BOARDS_REPLICA_ACKS=1`, as production on a cluster must), beside the single-server row of the
same run: `cluster_vs_single` gives the ratios.
"""

from __future__ import annotations

import asyncio
import contextlib
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
from cardstream_devstack.processes import preexec
from cardstream_runtime.redis_urls import AnyRedis, redis_from_url
from cardstream_testing import RedisCluster
from contracts.streams import StreamKeys
from pymongo import AsyncMongoClient
from pymongo.errors import PyMongoError

from bench.append import COLUMNS, Api, BenchError, Card, command
from bench.budgets import line
from bench.runtime import BenchSettings, CpuMeter, Tally, latency_ms, log, open_loop, run_async
from bench.services import ServiceProcess, service_process
from bench.stack import (
    PARTITIONS,
    Doc,
    Servers,
    cluster_facts,
    mongo_client,
    mongo_facts,
    redis_facts,
    servers,
)

KEY_PREFIX = "bench-e2e:"


@dataclass(frozen=True, slots=True)
class Row:
    """Commands/s offered, subscribers spread evenly over the boards (the commands go to the
    boards' cards in turn), and whether a projector applies the feeds to the read store: without
    one, the row shows what applying costs the live path on the same cores; and whether the event
    log is a Redis Cluster rather than one server."""

    rate: int
    subscribers: int
    boards: int = 1
    applier: bool = True
    cluster: bool = False

    @property
    def name(self) -> str:
        boards = f"_boards_{self.boards}" if self.boards > 1 else ""
        applier = "" if self.applier else "_no_applier"
        cluster = "_cluster" if self.cluster else ""
        return f"paced_{self.rate}{boards}_subs_{self.subscribers}{applier}{cluster}"


# In the order they run.
ROWS = (
    Row(100, 1),
    Row(1000, 1),
    Row(100, 100),
    Row(1000, 100),
    Row(1000, 100, boards=100),
    Row(1000, 100, boards=100, applier=False),
    Row(1000, 100, boards=100, cluster=True),
)
BUDGET_ROWS = ("paced_1000_subs_100", "paced_1000_boards_100_subs_100")
BASELINE_ROW = "paced_1000_boards_100_subs_100_no_applier"
# The same load on one server and on the cluster, in the same run.
CLUSTER_ROWS = ("paced_1000_boards_100_subs_100", "paced_1000_boards_100_subs_100_cluster")
BUDGET = {"p50_ms_under": 5, "p99_ms_under": 25, "missing": 0}
# A card is moved by one request at a time, so the cards bound the requests in flight.
CARDS = 64
MAX_IN_FLIGHT = CARDS
# Cards of each board when there are many: a few commands of a board can still be in flight.
CARDS_PER_BOARD_OF_MANY = 4
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
    # (board, event version) -> when the command that appended it was due to be sent, and
    # answered.
    due: dict[tuple[str, int], float] = field(default_factory=dict)
    answered: dict[tuple[str, int], float] = field(default_factory=dict)

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
            board = card.path.split("/")[3]  # /api/boards/<id>/commands
            for v in range(version - appended + 1, version + 1):
                self.due[board, v] = due
                self.answered[board, v] = answered
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
        preexec_fn=preexec(background=False),
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


async def _new_boards(api: Api, boards: int) -> tuple[list[str], deque[Card]]:
    """`boards` boards alike, made at once; their cards interleaved board by board."""
    per_board = CARDS if boards == 1 else CARDS_PER_BOARD_OF_MANY
    made = await asyncio.gather(*(_new_board(api, per_board) for _ in range(boards)))
    cards: deque[Card] = deque()
    for i in range(per_board):
        cards.extend(board_cards[i] for _, board_cards in made)
    return [board_id for board_id, _ in made], cards


async def _new_board(api: Api, count: int) -> tuple[str, deque[Card]]:
    board_id = str(uuid.uuid4())
    await api.must("/api/boards", command("CreateBoard", title="e2e", board_id=board_id))
    path = f"/api/boards/{board_id}/commands"
    columns = tuple(str(uuid.uuid4()) for _ in range(COLUMNS))
    for i, column_id in enumerate(columns):
        await api.must(path, command("AddColumn", title=f"column {i}", column_id=column_id))
    cards: deque[Card] = deque()
    for i in range(count):
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
    redis: AnyRedis
    mongo: AsyncMongoClient[Doc]
    keys: StreamKeys
    boards: ServiceProcess
    projector: ServiceProcess
    subscribers: SubscriberProcess
    cpu: CpuMeter
    applies: bool

    async def mongo_answers(self) -> str:
        """Whether FerretDB still answers (the projector's reads and writes wait on it)."""
        try:
            async with asyncio.timeout(5):
                await self.mongo["e2e"]["boards"].find_one({})
        except (TimeoutError, PyMongoError) as exc:
            return f"FerretDB does not answer a read within 5 s ({type(exc).__name__})"
        return "FerretDB answers"

    async def store_caught_up(self, heads: dict[str, int], *, since: float) -> float | None:
        """Seconds from `since` until the read store holds every board at its head (None: not
        within `DRAIN_TIMEOUT`). The read store trails the live path; this says by how much."""
        boards = self.mongo["e2e"]["boards"]
        deadline = time.monotonic() + DRAIN_TIMEOUT
        while time.monotonic() < deadline:
            stored = {
                doc["_id"]: doc["version"]
                async for doc in boards.find({"_id": {"$in": list(heads)}}, {"version": 1})
            }
            if all(stored.get(board) == head for board, head in heads.items()):
                return round(time.monotonic() - since, 3)
            await asyncio.sleep(0.05)  # polled: nothing announces it to the benchmark
        return None

    async def head(self, board_id: str) -> int:
        value: bytes | None = await self.redis.get(self.keys.board_head(uuid.UUID(board_id)))  # type: ignore[assignment]
        return int(value) if value is not None else 0


async def measure_row(run: Running, rate: int, count: int, boards: int) -> dict[str, Any]:
    settings = run.settings
    async with _api(run.boards.url, run.token) as api:
        board_ids, cards = await _new_boards(api, boards)
        heads = {await run.head(board_id) for board_id in board_ids}
        if len(heads) != 1:
            raise BenchError(f"boards made alike have different heads: {sorted(heads)}")
        since = heads.pop()
        ws_url = run.projector.url.replace("http://", "ws://")
        opening = {"op": "open", "url": ws_url, "token": run.token, "boards": board_ids}
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
    loaded = time.monotonic()
    head = {board_id: await run.head(board_id) for board_id in board_ids}
    due = [[v, t, load.answered[b, v], b] for (b, v), t in load.due.items()]
    collect = {"op": "collect", "head": head, "due": due, "within": DRAIN_TIMEOUT}
    received = await run.subscribers.request(collect, DRAIN_TIMEOUT + 30)
    received["subscribe_s"] = opened["seconds"]
    if run.applies:
        received["store_caught_up_s"] = await run.store_caught_up(head, since=loaded)
    return {"boards": boards, **_row(rate, count, load, warm, elapsed, cores, received)}


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


async def _redis_facts(rig: Servers, redis: AnyRedis) -> tuple[dict[str, Any], dict[str, int]]:
    """The event log's facts, and the pid of each of its processes by name."""
    if isinstance(rig.redis, RedisCluster):
        facts = await cluster_facts(rig.redis)
        pids = {f"redis {address}": pid for address, pid in facts.pop("pids").items()}
        return facts, pids
    facts = await redis_facts(redis)  # type: ignore[arg-type]
    return {k: v for k, v in facts.items() if k != "pid"}, {"redis": facts["pid"]}


async def _measure(settings: BenchSettings, rig: Servers, spec: Row) -> dict[str, Any]:
    redis = redis_from_url(rig.redis.url, decode_responses=False)
    mongo = mongo_client(rig.mongo.url)
    try:
        (_, redis_pids), mongo_pid = (
            await _redis_facts(rig, redis),
            (await mongo_facts(mongo))["pid"],
        )
        boards_env = rig.env("BOARDS", KEY_PREFIX)
        projector_env = rig.env("PROJECTOR", KEY_PREFIX, mongo_url=rig.mongo.url)
        projector_env.update({"PROJECTOR_MONGO_DB": "e2e", "PROJECTOR_INSTANCE_ID": "bench"})
        serving = {**projector_env, "PROJECTOR_ROLE": "serve"}
        applying = {
            **projector_env,
            "PROJECTOR_ROLE": "apply",
            "PROJECTOR_INSTANCE_ID": "bench-apply",
        }
        async with (
            service_process("boards", "BOARDS", boards_env, rig.log, rig.log_path) as boards,
            service_process("projector", "PROJECTOR", serving, rig.log, rig.log_path) as projector,
            subscriber_process(rig) as subscribers,
            contextlib.AsyncExitStack() as optional,
        ):
            pids = {
                "subscribers": subscribers.pid,
                "boards": boards.pid,
                "projector": projector.pid,
                **redis_pids,
                "ferretdb": mongo_pid,
            }
            if spec.applier:
                applier = await optional.enter_async_context(
                    service_process(
                        "projector", "PROJECTOR", applying, rig.log, rig.log_path, background=True
                    )
                )
                pids["applier"] = applier.pid
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
                spec.applier,
            )
            row = await measure_row(run, spec.rate, spec.subscribers, spec.boards)
        row["applier"] = spec.applier
        row["redis"] = {"cluster": spec.cluster, **(await _redis_facts(rig, redis))[0]}
    finally:
        await redis.aclose()
        await mongo.close()
    return row


def _report(settings: BenchSettings, rows: dict[str, Any]) -> dict[str, Any]:
    measured = [row for row in rows.values() if "failed" not in row]
    failed = [name for name, row in rows.items() if "failed" in row]
    errors = sum(row["errors"] + row.get("warmup_errors", 0) for row in measured)
    missing = sum(row["missing"] for row in measured)
    return {
        "ok": errors == 0 and missing == 0 and not failed,
        "errors": errors,
        "missing": missing,
        "failed_rows": failed,
        "seconds_per_row": settings.seconds,
        "latency_measured_for": "every subscriber, every event",
        "budget": BUDGET,
        "budgets": [
            _budget_line(name, rows.get(name, {}), rows.get(BASELINE_ROW, {}))
            for name in BUDGET_ROWS
        ],
        "cluster_vs_single": _cluster_vs_single(rows),
        "rows": rows,
    }


def _cluster_vs_single(rows: dict[str, Any]) -> dict[str, Any]:
    """The cluster row's figures over the single server's, from the same run."""
    single, cluster = (rows.get(name, {}) for name in CLUSTER_ROWS)
    figures = ("p50_ms", "p99_ms", "commands_per_s")
    return {
        "rows": list(CLUSTER_ROWS),
        **{
            f"{figure}_ratio": round(cluster[figure] / single[figure], 2)
            if isinstance(cluster.get(figure), int | float) and single.get(figure)
            else None
            for figure in figures
        },
    }


def _budget_line(name: str, row: dict[str, Any], baseline: dict[str, Any]) -> dict[str, Any]:
    p50, p99, missing = row.get("p50_ms"), row.get("p99_ms"), row.get("missing")
    return line(
        f"{name}: p50 under 5 ms, p99 under 25 ms, nothing missing",
        {"p50_ms": p50, "p99_ms": p99, "missing": missing},
        # The same load with nothing applying to the read store: the live path alone.
        baseline={
            f"{BASELINE_ROW}_p50_ms": baseline.get("p50_ms"),
            f"{BASELINE_ROW}_p99_ms": baseline.get("p99_ms"),
        },
        within=p50 is not None
        and p99 is not None
        and p50 < BUDGET["p50_ms_under"]
        and p99 < BUDGET["p99_ms_under"]
        and missing == 0,
    )


def run(settings: BenchSettings) -> dict[str, Any]:
    rows: dict[str, Any] = {}
    for spec in ROWS:
        # Fresh servers and services for every row: no row inherits another's backlog, and a
        # FerretDB that stops answering spoils one row only.
        name = spec.name
        log.info("e2e: %s, %.1fs", name, settings.seconds)
        try:
            with servers("e2e", cluster=spec.cluster) as rig:
                rows[name] = run_async(_measure(settings, rig, spec))
        except Exception as exc:
            log.exception("e2e: %s failed", name)
            rows[name] = {"failed": f"{type(exc).__name__}: {exc}"}
    return _report(settings, rows)
