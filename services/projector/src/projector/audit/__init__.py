"""Audit: a board's history in words, the board at any past version or time, and its events as
NDJSON, all read from the archive (MongoDB `events`) and the Redis log as one gapless sequence."""

from projector.audit.export import NDJSON, ndjson_pages
from projector.audit.history import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    HistoryFilter,
    entries_of,
    history_page,
)
from projector.audit.log import (
    BoardEvents,
    EventLogError,
    EventSource,
    LogGapError,
    MongoEventArchive,
    RedisEventLog,
    UnreadableEventError,
)
from projector.audit.models import Change, HistoryActor, HistoryEntry, HistoryPage
from projector.audit.point_in_time import VersionAheadError, board_at
from projector.audit.shape import as_stored, board_detail

__all__ = [
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "NDJSON",
    "BoardEvents",
    "Change",
    "EventLogError",
    "EventSource",
    "HistoryActor",
    "HistoryEntry",
    "HistoryFilter",
    "HistoryPage",
    "LogGapError",
    "MongoEventArchive",
    "RedisEventLog",
    "UnreadableEventError",
    "VersionAheadError",
    "as_stored",
    "board_at",
    "board_detail",
    "entries_of",
    "history_page",
    "ndjson_pages",
]
