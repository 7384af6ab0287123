"""Typed application keys of the projector."""

from __future__ import annotations

from aiohttp import web
from cardstream_runtime.ended_sessions import EndedSessions
from cardstream_runtime.jwt import TokenVerifier
from cardstream_runtime.redis_urls import AnyRedis
from contracts.streams import StreamKeys

from projector.applied import AppliedVersions
from projector.apply.supervisor import Supervisor
from projector.read.audit.checkpoints import PointInTimeCheckpoints
from projector.read.audit.history import HistoryCheckpoints
from projector.read.cache import BoardCache
from projector.read.ws.hub import WebSocketHub
from projector.settings import ProjectorSettings
from projector.store.port import ReadStore
from projector.streams import BoardLog

settings_key = web.AppKey("settings", ProjectorSettings)
stream_keys_key = web.AppKey("stream_keys", StreamKeys)
redis_key: web.AppKey[AnyRedis] = web.AppKey("redis")
board_log_key = web.AppKey("board_log", BoardLog)
read_store_key: web.AppKey[ReadStore] = web.AppKey("read_store")
verifier_key = web.AppKey("verifier", TokenVerifier)
ended_sessions_key = web.AppKey("ended_sessions", EndedSessions)
supervisor_key = web.AppKey("supervisor", Supervisor)
hub_key = web.AppKey("hub", WebSocketHub)
applied_key = web.AppKey("applied", AppliedVersions)
board_cache_key = web.AppKey("board_cache", BoardCache)
point_in_time_key = web.AppKey("point_in_time", PointInTimeCheckpoints)
history_checkpoints_key = web.AppKey("history_checkpoints", HistoryCheckpoints)
