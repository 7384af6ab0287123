"""What the projector's audit endpoints answer: history entries and pages of them
(docs/audit.md). Only the projector builds them; they are contracts because the HTTP API's
OpenAPI document (`contracts.openapi`) describes them."""

from __future__ import annotations

from uuid import UUID

from pydantic import AwareDatetime, JsonValue

from contracts.base import Contract
from contracts.fields import EventVersion, UserId, Version


class HistoryActor(Contract):
    """Who did it: the user id, and the name the board knew them by then (else the id)."""

    id: UserId
    name: str


class Change(Contract):
    """One field before and after the event (None: it did not exist). `item` names the card,
    column (ids) or member (user id) it belongs to when that is not the entry's own subject."""

    field: str
    before: JsonValue
    after: JsonValue
    item: str | None = None


class HistoryEntry(Contract):
    version: EventVersion
    occurred_at: AwareDatetime
    actor: HistoryActor
    type: str
    # A sentence for people, naming cards and columns as they were called at that version.
    summary: str
    card_id: UUID | None = None
    column_id: UUID | None = None
    changes: list[Change]


class HistoryPage(Contract):
    entries: list[HistoryEntry]
    # Pass as `after_version` for the next page; None when no entry is left.
    next_after_version: Version | None
