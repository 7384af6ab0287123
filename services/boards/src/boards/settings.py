"""The boards service's settings, read from `BOARDS_*` environment variables."""

from __future__ import annotations

from typing import Self

from cardstream_runtime.jwt import DEFAULT_SHARED_SECRET_LIFETIME_S
from cardstream_runtime.redis_urls import check_redis_url
from cardstream_runtime.settings import ServiceSettings
from contracts.streams import DEFAULT_PARTITIONS
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from boards.adapters.event_store import IDEMPOTENCY_TTL_SECONDS


class BoardsSettings(ServiceSettings):
    # hide_input_in_errors: a refused setting must not print the others, secrets among them.
    model_config = SettingsConfigDict(
        env_prefix="BOARDS_", frozen=True, extra="ignore", hide_input_in_errors=True
    )

    port: int = 8081
    # Each of our tokens names one service; this one accepts only its own name (the access
    # token; the read token, for the projector, is refused).
    jwt_audience: str = "cardstream-boards"
    # One server (redis://) or a Redis Cluster (redis+cluster://host:port,...; any nodes of it:
    # the client learns the others), `cardstream_runtime.redis_urls`.
    redis_url: str = "redis://127.0.0.1:6379/0"
    # A Redis call that gets no answer within this fails (503), so a frozen Redis cannot hold a
    # board's committer, and every command queued behind it, for as long as TCP lets it.
    redis_timeout_s: float = Field(default=5.0, gt=0, le=60)
    # Replicas that must confirm an append's writes (`WAIT`) before it is acknowledged, so that
    # a replica promoted in a failover has every acknowledged event (docs/adr/011). 0: no wait
    # (one server without replicas); production on a cluster refuses 0.
    replica_acks: int = Field(default=0, ge=0, le=16)
    # How long an append waits for them; then 503 `replication_timeout` (the events are on the
    # primary; the retry with the same command_id is answered once replicas have them).
    replica_wait_ms: int = Field(default=1000, ge=1, le=30_000)
    # Changing the partition count moves boards between feeds: only on an empty log.
    partitions: int = Field(default=DEFAULT_PARTITIONS, ge=1, le=1024)
    key_prefix: str = Field(default="", pattern=r"^[A-Za-z0-9:_-]*$")
    idempotency_ttl_seconds: int = Field(default=IDEMPOTENCY_TTL_SECONDS, ge=60)
    max_body_bytes: int = 64 * 1024
    # Per user and per process, before a command reaches its board's queue: `commands_burst`
    # at once, then this many a second (cardstream_runtime.limits). A person dragging cards
    # sends a few a second; a script importing a board may use the burst.
    commands_per_user_per_s: float = Field(default=50.0, gt=0, le=100_000)
    commands_burst: int = Field(default=200, ge=1, le=1_000_000)
    # NextAuth compatibility (docs/nextauth.md): off unless this is on, and then the secret,
    # the issuers and the audience the front end's tokens must carry are all required.
    accept_nextauth_tokens: bool = False
    nextauth_secret: SecretStr | None = None
    nextauth_issuers: list[str] = []
    nextauth_audience: str = ""
    # The longest `exp - iat` accepted; a NextAuth token is not revocable, so keep it short.
    nextauth_max_lifetime_s: int = Field(default=DEFAULT_SHARED_SECRET_LIFETIME_S, ge=60, le=3600)

    @field_validator("redis_url")
    @classmethod
    def _usable_redis_url(cls, value: str) -> str:
        return check_redis_url(value)

    @field_validator("nextauth_issuers")
    @classmethod
    def _usable_issuers(cls, values: list[str]) -> list[str]:
        for value in values:
            if not value or value != value.strip() or "\0" in value:
                raise ValueError("an issuer is a non-empty string without spaces around it or NUL")
        return values

    @model_validator(mode="after")
    def _wait_within_timeout(self) -> Self:
        # WAIT holds the connection until it answers: past the socket timeout, every append
        # that waits for a missing replica would end as a broken connection instead of a 503.
        if self.replica_acks and self.replica_wait_ms >= self.redis_timeout_s * 1000:
            raise ValueError("replica_wait_ms must be below redis_timeout_s")
        return self

    @model_validator(mode="after")
    def _nextauth_complete(self) -> Self:
        if not self.accept_nextauth_tokens:
            return self
        missing = [
            name
            for name, given in (
                ("nextauth_secret (APP_JWT_SECRET)", self.nextauth_secret is not None),
                ("nextauth_issuers", bool(self.nextauth_issuers)),
                ("nextauth_audience", bool(self.nextauth_audience)),
            )
            if not given
        ]
        if missing:
            raise ValueError(f"accept_nextauth_tokens needs {', '.join(missing)}")
        return self
