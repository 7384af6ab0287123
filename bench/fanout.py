"""The `fanout` benchmark: thousands of WebSocket subscribers on one projector process, what each
costs it in memory, and how long one event takes to reach all of them.

Each row opens its sockets twice, each time against a fresh server: first against a trivial
aiohttp WebSocket server (`bench.ws_baseline`, the baseline), then against a projector
(`python -m projector`, production mode, serving WebSockets only). The same subscriber processes
(`bench.subscribers`) and the same events are used for both, so the ratios hold on a noisy machine.

Budget (issue 11), reported and never asserted: 10,000 sockets on one process under 32 KiB each;
one event reaches all of them with p99 under 500 ms.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol
from uuid import UUID

import aiohttp
from cardstream_testing.feeds import envelopes
from contracts.envelope import event_adapter
from contracts.events import BoardCreated, BoardRenamed, Event
from contracts.streams import BOARD_FIELD, EVENT_FIELD, VERSION_FIELD, StreamKeys, board_entry_id
from redis.asyncio import Redis

from bench.budgets import line
from bench.e2e import SubscriberProcess, subscriber_process
from bench.runtime import (
    BenchSettings,
    CpuMeter,
    latency_ms,
    log,
    raise_fd_limit,
    run_async,
)
from bench.services import ServiceProcess, service_process
from bench.stack import PARTITIONS, USER, Servers, redis_facts, servers

KEY_PREFIX = "bench-fanout:"
EPOCH = "bench-fanout"
# (sockets, boards they are spread over), in the order they run.
ROWS = ((1_000, 1), (5_000, 1), (10_000, 1), (10_000, 100))
BUDGET_ROW = "subs_10000"
DESIGN_BUDGET = {"row": BUDGET_ROW, "bytes_per_socket": 32 * 1024, "p99_ms": 500}
# More sockets than this in one subscriber process and its own queueing shows in the figures.
SOCKETS_PER_CLIENT = 2_500
# Sockets opened, sent one event and closed before the "before" RSS: the first socket of a
# process pays for caches and code paths that the others share.
WARMUP_SOCKETS = 20
OPEN_TIMEOUT_S = 300.0
REACH_TIMEOUT_S = 30.0
KIB = 1024
# What the subscriber processes count, summed over them.
_COUNTS = ("missing", "duplicates", "gaps", "snapshots", "closed_by_server")


def row_name(sockets: int, boards: int) -> str:
    return f"subs_{sockets}" if boards == 1 else f"subs_{sockets}_boards_{boards}"


def rss_bytes(pid: int) -> int:
    """The process's resident set (VmRSS in /proc/<pid>/status; Linux only)."""
    with open(f"/proc/{pid}/status", "rb") as status:
        for line in status:
            if line.startswith(b"VmRSS:"):
                return int(line.split()[1]) * KIB
    raise RuntimeError(f"no VmRSS for process {pid}")


@dataclass(frozen=True, slots=True)
class Events:
    """The events of one row, as the feed carries them: version -> board -> the event's JSON.
    Every board goes through the same versions, so one version is one round to every socket."""

    boards: tuple[UUID, ...]
    raw: dict[int, dict[UUID, bytes]]

    @classmethod
    def for_boards(cls, boards: Sequence[UUID], last: int) -> Events:
        raw: dict[int, dict[UUID, bytes]] = {v: {} for v in range(1, last + 1)}
        for board in boards:
            for event in envelopes(board, _history(last), epoch=EPOCH, actor=USER):
                raw[event.version][board] = event_adapter.dump_json(event)
        return cls(tuple(boards), raw)

    def message(self, version: int, board: UUID) -> bytes:
        # The bytes the projector sends for one event (`projector.read.ws.batches.encode_events`).
        return b'{"type":"events","board_id":"%s","events":[%s]}' % (
            str(board).encode(),
            self.raw[version][board],
        )


def _history(last: int) -> list[Event]:
    titles = [f"fan-out {v:05d}" for v in range(1, last + 1)]
    renames: list[Event] = [
        BoardRenamed(title=title, previous_title=before)
        for before, title in itertools.pairwise(titles)
    ]
    return [BoardCreated(title=titles[0], owner_id=USER), *renames]


class Target(Protocol):
    """A server under test, and how an event is handed to it."""

    @property
    def process(self) -> ServiceProcess: ...

    async def publish(self, events: Events, version: int) -> None: ...


async def write_events(redis: Redis, keys: StreamKeys, events: Events, version: int) -> None:
    """One version of every board, where the boards service writes it (board log, head, partition
    feed), in one pipeline."""
    async with redis.pipeline(transaction=False) as pipe:
        for board in events.boards:
            raw = events.raw[version][board]
            pipe.xadd(keys.board_log(board), {EVENT_FIELD: raw}, id=board_entry_id(version))
            pipe.set(keys.board_head(board), version)
            pipe.xadd(
                keys.feed(keys.partition_of(board)),
                {BOARD_FIELD: str(board), VERSION_FIELD: version, EVENT_FIELD: raw},
            )
        await pipe.execute()


async def create_boards(redis: Redis, keys: StreamKeys, events: Events) -> None:
    async with redis.pipeline(transaction=False) as pipe:
        for board in events.boards:
            pipe.set(keys.epoch(keys.partition_of(board)), EPOCH, nx=True)
        await pipe.execute()
    await write_events(redis, keys, events, 1)


class ProjectorTarget:
    """The projector's feed tail picks the events up as it would any command's."""

    def __init__(self, process: ServiceProcess, redis: Redis, keys: StreamKeys) -> None:
        self.process = process
        self.redis = redis
        self.keys = keys

    async def publish(self, events: Events, version: int) -> None:
        await write_events(self.redis, self.keys, events, version)


class BaselineTarget:
    def __init__(self, process: ServiceProcess, session: aiohttp.ClientSession) -> None:
        self.process = process
        self.session = session

    async def publish(self, events: Events, version: int) -> None:
        body = b"\n".join(events.message(version, board) for board in events.boards)
        async with self.session.post(f"{self.process.url}/broadcast", data=body) as response:
            response.raise_for_status()


@dataclass(slots=True)
class Clients:
    """The subscriber processes of one measurement, each with its share of the sockets."""

    processes: list[SubscriberProcess]
    counts: list[int]

    async def each(
        self, request: Callable[[SubscriberProcess, int], Awaitable[dict[str, Any]]]
    ) -> list[dict[str, Any]]:
        pairs = zip(self.processes, self.counts, strict=True)
        return list(await asyncio.gather(*(request(p, n) for p, n in pairs)))

    async def open(self, url: str, token: str, boards: Sequence[UUID], since: int) -> float:
        ws_url = url.replace("http://", "ws://")
        ids = [str(b) for b in boards]
        start = time.monotonic()

        async def one(process: SubscriberProcess, count: int) -> dict[str, Any]:
            message = {"op": "open", "url": ws_url, "token": token, "boards": ids}
            request = {**message, "since": since, "count": count}
            return await process.request(request, OPEN_TIMEOUT_S)

        await self.each(one)
        return time.monotonic() - start

    async def reach(self, head: int) -> int:
        async def one(process: SubscriberProcess, count: int) -> dict[str, Any]:
            request = {"op": "reach", "head": head, "within": REACH_TIMEOUT_S}
            return await process.request(request, REACH_TIMEOUT_S + 30)

        return sum(int(reply["reached"]) for reply in await self.each(one))

    async def collect(self, head: int, due: dict[int, float]) -> list[dict[str, Any]]:
        pairs = [[v, t, t] for v, t in due.items()]

        async def one(process: SubscriberProcess, count: int) -> dict[str, Any]:
            request = {
                "op": "collect",
                "head": head,
                "due": pairs,
                "within": REACH_TIMEOUT_S,
                "by_version": True,
            }
            return await process.request(request, REACH_TIMEOUT_S + 60)

        return await self.each(one)


@asynccontextmanager
async def clients(rig: Servers, sockets: int) -> AsyncIterator[Clients]:
    count = math.ceil(sockets / SOCKETS_PER_CLIENT)
    shares = [sockets // count + (1 if i < sockets % count else 0) for i in range(count)]
    async with AsyncExitStack() as stack:
        processes = [await stack.enter_async_context(subscriber_process(rig)) for _ in shares]
        yield Clients(processes, shares)


@dataclass(frozen=True, slots=True)
class Row:
    sockets: int
    events: Events
    warm_version: int
    last_version: int
    token: str


async def _warm_up(rig: Servers, target: Target, row: Row) -> None:
    """A few sockets subscribe, get one event and go, so that what every first socket costs a
    process is in the RSS before the measured ones open."""
    async with clients(rig, WARMUP_SOCKETS) as warm:
        await warm.open(target.process.url, row.token, row.events.boards, row.warm_version - 1)
        due = {row.warm_version: time.monotonic()}
        await target.publish(row.events, row.warm_version)
        await warm.collect(row.warm_version, due)


async def measure(rig: Servers, target: Target, row: Row) -> dict[str, Any]:
    await _warm_up(rig, target, row)
    pid = target.process.pid
    rss_before = rss_bytes(pid)
    async with clients(rig, row.sockets) as subs:
        url, boards = target.process.url, row.events.boards
        opened_s = await subs.open(url, row.token, boards, row.warm_version)
        rss_open = rss_bytes(pid)
        names = {f"subscribers{i}": p.pid for i, p in enumerate(subs.processes)}
        cpu = CpuMeter({"server": pid, **names})
        before, started = cpu.read(), time.monotonic()
        due, unreached = await _publish_each(target, subs, row)
        cores = cpu.cores_since(before, time.monotonic() - started)
        rss_events = rss_bytes(pid)
        replies = await subs.collect(row.last_version, due)
    figures = _figures(replies, due, row.sockets * len(due))
    return {
        "subscribe_s": round(opened_s, 2),
        "rss_before_mib": _mib(rss_before),
        "rss_open_mib": _mib(rss_open),
        "rss_after_events_mib": _mib(rss_events),
        "bytes_per_socket": round((rss_open - rss_before) / row.sockets),
        **figures,
        "unreached_within_timeout": unreached,
        "cpu_cores": _cores(cores),
    }


async def _publish_each(target: Target, subs: Clients, row: Row) -> tuple[dict[int, float], int]:
    """One event at a time: the next goes once every socket has the one before."""
    due: dict[int, float] = {}
    unreached = 0
    for version in range(row.warm_version + 1, row.last_version + 1):
        due[version] = time.monotonic()
        await target.publish(row.events, version)
        unreached += row.sockets - await subs.reach(version)
    return due, unreached


def _figures(replies: list[dict[str, Any]], due: dict[int, float], owed: int) -> dict[str, Any]:
    by_version: dict[int, list[float]] = {v: [] for v in due}
    for reply in replies:
        for version, latencies in reply["by_version"].items():
            by_version[int(version)].extend(latencies)
    every = [latency for latencies in by_version.values() for latency in latencies]
    to_last = [max(latencies) for latencies in by_version.values() if latencies]
    return {
        **latency_ms(every),
        "samples": len(every),
        "owed": owed,
        "time_to_last_socket": {
            **{k: v for k, v in latency_ms(to_last).items() if k in ("p50_ms", "max_ms")},
            "each_ms": [round(seconds * 1000, 1) for seconds in to_last],
        },
        **{key: sum(int(r[key]) for r in replies) for key in _COUNTS},
    }


def _cores(cores: dict[str, float]) -> dict[str, float]:
    clients_ = [v for k, v in cores.items() if k.startswith("subscribers")]
    return {
        "server": cores.get("server", 0.0),
        "clients": round(sum(clients_), 2),
        "busiest_client": max(clients_, default=0.0),
        "bench": cores.get("client", 0.0),
    }


def _mib(value: int) -> float:
    return round(value / (KIB * KIB), 1)


async def _row(
    settings: BenchSettings, rig: Servers, sockets: int, boards: int, name: str
) -> dict[str, Any]:
    board_ids = [uuid.uuid4() for _ in range(boards)]
    # Version 1 creates each board, 2 is the warm-up's event, the rest are measured.
    last = 2 + settings.fanout_events
    row = Row(sockets, Events.for_boards(board_ids, last), 2, last, rig.token())
    baseline = await _measure_baseline(rig, row)
    projector = await _measure_projector(settings, rig, row, name)
    return {
        "sockets": sockets,
        "boards": boards,
        "events": settings.fanout_events,
        "message_bytes": len(row.events.message(last, board_ids[0])),
        "baseline": baseline,
        "projector": projector,
        "ratios": _ratios(projector, baseline),
    }


def _ratios(projector: dict[str, Any], baseline: dict[str, Any]) -> dict[str, float | None]:
    def ratio(a: float | None, b: float | None) -> float | None:
        return round(a / b, 2) if a is not None and b else None

    return {
        "bytes_per_socket": ratio(projector["bytes_per_socket"], baseline["bytes_per_socket"]),
        "p50": ratio(projector["p50_ms"], baseline["p50_ms"]),
        "p99": ratio(projector["p99_ms"], baseline["p99_ms"]),
        "time_to_last_socket_p50": ratio(
            projector["time_to_last_socket"]["p50_ms"], baseline["time_to_last_socket"]["p50_ms"]
        ),
    }


async def _measure_baseline(rig: Servers, row: Row) -> dict[str, Any]:
    async with (
        service_process("bench.ws_baseline", "WSBASELINE", {}, rig.log, rig.log_path) as process,
        aiohttp.ClientSession() as session,
    ):
        return await measure(rig, BaselineTarget(process, session), row)


async def _measure_projector(
    settings: BenchSettings, rig: Servers, row: Row, name: str
) -> dict[str, Any]:
    redis = Redis.from_url(rig.redis.url, decode_responses=False)
    keys = StreamKeys(prefix=KEY_PREFIX, partitions=PARTITIONS)
    env = rig.env("PROJECTOR", KEY_PREFIX, mongo_url=rig.mongo.url)
    # Serving WebSockets only: the fan-out is measured, not applying events to the read store.
    env.update({"PROJECTOR_MONGO_DB": "fanout", "PROJECTOR_ROLE": "serve"})
    try:
        await create_boards(redis, keys, row.events)
        profile = (
            settings.profile_dir / f"projector-fanout-{name}.prof" if settings.profile_dir else None
        )
        wrapper = ("-m", "cProfile", "-o", str(profile)) if profile is not None else ()
        async with service_process(
            "projector", "PROJECTOR", env, rig.log, rig.log_path, wrapper=wrapper
        ) as process:
            figures = await measure(rig, ProjectorTarget(process, redis, keys), row)
        figures["profile"] = str(profile) if profile is not None else None
        figures["redis"] = {k: v for k, v in (await redis_facts(redis)).items() if k != "pid"}
        return figures
    finally:
        await redis.aclose()


def _report(settings: BenchSettings, rows: dict[str, Any]) -> dict[str, Any]:
    measured = [row for row in rows.values() if "failed" not in row]
    failed = [name for name, row in rows.items() if "failed" in row]
    lost = sum(
        row[side][key]
        for row in measured
        for side in ("baseline", "projector")
        for key in ("missing", "duplicates", "gaps", "unreached_within_timeout")
    )
    budget = rows.get(BUDGET_ROW, {}).get("projector", {})
    per_socket, p99 = budget.get("bytes_per_socket"), budget.get("p99_ms")
    return {
        "ok": lost == 0 and not failed,
        "failed_rows": failed,
        "events_per_row": settings.fanout_events,
        "latency_measured_for": "every socket, every event",
        "design_budget": DESIGN_BUDGET,
        "budget_row": {
            "bytes_per_socket": per_socket,
            "p99_ms": p99,
            "within_budget": per_socket is not None
            and p99 is not None
            and per_socket < DESIGN_BUDGET["bytes_per_socket"]
            and p99 < DESIGN_BUDGET["p99_ms"],
        },
        "budgets": _budget_lines(rows.get(BUDGET_ROW, {})),
        "rows": rows,
    }


def _budget_lines(row: dict[str, Any]) -> list[dict[str, Any]]:
    ours, trivial = row.get("projector", {}), row.get("baseline", {})
    per_socket, p99 = ours.get("bytes_per_socket"), ours.get("p99_ms")
    return [
        line(
            f"{BUDGET_ROW}: under 32 KiB a socket on one process (bytes)",
            per_socket,
            within=per_socket is not None and per_socket < DESIGN_BUDGET["bytes_per_socket"],
            baseline={"trivial_ws_server_bytes_per_socket": trivial.get("bytes_per_socket")},
        ),
        line(
            f"{BUDGET_ROW}: one event reaches every socket with p99 under 500 ms (ms)",
            p99,
            within=p99 is not None and p99 < DESIGN_BUDGET["p99_ms"],
            baseline={"trivial_ws_server_p99_ms": trivial.get("p99_ms")},
        ),
    ]


def run(settings: BenchSettings) -> dict[str, Any]:
    limit = raise_fd_limit()  # inherited by every process started from here
    if settings.profile_dir is not None:
        settings.profile_dir.mkdir(parents=True, exist_ok=True)
    log.info("fanout: open files limit %d", limit)
    rows: dict[str, Any] = {}
    with servers("fanout") as rig:
        for sockets, boards in ROWS:
            if sockets not in settings.fanout_sockets:
                continue
            name = row_name(sockets, boards)
            log.info("fanout: %s, %d events", name, settings.fanout_events)
            try:
                rows[name] = run_async(_row(settings, rig, sockets, boards, name))
            except Exception as exc:
                log.exception("fanout: %s failed", name)
                rows[name] = {"failed": f"{type(exc).__name__}: {exc}"}
    return _report(settings, rows)
