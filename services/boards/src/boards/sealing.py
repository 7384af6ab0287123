"""Decided events as the bytes the store keeps: envelope, hash chain and JSON in one pass.

The model way (`event_envelope`, `contracts.chain.link`, `event_adapter.dump_json`) validates an
envelope model, copies it twice, dumps it to Python to hash it with the standard library's JSON
encoder, and dumps it again to store it: it was a third of the command path's time. Here an event
is one dict, encoded twice by orjson, sorted (its hash) and as stored. orjson with sorted keys
writes exactly `contracts.chain.canonical`'s bytes for what an event holds (strings, integers,
booleans, nulls; no floats): `tests/unit/test_sealing.py` holds the two together for every event
type and for arbitrary text, and holds the documents to what the models would have written.

The envelope fields are not validated again here: each comes from somewhere that has checked it
(`service.Caller` checks the actor and correlation id once per request; ids and times are ours;
the epoch is the store's).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import orjson
from contracts.chain import HASH_FIELD, PREV_HASH_FIELD
from contracts.events import Event, schema_version_of
from pydantic import AwareDatetime, TypeAdapter

# As the envelope writes `occurred_at` (RFC 3339, `Z`, microseconds only when there are some).
_TIME = TypeAdapter(AwareDatetime)


@dataclass(frozen=True, slots=True)
class Stamp:
    """What every event of one command carries besides its payload and its place in the log."""

    board_id: UUID
    occurred_at: datetime
    actor: str
    command_id: UUID
    correlation_id: str
    epoch: str


@dataclass(frozen=True, slots=True)
class Sealed:
    """One command's events, encoded and chained, and the hash of the last of them."""

    events: list[bytes]
    last_hash: str


def seal(payloads: Sequence[Event], stamp: Stamp, *, after_version: int, prev_hash: str) -> Sealed:
    """The events numbered on from `after_version`, chained on from `prev_hash`."""
    occurred_at = _TIME.dump_python(stamp.occurred_at, mode="json")
    board_id, command_id = str(stamp.board_id), str(stamp.command_id)
    encoded = []
    for version, payload in enumerate(payloads, start=after_version + 1):
        # The envelope's field order, so the stored bytes read as the models would write them.
        document = {
            "event_id": str(uuid.uuid4()),
            "board_id": board_id,
            "version": version,
            "type": type(payload).__name__,
            "schema_version": schema_version_of(type(payload)),
            "occurred_at": occurred_at,
            "actor": stamp.actor,
            "command_id": command_id,
            "correlation_id": stamp.correlation_id,
            "causation_id": command_id,
            "epoch": stamp.epoch,
            PREV_HASH_FIELD: prev_hash,
            "payload": payload.model_dump(mode="json"),
        }
        prev_hash = hashlib.sha256(orjson.dumps(document, option=orjson.OPT_SORT_KEYS)).hexdigest()
        # `hash` goes before `payload`, where the envelope has it.
        document[HASH_FIELD] = prev_hash
        document["payload"] = document.pop("payload")
        encoded.append(orjson.dumps(document))
    return Sealed(encoded, prev_hash)
