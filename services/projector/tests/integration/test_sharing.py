"""Several applying processes share the partitions through their leases (`apply.supervisor`).

Each supervisor here is driven one beat at a time (`_rebalance`, what its loop does every
`lease_ms / 3`), so that who holds what after each beat is exact, while its appliers run for real
against Redis and MongoDB. Every apply is checked as it happens: the partition it belongs to must
be held by the supervisor applying it and by no other."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Sequence

import pytest
from cardstream_runtime.redis_urls import AnyRedis
from cardstream_testing.feeds import append, envelopes
from contracts.envelope import AnyEvent
from contracts.events import BoardCreated, BoardRenamed
from contracts.streams import StreamKeys
from projector.apply.supervisor import Supervisor
from projector.settings import ProjectorSettings
from projector.store.mongo import MongoReadStore

pytestmark = pytest.mark.redis_kinds("server", "cluster")

PARTITIONS = 8
WAIT_S = 10.0


@pytest.fixture
def keys(key_prefix: str) -> StreamKeys:
    return StreamKeys(prefix=key_prefix, partitions=PARTITIONS)


class Watch:
    """Every event applied, by whom; and every apply of a partition that another supervisor held
    at that moment."""

    def __init__(self, keys: StreamKeys) -> None:
        self.keys = keys
        self.supervisors: dict[str, Supervisor] = {}
        self.applied: Counter[tuple[uuid.UUID, int]] = Counter()
        self.overlaps: list[str] = []
        self._changed = asyncio.Event()

    def hook(self, name: str):  # type: ignore[no-untyped-def]
        def on_applied(events: Sequence[AnyEvent]) -> None:
            for event in events:
                partition = self.keys.partition_of(event.board_id)
                holders = [n for n, s in self.supervisors.items() if partition in s.held]
                if holders != [name]:
                    self.overlaps.append(f"{name} applied partition {partition}; held by {holders}")
                self.applied[(event.board_id, event.version)] += 1
            self._changed.set()

        return on_applied

    async def until_applied(self, events: Sequence[AnyEvent]) -> None:
        wanted = {(e.board_id, e.version) for e in events}
        async with asyncio.timeout(WAIT_S):
            while not wanted <= self.applied.keys():
                self._changed.clear()
                await self._changed.wait()


@pytest.fixture
async def watch(keys: StreamKeys) -> AsyncIterator[Watch]:
    watching = Watch(keys)
    yield watching
    await asyncio.gather(*(s.stop() for s in watching.supervisors.values()))


@pytest.fixture
def start(
    redis: AnyRedis, redis_url: str, read_store: MongoReadStore, keys: StreamKeys, watch: Watch
):  # type: ignore[no-untyped-def]
    def started(name: str) -> Supervisor:
        settings = ProjectorSettings(
            redis_url=redis_url,
            key_prefix=keys.prefix,
            partitions=PARTITIONS,
            role="apply",
            instance_id=name,
            # Long: beats here are driven by hand, with writes and their application between
            # two of them, and nothing in these tests waits for a lapse; a short lease lapsed a
            # member between its beat and the next one's while the machine was loaded.
            lease_ms=10_000,
            block_ms=50,
            jwks_url="http://127.0.0.1:9/unused",  # the supervisor verifies no token
        )
        supervisor = Supervisor(redis, read_store, keys, settings, on_applied=watch.hook(name))
        watch.supervisors[name] = supervisor
        return supervisor

    return started


def _one_board_per_partition(keys: StreamKeys) -> list[uuid.UUID]:
    boards: dict[int, uuid.UUID] = {}
    while len(boards) < keys.partitions:
        board = uuid.uuid4()
        boards.setdefault(keys.partition_of(board), board)
    return [boards[p] for p in sorted(boards)]


async def _write(
    redis: AnyRedis, keys: StreamKeys, boards: list[uuid.UUID], start: int
) -> list[AnyEvent]:
    written: list[AnyEvent] = []
    for board in boards:
        payloads = [BoardCreated(title="t", owner_id="alice")] if start == 1 else []
        payloads += [BoardRenamed(title=f"t{start}", previous_title="t")]
        events = envelopes(board, payloads, start=start)
        await append(redis, keys, events)
        written += events
    return written


async def _released(supervisor: Supervisor) -> None:
    async with asyncio.timeout(WAIT_S):
        await supervisor.released()


class TestSharing:
    async def test_a_joining_process_gets_half_and_a_leaving_one_hands_its_share_back(
        self,
        redis: AnyRedis,
        keys: StreamKeys,
        start,
        watch: Watch,  # type: ignore[no-untyped-def]
    ) -> None:
        boards = _one_board_per_partition(keys)
        one = start("one")
        await one.beat()
        assert (set(one.held), one.members) == (set(range(PARTITIONS)), ["one"])
        events = await _write(redis, keys, boards, 1)
        await watch.until_applied(events)

        two = start("two")
        await two.beat()
        # Every partition is held: the newcomer waits for the others to let go.
        assert (set(two.held), two.members) == (set(), ["one", "two"])
        await one.beat()
        assert len(one.releasing) == PARTITIONS // 2
        events += await _write(redis, keys, boards, 3)  # applied by whoever holds each partition
        await _released(one)
        await two.beat()
        assert len(one.held) == len(two.held) == PARTITIONS // 2
        assert set(one.held) | set(two.held) == set(range(PARTITIONS))
        events += await _write(redis, keys, boards, 4)
        await watch.until_applied(events)

        await two.stop()
        await one.beat()  # the leaver left the members and released its leases
        assert (set(one.held), one.members) == (set(range(PARTITIONS)), ["one"])
        events += await _write(redis, keys, boards, 5)
        await watch.until_applied(events)

        assert watch.overlaps == []
        assert set(watch.applied.values()) == {1}, "an event was applied twice"
        assert watch.applied.keys() == {(e.board_id, e.version) for e in events}

    async def test_shares_stay_even_as_processes_join(
        self,
        start,  # type: ignore[no-untyped-def]
    ) -> None:
        supervisors = [start(name) for name in ("a", "b", "c")]
        for joined in range(1, 4):
            # Two beats each: the first lets go of the excess, the second takes what is free.
            for _ in range(2):
                for supervisor in supervisors[:joined]:
                    await supervisor.beat()
                    await _released(supervisor)
            counts = [len(s.held) for s in supervisors[:joined]]
            assert sum(counts) == PARTITIONS
            assert max(counts) == -(-PARTITIONS // joined), counts  # 8, then 4 + 4, then 3 + 3 + 2
