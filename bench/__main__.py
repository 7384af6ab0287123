"""`python -m bench [name ...]`: runs all or the named benchmarks and prints one JSON document.

Only the JSON goes to stdout; progress goes to stderr. The exit status is 1 when a benchmark
failed or counted errors (its JSON says which), 130 when interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import metadata
from types import FrameType
from typing import Any

from bench import append, bigboard, catchup, e2e, fanout, readstore
from bench.budgets import gather
from bench.runtime import BenchSettings, log

Benchmark = Callable[[BenchSettings], dict[str, Any]]

BENCHMARKS: dict[str, Benchmark] = {
    "append": append.run,
    "e2e": e2e.run,
    "catchup": catchup.run,
    "bigboard": bigboard.run,
    "fanout": fanout.run,
    "readstore": readstore.run,
}

_LIBRARIES = ("aiohttp", "redis", "hiredis", "uvloop", "orjson", "pydantic", "pymongo")


def _redis_server_version() -> str | None:
    executable = shutil.which("redis-server")
    if executable is None:
        return None
    out = subprocess.run([executable, "--version"], capture_output=True, text=True, check=False)
    found = re.search(r"v=(\S+)", out.stdout)
    return found.group(1) if found else out.stdout.strip() or None


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def machine() -> dict[str, Any]:
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {
        "cpu_count": os.cpu_count(),
        "cpus_usable": usable,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "redis": _redis_server_version(),
        "libraries": {name: _version(name) for name in _LIBRARIES},
    }


def _run_one(name: str, settings: BenchSettings) -> dict[str, Any]:
    log.info("running %s", name)
    try:
        return BENCHMARKS[name](settings)
    except Exception as exc:
        # The others still run, and the document says this one failed rather than leaving it out.
        log.exception("%s failed", name)
        return {"ok": False, "failed": f"{type(exc).__name__}: {exc}"}


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _stop_on_sigterm() -> None:
    # SIGTERM unwinds like Ctrl-C, so the servers are stopped on the way out instead of being
    # left behind; while an event loop runs, bench.runtime.run_async cancels its task instead.
    signal.signal(signal.SIGTERM, _interrupt)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", metavar="name", help=f"any of {', '.join(BENCHMARKS)}")
    args = parser.parse_args(argv)
    unknown = [name for name in args.names if name not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}")
    names: list[str] = list(dict.fromkeys(args.names)) or list(BENCHMARKS)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(message)s")
    _stop_on_sigterm()
    settings = BenchSettings()
    report: dict[str, Any] = {
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "settings": settings.model_dump(mode="json"),
    }
    try:
        for name in names:
            report[name] = _run_one(name, settings)
    except (KeyboardInterrupt, asyncio.CancelledError):
        log.error("interrupted; servers stopped, no figures printed")
        return 130
    report["budgets"] = gather(report, names)
    sys.stdout.write(json.dumps(report, indent=2) + "\n")
    failed = [name for name in names if not report[name].get("ok")]
    if failed:
        log.error("with errors or failed: %s (see their JSON)", ", ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
