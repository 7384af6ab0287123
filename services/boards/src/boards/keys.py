"""Typed application keys: what create_app puts on the app, and under which name."""

from __future__ import annotations

from aiohttp import web
from cardstream_runtime.ended_sessions import EndedSessions
from cardstream_runtime.jwt import SharedSecretVerifier, TokenVerifier
from cardstream_runtime.limits import RateLimiter
from cardstream_runtime.redis_urls import AnyRedis

from boards.adapters.event_store import EventStore
from boards.adapters.redis_config import RedisSafety
from boards.service import BoardCommands
from boards.settings import BoardsSettings

settings_key = web.AppKey("settings", BoardsSettings)
# A single server's client or a cluster's (BOARDS_REDIS_URL, `cardstream_runtime.redis_urls`).
redis_key: web.AppKey[AnyRedis] = web.AppKey("redis")
store_key = web.AppKey("store", EventStore)
commands_key = web.AppKey("commands", BoardCommands)
verifier_key = web.AppKey("verifier", TokenVerifier)
# None unless the NextAuth compatibility option is on.
nextauth_verifier_key: web.AppKey[SharedSecretVerifier | None] = web.AppKey("nextauth_verifier")
redis_safety_key = web.AppKey("redis_safety", RedisSafety)
ended_sessions_key = web.AppKey("ended_sessions", EndedSessions)
# Commands per user (BOARDS_COMMANDS_PER_USER_PER_S, BOARDS_COMMANDS_BURST).
command_limit_key = web.AppKey("command_limit", RateLimiter)
