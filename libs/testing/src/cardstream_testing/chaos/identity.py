"""Users as a command-line client is one: signed in through `/auth/login` against the local
OpenID provider, refreshed before the access token runs out or when it is refused, and signed in
anew when the session is gone (a refresh that died with auth counts as a reuse and ends it)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp

RETRY_S = 0.3
# Renew this long before the access token's end, so a request rarely carries an expired one.
MARGIN_S = 20.0
REQUEST_TIMEOUT = aiohttp.ClientTimeout(total=10)


class SignInError(RuntimeError):
    pass


@dataclass
class Identity:
    url: str
    email: str
    deadline: float
    user_id: str = ""
    access_token: str = ""
    read_token: str = ""
    refresh_token: str = ""
    expires_at: float = 0.0
    sign_ins: int = 0
    refreshes: int = 0
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def token(self) -> str:
        """For the command API."""
        if time.monotonic() > self.expires_at - MARGIN_S:
            await self.renew(self.access_token)
        return self.access_token

    async def reading_token(self) -> str:
        """For the read API and the WebSocket."""
        if time.monotonic() > self.expires_at - MARGIN_S:
            await self.renew(self.read_token)
        return self.read_token

    async def renew(self, refused: str) -> None:
        """Fresh tokens, unless another task already replaced `refused`."""
        async with self._lock:
            current = (self.access_token, self.read_token)
            if refused not in current and time.monotonic() < self.expires_at - MARGIN_S:
                return
            while time.monotonic() < self.deadline:
                if await self._attempt():
                    return
                await asyncio.sleep(RETRY_S)
            raise SignInError(f"{self.email}: no token before the deadline")

    async def _attempt(self) -> bool:
        try:
            if self.refresh_token and await self._refresh():
                return True
            await self._sign_in()
        except (aiohttp.ClientError, TimeoutError, SignInError):
            return False
        return True

    async def _refresh(self) -> bool:
        """True when refreshed; False when the session is gone (sign in again)."""
        async with (
            aiohttp.ClientSession(timeout=REQUEST_TIMEOUT) as session,
            session.post(
                f"{self.url}/auth/refresh",
                json={"refresh_token": self.refresh_token},
                headers={"X-Requested-With": "cardstream"},
            ) as response,
        ):
            if response.status >= 500:
                raise SignInError(f"refresh answered {response.status}")
            if response.status != 200:
                self.refresh_token = ""
                return False
            self._take(await response.json())
            self.refreshes += 1
            return True

    async def _sign_in(self) -> None:
        # A fresh cookie jar per sign-in: the provider's and auth's cookies of one attempt only.
        jar = aiohttp.CookieJar(unsafe=True)
        async with (
            aiohttp.ClientSession(cookie_jar=jar, timeout=REQUEST_TIMEOUT) as session,
            session.get(
                f"{self.url}/auth/login",
                params={"login_hint": self.email},
                headers={"Accept": "application/json"},
            ) as response,
        ):
            if response.status != 200:
                raise SignInError(f"sign-in answered {response.status}")
            answer = await response.json()
        self._take(answer)
        self.user_id = str(answer["user"]["id"])
        self.sign_ins += 1

    def _take(self, answer: dict[str, Any]) -> None:
        self.access_token = str(answer["access_token"])
        self.read_token = str(answer["read_token"])
        self.refresh_token = str(answer.get("refresh_token") or self.refresh_token)
        self.expires_at = time.monotonic() + float(answer["expires_in"])
