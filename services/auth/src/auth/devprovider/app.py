"""`create_app`: the local OpenID provider, wired. Tests pass a signer and a clock; `python -m
auth.devprovider` builds them from settings."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

from aiohttp import web

from auth.devprovider.codes import Clock, CodeStore
from auth.devprovider.http import routes
from auth.devprovider.keys import clock_key, codes_key, settings_key, signer_key
from auth.devprovider.settings import DevProviderSettings
from auth.devprovider.signing import IdTokenSigner

CleanupCtx = Callable[[web.Application], AsyncIterator[None]]


class ProductionModeError(RuntimeError):
    pass


def create_app(
    settings: DevProviderSettings,
    *,
    signer: IdTokenSigner | None = None,
    clock: Clock | None = None,
) -> web.Application:
    if settings.mode == "production":
        raise ProductionModeError(
            "the local OpenID provider signs in anyone who asks and must not run in production"
            " (DEVIDP_MODE=production); configure Google or another real provider instead"
        )
    clock = clock or time.time
    app = web.Application(client_max_size=64 * 1024)
    app[settings_key] = settings
    app[clock_key] = clock
    app[codes_key] = CodeStore(settings.code_ttl_s, clock)
    app.add_routes(routes)
    app.cleanup_ctx.append(_signer_ctx(signer))
    return app


def _signer_ctx(given: IdTokenSigner | None) -> CleanupCtx:
    async def signer_ctx(app: web.Application) -> AsyncIterator[None]:
        app[signer_key] = given or await _load_signer(app[settings_key])
        yield

    return signer_ctx


async def _load_signer(settings: DevProviderSettings) -> IdTokenSigner:
    if settings.key_file is None:
        return await asyncio.to_thread(IdTokenSigner.generate)
    pem = await asyncio.to_thread(settings.key_file.read_bytes)
    return IdTokenSigner.from_pem(pem)
