"""Per-IP rate limits on the endpoints anyone can call unauthenticated, or cheaply: sign-in
(each `GET /auth/login` stores login state in Redis), refresh, the ID token exchange and the
lookup by email (issue 12, hole 3). Per process (`cardstream_runtime.limits` says why); nginx's
`limit_req` holds the same limits across processes in production."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web
from cardstream_runtime.limits import Network, RateLimiter, client_ip, parse_networks

from auth.settings import AuthSettings


@dataclass(frozen=True)
class AuthLimits:
    login: RateLimiter
    refresh: RateLimiter
    token_exchange: RateLimiter
    user_lookup: RateLimiter
    trusted_proxies: list[Network]

    @classmethod
    def from_settings(cls, settings: AuthSettings, clock: Callable[[], float]) -> AuthLimits:
        return cls(
            login=RateLimiter.per_minute(settings.login_per_min, clock=clock),
            refresh=RateLimiter.per_minute(settings.refresh_per_min, clock=clock),
            token_exchange=RateLimiter.per_minute(settings.token_exchange_per_min, clock=clock),
            user_lookup=RateLimiter.per_minute(settings.user_lookup_per_min, clock=clock),
            trusted_proxies=parse_networks(settings.trusted_proxies),
        )

    def check(self, limiter: RateLimiter, request: web.Request) -> None:
        """Counts the request against its client's address; raises `RateLimitedError` (429)."""
        limiter.check(client_ip(request, self.trusted_proxies))
