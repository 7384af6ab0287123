"""The vocabulary of `contracts.http_api`'s table: an endpoint, its parameters and its answers.

Kept apart from the table so that the table reads as the list of endpoints it is, and so that
`contracts.openapi` renders endpoints without importing every service's list."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from contracts.wire import ErrorBody

Service = Literal["auth", "boards", "projector"]
SERVICES: tuple[Service, ...] = ("auth", "boards", "projector")

Location = Literal["path", "query", "header"]


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    where: Location
    # A type pydantic can render as a schema: its ranges are the contract's.
    schema: Any
    description: str
    required: bool = False


@dataclass(frozen=True, slots=True)
class Answer:
    description: str
    # A model or annotation (JSON), `str` (a text body), or None (no body).
    body: Any = None
    media: str = "application/json"
    headers: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Endpoint:
    service: Service
    method: Literal["GET", "POST"]
    path: str
    summary: str
    answers: Mapping[int, Answer]
    params: tuple[Param, ...] = ()
    body: Any = None
    body_required: bool = True
    secured: bool = True
    tags: tuple[str, ...] = field(default=())

    @property
    def operation_id(self) -> str:
        words = [w.strip("{}") for w in self.path.replace(".", "/").split("/") if w]
        return "_".join([self.method.lower(), *words]) or self.method.lower()


def error(*codes: str) -> Answer:
    """An error answer: the one shape every service errs with, and the codes it may carry."""
    return Answer(description="; ".join(f"`{c}`" for c in codes), body=ErrorBody)


# Answers every endpoint may give, whatever it is (`contracts.openapi` adds them to each).
COMMON: dict[int, Answer] = {
    405: error("method_not_allowed"),
    503: error("deadline_exceeded"),
}

VERSION_HEADER = "X-Projection-Version"
BEHIND_HEADER = "X-Projection-Behind"
NDJSON = "application/x-ndjson"
