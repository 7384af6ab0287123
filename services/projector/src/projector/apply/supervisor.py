"""Which partitions this process applies: those whose lease it holds, about an even share.

Every `lease_ms / 3` the supervisor beats on the appliers' membership (`projector.apply.members`)
and works out its share: the partitions over the live appliers, rounded up. It releases what it
holds beyond its share (each after the batch in flight, least preferred first) and tries to take
free partitions, most preferred first, while it holds less. So a process that joins gets its share
as the others let go, and the partitions of one that dies are taken once its leases lapse. Who
applies a partition is only ever decided by its lease: the share steers, the lease excludes. Any
process serves any board's readers and subscribers regardless.

On the same beat it reads the generation pointer (docs/operations.md): when a rebuild has switched
the read models to a new generation, it stops its appliers, moves the readers' store over and
applies on with the new generation's consumer group from that generation's checkpoints.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence

from cardstream_runtime.redis_urls import REDIS_ERRORS, AnyRedis
from contracts.envelope import AnyEvent
from contracts.streams import StreamKeys
from pymongo.errors import PyMongoError
from redis.exceptions import RedisClusterException, RedisError

from projector.apply.consumer import EventFailedError, LogDivergedError, PartitionApplier
from projector.apply.leases import Lease, kept
from projector.apply.members import Members, preference, share, to_release
from projector.settings import ProjectorSettings
from projector.store.port import ReadStore
from projector.streams import lease_key, members_key

log = logging.getLogger("projector.supervisor")

# Told the generation written and each board's version after an applier's batch.
OnWritten = Callable[[int, Mapping[str, int]], Awaitable[None]]


def generation_group(group: str, generation: int) -> str:
    """The consumer group (and lease) that applies the feeds to `generation`."""
    return group if generation == 0 else f"{group}-g{generation}"


class Supervisor:
    def __init__(
        self,
        redis: AnyRedis,
        store: ReadStore,
        keys: StreamKeys,
        settings: ProjectorSettings,
        *,
        on_applied: Callable[[Sequence[AnyEvent]], None] | None = None,
        on_written: OnWritten | None = None,
        on_diverged: Callable[[LogDivergedError], None] | None = None,
    ) -> None:
        self.redis = redis
        self.store = store
        self.settings = settings
        self.keys = keys
        self.on_applied = on_applied
        self.on_written = on_written
        self.on_diverged = on_diverged
        self.held: dict[int, asyncio.Task[None]] = {}
        # The live appliers as of the last beat (this process among them once it applies).
        self.members: list[str] = []
        self._stops: dict[int, asyncio.Event] = {}
        self._releasing: set[int] = set()
        self._members = Members(
            redis,
            members_key(keys, settings.consumer_group),
            settings.instance_id,
            settings.lease_ms,
        )
        self.diverged: LogDivergedError | None = None
        self._stop = asyncio.Event()
        # Set to stop the appliers of the current generation only (a switch-over).
        self._generation_stop = asyncio.Event()
        self._writer = store.at(store.generation)

    @property
    def group(self) -> str:
        return generation_group(self.settings.consumer_group, self._writer.generation)

    async def run(self) -> None:
        """Follows the generation pointer; applies the feeds too when `apply` is on."""
        interval = self.settings.lease_ms / 3000
        while not self._stop.is_set():
            await self._follow_generation()
            if self.settings.applies:
                await self.beat()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), interval)

    @property
    def share(self) -> int:
        """How many partitions this process asks for now."""
        return share(self.settings.partitions, len(self.members))

    async def beat(self) -> None:
        """One turn of sharing: renews the membership, lets go of what is beyond this process's
        share and takes free partitions up to it. The loop calls it every `lease_ms / 3`."""
        try:
            self.members = await self._members.beat()
        except REDIS_ERRORS:
            # On a cluster the set's node may be down while the partitions' nodes are not: share
            # by the appliers last seen (all of it before the first beat) and let the leases tell.
            log.warning("cannot reach Redis to beat as an applier", exc_info=True)
        me, limit = self.settings.instance_id, self.share
        for partition in to_release(sorted(set(self.held) - self._releasing), me, limit):
            log.info("releasing a partition", extra={"fields": {"partition": partition}})
            self._releasing.add(partition)
            self._stops[partition].set()
        for partition in preference(me, range(self.settings.partitions)):
            if len(self.held) - len(self._releasing) >= limit:
                return
            if partition not in self.held:
                await self._try_take(partition)

    async def _follow_generation(self) -> None:
        try:
            live = (await self.store.generation_pointer()).live
        except PyMongoError:
            log.warning("cannot read the generation pointer", exc_info=True)
            return
        if live == self._writer.generation:
            return
        log.warning(
            "switching to another generation of read models",
            extra={"fields": {"from": self._writer.generation, "to": live}},
        )
        self._generation_stop.set()
        await asyncio.gather(*self.held.values(), return_exceptions=True)
        self._generation_stop = asyncio.Event()
        self._writer = self.store.at(live)
        self.store.switch_to(live)

    async def _try_take(self, partition: int) -> None:
        lease = Lease(
            self.redis,
            lease_key(self.keys, partition, self.group),
            self.settings.instance_id,
            self.settings.lease_ms,
        )
        try:
            if not await lease.acquire():
                return
        except REDIS_ERRORS:
            log.warning("cannot reach Redis to take a lease", exc_info=True)
            return
        applier = PartitionApplier(
            self.redis,
            self.keys,
            self._writer,
            partition,
            consumer=self.settings.instance_id,
            group=self.group,
            batch_size=self.settings.batch_size,
            block_ms=min(self.settings.block_ms, self.settings.lease_ms // 4),
            max_attempts=self.settings.max_attempts,
            claim_idle_ms=self.settings.lease_ms,
            on_applied=self.on_applied,
            on_written=self._written,
        )
        stop = asyncio.Event()
        task = asyncio.create_task(
            self._apply(applier, lease, stop, self._generation_stop), name=f"partition-{partition}"
        )
        self.held[partition] = task
        self._stops[partition] = stop
        task.add_done_callback(lambda _: self._let_go(partition))
        log.info("took a partition", extra={"fields": {"partition": partition}})

    async def released(self) -> None:
        """Returns once the appliers told to let go have finished their batch and released."""
        await asyncio.gather(
            *(self.held[p] for p in self._releasing if p in self.held), return_exceptions=True
        )

    @property
    def releasing(self) -> set[int]:
        return set(self._releasing)

    def _let_go(self, partition: int) -> None:
        self.held.pop(partition, None)
        self._stops.pop(partition, None)
        self._releasing.discard(partition)

    async def _apply(
        self,
        applier: PartitionApplier,
        lease: Lease,
        stop: asyncio.Event,
        generation_stop: asyncio.Event,
    ) -> None:
        watcher = asyncio.create_task(_first_of(stop, self._stop, generation_stop))
        try:
            await self._hold(applier, lease, stop)
        finally:
            watcher.cancel()

    async def _hold(self, applier: PartitionApplier, lease: Lease, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await hold_and_apply(applier, lease, stop)
                return  # lease lost or stopping; the supervisor may take it again later
            except LogDivergedError as exc:
                log.critical(str(exc))
                self.diverged = exc
                if self.on_diverged is not None:
                    self.on_diverged(exc)
                return
            except (RedisError, RedisClusterException, PyMongoError, OSError):
                # Infrastructure, not the events: nothing was acknowledged; try again shortly.
                log.warning("applying failed; retrying", exc_info=True)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 0.5)
                if not await lease.acquire() and not await lease.renew():
                    return

    async def _written(self, versions: Mapping[str, int]) -> None:
        # Tagged with the generation being applied, read at the call: a switch-over changes it.
        if self.on_written is not None:
            await self.on_written(self._writer.generation, versions)

    async def stop(self) -> None:
        self._stop.set()
        self._generation_stop.set()
        tasks = list(self.held.values())
        await asyncio.gather(*tasks, return_exceptions=True)
        if self.settings.applies:
            # Its leases are released: the others' shares grow on their next beat, not a lapse.
            with contextlib.suppress(*REDIS_ERRORS):
                await self._members.leave()


async def hold_and_apply(applier: PartitionApplier, lease: Lease, stop: asyncio.Event) -> None:
    """Applies the partition while the lease is ours; returns when it is lost or on stop. A batch
    in flight when the lease is lost still writes only through the documents' guards."""
    async with kept(lease, stop) as lost:
        await applier.start()
        while not (stop.is_set() or lost.is_set()):
            try:
                await applier.run_once()
            except EventFailedError:
                await applier.rewind()  # counted; parked once it has failed often enough


async def _first_of(target: asyncio.Event, *sources: asyncio.Event) -> None:
    """Sets `target` as soon as any of `sources` is set."""
    waits = [asyncio.create_task(source.wait()) for source in sources]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        target.set()
    finally:
        for wait in waits:
            wait.cancel()
