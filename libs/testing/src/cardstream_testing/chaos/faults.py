"""The faults: at random moments one component is killed with SIGKILL, as a crash would, left
down a random while, and started again on the same port and data directory. One at a time, so
that each comes back into a stack that can have it (auth needs FerretDB to start)."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Mapping
from typing import Protocol

COMPONENTS = ("boards", "projector", "auth", "ferretdb", "redis")


class Killable(Protocol):
    def kill(self) -> None: ...

    def start(self) -> object: ...


async def inject(
    components: Mapping[str, Killable],
    rng: random.Random,
    until: float,
    gap_s: tuple[float, float],
    kills: Counter[str],
) -> None:
    """Kills until `until`: first each component once in a random order, then any at random."""
    order = list(COMPONENTS)
    rng.shuffle(order)
    while True:
        await asyncio.sleep(rng.uniform(*gap_s))
        if time.monotonic() >= until:
            return
        name = order.pop() if order else rng.choice(COMPONENTS)
        down_s = rng.uniform(0.1, 2.0)
        component = components[name]
        await asyncio.to_thread(component.kill)
        kills[name] += 1
        await asyncio.sleep(down_s)
        await asyncio.to_thread(component.start)
