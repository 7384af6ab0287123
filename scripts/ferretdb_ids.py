"""Times FerretDB's lookups and updates by `_id` as a collection grows, for each binary given, and
prints one JSON document (deploy/ferretdb/README.md shows a run).

    .venv/bin/python scripts/ferretdb_ids.py                       # the build `make install` made
    .venv/bin/python scripts/ferretdb_ids.py --binary stock=/path/to/unpatched/ferretdb \\
        --binary patched=$(bash scripts/install.sh ferretdb-path)

A measurement, not a benchmark of `make bench`: filling 200,000 documents takes minutes, and a
stock FerretDB scans the whole collection for every operation. Each binary runs alone, on its
own server and data directory; sizes are reached by growing one collection.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cardstream_devstack import FerretDBServer, ferretdb_binary
from pymongo import MongoClient
from pymongo.collection import Collection

Doc = dict[str, Any]
Operation = Callable[[Collection[Doc], str], object]

SEED = 11
SIZES = (1_000, 20_000, 200_000)
INSERT_BATCH = 1_000
IN_IDS = 100
# Each row stops at whichever comes first, after at least MIN_OPS operations.
MAX_OPS = 200
MIN_OPS = 5
ROW_SECONDS = 5.0


def card(number: int) -> Doc:
    return {
        "_id": card_id(number),
        "board_id": f"board-{number % 200:03d}",
        "version": 1,
        "title": f"card {number}",
        "position": f"a{number:07d}",
    }


def card_id(number: int) -> str:
    return f"card-{number:07d}"


def update_by_id(cards: Collection[Doc], id_: str) -> object:
    return cards.update_one({"_id": id_}, {"$set": {"title": "moved"}})


def guarded_update(cards: Collection[Doc], id_: str) -> object:
    # The guard holds, as it does for every event applied in order: the update writes.
    return cards.update_one({"_id": id_, "version": {"$lt": 1_000_000}}, {"$inc": {"version": 1}})


def find_by_id(cards: Collection[Doc], id_: str) -> object:
    return cards.find_one({"_id": id_})


OPERATIONS: dict[str, Operation] = {
    "update_one_by_id": update_by_id,
    "guarded_update_one": guarded_update,
    "find_one_by_id": find_by_id,
}


def time_operation(
    cards: Collection[Doc], operation: Operation, size: int, rng: random.Random
) -> Doc:
    timings: list[float] = []
    deadline = time.perf_counter() + ROW_SECONDS
    while len(timings) < MAX_OPS and (len(timings) < MIN_OPS or time.perf_counter() < deadline):
        id_ = card_id(rng.randrange(size))
        start = time.perf_counter()
        operation(cards, id_)
        timings.append((time.perf_counter() - start) * 1000)
    return summary(timings)


def time_find_in(cards: Collection[Doc], size: int, rng: random.Random) -> Doc:
    timings: list[float] = []
    deadline = time.perf_counter() + ROW_SECONDS
    while len(timings) < MAX_OPS and (len(timings) < MIN_OPS or time.perf_counter() < deadline):
        ids = [card_id(rng.randrange(size)) for _ in range(IN_IDS)]
        start = time.perf_counter()
        list(cards.find({"_id": {"$in": ids}}))
        timings.append((time.perf_counter() - start) * 1000)
    return summary(timings)


def summary(timings_ms: list[float]) -> Doc:
    ordered = sorted(timings_ms)
    return {
        "ops": len(ordered),
        "p50_ms": round(statistics.median(ordered), 2),
        "p90_ms": round(ordered[int(0.9 * (len(ordered) - 1))], 2),
    }


def grow(cards: Collection[Doc], have: int, want: int) -> None:
    for start in range(have, want, INSERT_BATCH):
        cards.insert_many([card(n) for n in range(start, min(start + INSERT_BATCH, want))])


def measure(binary: Path) -> Doc:
    rng = random.Random(SEED)
    rows: Doc = {"binary": str(binary)}
    with tempfile.TemporaryDirectory() as data, FerretDBServer(Path(data), binary=binary) as server:
        client: MongoClient[Doc] = MongoClient(server.url)
        with client:
            cards = client["ferretdb_ids"]["cards"]
            have = 0
            for size in SIZES:
                started = time.perf_counter()
                grow(cards, have, size)
                have = size
                print(f"{binary}: {size} documents", file=sys.stderr, flush=True)
                row: Doc = {"fill_s": round(time.perf_counter() - started, 1)}
                for name, operation in OPERATIONS.items():
                    row[name] = time_operation(cards, operation, size, rng)
                row[f"find_in_{IN_IDS}_ids"] = time_find_in(cards, size, rng)
                rows[str(size)] = row
    return rows


def parse_binaries(values: list[str]) -> dict[str, Path]:
    if not values:
        return {"default": ferretdb_binary()}
    binaries = {}
    for value in values:
        name, sep, path = value.partition("=")
        if not sep:
            raise SystemExit(f"--binary takes NAME=PATH, not {value!r}")
        binaries[name] = Path(path)
    return binaries


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", action="append", default=[], metavar="NAME=PATH")
    binaries = parse_binaries(parser.parse_args().binary)
    print(f"seed {SEED}", file=sys.stderr)
    result = {"seed": SEED, **{name: measure(path) for name, path in binaries.items()}}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
