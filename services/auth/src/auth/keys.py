"""Typed application keys: what create_app puts on the app, and under which name."""

from __future__ import annotations

from typing import Any

import aiohttp
from aiohttp import web
from cardstream_runtime.jwt import TokenVerifier
from cardstream_runtime.redis_urls import AnyRedis
from pymongo import AsyncMongoClient

from auth.limits import AuthLimits
from auth.service import AuthService
from auth.settings import AuthSettings
from auth.signing import SigningKeyCache

settings_key = web.AppKey("settings", AuthSettings)
redis_key: web.AppKey[AnyRedis] = web.AppKey("redis")
# Auth's short-lived state (login states, used ID tokens); the event log's Redis when unset.
state_redis_key: web.AppKey[AnyRedis] = web.AppKey("state_redis")
mongo_key = web.AppKey("mongo", AsyncMongoClient[dict[str, Any]])
http_client_key = web.AppKey("http_client", aiohttp.ClientSession)
signing_keys_key = web.AppKey("signing_keys", SigningKeyCache)
verifier_key = web.AppKey("verifier", TokenVerifier)
service_key = web.AppKey("service", AuthService)
limits_key = web.AppKey("limits", AuthLimits)
