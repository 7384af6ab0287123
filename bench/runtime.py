"""What every benchmark shares: its settings, the event loop, a tally of latencies, CPU meters."""

from __future__ import annotations

import asyncio
import logging
import math
import os
import signal
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import uvloop
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

log = logging.getLogger("bench")

Step = Callable[[], Awaitable[None]]
T = TypeVar("T")


class BenchSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BENCH_", frozen=True, extra="ignore")

    # Measured seconds per row; each row is preceded by a short unmeasured warm-up.
    seconds: float = Field(default=5.0, gt=0, le=600)

    @property
    def warmup_seconds(self) -> float:
        return min(1.0, self.seconds / 5)


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
