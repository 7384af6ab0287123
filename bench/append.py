"""The `append` benchmark: how fast commands become durable events, each beside its baseline.

All of it runs in one go against one private Redis with AOF and fsync always (as production runs
it), so that the figures compare: MoveCard commands through the boards service's HTTP API (the
service in its own process), the same requests against a trivial aiohttp handler
(`bench.trivial`, its own process) with the same client, `RedisEventStore.append` called
directly, and the machine's own `redis-benchmark` doing plain XADDs.

Budgets (issue 11), reported and never asserted: one board takes at least 2,000 commands/s with
64 in flight; the command API over 64 boards at concurrency 64 reaches at least 0.5x the trivial
handler's rate; p99 under 10 ms at 1,000 commands/s (`paced_1000`).
"""

from __future__ import annotations

import asyncio
import csv
import io
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import IO, Any
from uuid import UUID

import aiohttp
import orjson
from boards.adapters.event_store import Appended, EventStoreError, NewEvents
from boards.adapters.redis_store import RedisEventStore
from boards.groups import encode_result
from cardstream_runtime.devtoken import DevSigner
from cardstream_testing import RedisServer
from contracts.chain import ZERO_HASH, link
from contracts.envelope import AnyEvent, event_adapter, event_envelope
from contracts.events import CardMoved
from contracts.streams import StreamKeys
from redis.asyncio import Redis
from redis.exceptions import RedisError

from bench.runtime import BenchSettings, CpuMeter, Tally, closed_loop, log, open_loop, run_async
from bench.services import boards_process, service_process
from bench.stack import UNLIMITED_COMMANDS, redis_facts

ISSUER, AUDIENCE, USER = "cardstream-bench", "cardstream", "bench"
TOKEN_TTL = 24 * 60 * 60
PARTITIONS = 16
HTTP_PREFIX = "bench-http:"
STORE_PREFIX = "bench-store:"
XADD_STREAM = "bench-xadd"

# 64 boards, so that concurrency 64 is spread out rather than queued on one board's lock.
BOARDS = 64
COLUMNS = 3
CARDS_PER_BOARD = 4
ONE_BOARD_CARDS = 64
LEVELS = (1, 16, 64)
ONE_BOARD_LEVELS = (16, 64)
TRIVIAL_LEVEL = 64
PACED_RATE = 1000
PACED_MAX_IN_FLIGHT = 64
SETUP_CONCURRENCY = 16
REQUEST_TIMEOUT = 30.0
STORE_TASKS = 64
XADD_CLIENTS = 50
XADD_REQUESTS_PER_BENCH_SECOND = 5_000
XADD_MIN_REQUESTS = 10_000

BUDGETS = {
    "one_board_c64_commands_per_s": 2_000,
    "c64_to_trivial_c64": 0.5,
    "paced_1000_p99_ms": 10,
}
# How the service's response ends when the command changed nothing (see boards.service).
NO_EVENTS = b'"events":[]}'


class BenchError(RuntimeError):
    pass


@dataclass(slots=True)
class Card:
    """A card being moved round its board's columns. A card is moved by one request at a time,
    so its column is known and every move goes elsewhere: each command appends one event."""

    path: str
    card_id: str
    columns: tuple[str, ...]
    column: int

    def next_move(self) -> tuple[int, bytes]:
        target = (self.column + 1) % len(self.columns)
        payload = {"card_id": self.card_id, "column_id": self.columns[target]}
        return target, orjson.dumps(command("MoveCard", **payload))


def command(type_: str, **payload: str) -> dict[str, Any]:
    return {"command_id": str(uuid.uuid4()), "type": type_, "payload": payload}


class Api:
    def __init__(self, session: aiohttp.ClientSession, token: str) -> None:
        self._session = session
        self._headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        async with self._session.post(path, data=body, headers=self._headers) as response:
            return response.status, await response.read()

    async def must(self, path: str, command: dict[str, Any]) -> None:
        status, reply = await self.post(path, orjson.dumps(command))
        if status not in (200, 201):
            raise BenchError(f"setting up: {command['type']} got {status}: {reply[:300]!r}")


@asynccontextmanager
async def _api(url: str, token: str, connections: int) -> AsyncIterator[Api]:
    connector = aiohttp.TCPConnector(limit=connections)
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
    async with aiohttp.ClientSession(url, connector=connector, timeout=timeout) as session:
        yield Api(session, token)


async def move(api: Api, cards: deque[Card], tally: Tally, due: float | None = None) -> None:
    """Moves the card that has waited longest; `due` is when an open-loop sender meant to send."""
    card = cards.popleft()
    try:
        target, body = card.next_move()
        start = time.monotonic() if due is None else due
        try:
            status, reply = await api.post(card.path, body)
        except (aiohttp.ClientError, TimeoutError) as exc:
            tally.failed(type(exc).__name__, str(exc))
            return
        if status != 200:
            tally.failed(f"HTTP {status}", reply[:300].decode(errors="replace"))
            return
        tally.ok(time.monotonic() - start, noop=reply.endswith(NO_EVENTS))
        card.column = target
    finally:
        cards.append(card)


async def create_board(api: Api, cards: int) -> list[Card]:
    board_id = str(uuid.uuid4())
    await api.must("/api/boards", command("CreateBoard", title="bench", board_id=board_id))
    path = f"/api/boards/{board_id}/commands"
    columns = tuple(str(uuid.uuid4()) for _ in range(COLUMNS))
    for i, column_id in enumerate(columns):
        await api.must(path, command("AddColumn", title=f"column {i}", column_id=column_id))
    placed = []
    for i in range(cards):
        card = Card(path, str(uuid.uuid4()), columns, i % COLUMNS)
        await api.must(
            path,
            command(
                "AddCard", column_id=columns[card.column], title=f"card {i}", card_id=card.card_id
            ),
        )
        placed.append(card)
    return placed


async def set_up_boards(api: Api) -> tuple[deque[Card], deque[Card]]:
    """The spread-out boards' cards, interleaved so that consecutive moves hit different boards,
    and the one busy board's cards."""
    room = asyncio.Semaphore(SETUP_CONCURRENCY)

    async def create(cards: int) -> list[Card]:
        async with room:
            return await create_board(api, cards)

    boards = await asyncio.gather(*(create(CARDS_PER_BOARD) for _ in range(BOARDS)))
    one_board = await create(ONE_BOARD_CARDS)
    spread = deque(board[i] for i in range(CARDS_PER_BOARD) for board in boards)
    return spread, deque(one_board)


async def paced(api: Api, cards: deque[Card], tally: Tally, rate: float, seconds: float) -> float:
    return await open_loop(partial(move, api, cards, tally), rate, seconds, PACED_MAX_IN_FLIGHT)


def _row(tally: Tally, warm: Tally, elapsed: float, cores: dict[str, float]) -> dict[str, Any]:
    row = {**tally.summary("commands", elapsed), "noops": tally.noops, "cpu_cores": cores}
    if warm.error_count:
        row["warmup_errors"] = warm.error_count
    return row


async def closed_row(
    url: str,
    token: str,
    cards: deque[Card],
    concurrency: int,
    settings: BenchSettings,
    cpu: CpuMeter,
) -> dict[str, Any]:
    assert len(cards) >= concurrency, "a card is moved by one request at a time"
    async with _api(url, token, concurrency) as api:
        warm, tally = Tally(), Tally()
        await closed_loop([partial(move, api, cards, warm)] * concurrency, settings.warmup_seconds)
        before = cpu.read()
        steps = [partial(move, api, cards, tally)] * concurrency
        elapsed = await closed_loop(steps, settings.seconds)
        cores = cpu.cores_since(before, elapsed)
    return {"concurrency": concurrency, **_row(tally, warm, elapsed, cores)}


async def paced_row(
    url: str, token: str, cards: deque[Card], settings: BenchSettings, cpu: CpuMeter
) -> dict[str, Any]:
    assert len(cards) >= PACED_MAX_IN_FLIGHT, "a card is moved by one request at a time"
    async with _api(url, token, PACED_MAX_IN_FLIGHT) as api:
        warm, tally = Tally(), Tally()
        await paced(api, cards, warm, PACED_RATE, settings.warmup_seconds)
        before = cpu.read()
        elapsed = await paced(api, cards, tally, PACED_RATE, settings.seconds)
        cores = cpu.cores_since(before, elapsed)
    return {"offered_per_s": PACED_RATE, **_row(tally, warm, elapsed, cores)}


async def measure_http(
    url: str, token: str, settings: BenchSettings, cpu: CpuMeter
) -> tuple[dict[str, Any], deque[Card]]:
    log.info("http: creating %d boards plus one busy board", BOARDS)
    async with _api(url, token, SETUP_CONCURRENCY) as api:
        spread, one_board = await set_up_boards(api)
    rows: dict[str, Any] = {}
    for level in LEVELS:
        log.info("http: MoveCard at concurrency %d for %.1fs", level, settings.seconds)
        rows[f"c{level}"] = await closed_row(url, token, spread, level, settings, cpu)
    for level in ONE_BOARD_LEVELS:
        log.info("http: MoveCard on one board at concurrency %d", level)
        rows[f"one_board_c{level}"] = await closed_row(url, token, one_board, level, settings, cpu)
    log.info("http: MoveCard paced at %d/s", PACED_RATE)
    rows[f"paced_{PACED_RATE}"] = await paced_row(url, token, spread, settings, cpu)
    return rows, spread


async def measure_trivial(
    rig: Rig, spread: deque[Card], settings: BenchSettings, cpu_pids: dict[str, int]
) -> dict[str, Any]:
    """The c64 row's requests, by the same client, against `bench.trivial`."""
    # A copy: the trivial handler moves no card, so the real boards' cards must not think so.
    cards = deque(replace(card) for card in spread)
    async with service_process(
        "bench.trivial", "TRIVIAL", {}, rig.service_log, rig.service_log_path
    ) as trivial:
        cpu = CpuMeter({**cpu_pids, "server": trivial.pid})
        log.info("trivial: the same requests at concurrency %d", TRIVIAL_LEVEL)
        row = await closed_row(trivial.url, rig.token, cards, TRIVIAL_LEVEL, settings, cpu)
    row["requests_per_s"] = row.pop("commands_per_s")
    row["requests"] = row.pop("commands")
    row.pop("noops")
    return row


@dataclass(slots=True)
class StoreBoard:
    """One board appended to by one task, one event per append, as a command would."""

    store: RedisEventStore
    board_id: UUID
    epoch: str
    event: AnyEvent
    version: int = 0
    last_hash: str = ZERO_HASH

    @classmethod
    async def open(cls, store: RedisEventStore) -> StoreBoard:
        board_id = uuid.uuid4()
        epoch = await store.epoch(board_id)
        return cls(store, board_id, epoch, _card_moved(board_id, epoch))

    async def append(self, tally: Tally) -> None:
        # Each event is chained to the last (the store checks it) and encoded before the clock
        # starts: what is measured is the store and Redis, not the encoder (the HTTP rows are).
        version = self.version + 1
        [event] = link([self.event.model_copy(update={"version": version})], self.last_hash)
        encoded = event_adapter.dump_json(event)
        batch = NewEvents(
            board_id=self.board_id,
            expected_version=self.version,
            epoch=self.epoch,
            events=[encoded],
            command_id=uuid.uuid4(),
            request_hash="bench",
            result=encode_result(self.board_id, version, [encoded]),
        )
        start = time.perf_counter()
        try:
            outcome = await self.store.append(batch)
        except (EventStoreError, RedisError) as exc:
            tally.failed(type(exc).__name__, str(exc))
            return
        if not isinstance(outcome, Appended):
            tally.failed("Recorded", "a fresh command id was taken for a duplicate")
            return
        tally.ok(time.perf_counter() - start)
        self.version = outcome.version
        self.last_hash = event.hash or ZERO_HASH


def _card_moved(board_id: UUID, epoch: str) -> AnyEvent:
    command_id = uuid.uuid4()
    moved = CardMoved(
        card_id=uuid.uuid4(),
        from_column_id=uuid.uuid4(),
        to_column_id=uuid.uuid4(),
        position="a1",
        previous_position="a0",
    )
    envelope = event_envelope(
        moved,
        event_id=uuid.uuid4(),
        board_id=board_id,
        version=1,
        occurred_at=datetime.now(UTC),
        actor=USER,
        command_id=command_id,
        correlation_id="bench",
        causation_id=str(command_id),
        epoch=epoch,
    )
    return envelope


async def measure_store(redis: Redis, settings: BenchSettings, cpu: CpuMeter) -> dict[str, Any]:
    log.info("store: %d tasks appending for %.1fs", STORE_TASKS, settings.seconds)
    store = RedisEventStore(redis, StreamKeys(prefix=STORE_PREFIX, partitions=PARTITIONS))
    await store.install()
    boards = [await StoreBoard.open(store) for _ in range(STORE_TASKS)]
    warm, tally = Tally(), Tally()
    await closed_loop([partial(b.append, warm) for b in boards], settings.warmup_seconds)
    before = cpu.read()
    elapsed = await closed_loop([partial(b.append, tally) for b in boards], settings.seconds)
    cores = cpu.cores_since(before, elapsed)
    row = {"tasks": STORE_TASKS, **tally.summary("appends", elapsed), "cpu_cores": cores}
    if warm.error_count:
        row["warmup_errors"] = warm.error_count
    return row


def parse_redis_benchmark_csv(text: str) -> dict[str, float]:
    for row in csv.DictReader(io.StringIO(text)):
        if row.get("test", "").upper().startswith("XADD"):
            return {
                "xadd_per_s": round(float(row["rps"])),
                "p50_ms": float(row["p50_latency_ms"]),
                "p99_ms": float(row["p99_latency_ms"]),
            }
    raise BenchError(f"no XADD row in redis-benchmark's output: {text[:300]!r}")


async def redis_benchmark_xadd(port: int, requests: int) -> dict[str, float]:
    # `-t xadd` is not one of redis-benchmark's tests (7.0 prints nothing for it): a custom command.
    executable = shutil.which("redis-benchmark")
    if executable is None:
        raise BenchError("redis-benchmark is not installed (Debian: apt-get install redis-tools)")
    process = await asyncio.create_subprocess_exec(
        executable,
        *("-h", "127.0.0.1", "-p", str(port), "-n", str(requests), "-c", str(XADD_CLIENTS)),
        *("-P", "1", "--csv", "XADD", XADD_STREAM, "*", "f", "v"),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    if process.returncode != 0:
        raise BenchError(f"redis-benchmark exited {process.returncode}: {err.decode()[-300:]}")
    return parse_redis_benchmark_csv(out.decode())


def _ratio(part: Any, whole: Any) -> float | None:
    if not isinstance(part, int | float) or not isinstance(whole, int | float) or whole <= 0:
        return None
    return round(part / whole, 3)


@dataclass(frozen=True, slots=True)
class Rig:
    """What the synchronous part set up before the event loop started."""

    redis: RedisServer
    token: str
    service_env: Mapping[str, str]
    service_log: IO[bytes]
    service_log_path: Path
    # Where the boards service's pyinstrument session goes (BENCH_PROFILE_DIR), if anywhere.
    profile: Path | None = None

    @property
    def wrapper(self) -> tuple[str, ...]:
        if self.profile is None:
            return ()
        # A sample every 10 ms: a minute of load gives thousands of samples and an HTML
        # rendering small enough to keep beside the benchmark (bench/profiles/).
        return ("-m", "pyinstrument", "-i", "0.01", "-r", "pyisession", "-o", str(self.profile))


async def _xadd_runs(port: int, settings: BenchSettings, when: str) -> dict[str, float]:
    requests = max(XADD_MIN_REQUESTS, round(XADD_REQUESTS_PER_BENCH_SECOND * settings.seconds))
    log.info("redis-benchmark: %d XADDs from %d clients (%s)", requests, XADD_CLIENTS, when)
    return {"requests": requests, **await redis_benchmark_xadd(port, requests)}


async def _measure(settings: BenchSettings, rig: Rig) -> dict[str, Any]:
    redis = Redis.from_url(rig.redis.url, decode_responses=False)
    try:
        facts = await redis_facts(redis)
        xadd = {"before": await _xadd_runs(rig.redis.port, settings, "before")}
        async with boards_process(
            rig.service_env, rig.service_log, rig.service_log_path, wrapper=rig.wrapper
        ) as svc:
            cpu = CpuMeter({"server": svc.pid, "redis": facts["pid"]})
            http, spread = await measure_http(svc.url, rig.token, settings, cpu)
        profile = await render_profile(rig.profile) if rig.profile is not None else None
        trivial = await measure_trivial(rig, spread, settings, {"redis": facts["pid"]})
        xadd["between"] = await _xadd_runs(rig.redis.port, settings, "between")
        store = await measure_store(redis, settings, CpuMeter({"redis": facts["pid"]}))
        xadd["after"] = await _xadd_runs(rig.redis.port, settings, "after")
        facts_after = await redis_facts(redis)
    finally:
        await redis.aclose()
    report = _report(settings, http, trivial, store, xadd, facts_after)
    if profile is not None:
        report["profile"] = profile
    return report


async def render_profile(session: Path) -> dict[str, str]:
    """The service's pyinstrument session as text and HTML beside it (the session file stays)."""
    rendered = {"session": str(session)}
    for renderer, suffix in (("text", ".txt"), ("html", ".html")):
        out = session.with_suffix(suffix)
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            *("-m", "pyinstrument", "--load", str(session), "-r", renderer, "-o", str(out)),
            *(("-p", "unicode=false", "-p", "color=false") if renderer == "text" else ()),
            stdin=asyncio.subprocess.DEVNULL,
        )
        if await process.wait() != 0:
            raise BenchError(f"pyinstrument could not render {session} as {renderer}")
        rendered[renderer] = str(out)
    return rendered


def budgets(
    http: Mapping[str, Any],
    trivial: Mapping[str, Any],
    store: Mapping[str, Any],
    xadd: Mapping[str, Mapping[str, float]],
) -> list[dict[str, Any]]:
    """Each budget of issue 11 with its figure, its baseline from the same run, and the verdict."""
    xadd_per_s = round(statistics.median(run["xadd_per_s"] for run in xadd.values()))
    xadd_p99 = statistics.median(run["p99_ms"] for run in xadd.values())
    one_board = http["one_board_c64"]["commands_per_s"]
    to_trivial = _ratio(http["c64"]["commands_per_s"], trivial["requests_per_s"])
    p99 = http[f"paced_{PACED_RATE}"]["p99_ms"]
    lines = [
        {
            "budget": "one board, 64 in flight: at least 2,000 commands/s",
            "figure": one_board,
            # What the store alone reaches with 64 appenders, and what Redis does unpipelined.
            "baseline": {
                "store_appends_per_s": store["appends_per_s"],
                "redis_benchmark_xadd_per_s": xadd_per_s,
            },
            "within_budget": one_board >= BUDGETS["one_board_c64_commands_per_s"],
        },
        {
            "budget": "command API over 64 boards at c64: at least 0.5x a trivial handler's rate",
            "figure": to_trivial,
            "baseline": {
                "c64_commands_per_s": http["c64"]["commands_per_s"],
                "trivial_c64_requests_per_s": trivial["requests_per_s"],
            },
            "within_budget": to_trivial is not None and to_trivial >= BUDGETS["c64_to_trivial_c64"],
        },
        {
            "budget": "p99 under 10 ms at 1,000 commands/s (paced_1000, ms)",
            "figure": p99,
            # One command at a time through the same service, and a plain XADD's tail.
            "baseline": {
                "c1_p99_ms": http["c1"]["p99_ms"],
                "redis_benchmark_xadd_p99_ms": xadd_p99,
            },
            "within_budget": p99 is not None and p99 < BUDGETS["paced_1000_p99_ms"],
        },
    ]
    for line in lines:
        log.info(
            "budget: %s: %s (within_budget %s)",
            line["budget"],
            line["figure"],
            line["within_budget"],
        )
    return lines


def _report(
    settings: BenchSettings,
    http: dict[str, Any],
    trivial: dict[str, Any],
    store: dict[str, Any],
    xadd: dict[str, dict[str, float]],
    facts: dict[str, Any],
) -> dict[str, Any]:
    # The median of runs spread over the benchmark: fsync times on shared disks drift a lot.
    xadd_per_s = round(statistics.median(run["xadd_per_s"] for run in xadd.values()))
    rows = [*http.values(), trivial, store]
    errors = sum(row["errors"] + row.get("warmup_errors", 0) for row in rows)
    return {
        "ok": errors == 0,
        "errors": errors,
        "seconds_per_row": settings.seconds,
        "budgets": budgets(http, trivial, store, xadd),
        "http": http,
        "trivial_c64": trivial,
        "store": store,
        "redis_benchmark": {"xadd_per_s": xadd_per_s, "clients": XADD_CLIENTS, "runs": xadd},
        "ratios": {
            "http_c64_to_trivial_c64": _ratio(
                http["c64"]["commands_per_s"], trivial["requests_per_s"]
            ),
            "http_c64_to_xadd": _ratio(http["c64"]["commands_per_s"], xadd_per_s),
            "store_to_xadd": _ratio(store["appends_per_s"], xadd_per_s),
        },
        "redis": {name: value for name, value in facts.items() if name != "pid"},
    }


def run(settings: BenchSettings) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="cardstream-bench-") as tmp:
        root = Path(tmp)
        signer = DevSigner.generate(issuer=ISSUER, audience=AUDIENCE)
        key_file = root / "jwt-public.pem"
        key_file.write_bytes(signer.public_pem())
        log_path = root / "boards.log"
        log.info("append: starting a private Redis (AOF, fsync always) in %s", root)
        with RedisServer(root / "redis") as redis_server, log_path.open("ab") as service_log:
            env = {
                "BOARDS_REDIS_URL": redis_server.url,
                "BOARDS_KEY_PREFIX": HTTP_PREFIX,
                "BOARDS_PARTITIONS": str(PARTITIONS),
                "BOARDS_JWT_ISSUER": ISSUER,
                "BOARDS_JWT_AUDIENCE": AUDIENCE,
                "BOARDS_JWT_PUBLIC_KEY_FILE": str(key_file),
                # Production mode refuses to start on a Redis that could lose events.
                "BOARDS_MODE": "production",
                "BOARDS_LOG_LEVEL": "WARNING",
                **UNLIMITED_COMMANDS,
            }
            token = signer.token(USER, ttl=TOKEN_TTL)
            profile = None
            if settings.profile_dir is not None:
                settings.profile_dir.mkdir(parents=True, exist_ok=True)
                profile = settings.profile_dir / "boards-append.pyisession"
            rig = Rig(redis_server, token, env, service_log, log_path, profile)
            return run_async(_measure(settings, rig))
