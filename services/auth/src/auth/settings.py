"""The auth service's settings, read from `AUTH_*` environment variables.

Lists (`AUTH_ALLOWED_DOMAINS`, `AUTH_ALLOWED_EMAILS`) take JSON:
`AUTH_ALLOWED_DOMAINS='["example.com"]'`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Self
from urllib.parse import urlsplit

from cardstream_runtime.ended_sessions import ended_channel
from cardstream_runtime.header_deadline import HEADER_TIMEOUT_S
from cardstream_runtime.limits import parse_networks
from cardstream_runtime.redis_urls import check_redis_url, is_cluster_url
from cardstream_runtime.settings import Mode
from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from auth.domain.kek import DEVELOPMENT_KEYS, parse_keys

GOOGLE_ISSUER = "https://accounts.google.com"


def _http_url(value: str, name: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{name} must be an http(s) URL")
    return value.rstrip("/")


def _is_loopback(url: str) -> bool:
    return urlsplit(url).hostname in ("127.0.0.1", "localhost", "::1")


class AuthSettings(BaseSettings):
    # hide_input_in_errors: a refused setting must not print the others, secrets among them.
    model_config = SettingsConfigDict(
        env_prefix="AUTH_", frozen=True, extra="ignore", hide_input_in_errors=True
    )

    host: str = "127.0.0.1"
    port: int = 8083
    mode: Mode = Mode.DEVELOPMENT
    log_level: str = "INFO"

    # The one URL users see (nginx in front of every service); cookies and redirects live there.
    public_url: str = "http://127.0.0.1:8080"
    # `iss` of the access tokens we sign; empty means public_url.
    issuer: str = ""
    # One token per service, each naming only its own audience, so that a token a service was
    # given (and may log, or lose) is refused by the other: the access token goes to the
    # command API (and to auth's own endpoints), the read token to the read API and WebSocket.
    boards_audience: str = Field(default="cardstream-boards", min_length=1)
    projector_audience: str = Field(default="cardstream-projector", min_length=1)

    # The OpenID provider we send users to (Google unless told otherwise).
    oidc_issuer: str = GOOGLE_ISSUER
    oidc_client_id: str = ""
    oidc_client_secret: SecretStr = SecretStr("")
    # Empty means `<public_url>/auth/callback`; must be registered with the provider as is.
    redirect_uri: str = ""
    # Either list, when set, admits its members only (hd claim for domains, email for emails).
    allowed_domains: list[str] = []
    allowed_emails: list[str] = []
    # Clock skew tolerated on the provider's `exp` and `iat`.
    id_token_leeway_s: int = Field(default=60, ge=0, le=300)
    provider_timeout_s: float = Field(default=10.0, gt=0)
    # Provider keys: kept this long when the response names no max-age; an unknown `kid`
    # triggers a refetch at most this often.
    provider_jwks_default_max_age_s: int = Field(default=300, ge=0)
    provider_jwks_min_refetch_s: float = Field(default=10.0, ge=0)

    # The event log's Redis: the ended-sessions deny list and channel, which every service reads.
    # One server (redis://) or a Redis Cluster (redis+cluster://host:port,...), as for boards.
    redis_url: str = "redis://127.0.0.1:6379/0"
    # Auth's short-lived state (login states, used ID tokens): a Redis of its own with its own
    # memory cap, so that a login flood fills that one and never the event log's. Empty means
    # redis_url, in development only (logged); production refuses to start without it.
    state_redis_url: str = ""
    key_prefix: str = Field(default="", pattern=r"^[A-Za-z0-9:_-]*$")
    mongo_url: str = "mongodb://127.0.0.1:27017/"
    mongo_db: str = "cardstream_auth"
    mongo_timeout_ms: int = Field(default=5000, ge=100)
    # Every HTTP request is answered within this (503 deadline_exceeded); at least 2 s, so
    # that a readiness probe (1.5 s a dependency) always says which one did not answer.
    request_timeout_s: float = Field(default=10.0, ge=2, le=300)
    # A connection that sends no complete request head within this (of opening, or of its next
    # request's first byte) is closed (cardstream_runtime.header_deadline).
    header_timeout_s: float = Field(default=HEADER_TIMEOUT_S, ge=0.1, le=60)

    access_ttl_s: int = Field(default=600, ge=10, le=3600)
    # Idle limit: a refresh token unused this long ends its session.
    refresh_ttl_s: int = Field(default=30 * 24 * 3600, ge=60)
    # Absolute limit: however often it is refreshed, a session ends this long after sign-in.
    session_max_s: int = Field(default=30 * 24 * 3600, ge=60, le=366 * 24 * 3600)
    state_ttl_s: int = Field(default=600, ge=1, le=600)
    # How long this process trusts its copy of the signing keys before rereading them (a
    # rotation by another process is picked up within this time).
    signing_keys_refresh_s: float = Field(default=30.0, ge=0)
    # The key-encryption keys that seal the private signing keys before they reach MongoDB
    # (`auth.domain.kek` says the format), given here or in a file (a mounted secret), never
    # both. Unset in development, a public development key is used (and logged); production
    # refuses to start without its own.
    key_encryption_keys: SecretStr = SecretStr("")
    key_encryption_keys_file: Path | None = None
    # Per client address, per process (auth/limits.py): N at once, then N a minute. Generous
    # for people (a whole office behind one NAT included), short of a flood.
    login_per_min: int = Field(default=60, ge=1, le=100_000)
    refresh_per_min: int = Field(default=120, ge=1, le=100_000)
    token_exchange_per_min: int = Field(default=60, ge=1, le=100_000)
    user_lookup_per_min: int = Field(default=120, ge=1, le=100_000)
    # Peers whose X-Forwarded-For is believed (nginx in front): addresses or CIDR blocks. Empty:
    # the socket peer is the client, whatever the header says.
    trusted_proxies: list[str] = []
    post_login_redirect: str = "/"
    # Off only for plain-http localhost in development.
    cookie_secure: bool = True
    max_body_bytes: int = 32 * 1024

    @field_validator("public_url", "oidc_issuer")
    @classmethod
    def _urls(cls, value: str, info: ValidationInfo) -> str:
        return _http_url(value, info.field_name or "url")

    @field_validator("redis_url")
    @classmethod
    def _usable_redis_url(cls, value: str) -> str:
        return check_redis_url(value)

    @field_validator("state_redis_url")
    @classmethod
    def _one_state_server(cls, value: str) -> str:
        # Its safety check reads one server's memory settings; a few keys need no cluster.
        if is_cluster_url(value):
            raise ValueError("state_redis_url names one Redis server, not a cluster")
        return value

    @field_validator("post_login_redirect")
    @classmethod
    def _local_path(cls, value: str) -> str:
        if not value.startswith("/") or value.startswith("//"):
            raise ValueError("post_login_redirect must be a path on this site, like /")
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, values: list[str]) -> list[str]:
        parse_networks(values)
        return values

    @field_validator("allowed_domains", "allowed_emails")
    @classmethod
    def _lowercase(cls, values: list[str]) -> list[str]:
        return [v.strip().lower() for v in values if v.strip()]

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        # The model is frozen; derived defaults are filled in once, here.
        if not self.issuer:
            object.__setattr__(self, "issuer", self.public_url)
        if not self.redirect_uri:
            object.__setattr__(self, "redirect_uri", f"{self.public_url}/auth/callback")
        object.__setattr__(self, "redirect_uri", _http_url(self.redirect_uri, "redirect_uri"))
        if not self.cookie_secure and (self.production or not _is_loopback(self.public_url)):
            raise ValueError("cookie_secure may be off only in development on a loopback URL")
        if self.boards_audience == self.projector_audience:
            raise ValueError("boards_audience and projector_audience must differ")
        if self.key_encryption_keys.get_secret_value() and self.key_encryption_keys_file:
            raise ValueError("set key_encryption_keys or key_encryption_keys_file, not both")
        if self.production:
            self._production_ready()
        self.kek_keys()  # refuses a malformed key now, not at the first signature
        return self

    def kek_keys(self) -> dict[str, bytes]:
        """The key-encryption keys, the current one first."""
        if self.key_encryption_keys_file is not None:
            try:
                text = self.key_encryption_keys_file.read_text()
            except OSError as exc:
                raise ValueError(f"key_encryption_keys_file: {exc.strerror}") from None
            return parse_keys(text)
        return parse_keys(self.key_encryption_keys.get_secret_value() or DEVELOPMENT_KEYS)

    @property
    def development_kek(self) -> bool:
        return not self.key_encryption_keys_file and not self.key_encryption_keys.get_secret_value()

    def _production_ready(self) -> None:
        for name in ("public_url", "redirect_uri", "oidc_issuer"):
            if urlsplit(getattr(self, name)).scheme != "https":
                raise ValueError(f"{name} must be https in production")
        if not self.oidc_client_id or not self.oidc_client_secret.get_secret_value():
            raise ValueError("set oidc_client_id and oidc_client_secret in production")
        if self.development_kek:
            raise ValueError(
                "set key_encryption_keys or key_encryption_keys_file in production: the "
                "development key is public"
            )
        if not self.state_redis_url or self.state_redis_url == self.redis_url:
            raise ValueError(
                "set state_redis_url in production to a Redis of its own, not the event log's: "
                "a login flood would fill the log's memory"
            )

    @property
    def production(self) -> bool:
        return self.mode == Mode.PRODUCTION

    @property
    def sessions_channel(self) -> str:
        """Where a session id is published when the session ends (logout, reuse, revocation)."""
        return ended_channel(self.key_prefix)
