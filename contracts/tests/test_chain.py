"""The hash chain: reproducible from the stored JSON alone, and broken by any changed byte."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from contracts.chain import ZERO_HASH, ChainBreak, Checked, canonical, event_hash, first_break, link
from contracts.upcasting import parse_event

from contracts import BoardCreated, BoardRenamed, event_adapter, event_envelope

GOLDEN = Path(__file__).parent / "golden" / "events"
CHAINED = sorted(GOLDEN.glob("*.json"))


def _envelopes(count: int) -> list[Any]:
    board, command = uuid.uuid4(), uuid.uuid4()
    payloads = [BoardCreated(title="t0", owner_id="alice")] + [
        BoardRenamed(title=f"t{i}", previous_title=f"t{i - 1}") for i in range(1, count)
    ]
    return [
        event_envelope(
            payload,
            event_id=uuid.uuid4(),
            board_id=board,
            version=i,
            occurred_at=datetime(2026, 7, 1, 10, 0, i, 5, tzinfo=UTC),
            actor="alice",
            command_id=command,
            correlation_id="c",
            causation_id=str(command),
            epoch="e",
        )
        for i, payload in enumerate(payloads, start=1)
    ]


def _stored(count: int) -> list[tuple[int, dict[str, Any]]]:
    """What a store holds: each event as the JSON bytes it was written as, decoded again."""
    return [
        (e.version, json.loads(event_adapter.dump_json(e)))
        for e in link(_envelopes(count), ZERO_HASH)
    ]


class TestCanonicalEncoding:
    def test_is_sorted_compact_utf8_without_the_hash(self) -> None:
        assert canonical({"b": 1, "hash": "x", "a": "é", "prev_hash": "0"}) == (
            '{"a":"é","b":1,"prev_hash":"0"}'.encode()
        )

    @pytest.mark.parametrize("path", CHAINED, ids=lambda p: p.stem)
    def test_golden_hashes_are_the_sha256_of_the_canonical_stored_json(self, path: Path) -> None:
        document = json.loads(path.read_bytes())

        assert document["hash"] == hashlib.sha256(canonical(document)).hexdigest()
        assert event_hash(document) == document["hash"]

    @pytest.mark.parametrize("path", CHAINED, ids=lambda p: p.stem)
    def test_a_parsed_event_hashes_as_its_stored_document(self, path: Path) -> None:
        event = parse_event(path.read_bytes())

        assert event_hash(event_adapter.dump_python(event, mode="json")) == event.hash

    def test_does_not_depend_on_key_order_or_whitespace(self) -> None:
        [(_, document)] = _stored(1)
        reordered = json.loads(json.dumps(dict(reversed(document.items())), indent=4))

        assert event_hash(reordered) == document["hash"]


class TestLink:
    def test_starts_from_the_zero_hash_and_chains_each_event_to_the_one_before(self) -> None:
        events = link(_envelopes(3), ZERO_HASH)

        assert events[0].prev_hash == ZERO_HASH
        assert [e.prev_hash for e in events[1:]] == [e.hash for e in events[:-1]]

    def test_changes_nothing_but_the_chain_fields(self) -> None:
        plain = _envelopes(2)

        chained = link(plain, ZERO_HASH)

        assert [c.model_copy(update={"prev_hash": None, "hash": None}) for c in chained] == plain


class TestFirstBreak:
    def test_an_intact_chain_is_checked_to_its_end(self) -> None:
        stored = _stored(4)

        assert first_break(stored) == Checked(4, 4, stored[-1][1]["hash"])

    @pytest.mark.parametrize("victim", [1, 2, 4])
    def test_one_changed_payload_byte_names_that_version(self, victim: int) -> None:
        stored = _stored(4)
        document = stored[victim - 1][1]
        document["payload"]["title"] = "u" + document["payload"]["title"][1:]

        broken = first_break(stored)

        assert isinstance(broken, ChainBreak)
        assert (broken.version, broken.problem) == (victim, "hash")
        assert broken.found == document["hash"]

    def test_a_rewritten_hash_is_caught_by_the_next_event(self) -> None:
        stored = _stored(3)
        document = stored[1][1]
        document["actor"] = "mallory"
        document["hash"] = event_hash(document)

        broken = first_break(stored)

        assert isinstance(broken, ChainBreak)
        assert (broken.version, broken.problem) == (3, "prev_hash")
        assert broken.expected == document["hash"]

    def test_a_missing_version_is_a_break(self) -> None:
        stored = _stored(3)
        del stored[1]

        broken = first_break(stored)

        assert isinstance(broken, ChainBreak)
        assert (broken.version, broken.problem) == (3, "version")

    def test_an_unreadable_event_is_a_break(self) -> None:
        stored: list[tuple[int, Any]] = list(_stored(2))
        stored[1] = (2, None)

        broken = first_break(stored)

        assert isinstance(broken, ChainBreak)
        assert (broken.version, broken.problem) == (2, "unreadable")

    def test_a_trimmed_log_is_checked_from_its_first_event_on(self) -> None:
        stored = _stored(4)[2:]

        assert first_break(stored, previous_hash=None) == Checked(2, 4, stored[-1][1]["hash"])

    def test_events_from_before_the_chain_are_sealed_by_the_first_chained_one(self) -> None:
        legacy = [json.loads(event_adapter.dump_json(e)) for e in _envelopes(2)]
        [after] = link(
            [_envelopes(3)[2].model_copy(update={"board_id": uuid.UUID(legacy[0]["board_id"])})],
            event_hash(legacy[1]),
        )
        stored = [(1, legacy[0]), (2, legacy[1]), (3, json.loads(event_adapter.dump_json(after)))]
        assert isinstance(first_break(stored), Checked)

        legacy[1]["actor"] = "mallory"

        broken = first_break(stored)
        assert isinstance(broken, ChainBreak)
        assert (broken.version, broken.problem) == (3, "prev_hash")
