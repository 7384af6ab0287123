"""The auth use cases: log in through the provider, trade a provider's ID token for our tokens,
refresh, log out, say who a token belongs to, and find a user by email for an invitation. HTTP
lives in entrypoints/, storage in adapters/; this module only sequences them."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import NoReturn

from cardstream_runtime.jwt import Claims

from auth.adapters.openid_provider import CodeRejectedError
from auth.domain.errors import (
    IdTokenRejectedError,
    LoginFailedError,
    LoginStateError,
    RefreshConflictError,
    RefreshRejectedError,
)
from auth.domain.id_token import Identity, IdTokenPolicy, key_id, verify_id_token
from auth.domain.login import accept_callback, begin_login, new_browser_binding
from auth.domain.sessions import RefreshRecord, SessionRecord, capped
from auth.domain.tokens import (
    User,
    access_token_claims,
    new_refresh_token,
    new_session_id,
    refresh_token_hash,
)
from auth.ports import (
    Accounts,
    LoginStates,
    OpenIdProvider,
    SeenTokens,
    SessionEvents,
    Sessions,
)
from auth.settings import AuthSettings
from auth.signing import SigningKeyCache

log = logging.getLogger("auth")

_MAX_REFRESH_TOKEN = 128
# A refresh that spent its token but recorded no successor within this time died half way;
# after it, a second use of the token counts as a reuse.
REFRESH_IN_FLIGHT_S = 10.0
_MAX_CODE = 2048


@dataclass(frozen=True, slots=True)
class LoginStarted:
    url: str
    # The random value bound to this browser; it goes into the login cookie.
    browser: str


@dataclass(frozen=True, slots=True)
class Issued:
    # For the command API and auth's own endpoints; `read_token` for the read API and the
    # WebSocket. The same session and lifetime, one audience each.
    access_token: str
    read_token: str
    expires_in: int
    refresh_token: str
    user: User
    sid: str
    # Seconds the refresh token has left: the cookie lasts as long, not longer.
    refresh_expires_in: int
    next_path: str | None = None


class AuthService:
    def __init__(
        self,
        settings: AuthSettings,
        *,
        provider: OpenIdProvider,
        login_states: LoginStates,
        accounts: Accounts,
        sessions: Sessions,
        keys: SigningKeyCache,
        events: SessionEvents,
        seen_tokens: SeenTokens,
        clock: Callable[[], float],
    ) -> None:
        self._settings = settings
        self._provider = provider
        self._login_states = login_states
        self._accounts = accounts
        self._sessions = sessions
        self._keys = keys
        self._events = events
        self._seen_tokens = seen_tokens
        self._clock = clock
        self._policy = IdTokenPolicy(
            issuer=provider.issuer,
            client_id=provider.client_id,
            leeway_s=settings.id_token_leeway_s,
            allowed_domains=frozenset(settings.allowed_domains),
            allowed_emails=frozenset(settings.allowed_emails),
        )

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)

    # -- logging in --------------------------------------------------------------------------

    async def start_login(
        self, *, browser: str | None, login_hint: str | None, next_path: str | None
    ) -> LoginStarted:
        """`browser` is the login cookie's value when the browser already has one (a login in
        another tab), so that both logins stay bound to it."""
        browser = browser if browser and len(browser) <= 64 else new_browser_binding()
        login = begin_login(
            provider=self._provider.issuer,
            browser=browser,
            next_path=next_path,
            now=self._clock(),
            ttl_s=self._settings.state_ttl_s,
        )
        url = await self._provider.authorization_url(login, login_hint=login_hint)
        await self._login_states.put(login, ttl_s=self._settings.state_ttl_s)
        return LoginStarted(url=url, browser=browser)

    async def finish_login(
        self,
        *,
        state: str | None,
        code: str | None,
        browser: str | None,
        provider_error: str | None = None,
    ) -> Issued:
        if not state or len(state) > 128:
            raise LoginStateError("invalid_state", "the callback carries no usable state")
        stored = await self._login_states.take(state)
        login = accept_callback(
            stored, browser=browser, provider=self._provider.issuer, now=self._clock()
        )
        if provider_error:
            raise LoginFailedError(
                "provider_error", "the provider did not sign you in", {"error": provider_error}
            )
        if not code or len(code) > _MAX_CODE:
            raise LoginFailedError("missing_code", "the callback carries no code")
        try:
            id_token = await self._provider.exchange_code(code, login.code_verifier)
        except CodeRejectedError as exc:
            raise LoginFailedError(
                "code_rejected", "the provider refused the code", {"error": exc.error}
            ) from None
        identity = await self.verify_id_token(id_token, nonce=login.nonce)
        issued = await self._open_session(identity)
        return dataclasses.replace(issued, next_path=login.next_path)

    async def verify_id_token(self, id_token: str, *, nonce: str | None) -> Identity:
        kid = key_id(id_token)
        keys = await self._provider.key_set(kid)
        return verify_id_token(id_token, keys, self._policy, nonce=nonce, now=int(self._clock()))

    async def sign_in_with_id_token(self, id_token: str, *, nonce: str | None) -> Issued:
        """Google Identity Services hands the browser or app an ID token for our client id;
        it is checked exactly as the callback's (a nonce only if the caller sent one)."""
        identity = await self.verify_id_token(id_token, nonce=nonce)
        # The callback's ID token is single-use by construction (state, code); this one is
        # made so here, or a copy taken from the page could open sessions until it expires.
        ttl_s = identity.expires_at + self._settings.id_token_leeway_s - self._clock()
        if not await self._seen_tokens.first_use(refresh_token_hash(id_token), ttl_s=ttl_s):
            raise IdTokenRejectedError(
                "id_token_rejected", "ID token rejected: already used", {"claim": "jti"}
            )
        return await self._open_session(identity)

    async def _open_session(self, identity: Identity) -> Issued:
        now = self._now()
        user = await self._accounts.sign_in(identity, now=now)
        sid = new_session_id()
        refresh = new_refresh_token()
        ends_at = now + timedelta(seconds=self._settings.session_max_s)
        expires_at = capped(now, self._settings.refresh_ttl_s, ends_at)
        await self._sessions.start(sid=sid, user_id=user.user_id, now=now, expires_at=expires_at)
        await self._sessions.add_refresh_token(
            refresh_token_hash(refresh),
            sid=sid,
            user_id=user.user_id,
            now=now,
            expires_at=expires_at,
            parent=None,
        )
        log.info("signed in", extra={"fields": {"user_id": user.user_id, "sid": sid}})
        return await self._issue(user, sid, refresh, refresh_expires_at=expires_at, ends_at=ends_at)

    async def _issue(
        self, user: User, sid: str, refresh: str, *, refresh_expires_at: datetime, ends_at: datetime
    ) -> Issued:
        """Our tokens for a session, the access token cut short so that it never outlives the
        session's absolute end."""
        now = int(self._clock())
        ttl_s = max(0, min(self._settings.access_ttl_s, int(ends_at.timestamp()) - now))
        key = await self._keys.signing_key()
        access, read = (
            key.sign(
                access_token_claims(
                    user,
                    sid=sid,
                    issuer=self._settings.issuer,
                    audience=audience,
                    now=now,
                    ttl_s=ttl_s,
                )
            )
            for audience in (self._settings.boards_audience, self._settings.projector_audience)
        )
        return Issued(
            access_token=access,
            read_token=read,
            expires_in=ttl_s,
            refresh_token=refresh,
            user=user,
            sid=sid,
            refresh_expires_in=max(0, int(refresh_expires_at.timestamp()) - now),
        )

    # -- refreshing --------------------------------------------------------------------------

    async def refresh(self, refresh_token: str) -> Issued:
        record, session = await self._usable_refresh_token(refresh_token)
        ends_at = session.ends_at(self._settings.session_max_s)
        now = self._now()
        if not await self._sessions.spend(record, now=now):
            await self._refused_spend(record)
        user = await self._accounts.user(record.user_id)
        if user is None:
            raise RefreshRejectedError("session_ended", "the session's user no longer exists")
        successor = new_refresh_token()
        successor_hash = refresh_token_hash(successor)
        # Each refresh slides the idle limit forward, never past the absolute end.
        expires_at = capped(now, self._settings.refresh_ttl_s, ends_at)
        await self._sessions.add_refresh_token(
            successor_hash,
            sid=record.sid,
            user_id=record.user_id,
            now=now,
            expires_at=expires_at,
            parent=record.token_hash,
        )
        # A logout, or a reuse of an older token of the family, may have ended it meanwhile.
        await self._active_session(record.sid)
        # From here on another use of this token is a reuse, no longer a concurrent refresh.
        await self._sessions.replaced(record.token_hash, successor=successor_hash)
        return await self._issue(
            user, record.sid, successor, refresh_expires_at=expires_at, ends_at=ends_at
        )

    async def _refused_spend(self, record: RefreshRecord) -> NoReturn:
        """Someone spent this token before us. While that refresh is in flight (no successor
        yet) it is the same client twice, say two tabs: refuse this one, revoke nothing. Once
        it has a successor, a use is a reuse: a thief or the owner holds a copy, and ending the
        family locks out both; the owner signs in again, the thief cannot."""
        spent = await self._sessions.spent(record.token_hash)
        if (
            spent is not None
            and spent.successor is None
            and self._clock() - spent.at.timestamp() < REFRESH_IN_FLIGHT_S
        ):
            raise RefreshConflictError(
                "refresh_in_progress",
                "another refresh of this token is in progress; use the token it returns",
            )
        await self._end_session(record.sid, reason="refresh_token_reused")
        log.warning(
            "refresh token reused; session revoked",
            extra={"fields": {"sid": record.sid, "user_id": record.user_id}},
        )
        raise RefreshRejectedError(
            "refresh_token_reused", "this refresh token was already used; sign in again"
        )

    async def _usable_refresh_token(
        self, refresh_token: str
    ) -> tuple[RefreshRecord, SessionRecord]:
        if not refresh_token or len(refresh_token) > _MAX_REFRESH_TOKEN:
            raise RefreshRejectedError("invalid_refresh_token", "unknown refresh token")
        record = await self._sessions.refresh_token(refresh_token_hash(refresh_token))
        if record is None:
            raise RefreshRejectedError("invalid_refresh_token", "unknown refresh token")
        # The session first: its last refresh token expires at its absolute end too, and the
        # client should hear why.
        session = await self._active_session(record.sid)
        if record.expires_at.timestamp() <= self._clock():
            raise RefreshRejectedError("refresh_token_expired", "the refresh token expired")
        return record, session

    async def _active_session(self, sid: str) -> SessionRecord:
        session = await self._sessions.session(sid)
        if session is None or not session.active:
            raise RefreshRejectedError("session_ended", "the session has ended; sign in again")
        if session.ends_at(self._settings.session_max_s).timestamp() <= self._clock():
            raise RefreshRejectedError(
                "session_expired", "the session reached its longest lifetime; sign in again"
            )
        return session

    # -- logging out and asking who --------------------------------------------------------

    async def logout(self, *, refresh_token: str | None, sid: str | None) -> str | None:
        """Ends the session the refresh token (spent or not) or access token belongs to.
        Returns its id, or None when neither names one."""
        if refresh_token and len(refresh_token) <= _MAX_REFRESH_TOKEN:
            record = await self._sessions.refresh_token(refresh_token_hash(refresh_token))
            sid = record.sid if record is not None else sid
        if sid is None:
            return None
        await self._end_session(sid, reason="logout")
        log.info("logged out", extra={"fields": {"sid": sid}})
        return sid

    async def _end_session(self, sid: str, *, reason: str) -> None:
        await self._sessions.revoke(sid, reason=reason, now=self._now())
        await self._events.session_ended(sid)

    async def whoami(self, claims: Claims) -> User:
        """The user an access token names, while its session lasts (an access token outlives
        a logout by at most its TTL elsewhere, but not here)."""
        if claims.sid is None:
            raise RefreshRejectedError("session_ended", "the token names no session")
        await self._active_session(claims.sid)
        user = await self._accounts.user(claims.sub)
        if user is None:
            raise RefreshRejectedError("session_ended", "the user no longer exists")
        return user

    async def find_user(self, claims: Claims, email: str) -> User | None:
        """Someone who has signed in with this address, for a signed-in caller to invite. Like
        `whoami`, only while the caller's session lasts: a logged-out token cannot go on
        probing addresses for the rest of its lifetime."""
        if claims.sid is None:
            raise RefreshRejectedError("session_ended", "the token names no session")
        await self._active_session(claims.sid)
        return await self._accounts.user_by_email(email)
