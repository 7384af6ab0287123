"""`Supervisor`: `make run` keeps its processes up. A server or service that exits is started
again (and, for a service, waited for until healthy), so one crash does not take the stack down;
one that keeps exiting (`max_restarts` within `window_s`) is a crash loop, which no restart will
cure: the supervisor raises, and `make run` stops with that process's last log lines."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Protocol

from cardstream_devstack.processes import log_tail


class Child(Protocol):
    @property
    def returncode(self) -> int | None: ...

    @property
    def log_path(self) -> Path: ...

    def start(self) -> object: ...


class CrashLoopError(Exception):
    def __init__(self, name: str, returncode: int, restarts: int, log_path: Path) -> None:
        super().__init__(
            f"{name} exited with status {returncode} after {restarts} restarts in a short "
            f"while; giving up. Last lines of {log_path}:\n{log_tail(log_path)}"
        )
        self.name = name


class Supervisor:
    def __init__(
        self,
        children: Mapping[str, Child],
        *,
        max_restarts: int = 5,
        window_s: float = 60.0,
        say: Callable[[str], None] = print,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.children = children
        self.max_restarts = max_restarts
        self.window_s = window_s
        self._say = say
        self._clock = clock
        self._restarts: dict[str, deque[float]] = {name: deque() for name in children}

    def check(self) -> list[str]:
        """Starts again every child that has exited; returns their names."""
        restarted = []
        for name, child in self.children.items():
            returncode = child.returncode
            if returncode is None:
                continue
            recent = self._restarts[name]
            now = self._clock()
            while recent and now - recent[0] > self.window_s:
                recent.popleft()
            if len(recent) >= self.max_restarts:
                raise CrashLoopError(name, returncode, len(recent), child.log_path)
            recent.append(now)
            self._say(
                f"{name} exited with status {returncode}; starting it again "
                f"({len(recent)} in the last {self.window_s:.0f} s; log: {child.log_path})"
            )
            child.start()
            wait_healthy = getattr(child, "wait_healthy", None)
            if callable(wait_healthy):
                wait_healthy()
            restarted.append(name)
        return restarted
