"""What every benchmark shares: its settings, the event loop, a tally of latencies, CPU meters."""

from __future__ import annotations

import asyncio
import logging
import math
import os
import resource
import signal
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import uvloop
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

log = logging.getLogger("bench")

Step = Callable[[], Awaitable[None]]
Send = Callable[[float], Awaitable[None]]
T = TypeVar("T")


class BenchSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BENCH_", frozen=True, extra="ignore")

    # Measured seconds per row; each row is preceded by a short unmeasured warm-up.
    seconds: float = Field(default=5.0, gt=0, le=600)
    # `catchup`: how many events the projector rebuilds from, spread over boards of this many.
    catchup_events: int = Field(default=100_000, ge=1, le=10_000_000)
    catchup_events_per_board: int = Field(default=500, ge=20, le=100_000)
    # `catchup` gives up (and reports what was applied by then) after this many seconds.
    catchup_timeout_s: float = Field(default=300.0, gt=0, le=24 * 3600)
    # `catchup`'s PROJECTOR_BATCH_SIZE; unset, the projector's own default.
    # Bounded as the projector bounds PROJECTOR_BATCH_SIZE.
    catchup_batch_size: int | None = Field(default=None, ge=1, le=50_000)
    # `catchup`'s partitions (the feeds written and the projector's PROJECTOR_PARTITIONS).
    catchup_partitions: int = Field(default=16, ge=1, le=1024)
    # `fanout`: events sent to every row's sockets, one at a time, and which rows run.
    fanout_events: int = Field(default=20, ge=1, le=10_000)
    fanout_sockets: tuple[int, ...] = (1_000, 5_000, 10_000)
    # When set, `catchup` runs its projector under cProfile and leaves the profile here.
    profile_dir: Path | None = None

    @property
    def warmup_seconds(self) -> float:
        return min(1.0, self.seconds / 5)


def raise_fd_limit() -> int:
    """Raises this process's soft limit on open files to its hard limit (children inherit it), so
    that thousands of sockets fit; returns the limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    # An unlimited hard limit is not a value the soft one may take: the kernel caps it anyway.
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 16)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return target


def new_event_loop() -> asyncio.AbstractEventLoop:
    # The service runs on uvloop; the client does too, so that it steals as little CPU as it can.
    return uvloop.new_event_loop()


def run_async(main: Coroutine[Any, Any, T]) -> T:
    """Runs `main` on uvloop. Ctrl-C (asyncio's own handling) and SIGTERM both cancel it, so its
    cleanups (stopping servers) run either way; the caller then sees KeyboardInterrupt or
    CancelledError."""
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        return runner.run(_cancelled_by_sigterm(main))


async def _cancelled_by_sigterm(main: Coroutine[Any, Any, T]) -> T:
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    # Removing a loop's handler resets the signal to SIG_DFL: put back whatever was there.
    previous = signal.getsignal(signal.SIGTERM)
    loop.add_signal_handler(signal.SIGTERM, task.cancel)
    try:
        return await main
    finally:
        loop.remove_signal_handler(signal.SIGTERM)
        signal.signal(signal.SIGTERM, previous)


def percentile(ordered: Sequence[float], q: float) -> float | None:
    """Nearest rank: a value that was observed, never an interpolation between two."""
    if not ordered:
        return None
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 2)


@dataclass(slots=True)
class Tally:
    """Outcomes of one measured row. Latencies are of successes only; failures are counted."""

    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    noops: int = 0

    def ok(self, seconds: float, *, noop: bool = False) -> None:
        self.latencies.append(seconds)
        self.noops += noop

    def failed(self, kind: str, detail: str) -> None:
        if kind not in self.errors:
            log.warning("first %s: %s", kind, detail)
        self.errors[kind] += 1

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    def summary(self, unit: str, elapsed: float) -> dict[str, Any]:
        ordered = sorted(self.latencies)
        row: dict[str, Any] = {
            unit: len(ordered),
            f"{unit}_per_s": round(len(ordered) / elapsed) if elapsed > 0 else 0,
            "p50_ms": _ms(percentile(ordered, 0.50)),
            "p99_ms": _ms(percentile(ordered, 0.99)),
            "max_ms": _ms(ordered[-1] if ordered else None),
            "errors": self.error_count,
        }
        if self.errors:
            row["errors_by_kind"] = dict(self.errors.most_common())
        return row


async def closed_loop(steps: Sequence[Step], seconds: float) -> float:
    """Runs every step over and over, all at once, until `seconds` have passed; returns the wall
    time it took, which includes the last steps that were still running at the deadline."""
    deadline = time.perf_counter() + seconds

    async def repeat(step: Step) -> None:
        while time.perf_counter() < deadline:
            await step()

    start = time.perf_counter()
    async with asyncio.TaskGroup() as group:
        for step in steps:
            group.create_task(repeat(step))
    return time.perf_counter() - start


async def open_loop(send: Send, rate: float, seconds: float, max_in_flight: int) -> float:
    """Open loop: calls `send(due)` at a fixed rate whatever the earlier calls do, at most
    `max_in_flight` at a time; returns the wall time, including the last calls to finish. `due`
    is when the call was meant to start, on `time.monotonic()` (CLOCK_MONOTONIC on Linux, the
    same clock in every process): latency counted from it shows a sender that falls behind
    instead of hiding it (no coordinated omission)."""
    in_flight = asyncio.Semaphore(max_in_flight)

    async def one(due: float) -> None:
        try:
            await send(due)
        finally:
            in_flight.release()

    start = time.monotonic()
    async with asyncio.TaskGroup() as group:
        for i in range(round(rate * seconds)):
            due = start + i / rate
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            await in_flight.acquire()
            group.create_task(one(due))
    return time.monotonic() - start


def latency_ms(latencies: Sequence[float]) -> dict[str, float | None]:
    """p50, p95, p99 and max of latencies in seconds, in milliseconds (nearest rank)."""
    ordered = sorted(latencies)
    return {
        "p50_ms": _ms(percentile(ordered, 0.50)),
        "p95_ms": _ms(percentile(ordered, 0.95)),
        "p99_ms": _ms(percentile(ordered, 0.99)),
        "max_ms": _ms(ordered[-1] if ordered else None),
    }


def _process_cpu_seconds(pid: int) -> float | None:
    # /proc is Linux only; elsewhere the meter reports this process alone.
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            # The command name may hold spaces and parentheses: count fields after the last ')'.
            fields = stat.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return None
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """CPU seconds used by this process (`client`) and by other named processes, so that a row
    can say how many cores each side kept busy: on a small machine they compete for the same ones.
    Reading /proc does not block on disk, so this is safe to call from the event loop."""

    def __init__(self, pids: Mapping[str, int]) -> None:
        self._pids = dict(pids)

    def read(self) -> dict[str, float]:
        seconds = {"client": time.process_time()}
        for name, pid in self._pids.items():
            used = _process_cpu_seconds(pid)
            if used is not None:
                seconds[name] = used
        return seconds

    def cores_since(self, before: Mapping[str, float], elapsed: float) -> dict[str, float]:
        after = self.read()
        return {
            name: round((after[name] - used) / elapsed, 2)
            for name, used in before.items()
            if name in after and elapsed > 0
        }
