"""Waiting on what only a read can tell (a process's metrics, say): read again until a condition
holds of what was read, within a bound. The bound is what fails a test; the pause between reads
only paces them (a few dozen reads a second rather than a busy loop), it times nothing."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

# Between two reads: short next to every bound the tests give, long next to one read.
PACE_S = 0.05


async def poll(
    read: Callable[[], Awaitable[T]], done: Callable[[T], bool], *, within: float
) -> tuple[T, bool]:
    """Reads until `done` holds of what was read, for at most `within` seconds: the last read,
    and whether the condition held of it."""
    deadline = time.monotonic() + within
    while True:
        seen = await read()
        if done(seen):
            return seen, True
        if time.monotonic() >= deadline:
            return seen, False
        await asyncio.sleep(PACE_S)
