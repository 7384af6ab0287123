"""Rate limits: a token bucket per key (a client IP, a user id), kept in this process's memory.

In-process on purpose, not in Redis. The limits guard against floods (issue 12, hole 3); a
counter in Redis would turn every refused request into a write to the very Redis that holds the
event log, which is the flood's target, and would add a round trip to every command. The price is
that a limit holds per process: with N processes behind a round-robin balancer a client gets up
to N times the rate. nginx's `limit_req` (deploy/nginx) is the limit across processes in
production; these hold where a service runs without nginx, and against whatever passes nginx.

A bucket holds `burst` tokens and gains `rate_per_s` tokens a second; each request takes one.
A full bucket is the same as no bucket, so buckets are forgotten once full, and at most
`max_keys` are kept (the least recently used go first): an attacker spraying addresses costs
bounded memory, and at worst resets the bucket of someone who was already being limited.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from aiohttp import web

from cardstream_runtime.errors import ApiError

Clock = Callable[[], float]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

DEFAULT_MAX_KEYS = 100_000


@dataclass
class _Bucket:
    tokens: float
    at: float


class RateLimiter:
    """`check(key)` takes a token from `key`'s bucket, or raises `RateLimitedError` saying
    when one will be there."""

    def __init__(
        self,
        *,
        rate_per_s: float,
        burst: int,
        clock: Clock = time.monotonic,
        max_keys: int = DEFAULT_MAX_KEYS,
    ) -> None:
        if rate_per_s <= 0 or burst < 1 or max_keys < 1:
            raise ValueError("a rate limit needs a positive rate, burst and key count")
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._clock = clock
        self._max_keys = max_keys
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    @classmethod
    def per_minute(cls, count: int, *, clock: Clock = time.monotonic) -> RateLimiter:
        """`count` at once, then one every 60/count seconds: never more than `count` in any
        minute after the first."""
        return cls(rate_per_s=count / 60, burst=count, clock=clock)

    def check(self, key: str) -> None:
        now = self._clock()
        bucket = self._buckets.pop(key, None)
        tokens = float(self.burst)
        if bucket is not None:
            # max(0, …): a wall clock set back must not take tokens away.
            elapsed = max(0.0, now - bucket.at)
            tokens = min(tokens, bucket.tokens + elapsed * self.rate_per_s)
        if tokens < 1:
            self._buckets[key] = _Bucket(tokens, now)
            raise RateLimitedError(retry_after_s=(1 - tokens) / self.rate_per_s)
        self._buckets[key] = _Bucket(tokens - 1, now)
        while len(self._buckets) > self._max_keys:
            self._buckets.popitem(last=False)

    def __len__(self) -> int:
        return len(self._buckets)


class RateLimitedError(ApiError):
    """429 `rate_limited` with `Retry-After` in whole seconds (at least 1), as HTTP wants it."""

    def __init__(self, *, retry_after_s: float) -> None:
        seconds = max(1, math.ceil(retry_after_s))
        super().__init__(
            429,
            "rate_limited",
            f"too many requests; try again in {seconds} s",
            {"retry_after_s": seconds},
            headers={"Retry-After": str(seconds)},
        )
        self.retry_after_s = seconds


def parse_networks(values: Sequence[str]) -> list[Network]:
    """Addresses or CIDR blocks (`127.0.0.1`, `10.0.0.0/8`), as a trusted-proxy setting lists
    them; a malformed one is a ValueError naming it."""
    networks: list[Network] = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError:
            raise ValueError(f"not an address or network: {value!r}") from None
    return networks


def client_ip(request: web.Request, trusted_proxies: Sequence[Network]) -> str:
    """Whom to count a request against: the socket peer, unless the peer is a trusted proxy.

    Then the nearest address in X-Forwarded-For that is not itself a trusted proxy, read from
    the right: nginx appends the peer it saw (`$proxy_add_x_forwarded_for`), and everything to
    the left of that came from the client, who may write anything there. With no trusted
    proxies the header is never read, so a client cannot pick its own bucket.
    """
    peer = request.remote or ""
    if not _trusted(peer, trusted_proxies):
        return peer
    hops = [hop.strip() for hop in request.headers.get("X-Forwarded-For", "").split(",")]
    for hop in reversed([h for h in hops if h]):
        if not _trusted(hop, trusted_proxies):
            return hop
    return peer


def _trusted(address: str, networks: Sequence[Network]) -> bool:
    if not networks:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)
