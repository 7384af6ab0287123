"""Reading stored events of older schema versions: upcasters from vN to vN+1, per event type.

Stored events are never rewritten. A reader parses every stored event with `parse_event`, which
lifts the document to the current schema version of its type one step at a time and then
validates it; the event models only know their current shape. See docs/upcasting.md.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pydantic import ValidationError
from pydantic_core import from_json

from contracts.envelope import AnyEvent, event_adapter
from contracts.events import EVENT_TYPES, schema_version_of

Payload = dict[str, Any]
# Takes the whole envelope (read-only) and the payload at vN; returns the payload at vN+1.
Upcaster = Callable[[Mapping[str, Any], Payload], Payload]

CURRENT_VERSIONS: dict[str, int] = {t.__name__: schema_version_of(t) for t in EVENT_TYPES}

_UPCASTERS: dict[tuple[str, int], Upcaster] = {}


class UpcastError(ValueError):
    """A stored event claims a schema version no upcaster leads from."""


def upcaster(event_type: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
    def register(function: Upcaster) -> Upcaster:
        key = (event_type, from_version)
        if key in _UPCASTERS:
            raise ValueError(f"two upcasters for {event_type} v{from_version}")
        _UPCASTERS[key] = function
        return function

    return register


def upcast(document: Mapping[str, Any]) -> dict[str, Any]:
    """The document at the current schema version of its type (a new dict; the input is kept)."""
    event_type = document.get("type")
    version = document.get("schema_version", 1)
    current = CURRENT_VERSIONS.get(event_type) if isinstance(event_type, str) else None
    if current is None or not isinstance(version, int) or version == current:
        return dict(document)  # unknown types and malformed versions are the validator's
    if version > current:
        raise UpcastError(f"{event_type} v{version} was written by a newer cardstream")
    payload = dict(document.get("payload") or {})
    while version < current:
        step = _UPCASTERS.get((event_type, version))  # type: ignore[arg-type]
        if step is None:
            raise UpcastError(f"no upcaster for {event_type} v{version}")
        payload = step(document, payload)
        version += 1
    return {**document, "schema_version": version, "payload": payload}


def parse_event(raw: bytes | str | Mapping[str, Any]) -> AnyEvent:
    """A stored event (JSON bytes or text, or a decoded document) as a current-version event."""
    if isinstance(raw, bytes | str):
        # Most stored events are of their type's current version: validated straight from the
        # JSON (about 40 % cheaper), and only when one says another version, through the
        # upcasters. An older event that happens to fit today's model is still upcast.
        try:
            event = event_adapter.validate_json(raw)
        except ValidationError:
            event = None
        if event is not None and event.schema_version == CURRENT_VERSIONS.get(event.type):
            return event
    document = from_json(raw) if isinstance(raw, bytes | str) else raw
    if not isinstance(document, Mapping):
        return event_adapter.validate_python(document)  # the validator names what is wrong
    return event_adapter.validate_python(upcast(document))


@upcaster("MemberAdded", 1)
def member_added_v1_to_v2(envelope: Mapping[str, Any], payload: Payload) -> Payload:
    """v1 had `email` and `name` at the top of the payload; v2 nests them in `profile`, which
    gained `avatar_url` (unknown for v1 members). A v1 member with neither has no profile."""
    email, name = payload.pop("email", None), payload.pop("name", None)
    payload["profile"] = (
        {"email": email, "name": name, "avatar_url": None}
        if email is not None or name is not None
        else None
    )
    return payload


@upcaster("BoardCreated", 1)
def board_created_v1_to_v2(envelope: Mapping[str, Any], payload: Payload) -> Payload:
    """v1 did not say who the owner is beyond their id: no profile."""
    payload["owner"] = None
    return payload
