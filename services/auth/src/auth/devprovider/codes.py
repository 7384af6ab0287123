"""Authorization codes: random, single use, short-lived, in this process's memory."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass

from auth.devprovider.accounts import Account
from auth.devprovider.authorize import AuthorizeRequest

Clock = Callable[[], float]


@dataclass(frozen=True)
class Grant:
    request: AuthorizeRequest
    account: Account
    expires_at: float


class CodeStore:
    def __init__(self, ttl_s: float, clock: Clock) -> None:
        self._ttl_s = ttl_s
        self._clock = clock
        self._grants: dict[str, Grant] = {}

    def issue(self, request: AuthorizeRequest, account: Account) -> str:
        now = self._clock()
        # Dropping expired codes here keeps memory bounded by the issue rate times the TTL.
        for stale in [code for code, grant in self._grants.items() if grant.expires_at <= now]:
            del self._grants[stale]
        code = secrets.token_urlsafe(32)
        self._grants[code] = Grant(request, account, now + self._ttl_s)
        return code

    def redeem(self, code: str) -> Grant | None:
        # Presenting a code spends it, whatever happens next: a replay never finds it again.
        grant = self._grants.pop(code, None)
        if grant is None or grant.expires_at <= self._clock():
            return None
        return grant

    def __len__(self) -> int:
        return len(self._grants)
