"""Envelopes: the metadata every command and event travels in.

The `type` literal is the discriminator and the payload's class name, so one module-level
`TypeAdapter` parses any command or event and a validation error names the type it tried.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Generic, Literal, TypeVar, Union, cast
from uuid import UUID

from pydantic import (
    AwareDatetime,
    Field,
    SerializerFunctionWrapHandler,
    StringConstraints,
    TypeAdapter,
    model_serializer,
)

from contracts.base import Contract
from contracts.commands import COMMAND_TYPES, Command
from contracts.events import EVENT_TYPES, Event, schema_version_of
from contracts.fields import BoardId, EventVersion, SchemaVersion, UserId, Version

TypeT = TypeVar("TypeT")
PayloadT = TypeVar("PayloadT")

TraceId = Annotated[str, StringConstraints(min_length=1, max_length=128)]
# Lowercase hex SHA-256 (docs/event-chain.md).
Sha256Hex = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
CHAIN_FIELDS = ("prev_hash", "hash")


class _Envelope(Contract):
    # The default name, `CommandEnvelope[Literal['AddCard'], AddCard]`, would leak into JSON Schema
    # `$defs` keys and into every validation error message.
    @classmethod
    def model_parametrized_name(cls, params: tuple[Any, ...]) -> str:
        payload = params[-1]
        if isinstance(payload, type) and issubclass(payload, Contract):
            return f"{payload.__name__}Envelope"
        return super().model_parametrized_name(params)


class CommandEnvelope(_Envelope, Generic[TypeT, PayloadT]):
    command_id: UUID
    type: TypeT
    expected_version: Version | None = None
    payload: PayloadT


class EventEnvelope(_Envelope, Generic[TypeT, PayloadT]):
    event_id: UUID
    board_id: BoardId
    version: EventVersion
    type: TypeT
    schema_version: SchemaVersion = 1
    occurred_at: AwareDatetime
    actor: UserId
    command_id: UUID
    correlation_id: TraceId
    causation_id: TraceId
    epoch: TraceId
    # Optional on read (events stored before the chain lack them), required on write: the
    # stores refuse an append without them. See docs/event-chain.md.
    prev_hash: Sha256Hex | None = None
    hash: Sha256Hex | None = None
    payload: PayloadT

    @model_serializer(mode="wrap")
    def _omit_missing_chain(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # An unchained event dumps exactly as it was stored, so its hash (computed from the
        # stored JSON) does not change by being read and written again.
        data: dict[str, Any] = handler(self)
        for name in CHAIN_FIELDS:
            if name in data and data[name] is None:
                del data[name]
        return data


AnyCommand = CommandEnvelope[str, Command]
AnyEvent = EventEnvelope[str, Event]

_COMMAND_ENVELOPES = {
    c: CommandEnvelope[Literal[c.__name__], c]  # type: ignore[name-defined,valid-type]
    for c in COMMAND_TYPES
}
_EVENT_ENVELOPES = {
    e: EventEnvelope[Literal[e.__name__], e]  # type: ignore[name-defined,valid-type]
    for e in EVENT_TYPES
}

# pydantic validates against the discriminated unions; mypy sees them as the generic envelopes.
if TYPE_CHECKING:
    TaggedCommand = AnyCommand
    TaggedEvent = AnyEvent
else:
    # Union[...] over a tuple is the only spelling of a union built at runtime; Annotated needs
    # the union itself, not the tuple of its members.
    TaggedCommand = Annotated[
        Union[tuple(_COMMAND_ENVELOPES.values())],  # noqa: UP007
        Field(discriminator="type"),
    ]
    TaggedEvent = Annotated[
        Union[tuple(_EVENT_ENVELOPES.values())],  # noqa: UP007
        Field(discriminator="type"),
    ]

command_adapter: TypeAdapter[AnyCommand] = TypeAdapter(TaggedCommand)
event_adapter: TypeAdapter[AnyEvent] = TypeAdapter(TaggedEvent)
events_adapter: TypeAdapter[list[AnyEvent]] = TypeAdapter(list[TaggedEvent])


def command_envelope(
    payload: Command, *, command_id: UUID, expected_version: int | None = None
) -> AnyCommand:
    envelope_type = _COMMAND_ENVELOPES[type(payload)]
    return cast(
        AnyCommand,
        envelope_type(
            command_id=command_id,
            type=type(payload).__name__,
            expected_version=expected_version,
            payload=payload,
        ),
    )


def event_envelope(payload: Event, **meta: Any) -> AnyEvent:
    """Wraps a decided event; `meta` holds every envelope field except `type` and `payload`."""
    envelope_type = _EVENT_ENVELOPES[type(payload)]
    meta.setdefault("schema_version", schema_version_of(type(payload)))
    return cast(AnyEvent, envelope_type(type=type(payload).__name__, payload=payload, **meta))
