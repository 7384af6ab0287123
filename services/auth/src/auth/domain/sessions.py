"""Sessions and refresh tokens as the use cases see them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class RefreshRecord:
    token_hash: str
    sid: str
    user_id: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class SessionRecord:
    sid: str
    user_id: str
    created_at: datetime
    revoked_at: datetime | None
    revoked_reason: str | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def ends_at(self, max_s: int) -> datetime:
        """The absolute end: no refresh after it, and no token of the session outlives it.
        Taken from the current setting, so a shorter one applies to sessions already open."""
        return self.created_at + timedelta(seconds=max_s)


def capped(now: datetime, ttl_s: int, end: datetime) -> datetime:
    """When something issued `now` for `ttl_s` expires, never after the session's `end`."""
    return min(now + timedelta(seconds=ttl_s), end)


@dataclass(frozen=True, slots=True)
class SpentRecord:
    """A refresh token's spending: when, and the token that replaced it (None while the
    refresh that spent it is still in flight, or if it died half way)."""

    token_hash: str
    at: datetime
    successor: str | None
