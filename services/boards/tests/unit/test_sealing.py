"""`boards.sealing` writes what the envelope models and `contracts.chain` would have written.

The command path builds events as dicts and hashes them with orjson; the definition of the hash
is `contracts.chain.canonical` (the standard library's encoder). These tests hold the two
together: for every event type, for arbitrary text and nesting, and for every field the event
models can hold (no floats, whose spellings differ between the encoders).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from boards.domain import Board, advance, fold
from boards.sealing import Stamp, seal
from cardstream_testing.golden import GOLDEN_EVENTS, STORY
from contracts.chain import ZERO_HASH, canonical, event_hash, first_break, link
from contracts.envelope import event_adapter, event_envelope
from contracts.events import EVENT_TYPES
from hypothesis import given
from hypothesis import strategies as st

BOARD = uuid.UUID("b0a2d000-0000-4000-8000-0000000000aa")
COMMAND = uuid.UUID("c0de0000-0000-4000-8000-0000000000aa")


def _stamp(occurred_at: datetime) -> Stamp:
    return Stamp(
        board_id=BOARD,
        occurred_at=occurred_at,
        actor="alice",
        command_id=COMMAND,
        correlation_id="corr-1",
        epoch="e" * 32,
    )


def _by_the_models(raw: bytes, stamp: Stamp, prev_hash: str) -> dict[str, Any]:
    """The same event (same id and version) built the model way: envelope, link, dump."""
    sealed = json.loads(raw)
    payload = event_adapter.validate_json(raw).payload
    envelope = event_envelope(
        payload,
        event_id=uuid.UUID(sealed["event_id"]),
        board_id=stamp.board_id,
        version=sealed["version"],
        occurred_at=stamp.occurred_at,
        actor=stamp.actor,
        command_id=stamp.command_id,
        correlation_id=stamp.correlation_id,
        causation_id=str(stamp.command_id),
        epoch=stamp.epoch,
    )
    [chained] = link([envelope], prev_hash)
    document: dict[str, Any] = json.loads(event_adapter.dump_json(chained))
    return document


class TestSeal:
    @pytest.mark.parametrize("event_type", sorted(GOLDEN_EVENTS), ids=str)
    @pytest.mark.parametrize(
        "occurred_at",
        [datetime(2026, 5, 1, 12, 0, tzinfo=UTC), datetime(2026, 5, 1, 12, 0, 0, 7, tzinfo=UTC)],
        ids=["whole-second", "microseconds"],
    )
    def test_writes_what_the_models_write_for_every_event_type(
        self, event_type: str, occurred_at: datetime
    ) -> None:
        stamp = _stamp(occurred_at)
        prev_hash = "a" * 64
        sealed = seal([GOLDEN_EVENTS[event_type]], stamp, after_version=41, prev_hash=prev_hash)
        [raw] = sealed.events
        document = json.loads(raw)
        assert document == _by_the_models(raw, stamp, prev_hash)
        assert list(document) == list(_by_the_models(raw, stamp, prev_hash)), "field order"
        assert document["version"] == 42
        assert document["hash"] == event_hash(document) == sealed.last_hash

    def test_chains_a_commands_events_to_each_other_and_to_the_head(self) -> None:
        sealed = seal(list(STORY), _stamp(datetime.now(UTC)), after_version=0, prev_hash=ZERO_HASH)
        documents = [json.loads(raw) for raw in sealed.events]
        checked = first_break(enumerate(documents, start=1))
        assert not hasattr(checked, "problem"), checked
        assert checked.version == len(STORY)
        assert checked.hash == sealed.last_hash

    def test_advance_gives_the_board_fold_gives_for_the_sealed_events(self) -> None:
        sealed = seal(list(STORY), _stamp(datetime.now(UTC)), after_version=0, prev_hash=ZERO_HASH)
        envelopes = [event_adapter.validate_json(raw) for raw in sealed.events]
        start = Board(board_id=BOARD)
        assert advance(start, STORY) == fold(start, envelopes)


# What an event document can hold: no floats (see the test below), no surrogates (not UTF-8).
_text = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)
_scalars = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | _text
_documents = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_text, inner, max_size=4),
    max_leaves=20,
)


class TestSortedOrjsonIsTheCanonicalEncoding:
    @given(st.dictionaries(_text, _documents, max_size=6))
    def test_for_any_text_and_nesting(self, document: dict[str, Any]) -> None:
        document.pop("hash", None)
        assert orjson.dumps(document, option=orjson.OPT_SORT_KEYS) == canonical(document)

    def test_no_event_field_is_a_float(self) -> None:
        schemas = json.dumps([t.model_json_schema() for t in EVENT_TYPES])
        assert '"number"' not in schemas

    def test_the_hash_of_a_sealed_event_is_sha256_of_its_canonical_form(self) -> None:
        [raw] = seal(
            [GOLDEN_EVENTS["CardAdded"]],
            _stamp(datetime.now(UTC)),
            after_version=0,
            prev_hash=ZERO_HASH,
        ).events
        document = json.loads(raw)
        assert document["hash"] == hashlib.sha256(canonical(document)).hexdigest()
