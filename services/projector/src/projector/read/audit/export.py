"""A board's events as NDJSON: one envelope per line, in version order, a page at a time."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from uuid import UUID

from contracts.envelope import event_adapter

from projector.events import BoardEvents


async def ndjson_pages(
    events: BoardEvents, board_id: UUID, *, after_version: int = 0
) -> AsyncGenerator[bytes, None]:
    """Each page of events after `after_version` as NDJSON lines (each ending in a newline)."""
    async for page in events.pages(board_id, after_version=after_version):
        yield b"".join(event_adapter.dump_json(event) + b"\n" for event in page)
