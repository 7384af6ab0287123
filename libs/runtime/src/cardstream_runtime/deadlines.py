"""Deadlines on request paths: every HTTP request is answered within a bound, whatever Redis or
MongoDB do, and readiness probes answer within two seconds.

A store that stops answering (frozen, partitioned, overloaded) would otherwise hold a request,
and the client's connection, for as long as TCP lets it. `deadline_middleware` cancels the
handler at its deadline and answers 503 `deadline_exceeded`; cancelling abandons only the wait,
so a command already handed to its board's committer may still land, and a retry with the same
`command_id` is answered from its record. WebSocket upgrades are exempt: a socket lives for
hours, and the hub bounds its own reads.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from cardstream_runtime.errors import ApiError

# Each dependency a readiness probe asks gets this long, all at once: the answer comes within
# two seconds, with the dependency that did not answer named.
PROBE_TIMEOUT_S = 1.5


def deadline_middleware(seconds: float) -> Middleware:
    @web.middleware
    async def deadline(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return await handler(request)
        bound = asyncio.timeout(seconds)
        try:
            async with bound:
                return await handler(request)
        except TimeoutError:
            if not bound.expired():
                raise  # the handler's own timeout, not ours: its error, translated as such
            raise ApiError(
                503,
                "deadline_exceeded",
                f"no answer within {seconds:g} s: a store is slow or unreachable; try again",
            ) from None

    return deadline


async def probe(check: Awaitable[Any], *errors: type[BaseException]) -> str:
    """ "ok", or why not: the dependency's error (one of `errors`), or that it did not answer."""
    try:
        async with asyncio.timeout(PROBE_TIMEOUT_S):
            await check
    except TimeoutError:
        return f"no answer within {PROBE_TIMEOUT_S:g} s"
    except errors as exc:
        return f"{type(exc).__name__}: {exc}"
    return "ok"
