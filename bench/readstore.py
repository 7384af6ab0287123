"""`readstore`: what applying an event and loading a board cost with 1,000 and with 200,000 other
cards in the database. The row at 1,000 is the baseline of the row at 200,000, in the same run:
issue 11's budget is that neither cost grows with the database (within 1.25x), and that a `GET` of
a 5,000-card board answers within 150 ms (p50) with 200,000 other cards beside it.

Each row starts a private FerretDB (the patched build of deploy/ferretdb) and writes, through the
projector's own `MongoReadStore.write`, boards of 500 cards until the other cards number the row's
count, then one board of 5,000 cards (the target) and one of 10 cards (a small board). Measured:

- `apply_ms`: one event per write (`CardMoved` of a random card, as a live projector applies one
  event a batch), on the small board and on the 5,000-card board: p50/p99 over `APPLIES` writes;
- `load_ms`: the applier's cold load of the target (`store.load`: its board and every card), and
  `detail_ms`: the read model's `board_detail` of it, p50 over `LOADS` reads each;
- `get_ms`: `GET /api/boards/{id}` of the target through a projector process
  (`PROJECTOR_ROLE=serve`) over the same database, p50/p99 over `GETS` reads, the first (a cold
  process) apart; `get_ms.after_change`: the same, each read after one more event was written
  to the board (the serving process then applies it to the board it holds: the budget's figure).
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID

import aiohttp
from cardstream_testing.feeds import envelopes
from contracts.events import BoardCreated, CardAdded, CardMoved, ColumnAdded, Event
from projector.projection import BoardProjection, apply_event
from projector.store.mongo import MongoReadStore

from bench.budgets import line
from bench.runtime import BenchSettings, latency_ms, log, run_async
from bench.services import service_process
from bench.stack import USER, Servers, mongo_client, servers

ROWS = {"cards_1000": 1_000, "cards_200000": 200_000}
CARDS_PER_BOARD = 500
TARGET_CARDS = 5_000
COLUMNS = 7
APPLIES = 200
LOADS = 5
GETS = 20
BUDGET_RATIO = 1.25
BUDGET_GET_P50_MS = 150.0
SEED = 11


def _board_events(board: UUID, cards: int, owner: str) -> list[Event]:
    columns = [uuid.uuid5(board, f"column {i}") for i in range(COLUMNS)]
    events: list[Event] = [BoardCreated(title=f"board {board}", owner_id=owner)]
    events += [
        ColumnAdded(column_id=c, title=f"column {i}", position=f"a{i}")
        for i, c in enumerate(columns)
    ]
    events += [
        CardAdded(
            card_id=uuid.uuid5(board, f"card {i}"),
            column_id=columns[i % COLUMNS],
            position=f"b{i:06d}",
            title=f"card {i}",
            labels=["bench"],
        )
        for i in range(cards)
    ]
    return events


def _projection(board: UUID, payloads: list[Event], *, archive: bool) -> BoardProjection:
    projection = BoardProjection(board_id=str(board))
    for event in envelopes(board, payloads, actor=USER):
        apply_event(projection, event)
    if not archive:
        projection.applied.clear()  # the other boards' events are not what is measured
    return projection


async def _populate(store: MongoReadStore, other_cards: int) -> None:
    boards = max(1, other_cards // CARDS_PER_BOARD)
    for n in range(boards):
        board = uuid.uuid5(uuid.NAMESPACE_URL, f"https://cardstream.invalid/bench/readstore/{n}")
        await store.write(
            [_projection(board, _board_events(board, CARDS_PER_BOARD, "other"), archive=False)]
        )
        if (n + 1) % 50 == 0:
            log.info("readstore: %d of %d other boards written", n + 1, boards)


async def _apply(
    store: MongoReadStore, projection: BoardProjection, rng: random.Random, times: int = APPLIES
) -> list[float]:
    board = UUID(projection.board_id)
    cards = sorted(projection.cards)
    columns = [c["column_id"] for c in (projection.board or {})["columns"]]
    timings = []
    for _ in range(times):
        card = projection.cards[rng.choice(cards)]
        to = rng.choice(columns)
        move = CardMoved(
            card_id=UUID(card["card_id"]),
            from_column_id=UUID(card["column_id"]),
            to_column_id=UUID(to),
            position=f"c{projection.version:06d}",
            previous_position=card["position"],
        )
        [event] = envelopes(board, [move], start=projection.version + 1, actor=USER)
        apply_event(projection, event)
        started = time.perf_counter()
        stale = await store.write([projection])
        timings.append(time.perf_counter() - started)
        assert not stale, "no other writer here"
    return timings


async def _timed(times: int, read: Any) -> list[float]:
    timings = []
    for _ in range(times):
        started = time.perf_counter()
        await read()
        timings.append(time.perf_counter() - started)
    return timings


async def _gets(
    rig: Servers, db: str, board: UUID, change: Callable[[], Awaitable[object]]
) -> dict[str, Any]:
    settings = {
        **rig.env("PROJECTOR", "readstore:", role="serve"),
        "PROJECTOR_MONGO_URL": rig.mongo.url,
        "PROJECTOR_MONGO_DB": db,
    }
    headers = {"Authorization": f"Bearer {rig.token()}"}
    async with (
        service_process("projector", "PROJECTOR", settings, rig.log, rig.log_path) as projector,
        aiohttp.ClientSession() as session,
    ):
        url = f"{projector.url}/api/boards/{board}"

        async def get() -> bytes:
            async with session.get(url, headers=headers) as response:
                body = await response.read()
                assert response.status == 200, body[:300]
                return body

        idle = await _timed(GETS + 1, get)
        after_change = []
        for _ in range(GETS):
            await change()  # one event applied to the board, as an applier writes it
            after_change += await _timed(1, get)
        body = await get()
    return {
        "first_ms": round(idle[0] * 1000, 1),
        **latency_ms(idle[1:]),
        "bytes": len(body),
        "after_change": latency_ms(after_change),
    }


async def _row(rig: Servers, name: str, other_cards: int) -> dict[str, Any]:
    client = mongo_client(rig.mongo.url)
    store = MongoReadStore(client[name])
    rng = random.Random(SEED)
    try:
        await store.ensure_indexes()
        started = time.perf_counter()
        await _populate(store, other_cards)
        target_id, small_id = (
            uuid.uuid5(uuid.NAMESPACE_URL, "target"),
            uuid.uuid5(uuid.NAMESPACE_URL, "small"),
        )
        target = _projection(target_id, _board_events(target_id, TARGET_CARDS, USER), archive=False)
        small = _projection(small_id, _board_events(small_id, 10, USER), archive=False)
        await store.write([target, small])
        setup_s = time.perf_counter() - started
        log.info("readstore %s: written in %.1f s; measuring", name, setup_s)
        return {
            "other_cards": other_cards,
            "setup_s": round(setup_s, 1),
            "apply_ms": {
                "small_board": latency_ms(await _apply(store, small, rng)),
                "board_of_5000": latency_ms(await _apply(store, target, rng)),
            },
            "load_ms": latency_ms(await _timed(LOADS, lambda: store.load(str(target_id)))),
            "detail_ms": latency_ms(await _timed(LOADS, lambda: store.board_detail(target_id))),
            "get_ms": await _gets(
                rig, name, target_id, lambda: _apply(store, target, rng, times=1)
            ),
        }
    finally:
        await client.close()


def _ratio(big: dict[str, Any], small: dict[str, Any], *path: str) -> float | None:
    for key in path:
        big, small = big[key], small[key]
    return round(big / small, 2) if big and small else None  # type: ignore[operator]


def _budgets(rows: dict[str, Any]) -> dict[str, Any]:
    base, big = rows["cards_1000"], rows["cards_200000"]
    ratios = {
        "apply_small_board_p50": _ratio(big, base, "apply_ms", "small_board", "p50_ms"),
        "apply_board_of_5000_p50": _ratio(big, base, "apply_ms", "board_of_5000", "p50_ms"),
        "load_p50": _ratio(big, base, "load_ms", "p50_ms"),
        "detail_p50": _ratio(big, base, "detail_ms", "p50_ms"),
    }
    get_p50 = big["get_ms"]["p50_ms"]
    get_after_change = big["get_ms"]["after_change"]["p50_ms"]
    return {
        "ratios_200000_to_1000": ratios,
        "within_budget": {
            "costs_flat": all(r is not None and r <= BUDGET_RATIO for r in ratios.values()),
            "get_of_5000_cards": get_after_change is not None
            and get_after_change < BUDGET_GET_P50_MS,
        },
        "budget": {"ratio_at_most": BUDGET_RATIO, "get_p50_ms_under": BUDGET_GET_P50_MS},
        "budgets": [
            line(
                "apply cost per event at 200,000 cards within 1.25x of the same at 1,000 "
                "(p50 ratio)",
                max(ratios["apply_small_board_p50"] or 0, ratios["apply_board_of_5000_p50"] or 0),
                within=all(
                    r is not None and r <= BUDGET_RATIO
                    for r in (ratios["apply_small_board_p50"], ratios["apply_board_of_5000_p50"])
                ),
                baseline={
                    "apply_p50_ms_at_1000": base["apply_ms"]["small_board"]["p50_ms"],
                    "apply_p50_ms_at_200000": big["apply_ms"]["small_board"]["p50_ms"],
                },
            ),
            line(
                "board load at 200,000 cards within 1.25x of the same at 1,000 (p50 ratio)",
                ratios["load_p50"],
                within=ratios["load_p50"] is not None and ratios["load_p50"] <= BUDGET_RATIO,
                baseline={
                    "load_p50_ms_at_1000": base["load_ms"]["p50_ms"],
                    "load_p50_ms_at_200000": big["load_ms"]["p50_ms"],
                },
            ),
            line(
                "GET of a 5,000-card board, 200,000 other cards, each after a change: p50 under "
                "150 ms (ms)",
                get_after_change,
                within=get_after_change is not None and get_after_change < BUDGET_GET_P50_MS,
                baseline={
                    "unchanged_board_get_p50_ms": get_p50,
                    "first_get_ms": big["get_ms"]["first_ms"],
                },
            ),
        ],
    }


async def _run(settings: BenchSettings) -> dict[str, Any]:
    rows: dict[str, Any] = {}
    with servers("readstore") as rig:
        for name, other in ROWS.items():
            rows[name] = await _row(rig, name, other)
    return {"ok": True, "rows": rows, **_budgets(rows)}


def run(settings: BenchSettings) -> dict[str, Any]:
    return run_async(_run(settings))
