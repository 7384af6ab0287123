"""Sessions and refresh tokens as the use cases see them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


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


@dataclass(frozen=True, slots=True)
class SpentRecord:
    """A refresh token's spending: when, and the token that replaced it (None while the
    refresh that spent it is still in flight, or if it died half way)."""

    token_hash: str
    at: datetime
    successor: str | None
