"""The settings base: each service subclasses it with its own env prefix (`BOARDS_`, ...)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Self

from pydantic import AnyHttpUrl, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from cardstream_runtime.header_deadline import HEADER_TIMEOUT_S


class Mode(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class ServiceSettings(BaseSettings):
    # hide_input_in_errors: a refused setting must not print the others, secrets among them.
    model_config = SettingsConfigDict(frozen=True, extra="ignore", hide_input_in_errors=True)

    host: str = "127.0.0.1"
    port: int = 8080
    mode: Mode = Mode.DEVELOPMENT
    log_level: str = "INFO"
    # Every HTTP request is answered within this, a store that stops answering included
    # (503 deadline_exceeded; cardstream_runtime.deadlines); at least 2 s, so that a readiness
    # probe (1.5 s a dependency) always says which one did not answer.
    request_timeout_s: float = Field(default=10.0, ge=2, le=300)
    # A connection that sends no complete request head within this (of opening, or of its next
    # request's first byte) is closed (cardstream_runtime.header_deadline). At most 60 s: the
    # keep-alive timer (75 s) runs from the connection's opening too.
    header_timeout_s: float = Field(default=HEADER_TIMEOUT_S, ge=0.1, le=60)

    # Our own access tokens: who issued them, for which audience, and where the keys are.
    jwt_issuer: str = "cardstream-dev"
    jwt_audience: str = "cardstream"
    jwks_url: AnyHttpUrl | None = None
    jwt_public_key_file: Path | None = None

    @model_validator(mode="after")
    def _keys_known(self) -> Self:
        if self.jwks_url is None and self.jwt_public_key_file is None:
            raise ValueError("set jwks_url or jwt_public_key_file so tokens can be verified")
        return self

    @property
    def production(self) -> bool:
        return self.mode == Mode.PRODUCTION
