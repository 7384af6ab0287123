"""Typed application keys of the projector."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from cardstream_runtime.jwt import TokenVerifier
from pymongo import AsyncMongoClient
from redis.asyncio import Redis

from projector.mongo import MongoReadStore
from projector.settings import ProjectorSettings
from projector.supervisor import Supervisor
from projector.ws.hub import WebSocketHub

settings_key = web.AppKey("settings", ProjectorSettings)
redis_key = web.AppKey("redis", Redis)
mongo_key = web.AppKey("mongo", AsyncMongoClient[dict[str, Any]])
read_store_key = web.AppKey("read_store", MongoReadStore)
verifier_key = web.AppKey("verifier", TokenVerifier)
supervisor_key = web.AppKey("supervisor", Supervisor)
hub_key = web.AppKey("hub", WebSocketHub)
