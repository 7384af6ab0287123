"""Issue 13, items 2 and 3: many instances on the Redis Cluster. Two boards and two projector
processes (and auth) run behind nginx, which spreads requests over each pair round-robin, every
one of them on the test cluster (`redis+cluster://` in each one's REDIS_URL). No sticky sessions.

- Commands sent through either boards process, concurrently on one board, reach every subscriber,
  whichever projector serves its socket, in one order without a gap, and the read model.
- The two projectors share the partitions: each applies half, none is applied by both.
- A socket process reads only the partition feeds of the boards its subscribers follow.
- A projector killed with SIGKILL: the other takes its partitions once its leases lapse.
- A logout closes the socket with 4401, whichever process serves it.

The stack is the module's: its tests run in this order, the kill last."""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from cardstream_testing import FerretDBServer, RedisCluster
from cardstream_testing.fullstack import FullStack, full_stack
from cardstream_testing.polling import poll
from cardstream_testing.processes import ServiceProcess
from cardstream_testing.stack import Subscriber
from contracts.streams import DEFAULT_PARTITIONS, StreamKeys
from pymongo import MongoClient

WEB_ROOT = Path(__file__).resolve().parents[2] / "web"
WAIT_S = 10.0
LEASE_MS = 1500
WRITERS, COMMANDS_EACH = 4, 15
SOCKETS = 4
_SAMPLE = re.compile(r'^(cardstream_projector_\w+)(?:\{partition="(\d+)"\})? (\S+)$')


@pytest.fixture(scope="module")
def cluster_stack(
    tmp_path_factory: pytest.TempPathFactory,
    redis_cluster: RedisCluster,
    mongo_server: FerretDBServer,
) -> Iterator[FullStack]:
    # The cluster is the session's: a prefix of this module's own keeps its keys apart.
    prefix, db = f"e{secrets.token_hex(4)}:", f"t{secrets.token_hex(6)}"
    env = {f"{service}_KEY_PREFIX": prefix for service in ("AUTH", "BOARDS", "PROJECTOR")}
    env["PROJECTOR_LEASE_MS"] = str(LEASE_MS)
    with full_stack(
        tmp_path_factory.mktemp("stack"),
        redis_url=redis_cluster.url,
        mongo_url=mongo_server.url,
        mongo_db=db,
        web_root=WEB_ROOT,
        env=env,
        instances=2,
    ) as stack:
        yield stack
    with MongoClient(mongo_server.url) as client:
        client.drop_database(db)
        client.drop_database(f"{db}_auth")


@pytest.fixture
async def browser() -> AsyncIterator[aiohttp.ClientSession]:
    jar = aiohttp.CookieJar(unsafe=True)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(cookie_jar=jar, timeout=timeout) as session:
        yield session


async def _sign_in(session: aiohttp.ClientSession, url: str, email: str) -> dict[str, Any]:
    async with session.get(
        f"{url}/auth/login", params={"login_hint": email}, headers={"Accept": "application/json"}
    ) as response:
        assert response.status == 200, await response.text()
        answer: dict[str, Any] = await response.json()
        return answer


async def _command(
    session: aiohttp.ClientSession, url: str, path: str, bearer: dict[str, str], body: Any
) -> dict[str, Any]:
    async with session.post(
        f"{url}{path}", json={"command_id": str(uuid.uuid4()), **body}, headers=bearer
    ) as response:
        assert response.status in (200, 201), await response.text()
        answer: dict[str, Any] = await response.json()
        return answer


async def _board(
    session: aiohttp.ClientSession, url: str, board: str, reader: dict[str, str], version: int
) -> dict[str, Any]:
    async with session.get(
        f"{url}/api/boards/{board}?min_version={version}", headers=reader
    ) as response:
        assert response.status == 200, await response.text()
        detail: dict[str, Any] = await response.json()
        return detail


async def _metrics(session: aiohttp.ClientSession, process: ServiceProcess) -> dict[str, Any]:
    """One projector's own metrics, asked of it directly (not through nginx): the partitions it
    applies and tails, its sockets, the appliers it sees."""
    async with session.get(f"{process.url}/metrics") as response:
        assert response.status == 200, await response.text()
        text = await response.text()
    seen: dict[str, Any] = {"applied": set(), "tailed": set()}
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match is None:
            continue
        name, partition, value = match.groups()
        if name == "cardstream_projector_partition_applied" and value == "1":
            seen["applied"].add(int(partition))
        elif name == "cardstream_projector_partition_tailed" and value == "1":
            seen["tailed"].add(int(partition))
        elif name == "cardstream_projector_websocket_connections":
            seen["sockets"] = int(value)
        elif name == "cardstream_projector_appliers":
            seen["appliers"] = int(value)
    return seen


async def _until_shared(
    session: aiohttp.ClientSession, projectors: list[ServiceProcess], within: float
) -> list[dict[str, Any]]:
    """Polls the projectors' metrics until each applies an even share and together all; the
    last metrics read if that does not happen within `within` seconds."""
    share = -(-DEFAULT_PARTITIONS // len(projectors))

    def shared(seen: list[dict[str, Any]]) -> bool:
        applied = [s["applied"] for s in seen]
        return set().union(*applied) == set(range(DEFAULT_PARTITIONS)) and all(
            len(a) == share for a in applied
        )

    seen, _ = await poll(lambda: _all_metrics(session, projectors), shared, within=within)
    return seen


async def _all_metrics(
    session: aiohttp.ClientSession, processes: list[ServiceProcess]
) -> list[dict[str, Any]]:
    return [await _metrics(session, p) for p in processes]


def _upstreams_of_posts(stack: FullStack) -> Counter[str]:
    """How many commands each boards process answered, from nginx's access log."""
    assert stack.access_log is not None
    answered: Counter[str] = Counter()
    for line in stack.access_log.read_text().splitlines():
        if '"POST /api/boards/' in line and "/commands " in line:
            answered[line.split("upstream=")[1].split("/")[0]] += 1
    return answered


class TestTwoOfEach:
    async def test_commands_through_both_boards_reach_every_socket_on_both_projectors_in_order(
        self, cluster_stack: FullStack, browser: aiohttp.ClientSession
    ) -> None:
        url = cluster_stack.url
        tokens = await _sign_in(browser, url, "cleo@example.com")
        bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
        reader = {"Authorization": f"Bearer {tokens['read_token']}"}
        created = await _command(
            browser, url, "/api/boards", bearer, {"type": "CreateBoard", "payload": {"title": "A"}}
        )
        board = created["board_id"]
        commands = f"/api/boards/{board}/commands"
        column = str(uuid.uuid4())
        add_column = {"column_id": column, "title": "To do"}
        await _command(browser, url, commands, bearer, {"type": "AddColumn", "payload": add_column})
        # nginx alternates the upgrades: the sockets land on both projector processes.
        sockets = [
            await Subscriber(browser, url, tokens["read_token"]).connect() for _ in range(SOCKETS)
        ]
        for socket in sockets:
            await socket.subscribe(board)

        async def writer(n: int) -> None:
            for i in range(COMMANDS_EACH):
                card = {"card_id": str(uuid.uuid4()), "column_id": column, "title": f"{n}.{i}"}
                await _command(browser, url, commands, bearer, {"type": "AddCard", "payload": card})

        await asyncio.gather(*(writer(n) for n in range(WRITERS)))
        head = 2 + WRITERS * COMMANDS_EACH
        for socket in sockets:
            await socket.until(lambda s=socket: s.last_version(board) >= head, within=WAIT_S)
        detail = await _board(browser, url, board, reader, head)

        projectors = cluster_stack.of("projector")
        seen = [await _metrics(browser, p) for p in projectors]
        assert [s["sockets"] for s in seen] == [SOCKETS // 2] * 2, seen
        answered = _upstreams_of_posts(cluster_stack)
        assert len(answered) == 2, f"both boards processes answer commands: {answered}"
        orders = []
        for socket in sockets:
            [snapshot] = [m for m in socket.messages if m["type"] == "snapshot"]
            events = socket.events(board)
            versions = [e["version"] for e in events]
            assert versions == list(range(snapshot["version"] + 1, head + 1)), versions
            orders.append([e["event_id"] for e in events if e["version"] > 2])
            await socket.close()
        assert all(order == orders[0] for order in orders), "one order for every socket"
        titles = {card["title"] for card in detail["cards"]}
        assert titles == {f"{n}.{i}" for n in range(WRITERS) for i in range(COMMANDS_EACH)}

    async def test_each_projector_applies_half_of_the_partitions_and_none_is_applied_by_both(
        self, cluster_stack: FullStack, browser: aiohttp.ClientSession
    ) -> None:
        projectors = cluster_stack.of("projector")
        seen = await _until_shared(browser, projectors, within=WAIT_S)
        first, second = (s["applied"] for s in seen)
        assert first & second == set(), seen
        assert first | second == set(range(DEFAULT_PARTITIONS)), seen
        assert len(first) == len(second) == DEFAULT_PARTITIONS // 2, seen
        assert [s["appliers"] for s in seen] == [2, 2]

    async def test_a_socket_process_reads_only_the_partition_of_the_board_it_serves(
        self, cluster_stack: FullStack, browser: aiohttp.ClientSession
    ) -> None:
        url = cluster_stack.url
        tokens = await _sign_in(browser, url, "dana@example.com")
        bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
        created = await _command(
            browser, url, "/api/boards", bearer, {"type": "CreateBoard", "payload": {"title": "B"}}
        )
        board = created["board_id"]
        partition = StreamKeys().partition_of(uuid.UUID(board))
        socket = await Subscriber(browser, url, tokens["read_token"]).connect()
        await socket.subscribe(board)
        await socket.until(lambda: socket.last_version(board) >= 1)

        projectors = cluster_stack.of("projector")

        def one_tails_the_board(seen: list[dict[str, Any]]) -> bool:
            serving = [s for s in seen if s["sockets"] == 1]
            idle = [s for s in seen if s["sockets"] == 0]
            return (len(serving), len(idle)) == (1, 1) and (
                serving[0]["tailed"],
                idle[0]["tailed"],
            ) == ({partition}, set())

        # The earlier test's sockets are gone; their feeds are let go of in turn.
        seen, held = await poll(
            lambda: _all_metrics(browser, projectors), one_tails_the_board, within=WAIT_S
        )
        assert held, seen
        await socket.close()

    async def test_a_killed_projectors_partitions_are_taken_over_once_its_leases_lapse(
        self, cluster_stack: FullStack, browser: aiohttp.ClientSession
    ) -> None:
        url = cluster_stack.url
        tokens = await _sign_in(browser, url, "emil@example.com")
        bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
        reader = {"Authorization": f"Bearer {tokens['read_token']}"}
        victim, survivor = cluster_stack.of("projector")
        await _until_shared(browser, [victim, survivor], within=WAIT_S)

        victim.kill()
        killed = time.monotonic()
        # The leases lapse after LEASE_MS; the survivor's next beat (every LEASE_MS / 3) takes
        # them. The bound leaves a beat and the process's scheduling on top.
        bound_s = LEASE_MS / 1000 + 2 * LEASE_MS / 3000 + 1.0
        seen, taken = await poll(
            lambda: _metrics(browser, survivor),
            lambda m: m["applied"] == set(range(DEFAULT_PARTITIONS)),
            within=bound_s,
        )
        took_s = time.monotonic() - killed
        assert taken, f"the partitions were not taken over: {seen}"

        # Commands go on, through nginx, to the survivor's read models and sockets.
        created = await _command(
            browser, url, "/api/boards", bearer, {"type": "CreateBoard", "payload": {"title": "C"}}
        )
        board = created["board_id"]
        socket = await Subscriber(browser, url, tokens["read_token"]).connect()
        await socket.subscribe(board)
        rename = {"type": "RenameBoard", "payload": {"title": "After the kill"}}
        await _command(browser, url, f"/api/boards/{board}/commands", bearer, rename)
        await socket.until(lambda: socket.last_version(board) >= 2)
        assert (await _board(browser, url, board, reader, 2))["board"]["title"] == "After the kill"
        await socket.close()

        victim.start()  # it comes back and gets its share again
        seen = await _until_shared(browser, [victim, survivor], within=WAIT_S)
        assert [len(s["applied"]) for s in seen] == [DEFAULT_PARTITIONS // 2] * 2, seen
        print(json.dumps({"lease_ms": LEASE_MS, "taken_over_s": round(took_s, 3)}))

    async def test_a_logout_closes_the_socket_whichever_process_serves_it(
        self, cluster_stack: FullStack, browser: aiohttp.ClientSession
    ) -> None:
        url = cluster_stack.url
        tokens = await _sign_in(browser, url, "finn@example.com")
        bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
        created = await _command(
            browser, url, "/api/boards", bearer, {"type": "CreateBoard", "payload": {"title": "D"}}
        )
        sockets = [await Subscriber(browser, url, tokens["read_token"]).connect() for _ in range(2)]
        for socket in sockets:
            await socket.subscribe(created["board_id"])
            await socket.until(lambda s=socket: s.last_version(created["board_id"]) >= 1)
        async with browser.post(f"{url}/auth/logout", headers=bearer) as response:
            assert response.status == 204
        for socket in sockets:
            await socket.until(lambda s=socket: s.closed_with is not None)
            assert socket.closed_with == 4401
