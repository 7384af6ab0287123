"""What the audit endpoints answer: history entries and pages of them, defined in
`contracts.audit` (the OpenAPI document describes them from there)."""

from __future__ import annotations

from contracts.audit import Change, HistoryActor, HistoryEntry, HistoryPage

__all__ = ["Change", "HistoryActor", "HistoryEntry", "HistoryPage"]
