"""Shapes of answers that only one service builds (auth's tokens and user lookups, the probes,
the projector's board list): what that service promises in `contracts.http_api`'s table, and
nothing else builds them."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, StringConstraints

from contracts.base import Contract
from contracts.read_models import BoardSummary


class User(Contract):
    id: str
    email: str | None = None
    name: str | None = None
    # An https or data:image URL, for an <img> and nothing else (docs/auth.md#profile-pictures).
    picture: str | None = None


class Tokens(Contract):
    """A refresh through the cookie carries neither `refresh_token` nor `user`.

    Two bearer tokens of one session, one audience each: `access_token` for the command API and
    auth's own endpoints, `read_token` for the read API and the WebSocket; the other services
    refuse each."""

    access_token: str
    read_token: str
    token_type: Literal["Bearer"]
    expires_in: int
    refresh_token: str | None = None
    user: User | None = None


class Me(Contract):
    user: User
    sid: str | None = None


class FoundUser(Contract):
    user_id: str
    name: str | None = None
    email: str | None = None
    picture: str | None = None


class _AuthBody(BaseModel):
    # Auth reads the fields it knows from a JSON object and ignores any other.
    model_config = ConfigDict(frozen=True, extra="ignore")


class IdTokenExchange(_AuthBody):
    id_token: Annotated[str, StringConstraints(min_length=1)]
    nonce: str | None = None


class RefreshRequest(_AuthBody):
    refresh_token: Annotated[str, StringConstraints(min_length=1)]


class LogoutRequest(_AuthBody):
    refresh_token: str | None = None


class Jwks(BaseModel):
    model_config = ConfigDict(frozen=True, extra="allow")

    keys: list[dict[str, Any]]


class Probe(BaseModel):
    """`/healthz` and `/readyz`: a status, and what was checked or failed."""

    model_config = ConfigDict(frozen=True, extra="allow")

    status: str


class ServiceIndex(BaseModel):
    model_config = ConfigDict(frozen=True, extra="allow")

    service: str
    endpoints: list[str]


class BoardList(Contract):
    boards: list[BoardSummary]
