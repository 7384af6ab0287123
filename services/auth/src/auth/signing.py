"""`SigningKeyCache`: this process's copy of the key ring, reread every `refresh_s` so that a
rotation by `python -m auth rotate-keys` (another process) is picked up without a restart.

Signing with a stale copy is harmless: the key it uses is still published (as `previous`) after
one rotation. It is also the `KeySource` our own `TokenVerifier` uses for /auth/me.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from cardstream_runtime.jwt import InvalidTokenError

from auth.domain.signing import KeyRing, SigningKey
from auth.ports import SigningKeys

# An unknown kid rereads the ring at most this often (a token with a made-up kid must not
# become a database read each).
_UNKNOWN_KID_RELOAD_S = 1.0


class SigningKeyCache:
    def __init__(
        self,
        store: SigningKeys,
        *,
        refresh_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._refresh_s = refresh_s
        self._clock = clock
        self._ring: KeyRing | None = None
        self._loaded_at = -float("inf")
        self._lock = asyncio.Lock()

    async def ring(self, *, reload: bool = False) -> KeyRing:
        if self._ring is not None and not reload and self._age() < self._refresh_s:
            return self._ring
        async with self._lock:
            if self._ring is not None and not reload and self._age() < self._refresh_s:
                return self._ring
            self._ring = await self._store.ensure(now=datetime.now(UTC))
            self._loaded_at = self._clock()
            return self._ring

    def _age(self) -> float:
        return self._clock() - self._loaded_at

    async def signing_key(self) -> SigningKey:
        return (await self.ring()).current

    async def jwks(self) -> dict[str, Any]:
        return {"keys": [k.public_jwk() for k in (await self.ring()).published()]}

    async def key(self, kid: str) -> Any:
        ring = await self.ring()
        found = _find(ring, kid)
        if found is None and self._age() >= _UNKNOWN_KID_RELOAD_S:
            found = _find(await self.ring(reload=True), kid)
        if found is None:
            raise InvalidTokenError("signed by an unknown key")
        return found.public_key


def _find(ring: KeyRing, kid: str) -> SigningKey | None:
    return next((k for k in ring.published() if k.kid == kid), None)
