"""The ports the use cases need, named by role; adapters/ implements each by technology."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from joserfc.jwk import KeySet

from auth.domain.id_token import Identity
from auth.domain.login import LoginState
from auth.domain.sessions import RefreshRecord, SessionRecord, SpentRecord
from auth.domain.signing import KeyRing
from auth.domain.tokens import User


class OpenIdProvider(Protocol):
    issuer: str
    client_id: str

    async def authorization_url(self, login: LoginState, *, login_hint: str | None) -> str: ...

    async def exchange_code(self, code: str, code_verifier: str) -> str: ...

    async def key_set(self, kid: str) -> KeySet: ...


class LoginStates(Protocol):
    async def put(self, login: LoginState, *, ttl_s: float) -> None: ...

    async def take(self, state: str) -> LoginState | None: ...


class Accounts(Protocol):
    async def sign_in(self, identity: Identity, *, now: datetime) -> User: ...

    async def user(self, user_id: str) -> User | None: ...

    async def user_by_email(self, email: str) -> User | None: ...


class Sessions(Protocol):
    async def start(
        self, *, sid: str, user_id: str, now: datetime, expires_at: datetime
    ) -> None: ...

    async def add_refresh_token(
        self,
        token_hash: str,
        *,
        sid: str,
        user_id: str,
        now: datetime,
        expires_at: datetime,
        parent: str | None,
    ) -> None: ...

    async def refresh_token(self, token_hash: str) -> RefreshRecord | None: ...

    async def spend(self, record: RefreshRecord, *, now: datetime) -> bool: ...

    async def spent(self, token_hash: str) -> SpentRecord | None: ...

    async def replaced(self, token_hash: str, *, successor: str) -> None: ...

    async def session(self, sid: str) -> SessionRecord | None: ...

    async def revoke(self, sid: str, *, reason: str, now: datetime) -> None: ...


class SigningKeys(Protocol):
    async def load(self) -> KeyRing | None: ...

    async def ensure(self, *, now: datetime) -> KeyRing: ...

    async def rotate(self, *, now: datetime) -> KeyRing: ...


class SessionEvents(Protocol):
    async def session_ended(self, sid: str) -> None: ...


class SeenTokens(Protocol):
    async def first_use(self, token_hash: str, *, ttl_s: float) -> bool: ...


class KeyDecryptionError(Exception):
    """A sealed secret does not open: its key-encryption key is not given, or it was altered."""


@dataclass(frozen=True)
class Sealed:
    """A secret encrypted under a key-encryption key, with the name of that key."""

    key_id: str
    blob: bytes


class KeyEncryption(Protocol):
    """Encrypts the private signing keys before they reach the database, shaped like a KMS's
    `Encrypt`/`Decrypt`: the key-encryption key never leaves it, every call names a context that
    must match on the way back, and `current` names the key new secrets are sealed under (older
    keys still open what they sealed, until the secrets are sealed again)."""

    @property
    def current(self) -> str: ...

    async def encrypt(self, plaintext: bytes, *, context: str) -> Sealed: ...

    async def decrypt(self, sealed: Sealed, *, context: str) -> bytes: ...
