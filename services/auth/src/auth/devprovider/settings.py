"""The local provider's settings, read from `DEVIDP_*` environment variables.

`DEVIDP_CLIENTS` takes JSON:
`[{"client_id": "...", "client_secret": "...", "redirect_uris": ["..."]}]`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Self
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class DevClient(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    client_id: str = Field(min_length=1)
    client_secret: str = Field(min_length=1)
    redirect_uris: list[str] = Field(min_length=1)

    @field_validator("redirect_uris")
    @classmethod
    def _absolute_without_fragment(cls, uris: list[str]) -> list[str]:
        for uri in uris:
            parts = urlsplit(uri)
            if parts.scheme not in ("http", "https") or not parts.netloc or parts.fragment:
                raise ValueError(f"redirect URI {uri!r} must be absolute http(s), no fragment")
        return uris


def _default_clients() -> list[DevClient]:
    return [
        DevClient(
            client_id="cardstream-local",
            client_secret="local-secret",
            redirect_uris=["http://127.0.0.1:8080/auth/callback"],
        )
    ]


class DevProviderSettings(BaseSettings):
    # hide_input_in_errors: a refused setting must not print the others, secrets among them.
    model_config = SettingsConfigDict(
        env_prefix="DEVIDP_", frozen=True, extra="ignore", hide_input_in_errors=True
    )

    host: str = "127.0.0.1"
    port: int = Field(default=8093, ge=0, le=65535)
    # The public base URL relying parties discover and find in `iss`; empty means http://host:port.
    issuer: str = Field(default="", validate_default=True)
    mode: Literal["development", "production"] = "development"
    clients: list[DevClient] = Field(default_factory=_default_clients, min_length=1)
    # An RSA private key in PEM; without one a key is generated at start, so `kid` changes too.
    key_file: Path | None = None
    id_token_ttl_s: int = Field(default=300, ge=1)
    code_ttl_s: int = Field(default=60, ge=1)

    @field_validator("issuer")
    @classmethod
    def _issuer_url(cls, value: str, info: ValidationInfo) -> str:
        if not value:
            host = info.data.get("host", "127.0.0.1")
            if host in ("", "0.0.0.0", "::"):
                host = "127.0.0.1"
            elif ":" in host:
                host = f"[{host}]"
            value = f"http://{host}:{info.data.get('port', 8093)}"
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("issuer must be an http(s) URL")
        if parts.query or parts.fragment:
            raise ValueError("issuer must have no query or fragment")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _unique_client_ids(self) -> Self:
        ids = [client.client_id for client in self.clients]
        if len(ids) != len(set(ids)):
            raise ValueError("client ids must be unique")
        return self

    def client(self, client_id: str | None) -> DevClient | None:
        return next((c for c in self.clients if c.client_id == client_id), None)
