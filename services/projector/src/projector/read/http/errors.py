"""How the read side's failures reach a client: the translator the error middleware asks."""

from __future__ import annotations

import logging

from cardstream_runtime.errors import ApiError
from pymongo.errors import PyMongoError
from redis.exceptions import RedisError

from projector.projection import ProjectionError
from projector.read.audit import VersionAheadError
from projector.read.cache import StoreBusyError
from projector.streams import EventLogError

log = logging.getLogger("projector.http")


def api_error(exc: Exception) -> ApiError | None:
    match exc:
        case PyMongoError():
            log.warning("the read store failed", exc_info=exc)
            return ApiError(503, "read_store_unavailable", "the read models cannot be read")
        case RedisError():
            log.warning("the event log failed", exc_info=exc)
            return ApiError(503, "event_log_unavailable", "the event log cannot be read")
        case EventLogError() | ProjectionError():
            log.error("a board's log cannot be read", exc_info=exc)
            return ApiError(500, "event_log_unreadable", str(exc))
        case StoreBusyError():
            return ApiError(503, "read_store_busy", str(exc))
        case VersionAheadError():
            details = {"version": exc.version, "head": exc.head}
            return ApiError(404, "version_not_found", str(exc), details)
        case _:
            return None
