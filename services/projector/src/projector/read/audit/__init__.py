"""Audit: a board's history in words, the board at any past version or time, and its events as
NDJSON, all read through `projector.events.BoardEvents` (archive and Redis log as one gapless
sequence)."""

from projector.read.audit import point_in_time
from projector.read.audit.export import ndjson_pages
from projector.read.audit.history import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    HistoryFilter,
    entries_of,
    history_page,
)
from projector.read.audit.models import Change, HistoryActor, HistoryEntry, HistoryPage
from projector.read.audit.point_in_time import VersionAheadError, board_at

__all__ = [
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "Change",
    "HistoryActor",
    "HistoryEntry",
    "HistoryFilter",
    "HistoryPage",
    "VersionAheadError",
    "board_at",
    "entries_of",
    "history_page",
    "ndjson_pages",
    "point_in_time",
]
