"""The projector's settings, read from `PROJECTOR_*` environment variables."""

from __future__ import annotations

import os
import socket
from enum import StrEnum

from cardstream_runtime.redis_urls import check_redis_url
from cardstream_runtime.settings import ServiceSettings
from contracts.streams import DEFAULT_PARTITIONS
from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict


class Role(StrEnum):
    """What a process does: apply the feeds to the read store, serve reads and WebSockets, or
    both (the default). Serving processes never wait on the store for live events: they tail the
    feeds they need themselves."""

    BOTH = "both"
    APPLY = "apply"
    SERVE = "serve"


def _instance_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


class ProjectorSettings(ServiceSettings):
    # hide_input_in_errors: a refused setting must not print the others, secrets among them.
    model_config = SettingsConfigDict(
        env_prefix="PROJECTOR_", frozen=True, extra="ignore", hide_input_in_errors=True
    )

    port: int = 8082
    jwt_audience: str = "cardstream-projector"
    # The event log's Redis: one server (redis://) or a Redis Cluster
    # (redis+cluster://host:port,...), read by `cardstream_runtime.redis_urls`.
    redis_url: str = "redis://127.0.0.1:6379/0"
    mongo_url: str = "mongodb://127.0.0.1:27017/"
    mongo_db: str = "cardstream"
    # How long a read waits for MongoDB before answering 503 (PyMongo's default is 30 s).
    mongo_timeout_ms: int = Field(default=5000, ge=100)
    partitions: int = Field(default=DEFAULT_PARTITIONS, ge=1, le=1024)
    key_prefix: str = Field(default="", pattern=r"^[A-Za-z0-9:_-]*$")

    role: Role = Role.BOTH
    instance_id: str = Field(default_factory=_instance_id)
    consumer_group: str = "projector"
    # Feed entries read, applied and written together at most. A read takes what is there, so
    # live traffic makes small batches whatever this is; on a backlog, a bigger batch writes each
    # document it touches once for more events (docs/performance.md).
    batch_size: int = Field(default=10_000, ge=1, le=50_000)
    block_ms: int = Field(default=1000, ge=10)
    # A partition is applied by the holder of its lease; a crashed holder's lease lapses.
    lease_ms: int = Field(default=5000, ge=200)
    # An event that fails this many times is parked on the dead-letter stream.
    max_attempts: int = Field(default=5, ge=1)

    # Reads.
    min_version_wait_s: float = Field(default=2.0, ge=0, le=30)
    # Cards of the boards a serving process keeps in memory to answer board reads from
    # (`projector.read.cache`); 0 reads every board from the store.
    read_cache_cards: int = Field(default=200_000, ge=0)
    # Point-in-time reads (`?at_version=`) start from an in-memory checkpoint taken every this
    # many versions, holding at most this many card documents in all (0: fold from version 0).
    point_in_time_every: int = Field(default=1_000, ge=0)
    point_in_time_cards: int = Field(default=100_000, ge=0)

    # WebSockets.
    allowed_origins: list[str] = ["http://127.0.0.1:8080", "http://localhost:8080"]
    ws_auth_timeout_s: float = 5.0
    ws_max_message_bytes: int = 64 * 1024
    # Messages waiting for one slow connection before it is sent a fresh snapshot or dropped.
    ws_send_queue: int = Field(default=256, ge=8)
    # Open sockets per user and process; the next is closed with 4429 once authenticated. A
    # person has a socket per tab; a runaway script opening sockets stops here.
    ws_per_user: int = Field(default=20, ge=1, le=10_000)

    @field_validator("redis_url")
    @classmethod
    def _usable_redis_url(cls, value: str) -> str:
        return check_redis_url(value)

    @property
    def applies(self) -> bool:
        return self.role in (Role.BOTH, Role.APPLY)

    @property
    def serves(self) -> bool:
        return self.role in (Role.BOTH, Role.SERVE)
