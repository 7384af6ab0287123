"""A JSON document fetched over HTTP and cached as its Cache-Control says: the one cache behind
every key set we trust (our own JWKS in each service, the OpenID provider's discovery document
and JWKS in auth).

One fetch at a time: callers that arrive while a fetch is under way share its outcome. A failed
refetch keeps the last good copy. Once there is a good copy, fetches (a forced refetch on an
unknown `kid`, or one after max-age) happen at most every `min_refetch_s`, so a flood of tokens
with made-up key ids cannot become a flood of requests upstream. Before there is a good copy
nothing is rate-limited: a failed first fetch must not refuse every token until the interval has
passed, and the lock already keeps it to one request at a time.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import aiohttp
import orjson

log = logging.getLogger("cardstream.http_json")

MAX_DOCUMENT_BYTES = 1024 * 1024
MAX_FRESHNESS_S = 24 * 3600


class ProviderUnavailableError(Exception):
    """The provider did not answer, or not with something we can use (502/503 upstream)."""


def freshness(headers: Any, *, default_s: float) -> float:
    """Seconds a response stays fresh: max-age minus Age, or `default_s` without a max-age."""
    max_age: float | None = None
    for directive in headers.get("Cache-Control", "").split(","):
        name, _, value = directive.strip().partition("=")
        name = name.lower()
        if name in ("no-store", "no-cache"):
            return 0.0
        if name == "max-age":
            max_age = _seconds(value.strip().strip('"'))
    if max_age is None:
        return default_s
    age = _seconds(headers.get("Age", "0")) or 0.0
    return min(max(max_age - age, 0.0), MAX_FRESHNESS_S)


def _seconds(text: str) -> float | None:
    """A delta-seconds header value; None when it is not one. Clamped before conversion: a
    number of hundreds of digits (which Python's int takes) overflows a float."""
    try:
        return float(min(int(text), 10 * MAX_FRESHNESS_S))
    except ValueError:
        return None


async def fetch_json(session: aiohttp.ClientSession, url: str) -> tuple[Any, Any]:
    """The decoded body and the response headers; ProviderUnavailableError for anything else
    than a 200 with JSON of a sane size."""
    try:
        async with session.get(url, headers={"Accept": "application/json"}) as response:
            if response.status != 200:
                raise ProviderUnavailableError(f"{url} answered {response.status}")
            body = await response.content.read(MAX_DOCUMENT_BYTES + 1)
            headers = response.headers
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise ProviderUnavailableError(f"{url} unreachable: {exc!r}") from None
    if len(body) > MAX_DOCUMENT_BYTES:
        raise ProviderUnavailableError(f"{url} sent more than {MAX_DOCUMENT_BYTES} bytes")
    try:
        return orjson.loads(body), headers
    except orjson.JSONDecodeError:
        raise ProviderUnavailableError(f"{url} sent no JSON") from None


T = TypeVar("T")


class CachedJson(Generic[T]):
    """`parse` turns the document into what callers use; a ValueError, TypeError or KeyError
    from it makes the document unusable, like a failed fetch."""

    def __init__(
        self,
        url: str,
        session: aiohttp.ClientSession,
        parse: Callable[[Any], T],
        *,
        default_max_age_s: float,
        min_refetch_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self._session = session
        self._parse = parse
        self._default_max_age = default_max_age_s
        self._min_refetch = min_refetch_s
        self._clock = clock
        self._value: T | None = None
        self._fresh_until = -float("inf")
        self._attempted_at = -float("inf")
        self._last_error = ""
        self._lock = asyncio.Lock()
        self._settled = 0  # fetches finished, well or badly
        self.fetches = 0

    async def get(self, *, refetch: bool = False) -> T:
        """The cached document; `refetch` asks for a newer one than the cache holds (rate
        limited). Raises ProviderUnavailableError only when there has never been a good copy."""
        if self._value is not None and not refetch and self._clock() < self._fresh_until:
            return self._value
        settled_before = self._settled
        async with self._lock:
            if self._settled != settled_before:
                return self._current()  # fetched (or failed) by whoever held the lock before us
            now = self._clock()
            if self._value is not None and now - self._attempted_at < self._min_refetch:
                return self._value
            self._attempted_at = now
            return await self._refresh(now)

    async def _refresh(self, now: float) -> T:
        try:
            value, headers = await self._fetch()
        except ProviderUnavailableError as exc:
            self._settled += 1
            self._last_error = str(exc)
            if self._value is None:
                raise
            log.warning(
                "keeping the last good copy",
                extra={"fields": {"url": self.url, "error": str(exc)}},
            )
            return self._value
        self._settled += 1
        self._value = value
        self._fresh_until = now + max(
            freshness(headers, default_s=self._default_max_age), self._min_refetch
        )
        return value

    def _current(self) -> T:
        if self._value is None:
            raise ProviderUnavailableError(self._last_error)
        return self._value

    async def _fetch(self) -> tuple[T, Any]:
        self.fetches += 1
        document, headers = await fetch_json(self._session, self.url)
        try:
            return self._parse(document), headers
        except (ValueError, TypeError, KeyError) as exc:
            raise ProviderUnavailableError(f"{self.url} sent an unusable document: {exc}") from None
