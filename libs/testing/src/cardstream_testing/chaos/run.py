"""One chaos run: a private stack, the load, the faults, then the verification and the report."""

from __future__ import annotations

import asyncio
import contextlib
import random
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from cardstream_devstack import FerretDBServer, RedisServer
from contracts.streams import StreamKeys
from redis.asyncio import Redis

from cardstream_testing.chaos import verify
from cardstream_testing.chaos.faults import COMPONENTS, Killable, inject
from cardstream_testing.chaos.identity import Identity
from cardstream_testing.chaos.load import Board, Client, Ledger, create_board, write
from cardstream_testing.chaos.subscribers import Subscriber, View
from cardstream_testing.fullstack import FullStack, full_stack
from cardstream_testing.processes import ServiceProcess
from cardstream_testing.stack import run_module

WEB_ROOT = Path(__file__).resolve().parents[5] / "web"
USERS = ("ada@example.com", "bob@example.com", "cy@example.com")
# How long, after the faults stop, commands are still retried and the stack may take to settle.
SETTLE_S = 120.0


@dataclass(frozen=True)
class ChaosOptions:
    seconds: float
    seed: int
    boards: int = 12
    writers: int = 6
    subscribers: int = 3
    boards_per_subscriber: int = 4
    gap_s: tuple[float, float] = (2.0, 8.0)
    min_kills: int = 5


@dataclass
class Stack:
    full: FullStack
    redis: RedisServer
    ferretdb: FerretDBServer

    def components(self) -> dict[str, Killable]:
        _, auth, boards, projector = self.full.processes
        return {
            "auth": auth,
            "boards": boards,
            "projector": projector,
            "redis": self.redis,
            "ferretdb": self.ferretdb,
        }

    @property
    def projector(self) -> ServiceProcess:
        return self.full.processes[3]


@contextlib.contextmanager
def chaos_stack(tmp: Path) -> Iterator[Stack]:
    with (
        RedisServer(tmp / "redis") as redis,
        FerretDBServer(tmp / "ferretdb") as ferretdb,
        full_stack(
            tmp,
            redis_url=redis.url,
            mongo_url=ferretdb.url,
            mongo_db="chaos",
            web_root=WEB_ROOT,
            # Short access tokens, so that refreshes (and sign-ins) happen amid the faults too.
            env={"AUTH_ACCESS_TTL_S": "60"},
        ) as full,
    ):
        yield Stack(full, redis, ferretdb)


def run_chaos(options: ChaosOptions, tmp: Path | None = None) -> dict[str, Any]:
    """The report of one run (`ok` says whether every invariant held)."""
    directory = tmp or Path(tempfile.mkdtemp(prefix="cardstream-chaos-"))
    with chaos_stack(directory) as stack:
        report = asyncio.run(_run(stack, options))
    report["data_dir"] = str(directory)
    return report


async def _run(stack: Stack, options: ChaosOptions) -> dict[str, Any]:
    rng = random.Random(options.seed)
    started = time.monotonic()
    load_until = started + options.seconds
    deadline = load_until + SETTLE_S
    url = stack.full.url
    users = [Identity(url, email, deadline) for email in USERS]
    ledger = Ledger()
    kills: Counter[str] = Counter()
    async with aiohttp.ClientSession() as session:
        for user in users:
            await user.renew("")
        client = Client(session, url, ledger, deadline)
        boards = [
            await create_board(client, users[n % len(users)], _others(users, n), n)
            for n in range(options.boards)
        ]
        subscribers = _subscribers(url, users, boards, options, rng)
        stop = asyncio.Event()
        load = [
            asyncio.create_task(write(client, boards, random.Random(rng.random()), stop))
            for _ in range(options.writers)
        ]
        follow = [asyncio.create_task(s.run(session)) for s in subscribers]
        await inject(stack.components(), rng, load_until, options.gap_s, kills)
        stop.set()
        await asyncio.gather(*load)
        try:
            findings, extra = await _verify(stack, session, users[0], boards, ledger, subscribers)
        finally:
            for subscriber in subscribers:
                await subscriber.close()
            await asyncio.gather(*follow)
        extra["subscribers"] = _subscriber_stats(subscribers)
    return _report(options, time.monotonic() - started, kills, ledger, findings, extra, users)


def _subscriber_stats(subscribers: list[Subscriber]) -> dict[str, int]:
    total: Counter[str] = Counter()
    for subscriber in subscribers:
        total.update(subscriber.stats())
    return {"count": len(subscribers), **total}


def _others(users: list[Identity], n: int) -> list[Identity]:
    owner = users[n % len(users)]
    return [u for u in users if u is not owner]


def _subscribers(
    url: str, users: list[Identity], boards: list[Board], options: ChaosOptions, rng: random.Random
) -> list[Subscriber]:
    subscribers = []
    for n in range(options.subscribers):
        followed = rng.sample(boards, min(options.boards_per_subscriber, len(boards)))
        views = {b.board_id: View(b.board_id) for b in followed}
        subscribers.append(Subscriber(url, users[n % len(users)], views))
    return subscribers


async def _verify(
    stack: Stack,
    session: aiohttp.ClientSession,
    reader: Identity,
    boards: list[Board],
    ledger: Ledger,
    subscribers: list[Subscriber],
) -> tuple[verify.Findings, dict[str, Any]]:
    findings = verify.Findings()
    until = time.monotonic() + SETTLE_S
    redis = Redis.from_url(stack.redis.url)
    try:
        logs = await verify.read_logs(redis, StreamKeys(), [b.board_id for b in boards])
    finally:
        await redis.aclose()
    verify.check_logs(logs, ledger, findings)
    heads = {board: len(log) for board, log in logs.items()}
    details = await verify.read_models(session, stack.full.url, reader, heads, until)
    verify.check_read_models(heads, details, findings)
    for subscriber in subscribers:
        await subscriber.until_at(heads, until)
    verify.check_subscribers(subscribers, logs, details, findings)
    status, _, err = await run_module(
        "projector", "rebuild", "--verify-only", env=stack.projector.env, timeout_s=SETTLE_S
    )
    problems = [line for line in err.splitlines() if line.startswith("rebuild: ")]
    findings.divergent_read_models.extend(problems)
    if status != 0 and not problems:
        findings.divergent_read_models.append(f"rebuild --verify-only exited {status}: {err}")
    return findings, {"rebuild_verify_exit": status, "heads": sum(heads.values())}


def _report(
    options: ChaosOptions,
    seconds: float,
    kills: Counter[str],
    ledger: Ledger,
    findings: verify.Findings,
    extra: dict[str, Any],
    users: list[Identity],
) -> dict[str, Any]:
    counts = findings.counts()
    kills_by = {name: kills[name] for name in COMPONENTS}
    enough = sum(kills_by.values()) >= options.min_kills and all(kills_by.values())
    return {
        "ok": enough and not any(counts.values()),
        "seed": options.seed,
        "seconds": round(seconds, 1),
        "load_seconds": options.seconds,
        "kills": kills_by,
        "kills_total": sum(kills_by.values()),
        "min_kills": options.min_kills,
        "commands": ledger.summary(),
        "events": findings.events,
        "unanswered_but_written": findings.unanswered_written,
        **counts,
        "rebuild_verify_exit": extra["rebuild_verify_exit"],
        "subscribers": extra["subscribers"],
        "sign_ins": sum(u.sign_ins for u in users),
        "refreshes": sum(u.refreshes for u in users),
        "details": {
            name: getattr(findings, name)[:20] for name in counts if getattr(findings, name)
        },
    }
