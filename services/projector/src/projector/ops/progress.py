"""Progress of a long operation on stderr: a bar that redraws itself on a terminal, and plain
lines (what was done, how fast) anywhere else, such as a log file or CI."""

from __future__ import annotations

import time
from typing import TextIO

BAR_WIDTH = 30
# A terminal is redrawn at most this often, so a fast loop does not spend its time drawing.
REDRAW_S = 0.1


class Progress:
    def __init__(self, out: TextIO, name: str, *, interactive: bool | None = None) -> None:
        self._out = out
        self._name = name
        self._interactive = out.isatty() if interactive is None else interactive
        self._started = time.monotonic()
        self._drawn_at = -float("inf")
        self._bar_shown = False
        # Events handled so far: every line and bar says the rate.
        self.events = 0

    def _elapsed(self) -> float:
        return max(time.monotonic() - self._started, 1e-6)

    def _rate(self) -> str:
        return f"{self.events:,} events, {self.events / self._elapsed():,.0f} events/s"

    def say(self, message: str) -> None:
        """A line that stays: a step done, a figure worth keeping."""
        self._clear_bar()
        print(
            f"{self._name} [{self._elapsed():7.1f}s] {message} ({self._rate()})",
            file=self._out,
            flush=True,
        )

    def advance(self, done: int, total: int | None, what: str) -> None:
        """Where a loop is; drawn as a bar on a terminal only (`say` the milestones)."""
        if not self._interactive:
            return
        now = time.monotonic()
        if now - self._drawn_at < REDRAW_S and done != total:
            return
        self._drawn_at = now
        if total:
            filled = min(BAR_WIDTH, BAR_WIDTH * done // total)
            bar = "#" * filled + "-" * (BAR_WIDTH - filled)
            where = f"[{bar}] {done:,}/{total:,} {what}"
        else:
            where = f"{done:,} {what}"
        self._out.write(f"\r\x1b[2K{self._name} {where} ({self._rate()})")
        self._out.flush()
        self._bar_shown = True

    def _clear_bar(self) -> None:
        if self._bar_shown:
            self._out.write("\r\x1b[2K")
            self._bar_shown = False

    def close(self) -> None:
        self._clear_bar()
        self._out.flush()
