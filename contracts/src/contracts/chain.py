"""The hash chain that makes a board's log tamper-evident (docs/event-chain.md).

An event's `hash` is SHA-256 over its canonical encoding: the stored JSON document without the
`hash` key, re-encoded with sorted keys and no whitespace. `prev_hash` is inside what is hashed,
so each event seals the one before it. Everything here works on the stored JSON alone.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from contracts.envelope import AnyEvent, event_adapter

ZERO_HASH = "0" * 64
HASH_FIELD = "hash"
PREV_HASH_FIELD = "prev_hash"

Document = Mapping[str, Any]


def canonical(document: Document) -> bytes:
    body = {key: value for key, value in document.items() if key != HASH_FIELD}
    return json.dumps(
        body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def event_hash(document: Document) -> str:
    return hashlib.sha256(canonical(document)).hexdigest()


def link(envelopes: Sequence[AnyEvent], prev_hash: str) -> list[AnyEvent]:
    """The envelopes with `prev_hash` and `hash` set, chained on from `prev_hash`."""
    chained = []
    for envelope in envelopes:
        unsealed = envelope.model_copy(update={PREV_HASH_FIELD: prev_hash, HASH_FIELD: None})
        prev_hash = event_hash(event_adapter.dump_python(unsealed, mode="json"))
        chained.append(unsealed.model_copy(update={HASH_FIELD: prev_hash}))
    return chained


Problem = Literal["unreadable", "version", "prev_hash", "hash"]


@dataclass(frozen=True, slots=True)
class ChainBreak:
    """The first place a chain does not hold: `expected` is what the chain demands there."""

    version: int
    problem: Problem
    expected: str
    found: str | None

    def __str__(self) -> str:
        return (
            f"version {self.version}: {self.problem} expected {self.expected}, "
            f"found {self.found if self.found is not None else 'nothing'}"
        )


@dataclass(frozen=True, slots=True)
class Checked:
    """How far a chain was checked: the last version seen and its hash."""

    count: int
    version: int
    hash: str | None


def first_break(
    documents: Iterable[tuple[int, Document | None]],
    *,
    previous_hash: str | None = ZERO_HASH,
    previous_version: int = 0,
) -> ChainBreak | Checked:
    """Walks (version, document) pairs in order; `None` is a document that could not be read.

    `previous_hash=None` says the event before the first is unknown (a trimmed log), so the
    first `prev_hash` is taken on trust. Events stored before the chain existed (no `prev_hash`)
    carry no seal of their own; the first chained event after them seals the last of them.
    """
    count = 0
    for version, document in documents:
        gap = previous_hash is not None and version != previous_version + 1
        if gap or version <= previous_version:
            return ChainBreak(version, "version", str(previous_version + 1), str(version))
        if document is None or document.get("version") != version:
            found = None if document is None else str(document.get("version"))
            return ChainBreak(version, "unreadable", f"an event of version {version}", found)
        problem = _seal_problem(version, document, previous_hash)
        if problem is not None:
            return problem
        previous_hash, previous_version = event_hash(document), version
        count += 1
    return Checked(count, previous_version, previous_hash)


def _seal_problem(version: int, document: Document, previous_hash: str | None) -> ChainBreak | None:
    prev = document.get(PREV_HASH_FIELD)
    if prev is None:
        return None  # written before the chain
    if previous_hash is not None and prev != previous_hash:
        return ChainBreak(version, "prev_hash", previous_hash, str(prev))
    computed = event_hash(document)
    stored = document.get(HASH_FIELD)
    if stored != computed:
        return ChainBreak(version, "hash", computed, None if stored is None else str(stored))
    return None
