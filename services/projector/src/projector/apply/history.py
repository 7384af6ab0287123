"""Whether an event belongs to the history the read models were built from.

A version already applied must come again as the same event, and the next version must chain to
the last one applied. Otherwise the log was rewritten under the read models (an older copy of
Redis restored, then commands from the versions it lost): applying on would mix two histories,
and taking the event for a redelivery would hide the loss. `PartitionApplier` stops the board
and fences it (docs/operations.md#a-board-whose-log-diverged).
"""

from __future__ import annotations

import uuid

from contracts.envelope import AnyEvent

from projector.projection import BoardProjection
from projector.store.port import ReadStore


async def divergence(store: ReadStore, projection: BoardProjection, event: AnyEvent) -> str | None:
    """How `event` departs from the history applied to `projection`; None when it does not, or
    when that cannot be told (the applied event is not archived: compacted away, or written
    before the archive)."""
    redelivered = event.version <= projection.version
    known = await applied_event(
        store, projection, event.version if redelivered else projection.version
    )
    if known is None:
        return None
    event_id, event_hash = known
    if redelivered:
        if event_id == str(event.event_id):
            return None
        return f"version {event.version} is applied as event {event_id}, not {event.event_id}"
    if event_hash is None or event_hash == event.prev_hash:
        return None
    return (
        f"version {event.version} does not chain to version {projection.version} "
        f"(prev_hash {event.prev_hash}, applied hash {event_hash})"
    )


async def applied_event(
    store: ReadStore, projection: BoardProjection, version: int
) -> tuple[str, str | None] | None:
    """(event id, hash) of the event the read models applied at `version`: from this batch,
    from the last one this process applied, or from the archive (one read, then kept)."""
    for applied in reversed(projection.applied):
        if applied.version == version:
            return str(applied.event_id), applied.hash
    if projection.last is not None and projection.last[0] == version:
        return projection.last[1], projection.last[2]
    archived = await store.archived_events(uuid.UUID(projection.board_id), version, version, 1)
    if not archived:
        return None
    found = archived[0]
    if version == projection.version:
        projection.last = (version, str(found.event_id), found.hash)
    return str(found.event_id), found.hash
