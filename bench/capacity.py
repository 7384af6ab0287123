"""`python -m bench.capacity RUN.json`: the capacity tables of `docs/scaling.md`, computed from one
`python -m bench` document, so that the page's figures come from a run, never from arithmetic by
hand.

Each unit's rate is its measured rate scaled to one full core (the benchmarks report the cores
each process kept busy) and planned at `PLANNED` of that. The units needed at 10x, 100x and
1,000x the load one machine carries today (the `e2e` budget row's rate, the `fanout` row's
sockets) follow by division, rounded up. `tests/packaging/test_scaling_doc.py` renders the run
stored beside the performance page and checks that `docs/scaling.md` holds exactly that."""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BEGIN = "<!-- capacity: rendered by python -m bench.capacity docs/performance-run.json -->"
END = "<!-- /capacity -->"

# The share of a unit's one-core rate to plan on: headroom for bursts and for a peer's failure.
PLANNED = 0.6
SCALES = (10, 100, 1000)
# A cluster has at least three primaries (a majority must survive one failure).
LEAST_PRIMARIES = 3
# Partitions per primary to aim for, so that moving slots can even out the load.
PARTITIONS_PER_PRIMARY = 4
LIVE_ROW = "paced_1000_boards_100_subs_100"
FANOUT_ROW = "subs_10000"


@dataclass(frozen=True)
class Unit:
    name: str
    measured: str
    per_core: float | None
    planned: float

    @property
    def per_unit(self) -> int:
        return math.floor(self.planned)


def _per_core(rate: float, cores: float) -> float:
    return rate / cores


def units(run: Mapping[str, Any]) -> dict[str, Unit]:
    c64 = run["append"]["http"]["c64"]
    store = run["append"]["store"]
    catchup = run["catchup"]["projector"]
    fanout = run["fanout"]["rows"][FANOUT_ROW]
    boards_core = _per_core(c64["commands_per_s"], c64["cpu_cores"]["server"])
    redis_core = _per_core(store["appends_per_s"], store["cpu_cores"]["redis"])
    applier_cores = catchup["cpu_cores"]["projector"] + catchup["cpu_cores"]["ferretdb"]
    applier_core = _per_core(catchup["events_per_s"], applier_cores)
    sockets = fanout["sockets"]
    return {
        "boards": Unit(
            "boards process (one event loop, one core)",
            f"{c64['commands_per_s']:,} commands/s over 64 boards at 64 in flight, server at "
            f"{c64['cpu_cores']['server']} core (`append` c64)",
            boards_core,
            boards_core * PLANNED,
        ),
        "redis": Unit(
            "Redis primary (AOF, fsync always)",
            f"{store['appends_per_s']:,} appends/s at {store['cpu_cores']['redis']} core "
            "(`append` store)",
            redis_core,
            redis_core * PLANNED,
        ),
        "applier": Unit(
            "projector applier (with its read store)",
            f"{catchup['events_per_s']:,} events/s, projector {catchup['cpu_cores']['projector']}"
            f" core + FerretDB {catchup['cpu_cores']['ferretdb']} core (`catchup`)",
            applier_core,
            applier_core * PLANNED,
        ),
        "serving": Unit(
            "serving projector process",
            f"{sockets:,} sockets on one board, an event on all of them p99 "
            f"{_p99(run)} ms (`fanout` {FANOUT_ROW})",
            None,
            # Sockets are held, not rated: the row ran them all on one process, within budget.
            float(sockets),
        ),
    }


def _p99(run: Mapping[str, Any]) -> str:
    for line in run["fanout"]["budgets"]:
        if "p99" in line["budget"]:
            return f"{line['figure']:,.0f}"
    raise KeyError("the fanout run has no p99 budget line")


def _n(value: float) -> str:
    return f"{value:,.0f}"


def unit_table(run: Mapping[str, Any]) -> str:
    rows = [
        "| unit | measured here | per core | planned per unit |",
        "| --- | --- | --- | --- |",
    ]
    for unit in units(run).values():
        per_core = "" if unit.per_core is None else _n(unit.per_core)
        rows.append(f"| {unit.name} | {unit.measured} | {per_core} | **{_n(unit.per_unit)}** |")
    return "\n".join(rows)


def scale_table(run: Mapping[str, Any]) -> str:
    every = units(run)
    live = run["e2e"]["rows"][LIVE_ROW]
    commands = live["offered_per_s"]
    sockets = run["fanout"]["rows"][FANOUT_ROW]["sockets"]
    partitions = run["catchup"]["partitions"]

    def need(load: float, unit: str) -> int:
        return math.ceil(load / every[unit].per_unit)

    def primaries(load: float) -> int:
        return max(LEAST_PRIMARIES, need(load, "redis"))

    def partitions_for(load: float) -> int:
        wanted = primaries(load) * PARTITIONS_PER_PRIMARY
        return max(int(partitions), 1 << math.ceil(math.log2(wanted)))

    head = "| | today (one machine) | " + " | ".join(f"{k:,}x" for k in SCALES) + " |"
    rows = [head, "| --- " * (2 + len(SCALES)) + "|"]

    def row(label: str, today: str, cell: Any) -> None:
        rows.append(f"| {label} | {today} | " + " | ".join(cell(k) for k in SCALES) + " |")

    row("commands/s", _n(commands), lambda k: _n(commands * k))
    row("open sockets", _n(sockets), lambda k: _n(sockets * k))
    row(
        f"boards processes ({_n(every['boards'].per_unit)}/s)",
        "1",
        lambda k: _n(need(commands * k, "boards")),
    )
    row(
        f"Redis primaries ({_n(every['redis'].per_unit)}/s), a replica each",
        "one server",
        lambda k: _n(primaries(commands * k)),
    )
    row(
        "partitions (`*_PARTITIONS`, fixed at install)",
        _n(partitions),
        lambda k: _n(partitions_for(commands * k)),
    )
    row(
        f"applying projectors ({_n(every['applier'].per_unit)} events/s)",
        "1",
        lambda k: _n(need(commands * k, "applier")),
    )
    row(
        f"serving projectors ({_n(every['serving'].per_unit)} sockets)",
        "1",
        lambda k: _n(need(sockets * k, "serving")),
    )
    return "\n".join(rows)


def cluster_line(run: Mapping[str, Any]) -> str:
    compared = run["e2e"].get("cluster_vs_single")
    if not compared:
        return "This run has no `e2e` cluster row (it predates it)."
    single, cluster = compared["rows"]
    return (
        f"The same run's `e2e` rows at 1,000 commands/s over 100 boards, `{cluster}` (a Redis "
        f"Cluster of 3 primaries and 3 replicas, replica acks 1, on these 2 cores) over "
        f"`{single}` (one server): p50 x {compared['p50_ms_ratio']}, p99 x "
        f"{compared['p99_ms_ratio']}, commands/s x {compared['commands_per_s_ratio']}."
    )


def rendered(run: Mapping[str, Any]) -> str:
    parts = [BEGIN, unit_table(run), "", scale_table(run), "", cluster_line(run), END]
    return "\n".join(parts) + "\n"


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        sys.stderr.write("usage: python -m bench.capacity RUN.json\n")
        return 2
    sys.stdout.write(rendered(json.loads(Path(argv[0]).read_text())))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
