"""Typed application keys for the provider's state."""

from __future__ import annotations

from aiohttp import web

from auth.devprovider.codes import Clock, CodeStore
from auth.devprovider.settings import DevProviderSettings
from auth.devprovider.signing import IdTokenSigner

settings_key = web.AppKey("settings", DevProviderSettings)
codes_key = web.AppKey("codes", CodeStore)
signer_key = web.AppKey("signer", IdTokenSigner)
clock_key: web.AppKey[Clock] = web.AppKey("clock")
